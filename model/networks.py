"""The context encoder (generator) and its adversary, as in Pathak et al.'s reference code, and the
mask-channel generator that fills holes of any shape.

    masked image S x S x 3 (context encoder), or masked image + mask S x S x 4 (mask generator)
      | encoder: Conv 4x4 /2 -> w, w, 2w, 4w, 8w   (LeakyReLU 0.2, BatchNorm on all but the first)
    4 x 4 x 8w
      | bottleneck: Conv 4x4 valid -> 1 x 1 x C, BatchNorm, LeakyReLU 0.2
      | decoder: ConvTranspose 4x4 valid -> 4 x 4 x 8w, then x2 -> 4w, 2w, w (BatchNorm, ReLU),
      |          then x2 -> 3, tanh; each x2 is nearest-neighbour ("resize") or bilinear ("bilinear")
      |          upsampling + Conv 3x3, or, as in the paper, ConvTranspose 4x4 stride 2 ("transpose")
    predicted centre patch P x P x 3 in [-1, 1] (context encoder), or
    predicted crop S x S x 3 in [-1, 1] (mask generator: one more x2 stage, 8w, 8w, 4w, 2w, w at S=128)

    side D x D x 3 -> discriminator: Conv 4x4 /2 -> w, 2w, 4w, 8w (LeakyReLU 0.2, BatchNorm on
    all but the first) -> Conv 4x4 valid -> one logit; D is the patch P for the context encoder,
    the crop S for the mask generator (one more layer)

The stacks' depths follow from the geometry (every stride-2 layer halves the side down to 4), so
S=128, P=64, w=64 gives docs/DESIGN.md's layers exactly ("transpose"). A stride-2 transposed 4x4 kernel
overlaps its neighbours unevenly and stamps a checkerboard on the fill (Odena et al., "Deconvolution
and checkerboard artifacts", Distill 2016); resizing then convolving spreads every input evenly.

The mask generator's 4th channel is the hole mask, 1 in the hole and 0 in the context
(model/inference.py `mask_model_input`): the hole is data, so the same network fills boxes, strokes and
users' masks anywhere in the crop.

With `coarse_fill="harmonic"` (the mask generator's default, config.py AUTO_COARSE_FILL) the hole
reaches the encoder painted with its harmonic fill from the context (model/harmonic_fill.py) instead
of the fill colour, and the decoder's last layer, started at zero, predicts a correction that is
added to that fill in place of the tanh:

    masked image (+ mask) -> harmonic fill of the hole -> encoder ... decoder -> + harmonic fill
                                                                                (its patch, centre)

A 1 x 1 bottleneck passes the context's colours on coarsely; a thin stroke or a small box has context
a few pixels away that a smooth fill continues almost exactly (bench/RESULTS.md: the paper's mask
network alone scored under OpenCV Telea on boxes and strokes, the harmonic fill alone above it).
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from model.config import GENERATOR_COARSE_FILLS
from model.harmonic_fill import harmonic_fill
from tfrecords.geometry import Geometry
from tfrecords.masks import centre_mask

KERNEL = 4
MIN_SIDE = 4  # the encoder's last feature map and the decoder's first
MAX_WIDTH_FACTOR = 8


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _batch_norm(name: str, dtype) -> keras.layers.Layer:
    # Torch's BatchNorm defaults (momentum 0.1, eps 1e-5) and DCGAN's N(1, 0.02) scale init.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, dtype=dtype,
                                           gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def _downsampling_stack(x, widths: list[int], prefix: str, dtype):
    """Conv 4x4 stride 2 per width, LeakyReLU 0.2, BatchNorm on all but the first: the encoder's and
    the discriminator's shared layout. Layers are named `{prefix}conv1`, `{prefix}bn2`, ..."""
    for i, filters in enumerate(widths):
        x = keras.layers.Conv2D(filters, KERNEL, strides=2, padding="same", use_bias=i == 0,
                                kernel_initializer=_init(), name=f"{prefix}conv{i + 1}", dtype=dtype)(x)
        if i > 0:
            x = _batch_norm(f"{prefix}bn{i + 1}", dtype)(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{prefix}lrelu{i + 1}", dtype=dtype)(x)
    return x


def halvings(side: int, name: str) -> int:
    """How many stride-2 layers take `side` down to 4 (side must be 4 * 2^k)."""
    n = math.log2(side / MIN_SIDE)
    if side < 2 * MIN_SIDE or n != int(n):
        raise ValueError(f"{name} {side} must be 4 * 2^k with k >= 1 for this network")
    return int(n)


def encoder_widths(width: int, layers: int) -> list[int]:
    """w, w, 2w, 4w, 8w for five layers (capped at 8w)."""
    return [width] + [width * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(layers - 1)]


def decoder_widths(width: int, layers: int) -> list[int]:
    """8w, 4w, 2w, w for four hidden layers: the encoder's widths mirrored."""
    return [width * min(2 ** i, MAX_WIDTH_FACTOR) for i in reversed(range(layers))]


def discriminator_widths(width: int, layers: int) -> list[int]:
    """w, 2w, 4w, 8w for four layers (capped at 8w)."""
    return [width * min(2 ** i, MAX_WIDTH_FACTOR) for i in range(layers)]


RESIZE_INTERPOLATION = {"resize": "nearest", "bilinear": "bilinear"}


def _upsample(x, filters: int, upsampling: str, name: str, dtype, use_bias: bool = False,
              kernel_initializer: str | keras.initializers.Initializer | None = None):
    """Doubles the side: nearest ("resize") or bilinear ("bilinear") x2 then Conv 3x3, or ConvTranspose
    4x4 stride 2 ("transpose")."""
    kernel_initializer = kernel_initializer or _init()
    if upsampling == "transpose":
        return keras.layers.Conv2DTranspose(filters, KERNEL, strides=2, padding="same", use_bias=use_bias,
                                            kernel_initializer=kernel_initializer, name=name, dtype=dtype)(x)
    if upsampling not in RESIZE_INTERPOLATION:
        raise ValueError(f"upsampling {upsampling!r} is not one of {(*RESIZE_INTERPOLATION, 'transpose')}")
    x = keras.layers.UpSampling2D(2, interpolation=RESIZE_INTERPOLATION[upsampling], name=f"{name}_upsample",
                                  dtype=dtype)(x)
    return keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, kernel_initializer=kernel_initializer,
                               name=name, dtype=dtype)(x)


