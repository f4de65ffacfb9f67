"""A spectral-normalised patch discriminator: one logit per overlapping window, not per image.

    image (the patch, or the crop for holes anywhere) S x S x 3 in [-1, 1]
      | SN Conv 4x4 /2 -> w, 2w, 4w (LeakyReLU 0.2)
      | SN Conv 4x4 -> 8w (LeakyReLU 0.2)
      | SN Conv 4x4 -> 1
    logits (N, (S/8)^2): each judges a window of about 70 px, so the generator is pushed towards
    texture that looks real locally, everywhere in the hole, rather than towards one global verdict

Spectral normalisation (Miyato et al., 2018) keeps every layer 1-Lipschitz, the way SN-PatchGAN
(Yu et al., 2019) and LaMa keep their discriminators stable without batch statistics; the paper's
DCGAN discriminator (model/networks.py `build_discriminator`) gives one logit per image and uses
batch normalisation.
"""
from __future__ import annotations

import keras

from tfrecords.geometry import Geometry

KERNEL = 4
STRIDED = 3  # downsamplings: a window of 70 px over a 128-px crop, 8x8 windows over the 64-px patch


def build_patch_discriminator(geometry: Geometry, width: int = 64, dtype: str | keras.DTypePolicy | None = None,
                              side: int | None = None) -> keras.Model:
    """Image in [-1, 1] of `side` (the patch size unless given) -> (N, windows) logits, float32."""
    side = geometry.patch_size if side is None else side
    if side % 2 ** STRIDED:
        raise ValueError(f"the patch discriminator needs a side divisible by {2 ** STRIDED}, got {side}")
    image = keras.Input((side, side, 3), name="image")
    x = image
    widths = [width * 2 ** i for i in range(STRIDED + 1)]
    for i, filters in enumerate(widths):
        conv = keras.layers.Conv2D(filters, KERNEL, strides=2 if i < STRIDED else 1, padding="same", dtype=dtype)
        x = keras.layers.SpectralNormalization(conv, name=f"sn_conv{i + 1}", dtype=dtype)(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}", dtype=dtype)(x)
    conv = keras.layers.Conv2D(1, KERNEL, padding="same", dtype=dtype)
    x = keras.layers.SpectralNormalization(conv, name="sn_logit", dtype=dtype)(x)
    logits = keras.layers.Flatten(name="logits", dtype="float32")(x)
    return keras.Model(image, logits, name="patch_discriminator")
