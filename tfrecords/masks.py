"""Hole masks in the record contract: uint8 (S,S), 255 inside the hole, 0 in the visible context.

A data set has one hole *layout*, which decides what ground truth its records carry and which
generator the trainer builds (manifest.json `holes.layout`):
- `center`: the paper's benchmark, every hole the geometry's centre box; a record keeps the true
  centre patch, and the context encoder predicts that patch.
- `anywhere`: the hole is wherever the record's mask says; a record keeps the whole true crop, and
  the mask-channel generator predicts the whole crop.

A record's *kind* says where its mask came from: `center`, `boxes`, `strokes` (generated, seeded by
the record id) or `user` (a mask file given to the preprocess stage). `mixed` data sets hold
records of the three generated kinds.
"""
from __future__ import annotations

import numpy as np

from tfrecords.geometry import Geometry

HOLE = 255
CENTER, BOXES, STROKES, USER = "center", "boxes", "strokes", "user"
RECORD_KINDS = (CENTER, BOXES, STROKES, USER)
MIXED = "mixed"
GENERATED_KINDS = (CENTER, BOXES, STROKES, MIXED)  # what preprocess --holes takes
LAYOUTS = ("center", "anywhere")


def layout_of(kind: str) -> str:
    """The layout of a data set whose holes are `kind` (a --holes value, or `user`)."""
    if kind not in GENERATED_KINDS + (USER,):
        raise ValueError(f"hole kind {kind!r} is not one of {GENERATED_KINDS + (USER,)}")
    return "center" if kind == CENTER else "anywhere"


def centre_mask(geometry: Geometry) -> np.ndarray:
    """The geometry's centre hole as a mask."""
    mask = np.zeros((geometry.image_size, geometry.image_size), np.uint8)
    top, left, bottom, right = geometry.hole_box
    mask[top:bottom, left:right] = HOLE
    return mask


def check_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """`mask` if it is a valid (size, size) mask of 0 and 255 with at least one hole and one visible
    pixel; else ValueError."""
    if mask.shape != (size, size) or mask.dtype != np.uint8:
        raise ValueError(f"expected a uint8 ({size}, {size}) mask, got {mask.dtype} {mask.shape}")
    # Two counts instead of np.unique, which sorts the mask: 20x faster, and every record read checks one.
    holes = np.count_nonzero(mask == HOLE)
    if np.count_nonzero(mask) != holes:
        raise ValueError(f"mask values must be 0 or {HOLE}, got {np.unique(mask)[:8].tolist()}")
    if holes == 0:
        raise ValueError("mask has no hole")
    if holes == mask.size:
        raise ValueError("mask is all hole: no context to fill from")
    return mask


def mask_image(image: np.ndarray, mask: np.ndarray, fill_rgb: tuple[int, int, int]) -> np.ndarray:
    """The image with every hole pixel painted `fill_rgb`."""
    masked = image.copy()
    masked[mask == HOLE] = fill_rgb
    return masked


def hole_area(mask: np.ndarray) -> float:
    """The hole's share of the image, in [0, 1]."""
    return float(np.count_nonzero(mask == HOLE)) / mask.size