class HarmonicHoleFill(keras.layers.Layer):
    """The input crop with its hole painted by `harmonic_fill` instead of the fill colour, float32: the
    hole is the input's 4th channel (the mask generator's), or the fixed `hole` box (S,S,1) given."""

    def __init__(self, hole: np.ndarray | None = None, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.hole = None if hole is None else np.asarray(hole, np.float32)

    def call(self, x):
        rgb = x[..., :3]
        hole = x[..., 3:] if self.hole is None else tf.constant(self.hole[None])
        filled = harmonic_fill(rgb, hole)
        return filled if self.hole is not None else tf.concat([filled, x[..., 3:]], axis=-1)


def build_generator(geometry: Geometry, bottleneck: int = 4000, width: int = 64,
                    dtype: str | keras.DTypePolicy | None = None, upsampling: str = "transpose",
                    coarse_fill: str = "none") -> keras.Model:
    """Masked image in [-1, 1] (hole filled) -> predicted centre patch in [-1, 1] (a harmonic start's
    correction may step past it: to_uint8 clips), float32."""
    image = keras.Input((geometry.image_size, geometry.image_size, 3), name="masked_image")
    hole = (centre_mask(geometry) > 0)[..., None].astype(np.float32)
    patch = _encoder_decoder(image, geometry, "patch", bottleneck, width, dtype, upsampling, coarse_fill, hole)
    return keras.Model(image, patch, name="context_encoder")


def build_mask_generator(geometry: Geometry, bottleneck: int = 4000, width: int = 64,
                         dtype: str | keras.DTypePolicy | None = None, upsampling: str = "transpose",
                         coarse_fill: str = "none") -> keras.Model:
    """Masked image in [-1, 1] (hole filled) with the mask as a 4th channel (1 = hole) -> the predicted
    whole crop S x S x 3 in [-1, 1] (a harmonic start's correction may step past it: to_uint8 clips),
    float32."""
    image = keras.Input((geometry.image_size, geometry.image_size, 4), name="masked_image_and_mask")
    crop = _encoder_decoder(image, geometry, "image", bottleneck, width, dtype, upsampling, coarse_fill)
    return keras.Model(image, crop, name="mask_generator")


def _encoder_decoder(x, geometry: Geometry, output: str, bottleneck: int, width: int, dtype, upsampling: str,
                     coarse_fill: str, hole: np.ndarray | None = None):
    """The context encoder's layers from a crop-sized input to `output` ("patch": P x P, or "image":
    S x S) named `predicted_{output}`, float32: a tanh image ("none"), or with `coarse_fill`
    "harmonic" the hole's harmonic fill (the centre `hole` box given, else the input's 4th channel)
    seen by the encoder and refined by the decoder's output added to it."""
    if coarse_fill not in GENERATOR_COARSE_FILLS:
        raise ValueError(f"coarse_fill {coarse_fill!r} is not one of {GENERATOR_COARSE_FILLS}")
    coarse = None
    if coarse_fill == "harmonic":
        x = HarmonicHoleFill(hole, name="harmonic_fill")(x)
        coarse = x[..., :3]
        if output == "patch":
            top, left, bottom, right = geometry.patch_box
            s = geometry.image_size
            coarse = keras.layers.Cropping2D(((top, s - bottom), (left, s - right)), name="coarse_patch",
                                             dtype="float32")(coarse)
    x = _downsampling_stack(x, encoder_widths(width, halvings(geometry.image_size, "image size")), "encoder_", dtype)

    x = keras.layers.Conv2D(bottleneck, KERNEL, padding="valid", use_bias=False,
                            kernel_initializer=_init(), name="bottleneck_conv", dtype=dtype)(x)
    x = _batch_norm("bottleneck_bn", dtype)(x)
    x = keras.layers.LeakyReLU(0.2, name="bottleneck_lrelu", dtype=dtype)(x)

    output_side = geometry.patch_size if output == "patch" else geometry.image_size
    for i, filters in enumerate(decoder_widths(width, halvings(output_side, f"{output} size"))):
        if i == 0:  # grows 1x1 to 4x4: one input pixel, so no uneven overlap
            x = keras.layers.Conv2DTranspose(filters, KERNEL, padding="valid", use_bias=False,
                                             kernel_initializer=_init(), name="decoder_deconv1", dtype=dtype)(x)
        else:
            x = _upsample(x, filters, upsampling, f"decoder_deconv{i + 1}", dtype)
        x = _batch_norm(f"decoder_bn{i + 1}", dtype)(x)
        x = keras.layers.ReLU(name=f"decoder_relu{i + 1}", dtype=dtype)(x)

    # float32 out whatever the compute dtype: losses and export expect it.
    if coarse is None:
        x = _upsample(x, 3, upsampling, "decoder_rgb", dtype, use_bias=True)
        return keras.layers.Activation("tanh", name=f"predicted_{output}", dtype="float32")(x)
    # Zero at the start, so training starts from the harmonic fill; to_uint8 clips what steps past [-1, 1].
    x = _upsample(x, 3, upsampling, "decoder_rgb", dtype, use_bias=True, kernel_initializer="zeros")
    return keras.layers.Add(name=f"predicted_{output}", dtype="float32")([coarse, x])


def build_discriminator(geometry: Geometry, width: int = 64, dtype: str | keras.DTypePolicy | None = None,
                        side: int | None = None) -> keras.Model:
    """Image in [-1, 1] of `side` (the patch size unless given; the crop's for the mask generator) ->
    one logit per image (N, 1), float32; real images should score high."""
    side = geometry.patch_size if side is None else side
    name = "patch" if side == geometry.patch_size else "image"
    image = keras.Input((side, side, 3), name=name)
    x = _downsampling_stack(image, discriminator_widths(width, halvings(side, f"{name} size")), "", dtype)
    x = keras.layers.Conv2D(1, KERNEL, padding="valid", kernel_initializer=_init(), name="logit_conv",
                            dtype=dtype)(x)
    logit = keras.layers.Flatten(name="logit", dtype="float32")(x)
    return keras.Model(image, logit, name="discriminator")
