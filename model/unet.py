"""The gated U-Net generator: an encoder-decoder that sees the context at every resolution.

    masked crop (+ mask) -> harmonic fill of the hole (model/harmonic_fill.py), mask as a channel
      S x S x 4
      | encoder: gated Conv 5x5 /2 -> w, gated Conv 3x3 /2 -> 2w, gated Conv 3x3 /2 -> 4w   (S/8 side)
      | middle: 4 gated Conv 3x3 at 4w, dilation 1, 2, 5, 9, each added to its input
      |         (a receptive field wider than the crop, so the whole context reaches every hole pixel)
      | decoder: [1, 2, 1] blur, bilinear x2, concatenate the encoder's map of that side (skip),
      |          gated Conv 3x3 -> 2w, w, w/2; the last skip is the input itself
      | Conv 3x3 -> 3, started at zero, added to the harmonic fill
    predicted crop S x S x 3 in [-1, 1] (holes anywhere), or its centre patch P x P (centre hole)

A gated convolution (Yu et al., "Free-Form Image Inpainting with Gated Convolution", 2019) computes
features and a sigmoid gate from the same input and multiplies them: each layer learns where its
input is trustworthy (the context) and where it is a fill (the hole), so the hole's colour does not
leak into the features as it does through a plain convolution. Skips carry the context's detail at
full resolution past the narrow middle, which the context encoder's 1x1 bottleneck cannot. Bilinear
upsampling then a 3x3 convolution spreads every input pixel evenly: no checkerboard (stride-2
transposed convolutions) and no blocks (nearest-neighbour copies). Bilinear x2 still turns a map's
cell-by-cell alternation into pairs of equal pixels, and through three stages the fills carried a grid
of 2-px pairs and 8-px lines (bench.block_pattern); the fixed blur before each upsampling takes that
frequency out (the anti-aliasing of Zhang, "Making Convolutional Networks Shift-Invariant Again", 2019).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from model.networks import HarmonicHoleFill
from tfrecords.geometry import Geometry
from tfrecords.masks import centre_mask

DOWNSAMPLINGS = 3
# Rates with no common factor ("hybrid dilated convolution", Wang et al., "Understanding Convolution for
# Semantic Segmentation", 2018): with every rate even (2, 4, 8, 16) a cell of the S/8 map reached only
# the cells an even number away, and the fills of a model trained longer carried a plaid of lines
# (bench.block_pattern, bench/RESULTS.md). The span, 1 + 2 * (1 + 2 + 5 + 9) = 35 cells, is over twice S/8.
MIDDLE_DILATIONS = (1, 2, 5, 9)


class GatedConv2D(keras.layers.Layer):
    """LeakyReLU(0.2)(conv_f(x)) * sigmoid(conv_g(x)), the two convolutions as one of twice the filters."""

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, dilation_rate: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = keras.layers.Conv2D(2 * filters, kernel_size, strides=strides, dilation_rate=dilation_rate,
                                        padding="same", kernel_initializer="he_normal", dtype=self.dtype_policy,
                                        name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        features, gate = tf.split(self.conv(x), 2, axis=-1)
        return tf.nn.leaky_relu(features, 0.2) * tf.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)[:-1] + (self.filters,)


class NyquistBlur(keras.layers.Layer):
    """A fixed [1, 2, 1] x [1, 2, 1] / 16 blur of each channel, edges reflected: zero response at the
    map's Nyquist frequency, so no cell-by-cell alternation reaches the x2 upsampling after it, which
    would turn it into a pattern of 2-px pairs (4-px cells, 8-px lines) at full resolution."""

    def call(self, x):
        kernel = tf.constant(np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0, x.dtype)[..., None, None]
        kernel = tf.tile(kernel, [1, 1, tf.shape(x)[-1], 1])
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")


class WithCentreHole(keras.layers.Layer):
    """A masked crop with the geometry's centre hole as a 4th channel (1 = hole), float32."""

    def __init__(self, geometry: Geometry, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.hole = (centre_mask(geometry) > 0)[None, ..., None].astype(np.float32)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        return tf.concat([x, tf.broadcast_to(tf.constant(self.hole), tf.shape(x[..., :1]))], axis=-1)


def build_unet(geometry: Geometry, width: int = 32, dtype: str | keras.DTypePolicy | None = None,
               centre_hole: bool = False) -> keras.Model:
    """The gated U-Net for one hole layout: with `centre_hole`, a masked crop S x S x 3 whose hole is
    the geometry's centre box -> the predicted centre patch P x P x 3; else a masked crop with its
    mask as a 4th channel (1 = hole) -> the predicted crop S x S x 3. In and out in [-1, 1] (the
    correction may step past the harmonic fill's range: to_uint8 clips), float32 out."""
    s = geometry.image_size
    if s % 2 ** DOWNSAMPLINGS:
        raise ValueError(f"image size {s} must be a multiple of {2 ** DOWNSAMPLINGS} for the U-Net")
    if centre_hole:
        image = keras.Input((s, s, 3), name="masked_image")
        x = WithCentreHole(geometry, name="with_centre_hole")(image)
    else:
        image = keras.Input((s, s, 4), name="masked_image_and_mask")
        x = image
    x = HarmonicHoleFill(name="harmonic_fill")(x)
    filled = x[..., :3]

    skips = [x]
    widths = [width, 2 * width, 4 * width]
    for i, filters in enumerate(widths):
        x = GatedConv2D(filters, 5 if i == 0 else 3, strides=2, name=f"encoder{i + 1}", dtype=dtype)(x)
        skips.append(x)
    for rate in MIDDLE_DILATIONS:
        y = GatedConv2D(widths[-1], 3, dilation_rate=rate, name=f"middle_dilation{rate}", dtype=dtype)(x)
        x = keras.layers.Add(name=f"middle_residual{rate}", dtype=dtype)([x, y])
    skips.pop()  # the middle's own side
    for i, filters in enumerate([2 * width, width, max(width // 2, 8)]):
        x = NyquistBlur(name=f"decoder{i + 1}_blur", dtype=dtype)(x)
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"decoder{i + 1}_upsample", dtype=dtype)(x)
        x = keras.layers.Concatenate(name=f"decoder{i + 1}_skip", dtype=dtype)([x, skips.pop()])
        x = GatedConv2D(filters, 3, name=f"decoder{i + 1}", dtype=dtype)(x)
    # Zero at the start, so training starts from the harmonic fill.
    x = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="decoder_rgb", dtype=dtype)(x)
    x = keras.layers.Activation("linear", name="correction", dtype="float32")(x)
    crop = keras.layers.Add(name="predicted_image", dtype="float32")([filled, x])
    if not centre_hole:
        return keras.Model(image, crop, name="gated_unet")
    top, left, bottom, right = geometry.patch_box
    patch = keras.layers.Cropping2D(((top, s - bottom), (left, s - right)), name="predicted_patch",
                                    dtype="float32")(crop)
    return keras.Model(image, patch, name="gated_unet")
