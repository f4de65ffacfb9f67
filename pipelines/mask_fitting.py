"""What the inpaint job does to a user's mask before it plans the windows: one mask fitted to every
photo (`--mask FILE`), and every hole grown by a disk (`--dilate PIXELS`).

One mask for every photo is scaled to each photo's upright size, so that a hole drawn on one photo
falls on the same place of every photo of that shape at any resolution (a camera's timestamp, a
sensor's dust spot, a watermark placed relative to the frame). Scaling keeps every pixel the hole
touches (`mask_files.scale_hole`). A photo whose aspect ratio differs from the mask's by more than
`ASPECT_TOLERANCE` (a portrait photo and a landscape mask, 3:2 and 4:3) is a reject: stretching the
mask would move the hole.

Dilation grows each hole by every pixel within `pixels` of it (Euclidean distance): a disk, as a
brush would, not the square of a max filter. It is the exact distance transform of scipy.ndimage,
in time linear in the pixels of the holes' bounding box whatever the radius (a binary dilation with
a disk structuring element costs the disk's area per pixel).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipelines import mask_files
from pipelines.images import Rejected

ASPECT_TOLERANCE = 0.01  # relative difference of width/height allowed between the mask and a photo


def fit(hole: np.ndarray, width: int, height: int, tolerance: float = ASPECT_TOLERANCE) -> np.ndarray:
    """The bool (H,W) `hole` of the one mask for every photo, scaled to a `width` x `height` photo;
    `Rejected(MASK_ASPECT_MISMATCH)` where their aspect ratios differ by more than `tolerance`."""
    mask_height, mask_width = hole.shape
    if (mask_width, mask_height) == (width, height):
        return hole
    mask_aspect, photo_aspect = mask_width / mask_height, width / height
    if abs(photo_aspect / mask_aspect - 1) > tolerance:
        raise Rejected(mask_files.MASK_ASPECT_MISMATCH, (
            f"the photo is {width}x{height} (aspect {photo_aspect:.3f}), the mask {mask_width}x{mask_height} "
            f"(aspect {mask_aspect:.3f}): more than {tolerance:.0%} apart, so scaling would move the hole"))
    return mask_files.scale_hole(hole, width, height)


def dilate(hole: np.ndarray, pixels: int) -> np.ndarray:
    """`hole` (bool) grown by every pixel within `pixels` of a hole pixel: a disk of that radius."""
    if pixels <= 0 or not hole.any():
        return hole
    rows, columns = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    top, left = max(rows[0] - pixels, 0), max(columns[0] - pixels, 0)
    bottom, right = min(rows[-1] + pixels + 1, hole.shape[0]), min(columns[-1] + pixels + 1, hole.shape[1])
    grown = hole.copy()
    # The distance of each pixel of the holes' box (and its margin) to the nearest hole pixel.
    distance = ndimage.distance_transform_edt(~hole[top:bottom, left:right])
    grown[top:bottom, left:right] = distance <= pixels
    return grown


def photo_hole(masks: list[bytes], width: int, height: int, pixels: int) -> np.ndarray:
    """The bool (H,W) hole of a photo from its mask files (the union of their holes, each at the
    upright photo's size), grown by `pixels`; or `Rejected` with the reason (`mask_files.checked`).
    A bool hole, not a uint8 mask: the windows are planned and cut from it as it is."""
    hole = None
    for data in masks:
        one = mask_files.read_hole(data, (width, height))  # a new array: the first is the union's start
        hole = one if hole is None else np.logical_or(hole, one, out=hole)
    if hole is None:
        hole = np.zeros((height, width), bool)
    return mask_files.checked(dilate(hole, pixels))


def shared_hole(hole: np.ndarray, width: int, height: int, pixels: int) -> np.ndarray:
    """The bool (H,W) hole of a photo from the one mask for every photo, grown by `pixels`."""
    return mask_files.checked(dilate(fit(hole, width, height), pixels))
