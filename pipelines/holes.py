"""Generated hole masks, one per record, drawn from the record id so that reruns are identical.

Kinds (preprocess --holes) and the hole's share of the crop each guarantees (`AREA`):
- `center`: the geometry's centre hole box, exactly `tfrecords.masks.centre_mask` (56x56 of 128x128:
  19.1%, whatever the id).
- `boxes`: 1 to 3 axis-aligned rectangles anywhere in the crop, each side 10-50% of the crop's
  side; 2-50% of the crop.
- `strokes`: free-form brush strokes as in Yu et al. 2019, "Free-form image inpainting with gated
  convolution": 1 to 4 random walks of 4 to 12 line segments with random angles and lengths
  (5-25% of the side), each walk drawn with one random brush width (4-12% of the side) and round
  joins and caps; 5-40% of the crop.
- `mixed`: one of the three per record, chosen by the record id; the mask is the one that kind
  gives the same id.
A draw outside its kind's range is redrawn from the same generator, so the result still depends on
the id alone; every mask passes `tfrecords.masks.check_mask` (a hole and some context).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw

from pipelines.images import seeded_generator
from tfrecords import masks
from tfrecords.geometry import Box, Geometry

AREA = {masks.BOXES: (0.02, 0.50), masks.STROKES: (0.05, 0.40)}
BOX_SIDE = (0.10, 0.50)  # of the crop's side
MAX_BOXES = 3
STROKES = (1, 4)
SEGMENTS = (4, 12)
SEGMENT_LENGTH = (0.05, 0.25)  # of the crop's side
BRUSH_WIDTH = (0.04, 0.12)  # of the crop's side
# Draws per mask before giving up: about 9 in 10 stroke draws and 99 in 100 box draws land in range.
MAX_DRAWS = 100
T = TypeVar("T")


def generate(kind: str, record_id: str, geometry: Geometry) -> tuple[np.ndarray, str]:
    """(mask, the record's hole kind) of the record `record_id` (`Record.record_id`) for a data set
    whose holes are `kind`, one of `tfrecords.masks.GENERATED_KINDS`."""
    if kind == masks.MIXED:
        drawn = (masks.CENTER, masks.BOXES, masks.STROKES)
        kind = drawn[int(seeded_generator(f"mixed:{record_id}").integers(len(drawn)))]
    if kind == masks.CENTER:
        return masks.centre_mask(geometry), kind
    if kind == masks.BOXES:
        return boxes_mask(hole_boxes(record_id, geometry.image_size), geometry.image_size), kind
    if kind == masks.STROKES:
        return _first_fitting(record_id, masks.STROKES, _draw_strokes, lambda mask: mask, geometry.image_size), kind
    raise ValueError(f"hole kind {kind!r} is not one of {masks.GENERATED_KINDS}")


def hole_boxes(record_id: str, size: int) -> list[Box]:
    """The rectangles of a `boxes` hole, (top, left, bottom, right) in a (size, size) crop."""
    return _first_fitting(record_id, masks.BOXES, _draw_boxes, lambda boxes: boxes_mask(boxes, size), size)


def boxes_mask(boxes: list[Box], size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = masks.HOLE
    return mask


def _first_fitting(record_id: str, kind: str, draw: Callable[[np.random.Generator, int], T],
                   as_mask: Callable[[T], np.ndarray], size: int) -> T:
    """The first of `draw`'s draws from the record's generator whose hole area is in `AREA[kind]`."""
    rng = seeded_generator(record_id)
    low, high = AREA[kind]
    for _ in range(MAX_DRAWS):
        drawn = draw(rng, size)
        if low <= masks.hole_area(as_mask(drawn)) <= high:
            return drawn
    raise RuntimeError(f"no {kind} hole inside {AREA[kind]} in {MAX_DRAWS} draws for {record_id}")


def _draw_boxes(rng: np.random.Generator, size: int) -> list[Box]:
    low, high = math.ceil(BOX_SIDE[0] * size), math.floor(BOX_SIDE[1] * size)
    boxes = []
    for _ in range(int(rng.integers(1, MAX_BOXES + 1))):
        height, width = (int(side) for side in rng.integers(low, high + 1, size=2))
        top, left = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
        boxes.append((top, left, top + height, left + width))
    return boxes


def _draw_strokes(rng: np.random.Generator, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(STROKES[0], STROKES[1] + 1))):
        x, y = (rng.random(2) * size).tolist()
        width = int(rng.integers(round(BRUSH_WIDTH[0] * size), round(BRUSH_WIDTH[1] * size) + 1))
        _round_cap(draw, x, y, width)
        for _ in range(int(rng.integers(SEGMENTS[0], SEGMENTS[1] + 1))):
            angle = rng.uniform(0.0, 2.0 * math.pi)
            length = rng.uniform(*SEGMENT_LENGTH) * size
            end_x = min(max(x + length * math.cos(angle), 0.0), size - 1.0)
            end_y = min(max(y + length * math.sin(angle), 0.0), size - 1.0)
            draw.line([(x, y), (end_x, end_y)], fill=masks.HOLE, width=width)
            _round_cap(draw, end_x, end_y, width)
            x, y = end_x, end_y
    return np.asarray(canvas, np.uint8).copy()


def _round_cap(draw: ImageDraw.ImageDraw, x: float, y: float, width: int) -> None:
    radius = width / 2
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=masks.HOLE)


def area_summary(hole_pixels: dict[int, int], size: int) -> dict[str, float]:
    """{"mean", "min", "p10", "p50", "p90", "max"} of the hole's share of a (size, size) crop, from
    {hole pixels: records}; percentiles are the record at that rank (nearest rank, exact). Empty
    without records."""
    total = sum(hole_pixels.values())
    if not total:
        return {}
    values = np.array(sorted(hole_pixels), np.float64)
    counts = np.array([hole_pixels[v] for v in sorted(hole_pixels)], np.int64)
    ranks = np.cumsum(counts)

    def share(pixels: float) -> float:
        return round(float(pixels) / (size * size), 6)

    def at(fraction: float) -> float:
        return share(values[np.searchsorted(ranks, max(1, math.ceil(fraction * total)))])

    return {"mean": share(float(values @ counts) / total), "min": share(values[0]), "p10": at(0.1),
            "p50": at(0.5), "p90": at(0.9), "max": share(values[-1])}
