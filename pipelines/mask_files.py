"""Users' own hole masks: one image file per photo, matched by relative path and stem.

A photo `PHOTOS/a/b/cat.jpg` takes the mask `MASKS/a/b/cat.png` (any image format Pillow reads
under that stem is looked for, PNG first). A mask pixel is hole where its grey value is >= 128 (so a
JPEG-compressed black and white mask keeps its hole: compression noise stays far from 128), or, in a
mask whose alpha channel has both transparent (< 128) and opaque pixels, where it is transparent.
The inpaint job's other ways of naming masks are in `mask_naming`.
The mask must have the photo's size once the photo is turned upright by its EXIF orientation
(masks are drawn on what a viewer shows). Shared by the preprocess stage and bulk inpainting.
The preprocess stage cuts the photo and its mask with the same boxes (`masked_crops`).
"""
from __future__ import annotations

import io
import math
import posixpath
import struct
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipelines.images import CropSpec, Rejected, crop_at, seeded_generator, side_range, to_rgb
from tfrecords.masks import HOLE

# Reject reasons, as they appear in the rejects files.
NO_MASK = "no_mask"
MASK_WITHOUT_PHOTO = "mask_without_photo"
MASK_SIZE_MISMATCH = "mask_size_mismatch"
EMPTY_MASK = "empty_mask"
FULL_MASK = "full_mask"
UNREADABLE_MASK = "unreadable_mask"
NO_CONTEXT_IN_CROPS = "no_context_in_crops"  # every crop of the photo is all hole: see `masked_crops`
MASK_ASPECT_MISMATCH = "mask_aspect_mismatch"  # the one mask for every photo (`mask_fitting.fit`)
REASONS = (NO_MASK, MASK_WITHOUT_PHOTO, MASK_SIZE_MISMATCH, EMPTY_MASK, FULL_MASK, UNREADABLE_MASK,
           NO_CONTEXT_IN_CROPS, MASK_ASPECT_MISMATCH)
# Draws of a crop before it is dropped for leaving no context.
CROP_ATTEMPTS = 8
THRESHOLD = 128
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".jpg", ".jpeg")


def _normal(path: str) -> str:
    return path.replace("\\", "/")


def relative_stem(path: str, root: str) -> str:
    """`path` below `root`, without its extension: the key a photo and its mask share."""
    path, root = _normal(path), _normal(root).rstrip("/")
    if root and not path.startswith(root + "/"):
        raise ValueError(f"{path} is not under {root}")
    relative = path[len(root) + 1:] if root else path
    return posixpath.splitext(relative)[0]


def match_root(pattern: str) -> str:
    """The folder a photo glob or directory is relative to: the part before the first wildcard,
    up to its last slash (`photos/**/*.jpg` -> `photos`, `photos/` -> `photos`)."""
    pattern = _normal(pattern)
    for i, c in enumerate(pattern):
        if c in "*?[":
            return pattern[:i].rsplit("/", 1)[0] if "/" in pattern[:i] else ""
    return pattern.rstrip("/")


def pair_by_stem(photos: list[str], photo_root: str, masks: list[str], mask_root: str
                 ) -> tuple[dict[str, str], list[str], list[str]]:
    """({photo: mask}, photos without a mask, masks without a photo). Where several mask files share a
    stem, the one whose extension comes first in `MASK_EXTENSIONS` is used; the others are masks
    without a photo. Where several photos share a stem, the first in sorted order takes the mask."""
    by_stem: dict[str, str] = {}
    spare = []
    rank = {e: i for i, e in enumerate(MASK_EXTENSIONS)}
    for mask in sorted(masks, key=lambda m: (rank.get(posixpath.splitext(m)[1].lower(), len(rank)), m)):
        stem = relative_stem(mask, mask_root)
        if stem in by_stem:
            spare.append(mask)
        else:
            by_stem[stem] = mask
    pairs, lonely = {}, []
    for photo in sorted(photos):
        mask = by_stem.pop(relative_stem(photo, photo_root), None)
        if mask is None:
            lonely.append(photo)
        else:
            pairs[photo] = mask
    return pairs, lonely, sorted(spare + list(by_stem.values()))


