"""The evaluation's two perceptual distances, batched: LPIPS(VGG) of the whole image
(evaluation/lpips.py) and the structural loss's VGG feature distance (model/losses.py) of the hole
layout's region. Both are distances: lower is better."""
from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from evaluation.lpips import PACKAGE as LPIPS_PACKAGE, Lpips
from model.losses import feature_distances
from model.vgg import build_vgg_features
from model.vgg_weights import VggWeightsError, load_vgg_weights
from tfrecords.geometry import Box

PERCEPTUAL = ("lpips", "vgg_feature")


class PerceptualMetrics:
    """LPIPS of whole images and the VGG feature distance of their `region` (the centre patch, or the
    whole image for holes anywhere); each network built once."""

    def __init__(self, region: Box, vgg_weights: str = "imagenet"):
        self.region = region
        self.lpips = Lpips()
        self.vgg: keras.Model | None = None
        try:
            weights = load_vgg_weights(vgg_weights)
        except VggWeightsError as e:
            logging.warning("no VGG feature distance in this evaluation: %s", e)
            self.settings = {"vgg_feature": {"skipped": str(e)}}
        else:
            if weights.arrays is None:
                raise ValueError("--vgg-weights random: a feature distance needs the trained VGG16")
            self.vgg = build_vgg_features(weights.arrays)
            self.settings = {"vgg_feature": weights.source}
        self.settings["lpips"] = f"LPIPS(VGG) v0.1, weights of {LPIPS_PACKAGE}; whole image against the original"

    def __call__(self, outputs: dict[str, np.ndarray], originals: np.ndarray) -> dict[str, list[dict[str, float | None]]]:
        """Per method and image of the (N,S,S,3) uint8 batches, {"lpips": .., "vgg_feature": .. or None}.

        The originals go through LPIPS's network once for all the methods."""
        names = list(outputs)
        lpips = self.lpips.to_reference(originals, np.stack([outputs[name] for name in names])).numpy()
        scores = {name: [{"lpips": float(d), "vgg_feature": None} for d in lpips[i]] for i, name in enumerate(names)}
        if self.vgg is None:
            return scores
        top, left, bottom, right = self.region
        truth = tf.constant(originals[:, top:bottom, left:right], tf.float32) / 127.5 - 1.0
        for name in names:
            predicted = tf.constant(outputs[name][:, top:bottom, left:right], tf.float32) / 127.5 - 1.0
            for row, distance in zip(scores[name], feature_distances(self.vgg, predicted, truth).numpy()):
                row["vgg_feature"] = float(distance)
        return scores
