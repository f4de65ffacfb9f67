"""Inpainting quality of the trained model against five classical baselines, on the eval split.

    python -m model.evaluate --model runs/default/export --data data/tfrecords --output runs/default/eval
        [--split eval --max-images N --batch-size 32 --samples 8 --radius 5 --vgg-weights imagenet]

For every eval record: the exported SavedModel (`serving_default`, loaded once) and the baselines of
`model.baselines` inpaint the masked image; `model.metrics` scores each against the original on the
56x56 hole and on the 64x64 patch (PSNR, SSIM, L1, L2), and two perceptual metrics, batched:
- `lpips`: LPIPS(VGG) (`model.lpips`) of the whole inpainted 128x128 image against the original;
- `vgg_feature`: the structural loss's VGG term (`model.losses.feature_loss`, conv1_1/2_1/3_1,
  each layer normalised by the truth's mean square) of the 64x64 patch, image by image. It needs
  the ImageNet VGG16 weights (`--vgg-weights`, as for training); where none can be had the
  evaluation warns, leaves it null and says why in metrics.json.
Both are distances: lower is better. Writes to `--output`:
- `metrics.json`: mean metrics per method (`methods[name]` holds `hole`, `patch` and `perceptual`),
  the published context-encoder figures beside the patch figures, the settings, and the sample list
  for the report;
- `per_image.jsonl`: every image's metrics per method;
- `samples/`: PNGs (masked input, each method, truth) of the first crop of the first `--samples`
  distinct source photos, for the report's grid.

Plain Python over tf.data rather than a Beam job: an eval split is hundreds to a few thousand
128x128 crops, which one process scores in minutes on a CPU (per image on 2 cores: OpenCV FSR
0.27 s, LPIPS 0.05-0.11 s and the VGG feature distance 0.01-0.02 s per method, the other baselines
0.4-17 ms), while a Beam job would load the networks once per worker and add pipeline start-up
for no gain. Inpainting millions of images, with per-image hole metrics where there is ground
truth, is the Beam job `pipelines.inpaint`.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import time
from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from model.baselines import DEFAULT_RADIUS, LABELS as BASELINE_LABELS, run_baselines
from model.export import load_inpainter, read_metadata
from model.losses import feature_distances
from model.lpips import PACKAGE as LPIPS_PACKAGE, Lpips
from model.metrics import inpainting_metrics, mean_metrics
from model.vgg import build_vgg_features
from model.vgg_weights import VggWeightsError, load_vgg_weights
from tfrecords.geometry import Geometry, unmask
from tfrecords.masks import centre_mask
from tfrecords.schema import parse_examples
from tfrecords.shards import read_manifest, split_files

METRICS = "metrics.json"
PERCEPTUAL = ("lpips", "vgg_feature")
PER_IMAGE = "per_image.jsonl"
SAMPLES = "samples"

# Column order of tables and of the report's grid.
LABELS = {**BASELINE_LABELS, "model": "Model (structural inpainting)"}

# DESIGN.md: Pathak et al., CVPR 2016, Table 2 (Paris StreetView, held-out images, centre region).
PUBLISHED = {
    "note": ("Published on Paris StreetView (Pathak et al., Context Encoders, CVPR 2016, Table 2), "
             "a different dataset with a far longer training run: a reference point, not a like-for-like "
             "comparison."),
    "methods": {
        "NN-inpainting (HOG features)": {"l1": 0.1992, "l2": 0.0692, "psnr": 12.79},
        "Context encoder (L2 + adversarial)": {"l1": 0.0937, "l2": 0.0196, "psnr": 18.58},
    },
}


def read_eval_images(data_dir: str, split: str, geometry: Geometry, batch_size: int,
                     max_images: int | None) -> Iterator[tuple[np.ndarray, np.ndarray, list[str]]]:
    """Yields batches of (masked uint8 images, original uint8 images, record ids) in file order."""
    files = split_files(data_dir, split)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if max_images is not None:
        dataset = dataset.take(max_images)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    for serialized in dataset:
        parsed = parse_examples(serialized, geometry, with_truth=True)
        masked, patches = parsed["masked"].numpy(), parsed["patch"].numpy()
        keys = [k.decode() for k in parsed["key"].numpy()]
        originals = np.stack([unmask(m, p, geometry) for m, p in zip(masked, patches)])
        yield masked, originals, keys


class PerceptualMetrics:
    """LPIPS of whole images and the VGG feature distance of their patches; each network built once."""

    def __init__(self, geometry: Geometry, vgg_weights: str = "imagenet"):
        self.geometry = geometry
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
        top, left, bottom, right = self.geometry.patch_box
        truth = tf.constant(originals[:, top:bottom, left:right], tf.float32) / 127.5 - 1.0
        for name in names:
            predicted = tf.constant(outputs[name][:, top:bottom, left:right], tf.float32) / 127.5 - 1.0
            for row, distance in zip(scores[name], feature_distances(self.vgg, predicted, truth).numpy()):
                row["vgg_feature"] = float(distance)
        return scores


def held_out_split(data_dir: str) -> str:
    """The split reported numbers come from: `test` (used neither for training nor for checkpoint
    selection) where the data has one, else `eval` (data preprocessed before the test split existed)."""
    try:
        tested = read_manifest(data_dir).get("splits", {}).get("test", {}).get("records", 0)
    except FileNotFoundError:
        tested = 0
    return "test" if tested else "eval"


def evaluate(model_dir: str, data_dir: str, output_dir: str, split: str | None = None,
             max_images: int | None = None, batch_size: int = 32, num_samples: int = 8,
             radius: int = DEFAULT_RADIUS, vgg_weights: str = "imagenet",
             methods: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Scores the model and the baselines (all, or those in `methods`) on `split` (default: the
    held-out one); writes metrics.json, per_image.jsonl and samples/."""
    split = split or held_out_split(data_dir)
    labels = {name: label for name, label in LABELS.items() if methods is None or name in methods}
    unknown = sorted(set(methods or ()) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}: choose from {', '.join(LABELS)}")
    baselines = tuple(name for name in labels if name in BASELINE_LABELS)
    inpainter, geometry = load_inpainter(model_dir)
    perceptual = PerceptualMetrics(geometry, vgg_weights)
    centre = centre_mask(geometry)
    os.makedirs(os.path.join(output_dir, SAMPLES), exist_ok=True)
    per_method: dict[str, list[dict]] = {name: [] for name in labels}
    samples: list[dict[str, Any]] = []
    sampled_keys: set[str] = set()
    count, started = 0, time.monotonic()
    with open(os.path.join(output_dir, PER_IMAGE), "w") as per_image, \
            concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        for masked, originals, keys in read_eval_images(data_dir, split, geometry, batch_size, max_images):
            # OpenCV and scikit-image release the GIL: the baselines of a batch fill on every core.
            filled = list(pool.map(lambda m: run_baselines(m, centre, radius, baselines), masked))
            outputs = {name: np.stack([f[name] for f in filled]) for name in baselines}
            if "model" in labels:
                outputs["model"] = inpainter(images=tf.constant(masked))["inpainted"].numpy()
            scored = perceptual(outputs, originals)
            for i, key in enumerate(keys):
                scores = {name: {**inpainting_metrics(outputs[name][i], originals[i], geometry),
                                 "perceptual": scored[name][i]} for name in labels}
                for name in labels:
                    per_method[name].append(scores[name])
                per_image.write(json.dumps({"index": count, "key": key, "metrics": scores}) + "\n")
                if len(samples) < num_samples and key not in sampled_keys:
                    sampled_keys.add(key)
                    samples.append(_write_sample(output_dir, len(samples), key, masked[i],
                                                 {name: outputs[name][i] for name in labels}, originals[i], scores))
                count += 1
            logging.info("evaluated %d images (%.1f images/s)", count, count / (time.monotonic() - started))
    if not count:
        raise ValueError(f"no {split} records in {data_dir}")

    results = {
        "split": split,
        "count": count,
        "model": model_dir,
        "data": data_dir,
        "geometry": geometry.to_dict(),
        "model_metadata": read_metadata(model_dir),
        "baseline_settings": {
            "mean_fill": "hole painted with the mean colour of the image's visible pixels",
            "opencv_inpaint_radius": radius,
            "fsr": "cv2.xphoto.inpaint, INPAINT_FSR_FAST",
        },
        "perceptual_settings": perceptual.settings,
        "labels": labels,
        "methods": {name: _mean_scores(rows) for name, rows in per_method.items()},
        "published": PUBLISHED,
        "samples": samples,
    }
    with open(os.path.join(output_dir, METRICS), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    logging.info("wrote %s for %d %s images in %.0f s", os.path.join(output_dir, METRICS), count, split,
                 time.monotonic() - started)
    return results


def _mean_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    means = mean_metrics({k: v for k, v in r.items() if k != "perceptual"} for r in rows)
    means["perceptual"] = {}
    for name in PERCEPTUAL:
        values = [r["perceptual"][name] for r in rows]
        means["perceptual"][name] = None if None in values else float(np.mean(values))
    return means


def _write_sample(output_dir: str, index: int, key: str, masked: np.ndarray, outputs: dict[str, np.ndarray],
                  original: np.ndarray, scores: dict[str, Any]) -> dict[str, Any]:
    images = {"masked": masked, **outputs, "truth": original}
    paths = {}
    for name, pixels in images.items():
        relative = os.path.join(SAMPLES, f"{index:02d}_{name}.png")
        Image.fromarray(pixels).save(os.path.join(output_dir, relative))
        paths[name] = relative
    return {"key": key, "images": paths, "hole_psnr": {name: s["hole"]["psnr"] for name, s in scores.items()},
            "lpips": {name: s["perceptual"]["lpips"] for name, s in scores.items()}}


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A short plain-text table of hole metrics and the perceptual distances, best PSNR first."""
    methods = results["methods"]
    top, _, bottom, _ = results["geometry"]["hole_box"]
    lines = [f"hole metrics on {results['count']} {results['split']} images ({bottom - top}px square hole); "
             f"LPIPS of the whole image, VGG feature distance of the patch (lower is better):",
             f"  {'method':32s} {'PSNR dB':>8s} {'SSIM':>6s} {'L1 %':>6s} {'L2 %':>6s} {'LPIPS':>6s} {'VGG':>6s}"]
    for name in sorted(methods, key=lambda n: -methods[n]["hole"]["psnr"]):
        h = methods[name]["hole"]
        # "-": not computed (no VGG weights), or a metrics.json from before the perceptual metrics.
        lpips, vgg = ("-" if v is None else f"{v:.3f}"
                      for v in (methods[name].get("perceptual", {}).get(k) for k in PERCEPTUAL))
        lines.append(f"  {results['labels'][name]:32s} {h['psnr']:8.2f} {h['ssim']:6.3f} "
                     f"{100 * h['l1']:6.2f} {100 * h['l2']:6.2f} {lpips:>6s} {vgg:>6s}")
    return lines


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the exported SavedModel directory")
    parser.add_argument("--data", required=True, help="directory of preprocessed TFRecord shards")
    parser.add_argument("--output", required=True, help="directory for metrics.json and samples")
    parser.add_argument("--split", default=None,
                        help="which shards to score (default: test, the photos neither training nor checkpoint "
                             "selection saw, where the data has a test split; else eval)")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated subset of {','.join(LABELS)} (default: all)")
    parser.add_argument("--max-images", type=int, default=None, help="score only the first N records")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=8, help="images kept for the report's grid")
    parser.add_argument("--radius", type=int, default=DEFAULT_RADIUS, help="cv2.inpaint radius in px")
    parser.add_argument("--vgg-weights", default="imagenet",
                        help="VGG16 weights of the feature distance: imagenet | PATH, as model.train takes")
    args = parser.parse_args(argv)
    results = evaluate(args.model, args.data, args.output, args.split, args.max_images, args.batch_size,
                       args.samples, args.radius, args.vgg_weights,
                       tuple(args.methods.split(",")) if args.methods else None)
    print("\n".join(summary_lines(results)))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run()
