"""Inpainting the centre of a photo of any size with a model trained on small squares.

The trained geometry is scaled onto the photo: the context window is the centred square whose side
is the photo's shorter side, and the patch and hole sit in it at the trained ratios (56/128 of the
side for the default hole). The window is resized to the model's input; the predicted patch is
resampled straight onto the hole's pixel grid and pasted into the untouched original, so every
pixel outside the hole is bit-identical to the input.

Greyscale (L, LA) and RGBA photos keep their mode: the hole's prediction is converted to grey, and
alpha is never touched. Other modes (palette, CMYK, 16-bit, ...) become 8-bit RGB first, as the
preprocess stage's `images.to_rgb` does. EXIF orientation is applied, as in preprocessing, so the
model sees the photo upright.
"""
from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines import images, photo_metadata
from tfrecords.geometry import Box, Geometry

KEPT_MODES = ("L", "LA", "RGB", "RGBA")


@dataclasses.dataclass(frozen=True)
class Placement:
    """The trained geometry scaled onto a `height` x `width` photo; boxes in photo pixels."""

    height: int
    width: int
    window: Box
    hole: Box


def place(height: int, width: int, geometry: Geometry) -> Placement:
    """Where the context window and the hole fall in a photo, or `Rejected` if it is too small."""
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    scale = side / geometry.image_size
    h_top, h_left, h_bottom, h_right = (round(v * scale) for v in geometry.hole_box)
    # The hole must be at least a pixel, with context on every side of it.
    if h_bottom - h_top < 1 or h_top < 1 or h_bottom > side - 1:
        raise images.Rejected(images.TOO_SMALL, f"{width}x{height} leaves no hole with context around it")
    return Placement(height, width, (top, left, top + side, left + side),
                     (top + h_top, left + h_left, top + h_bottom, left + h_right))


def open_upright(data: bytes, max_pixels: int = images.MAX_IMAGE_PIXELS) -> Image.Image:
    """Decodes a photo at full resolution, upright, in one of `KEPT_MODES`; or raises `Rejected`.

    Unlike `images.decode`, which serves the preprocess stage, the photo keeps its size and mode.
    """
    if not data:
        raise images.Rejected(images.EMPTY, "zero bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise images.Rejected(images.DECOMPRESSION_BOMB,
                                      f"{image.width}x{image.height} exceeds {max_pixels} pixels")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise images.Rejected(images.DECOMPRESSION_BOMB, str(e)) from e
        except UnidentifiedImageError as e:
            raise images.Rejected(images.NOT_AN_IMAGE, "not a format Pillow reads") from e
        except OSError as e:
            reason = images.TRUNCATED if "truncated" in str(e) or "broken data stream" in str(e) else images.CORRUPT
            raise images.Rejected(reason, str(e)) from e
        except (SyntaxError, ValueError, EOFError) as e:
            raise images.Rejected(images.CORRUPT, str(e)) from e
    carried = photo_metadata.remember(image)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block is no reason to lose the photo
        pass
    if image.mode not in KEPT_MODES:
        image = images.to_rgb(image)
    image.format = carried[photo_metadata.FORMAT]
    image.info.update(carried)
    return image


def model_input(image: Image.Image, placement: Placement, geometry: Geometry) -> np.ndarray:
    """The context window as the model's uint8 (S,S,3) input (the model fills the hole itself)."""
    top, left, bottom, right = placement.window
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    size = (geometry.image_size, geometry.image_size)
    window = rgb.resize(size, Image.Resampling.BICUBIC, box=(left, top, right, bottom), reducing_gap=3.0)
    return np.asarray(window, dtype=np.uint8)


def paste_back(image: Image.Image, placement: Placement, patch: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The photo's pixels with the hole replaced by the predicted (P,P,3) patch resampled onto it.

    Returns (H,W) for L, (H,W,C) otherwise; every pixel outside the hole is the input's.
    """
    pixels = np.array(image, dtype=np.uint8)
    put_rgb(pixels, image.mode, placement.hole, _patch_on_hole(patch, placement, geometry))
    return pixels


def put_rgb(pixels: np.ndarray, mode: str, box: Box, rgb: np.ndarray, where: np.ndarray | None = None) -> None:
    """Writes uint8 (h,w,3) `rgb` into `box` of a photo's `pixels` of `mode` (one of `KEPT_MODES`):
    as grey for L and LA, never touching alpha; only where the (h,w) bool `where` is True if given."""
    top, left, bottom, right = box
    if mode in ("L", "LA"):
        rgb = np.asarray(Image.fromarray(rgb).convert("L"))
    target = pixels[top:bottom, left:right]
    if mode == "LA":
        target = target[..., 0]
    elif mode in ("RGB", "RGBA"):
        target = target[..., :3]
    if where is None:
        target[...] = rgb
    else:
        target[where] = rgb[where]


def _patch_on_hole(patch: np.ndarray, placement: Placement, geometry: Geometry) -> np.ndarray:
    """Resamples the part of the predicted patch that covers the photo's hole pixels."""
    w_top, w_left = placement.window[:2]
    top, left, bottom, right = placement.hole
    # Photo pixel edges -> model pixel edges -> patch pixel edges.
    scale = geometry.image_size / (placement.window[2] - w_top)
    p_top, p_left = geometry.patch_box[:2]
    p = float(geometry.patch_size)

    def to_patch(v: int, origin: int, patch_origin: int) -> float:
        return min(p, max(0.0, (v - origin) * scale - patch_origin))

    box = (to_patch(left, w_left, p_left), to_patch(top, w_top, p_top),
           to_patch(right, w_left, p_left), to_patch(bottom, w_top, p_top))
    resized = Image.fromarray(patch).resize((right - left, bottom - top), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.uint8)

