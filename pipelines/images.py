"""Decoding raw photos with Pillow into square RGB crops, or a reason to reject them.

Every mode Pillow reads (L, LA, P, RGBA, CMYK, I;16, ...) becomes 8-bit RGB; the first frame of an
animation is used; EXIF orientation is applied. JPEGs are decoded at a reduced DCT scale when the
target is much smaller than the stored image (`Image.draft`), which is what makes large photos cheap.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import struct
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own limit (about 89 megapixels); larger images are rejected, never decoded.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
CROP_MODES = ("center", "random")
_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height

# Reject reasons, as they appear in the rejects file and the manifest.
EMPTY = "empty"
NOT_AN_IMAGE = "not_an_image"
DECOMPRESSION_BOMB = "decompression_bomb"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
UNSUPPORTED_MODE = "unsupported_mode"
TOO_SMALL = "too_small"
UNREADABLE = "unreadable"
REASONS = (EMPTY, NOT_AN_IMAGE, DECOMPRESSION_BOMB, TRUNCATED, CORRUPT, UNSUPPORTED_MODE, TOO_SMALL,
           UNREADABLE)


class Rejected(Exception):
    """An input that yields no record; `reason` is one of REASONS, `detail` says more."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class CropSpec:
    """How crops are cut: `count` square crops (random mode only), each resampled to `size`.

    A crop's side covers a fraction of the photo's shorter side in `scale` (min, max): a random crop
    draws it uniformly in that range, the centre crop takes the max. A crop never has fewer source
    pixels than `size` (no upscaling), so on a small photo the range's low end is raised to that.
    """

    size: int = 128
    scale: tuple[float, float] = (0.5, 1.0)
    mode: str = "center"
    count: int = 1
    min_size: int = 128
    max_pixels: int = MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.mode not in CROP_MODES:
            raise ValueError(f"crop mode {self.mode!r} is not one of {CROP_MODES}")
        if self.count < 1 or (self.count > 1 and self.mode != "random"):
            raise ValueError(f"{self.count} crops per image needs random crops (got {self.mode})")
        low, high = self.scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"crop scale {self.scale} must satisfy 0 < min <= max <= 1")
        if self.min_size < self.size:
            raise ValueError(f"min_size {self.min_size} must be >= the crop size {self.size}")

    @property
    def decode_short_side(self) -> int:
        """The shorter side a photo needs so that its smallest crop is still cut from `size` pixels."""
        smallest = self.scale[0] if self.mode == "random" else self.scale[1]
        return math.ceil(self.size / smallest)


class Decoded(NamedTuple):
    """An upright 8-bit RGB photo, possibly decoded at a reduced scale (JPEG draft), and its upright
    (width, height) at full resolution: the size a mask drawn on the photo has."""

    image: Image.Image
    full_size: tuple[int, int]


def decode(data: bytes, target_short_side: int | None = None, min_size: int = 1,
           max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decodes image bytes into an upright 8-bit RGB image, or raises `Rejected`.

    With `target_short_side`, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as its shorter
    side stays at least that long.
    """
    return decode_upright(data, target_short_side, min_size, max_pixels).image


def decode_upright(data: bytes, target_short_side: int | None = None, min_size: int = 1,
                   max_pixels: int = MAX_IMAGE_PIXELS) -> Decoded:
    """`decode`, with the photo's upright size at full resolution."""
    if not data:
        raise Rejected(EMPTY, "zero bytes")
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise Rejected(DECOMPRESSION_BOMB, str(e)) from e
        except UnidentifiedImageError as e:
            raise Rejected(NOT_AN_IMAGE, "not a format Pillow reads") from e
        except (OSError, SyntaxError, ValueError) as e:
            raise Rejected(CORRUPT, f"header: {e}") from e
    width, height = image.size
    if width * height > max_pixels:
        raise Rejected(DECOMPRESSION_BOMB, f"{width}x{height} exceeds {max_pixels} pixels")
    if min(width, height) < min_size:
        raise Rejected(TOO_SMALL, f"{width}x{height} is smaller than {min_size} px")
    if target_short_side and image.format == "JPEG":
        scale = min(width, height) / target_short_side
        image.draft(image.mode, (math.ceil(width / scale), math.ceil(height / scale)))
    try:
        image.load()
    except OSError as e:
        reason = TRUNCATED if "truncated" in str(e) else CORRUPT
        raise Rejected(reason, str(e)) from e
    except (SyntaxError, ValueError, EOFError, struct.error) as e:
        raise Rejected(CORRUPT, str(e)) from e
    # After load: reading a PNG's EXIF loads the pixels, and a failure there must not be swallowed.
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is no reason to lose the photo
        orientation = 1
    if orientation in range(2, 9):
        image = ImageOps.exif_transpose(image)
    turned = orientation in _QUARTER_TURNS
    return Decoded(to_rgb(image), (height, width) if turned else (width, height))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; alpha is dropped, 16-bit and float values scaled to 8 bits."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit data keeps its top 8 bits; 32-bit integer or float data is taken as 0..255 unless
        # it exceeds that, in which case it is read as 16-bit.
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    try:
        return image.convert("RGB")
    except ValueError as e:
        raise Rejected(UNSUPPORTED_MODE, f"cannot convert mode {mode} to RGB: {e}") from e


def seeded_generator(seed: str, *streams: int) -> np.random.Generator:
    """A numpy generator seeded by the sha256 of `seed` (an image key, a record id) and `streams`."""
    return np.random.default_rng([int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"), *streams])


def side_range(width: int, height: int, spec: CropSpec) -> tuple[float, float]:
    """(smallest, largest) crop side in source pixels: `spec.scale` of the shorter side, never below
    `spec.size` source pixels (no upscaling) unless the photo is smaller."""
    short = min(width, height)
    low = min(short, max(spec.scale[0] * short, spec.size))
    return low, max(low, spec.scale[1] * short)


def crop_boxes(width: int, height: int, spec: CropSpec, seed: str) -> list[tuple[float, float, float, float]]:
    """Source-pixel boxes (left, top, right, bottom) of the crops, each to be resized to `spec.size`.

    Random crop `i` draws its scale and position from a generator seeded by `seed` (the image key)
    and `i`, so reruns are identical and asking for more crops only appends to the list.
    """
    low, high = side_range(width, height, spec)
    if spec.mode == "center":
        return [((width - high) / 2, (height - high) / 2, (width + high) / 2, (height + high) / 2)]
    boxes = []
    for index in range(spec.count):
        u_side, u_x, u_y = seeded_generator(seed, index).random(3).tolist()
        side = low + u_side * (high - low)
        x, y = u_x * (width - side), u_y * (height - side)
        boxes.append((x, y, x + side, y + side))
    return boxes


def crops(image: Image.Image, spec: CropSpec, seed: str) -> list[np.ndarray]:
    """The uint8 (size, size, 3) crops of an RGB image, resampled straight from the source region."""
    return [crop_at(image, box, spec.size) for box in crop_boxes(image.width, image.height, spec, seed)]


def crop_at(image: Image.Image, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The uint8 (size, size, 3) crop of the source box (left, top, right, bottom) of an RGB image."""
    piece = image.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
    return np.asarray(piece, dtype=np.uint8)


def decode_crops(data: bytes, spec: CropSpec, seed: str) -> list[np.ndarray]:
    """Bytes to crops in one step, or `Rejected`."""
    image = decode(data, target_short_side=spec.decode_short_side, min_size=spec.min_size, max_pixels=spec.max_pixels)
    return crops(image, spec, seed)

