"""Inpainting the centre of a photo of any size with a model trained on small squares.

The trained geometry is scaled onto the photo: the context window is the centred square whose side
is the photo's shorter side, and the patch and hole sit in it at the trained ratios (56/128 of the
side for the default hole). The window is resized to the model's input; the predicted patch is
resampled straight onto the hole's pixel grid and pasted into the untouched original, so every
pixel outside the hole is bit-identical to the input.

A photo is decoded once (`open_upright`) and its pixels are taken out of Pillow once, as the numpy
array a `Photo` holds (Pillow keeps an RGB pixel in 4 bytes; every `np.asarray` of an `Image` is a
repacking copy of the whole photo): the model's inputs are cut from it, the prediction is pasted
into a copy of it, and it is what crosses Beam's coders.

Greyscale (L, LA) and RGBA photos keep their mode: the hole's prediction is converted to grey, and
alpha is never touched. Other modes (palette, CMYK, 16-bit, ...) become 8-bit RGB first, as the
preprocess stage's `images.to_rgb` does. EXIF orientation is applied, as in preprocessing, so the
model sees the photo upright.
"""
from __future__ import annotations

import dataclasses
import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines import images, photo_metadata
from tfrecords.geometry import Box, Geometry

KEPT_MODES = ("L", "LA", "RGB", "RGBA")
_ORIENTATION = 0x0112


@dataclasses.dataclass(eq=False)
class Photo:
    """A photo upright at full resolution as the inpaint job holds it: its uint8 pixels, (H,W) for
    L and (H,W,C) otherwise, its mode (one of `KEPT_MODES`) and what it carries (`info`: its format,
    EXIF block and ICC profile, `photo_metadata`)."""

    pixels: np.ndarray
    mode: str
    info: dict[str, Any]

    @classmethod
    def of(cls, image: Image.Image) -> "Photo":
        """The photo of a decoded image in one of `KEPT_MODES` (its pixels copied out once)."""
        if image.mode not in KEPT_MODES:
            raise ValueError(f"mode {image.mode!r} is not one of {KEPT_MODES}")
        return cls(np.asarray(image), image.mode, dict(image.info))

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    def rgb(self, box: Box) -> np.ndarray:
        """The uint8 (h,w,3) RGB pixels of `box` (top, left, bottom, right), as Pillow's
        `convert("RGB")` makes them: grey repeated, alpha dropped. A view where the photo is RGB."""
        top, left, bottom, right = box
        pixels = self.pixels[top:bottom, left:right]
        if self.mode == "RGB":
            return pixels
        if self.mode == "RGBA":
            return pixels[..., :3]
        grey = pixels if self.mode == "L" else pixels[..., 0]
        return np.repeat(grey[..., None], 3, axis=2)


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
    return upright(decoded(data, max_pixels))


def decoded(data: bytes, max_pixels: int = images.MAX_IMAGE_PIXELS) -> Image.Image:
    """The photo in `data` decoded as it is stored (`open_upright`'s first step), or `Rejected`."""
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
    return image


def upright(image: Image.Image) -> Image.Image:
    """A decoded photo turned upright by its EXIF orientation, in one of `KEPT_MODES`, with what it
    carries (`photo_metadata.remember`) in its `info` (`open_upright`'s second step)."""
    carried = photo_metadata.remember(image)
    try:
        # Only a photo that needs turning is turned: exif_transpose copies an upright one whole.
        if image.getexif().get(_ORIENTATION, 1) in range(2, 9):
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


def paste_back(photo: Photo, placement: Placement, patch: np.ndarray, geometry: Geometry,
               out: np.ndarray | None = None) -> np.ndarray:
    """The photo's pixels with the hole replaced by the predicted (P,P,3) patch resampled onto it.

    Returns (H,W) for L, (H,W,C) otherwise; every pixel outside the hole is the input's. Written
    into `out` (the photo's shape, a `png.Canvas`'s pixels) where given, else into a copy.
    """
    pixels = copied(photo, out)
    put_rgb(pixels, photo.mode, placement.hole, _patch_on_hole(patch, placement, geometry))
    return pixels


def copied(photo: Photo, out: np.ndarray | None = None) -> np.ndarray:
    """The photo's pixels copied into `out`, or into a new array."""
    if out is None:
        return photo.pixels.copy()
    if out.shape != photo.pixels.shape:
        raise ValueError(f"cannot copy a {photo.pixels.shape} photo into {out.shape}")
    out[...] = photo.pixels
    return out


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