def read_mask(data: bytes, width: int, height: int) -> np.ndarray:
    """The (height, width) uint8 mask (255 = hole) in a mask file's bytes, or `Rejected` with its
    reason: unreadable, another size than the upright photo, no hole, or no context."""
    return check_hole(read_hole(data, (width, height)))


def read_hole(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    """The bool hole of a mask file's bytes, or `Rejected` (unreadable; or, where `size` (width,
    height) is given, of another size). The size is checked before the pixels are decoded, so a mask
    file claiming a huge size costs nothing. Any mode Pillow reads is taken as its grey value
    (16-bit scaled to 8 bits); an alpha channel counts only where it has both transparent (< 128)
    and opaque pixels: then its transparent pixels are the hole and grey is not read."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # the photo passed this limit, so the sizes differ
        raise Rejected(MASK_SIZE_MISMATCH, str(e)) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise Rejected(UNREADABLE_MASK, f"not a readable image: {e}") from e
    if size is not None and image.size != size:
        raise Rejected(MASK_SIZE_MISMATCH, f"mask is {image.width}x{image.height}, the upright photo "
                                           f"{size[0]}x{size[1]}")
    try:
        image.load()
        alpha = _alpha(image)
        if alpha is not None and (alpha < THRESHOLD).any() and (alpha >= THRESHOLD).any():
            return alpha < THRESHOLD
        # A grey mask (the usual kind) is read as it is; any other mode through RGB.
        return np.asarray(image if image.mode == "L" else to_rgb(image).convert("L")) >= THRESHOLD
    except Rejected as e:
        raise Rejected(UNREADABLE_MASK, e.detail) from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise Rejected(UNREADABLE_MASK, f"pixels: {e}") from e


def _alpha(image: Image.Image) -> np.ndarray | None:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.asarray(image.getchannel("A")) if image.mode in ("RGBA", "LA", "PA") else None


def check_hole(hole: np.ndarray) -> np.ndarray:
    """A bool hole as the uint8 mask (255 = hole), or `Rejected`: no hole, or no context."""
    return checked(hole).view(np.uint8) * np.uint8(HOLE)


def checked(hole: np.ndarray) -> np.ndarray:
    """The bool hole itself, or `Rejected`: no hole, or no context."""
    holes = np.count_nonzero(hole)
    if holes == 0:
        raise Rejected(EMPTY_MASK, f"no hole pixel (grey >= {THRESHOLD}, or transparent): nothing to inpaint")
    if holes == hole.size:
        raise Rejected(FULL_MASK, "every pixel is hole: no context to inpaint from")
    return hole


class MaskedCrop(NamedTuple):
    """Crop `index` of a photo (uint8 (S,S,3)) and its mask (uint8 (S,S), 255 = hole)."""

    index: int
    pixels: np.ndarray
    mask: np.ndarray


def masked_crops(image: Image.Image, mask: np.ndarray, spec: CropSpec, seed: str) -> tuple[list[MaskedCrop], int]:
    """(the crops of a photo and of its mask cut with the same boxes, how many crops were dropped).

    `mask` is the user's mask at the photo's full upright size; `image` may be smaller (JPEG draft),
    so boxes are mapped to mask pixels by the two sizes' ratio. Each crop covers a hole pixel: attempt
    `a` of crop `i` draws, from `seed` (the photo's key), `i` and `a`, its side as `images.crop_boxes`
    does (the largest scale in center mode), a hole pixel, and a position among those whose box holds
    that pixel. A crop whose mask is invalid (all hole; or no hole, which covering a hole pixel rules
    out) is redrawn, up to `CROP_ATTEMPTS` attempts; one still invalid after them is dropped (its
    index is skipped), so a record never lacks context.
    """
    hole = mask == HOLE
    scale_x, scale_y = mask.shape[1] / image.width, mask.shape[0] / image.height
    low, high = side_range(image.width, image.height, spec)
    cumulative = np.cumsum(np.count_nonzero(hole, axis=1))
    kept, dropped = [], 0
    for index in range(spec.count):
        for attempt in range(CROP_ATTEMPTS):
            u_side, u_hole, u_x, u_y = seeded_generator(seed, index, attempt).random(4).tolist()
            side = high if spec.mode == "center" else low + u_side * (high - low)
            row, column = _nth_hole_pixel(hole, cumulative, int(u_hole * cumulative[-1]))
            x = _position_covering((column + 0.5) / scale_x, side, image.width, u_x)
            y = _position_covering((row + 0.5) / scale_y, side, image.height, u_y)
            crop = cut_hole(hole, (x * scale_x, y * scale_y, (x + side) * scale_x, (y + side) * scale_y), spec.size)
            if 0 < np.count_nonzero(crop) < crop.size:
                kept.append(MaskedCrop(index, crop_at(image, (x, y, x + side, y + side), spec.size), crop))
                break
        else:
            dropped += 1
    return kept, dropped


def scale_hole(hole: np.ndarray, width: int, height: int) -> np.ndarray:
    """A bool hole resized to (height, width): hole wherever a pixel's footprint touches the hole,
    so no hole pixel is lost, upscaled or downscaled."""
    rows = _touched(hole, 0, hole.shape[0], height, axis=0)
    return _touched(rows, 0, hole.shape[1], width, axis=1)


def cut_hole(hole: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The (size, size) uint8 crop (255 = hole) of a bool `hole` at the source box (left, top, right,
    bottom): a crop pixel is hole wherever the hole touches its footprint, so no hole pixel is lost by
    downsampling."""
    left, top, right, bottom = box
    x0, y0 = max(0, math.floor(left)), max(0, math.floor(top))
    region = hole[y0:math.ceil(bottom), x0:math.ceil(right)]
    rows = _touched(region, top - y0, bottom - y0, size, axis=0)
    return np.where(_touched(rows, left - x0, right - x0, size, axis=1), HOLE, 0).astype(np.uint8)


def _touched(hole: np.ndarray, start: float, end: float, size: int, axis: int) -> np.ndarray:
    """`hole` reduced along `axis` to `size` cells spanning [start, end): a cell is True where any
    source pixel overlapping it is."""
    length = hole.shape[axis]
    edges = start + (end - start) * np.arange(size + 1) / size
    first = np.clip(np.floor(edges[:-1]).astype(np.int64), 0, length - 1)
    last = np.clip(np.ceil(edges[1:]).astype(np.int64), first + 1, length)  # exclusive
    part = hole.take(np.arange(first[0], last[-1]), axis=axis)
    # Runs from each cell's first pixel to the next cell's; the pixel a cell shares with the next
    # one (a footprint ending mid-pixel) is added back.
    runs = np.logical_or.reduceat(part, first - first[0], axis=axis)
    return runs | part.take(last - 1 - first[0], axis=axis)


def _nth_hole_pixel(hole: np.ndarray, cumulative: np.ndarray, n: int) -> tuple[int, int]:
    """(row, column) of the `n`th hole pixel in row-major order; `cumulative` counts them by row."""
    row = int(np.searchsorted(cumulative, n, side="right"))
    before = int(cumulative[row - 1]) if row else 0
    return row, int(np.flatnonzero(hole[row])[n - before])


def _position_covering(centre: float, side: float, length: int, u: float) -> float:
    """The start, drawn by `u`, of a `side`-long span inside [0, length) that holds `centre`."""
    low, high = max(0.0, centre - side), min(centre, length - side)
    return low + u * (high - low)
