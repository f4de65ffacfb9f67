"""Users' own hole masks: one image file per photo, matched by relative path and stem.

A photo `PHOTOS/a/b/cat.jpg` takes the mask `MASKS/a/b/cat.png` (any image format Pillow reads
under that stem is looked for, PNG first). A mask pixel is hole where its grey value is >= 128.
The mask must have the photo's size once the photo is turned upright by its EXIF orientation
(masks are drawn on what a viewer shows). Shared by the preprocess stage and bulk inpainting.
"""
from __future__ import annotations

import io
import posixpath

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipelines.images import Rejected

# Reject reasons, as they appear in the rejects files.
NO_MASK = "no_mask"
MASK_WITHOUT_PHOTO = "mask_without_photo"
MASK_SIZE_MISMATCH = "mask_size_mismatch"
EMPTY_MASK = "empty_mask"
FULL_MASK = "full_mask"
UNREADABLE_MASK = "unreadable_mask"
REASONS = (NO_MASK, MASK_WITHOUT_PHOTO, MASK_SIZE_MISMATCH, EMPTY_MASK, FULL_MASK, UNREADABLE_MASK)
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
    without a photo."""
    by_stem: dict[str, str] = {}
    spare = []
    rank = {e: i for i, e in enumerate(MASK_EXTENSIONS)}
    for mask in sorted(masks, key=lambda m: rank.get(posixpath.splitext(m)[1].lower(), len(rank))):
        stem = relative_stem(mask, mask_root)
        if stem in by_stem:
            spare.append(mask)
        else:
            by_stem[stem] = mask
    pairs, lonely = {}, []
    for photo in photos:
        mask = by_stem.pop(relative_stem(photo, photo_root), None)
        if mask is None:
            lonely.append(photo)
        else:
            pairs[photo] = mask
    return pairs, lonely, sorted(spare + list(by_stem.values()))


def read_mask(data: bytes, width: int, height: int) -> np.ndarray:
    """The (height, width) uint8 mask (255 = hole) in a mask file's bytes, or `Rejected` with its
    reason: unreadable, another size than the upright photo, no hole, or no context."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise Rejected(UNREADABLE_MASK, f"not a readable image: {e}") from e
    if image.size != (width, height):
        raise Rejected(MASK_SIZE_MISMATCH, f"mask is {image.width}x{image.height}, the upright photo "
                                           f"{width}x{height}")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")  # alpha is ignored: the grey value marks the hole
    grey = np.asarray(image.convert("L"))
    mask = np.where(grey >= THRESHOLD, 255, 0).astype(np.uint8)
    holes = np.count_nonzero(mask)
    if holes == 0:
        raise Rejected(EMPTY_MASK, f"no pixel >= {THRESHOLD}: nothing to inpaint")
    if holes == mask.size:
        raise Rejected(FULL_MASK, "every pixel is hole: no context to inpaint from")
    return mask
