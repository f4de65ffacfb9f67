"""Holes anywhere in a photo of any size: one square context window per hole, at the model's size.

A full-size mask (uint8, 255 = hole) is split into its connected hole regions (8-connected);
regions closer to each other than `MERGE_FRACTION` of their window's side are one hole, filled from
one window. Each hole's window is the square around it whose side makes the hole's larger extent
at most `MAX_HOLE_FRACTION` of it (the mask model trains on boxes up to half the side), at least the
model's input size where the photo allows, clamped inside the photo. A hole whose window would not
fit in the photo is rejected (`HOLE_TOO_LARGE`): the model cannot fill it from enough context.

The window is resized to the model's S x S input with its hole pixels painted the fill colour
first (what the hole shows never bleeds into the context), and its mask is resized so that every
model pixel a hole pixel touches is hole; every hole pixel of the photo inside the window counts,
not only the window's own. Only the window's own hole pixels get the prediction back, resampled
onto their pixel grid (`paste`): every other pixel of the photo is the input's, bit for bit.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from scipy import ndimage

from pipelines import full_resolution
from pipelines.images import Rejected
from tfrecords.geometry import Box
from tfrecords.masks import HOLE

HOLE_TOO_LARGE = "hole_too_large"
MAX_HOLE_FRACTION = 0.5
MERGE_FRACTION = 0.125
_EIGHT_CONNECTED = np.ones((3, 3), bool)


@dataclasses.dataclass(frozen=True, eq=False)
class Window:
    """One hole and the square context window it is filled from, in photo pixels."""

    box: Box
    region: Box  # the bounding box of the hole pixels this window fills
    hole: np.ndarray  # bool, the region's shape: True on the pixels this window fills
    regions: int  # connected hole regions merged into this hole

    @property
    def side(self) -> int:
        return self.box[2] - self.box[0]


def count_regions(mask: np.ndarray) -> int:
    """The number of connected (8-connected) hole regions in a mask."""
    return ndimage.label(mask == HOLE, structure=_EIGHT_CONNECTED)[1]


def plan(mask: np.ndarray, size: int, max_fraction: float = MAX_HOLE_FRACTION,
         merge_fraction: float = MERGE_FRACTION) -> list[Window]:
    """The windows that fill every hole of an (H,W) mask (uint8, 255 = hole; or a bool hole) for a
    model of `size` x `size` input, in the raster order of the holes; `Rejected(HOLE_TOO_LARGE)` if
    a hole's window would not fit."""
    boxes, pieces = regions(_hole(mask))
    count = len(pieces)
    members = [[k] for k in range(count)]
    alive = np.ones(count, bool)

    def sides(b: np.ndarray) -> np.ndarray:
        extent = np.maximum(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1])
        return np.maximum(np.ceil(extent / max_fraction), size)

    for i in range(count):
        while alive[i]:  # grow hole i until nothing is close to it; the holes it absorbs die
            gap = np.maximum(np.maximum(boxes[:, 0] - boxes[i, 2], boxes[i, 0] - boxes[:, 2]),
                             np.maximum(boxes[:, 1] - boxes[i, 3], boxes[i, 1] - boxes[:, 3]))
            close = alive & (gap < merge_fraction * np.maximum(sides(boxes), sides(boxes[i])))
            close[i] = False
            if not close.any():
                break
            absorbed = np.flatnonzero(close)
            group = np.vstack([boxes[i], boxes[absorbed]])
            boxes[i] = (group[:, 0].min(), group[:, 1].min(), group[:, 2].max(), group[:, 3].max())
            for j in absorbed:
                members[i] += members[j]
            alive[absorbed] = False

    height, width = mask.shape
    short = min(height, width)
    needed = np.ceil(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / max_fraction)
    too_large = np.flatnonzero(alive & (needed > short))
    if too_large.size:
        t, l, b, r = boxes[too_large[0]].tolist()
        raise Rejected(HOLE_TOO_LARGE, (
            f"{too_large.size} of {int(alive.sum())} holes too large; the hole at rows {t}-{b}, columns {l}-{r} "
            f"({b - t}x{r - l} pixels) needs a {int(needed[too_large[0]])}-pixel square window to be at most "
            f"{max_fraction:g} of its side, and the photo is {width}x{height}"))
    windows = []
    for i in np.flatnonzero(alive):
        t, l, b, r = boxes[i].tolist()
        side = int(min(sides(boxes[i]), short))
        top = min(max(t - (side - (b - t)) // 2, 0), height - side)
        left = min(max(l - (side - (r - l)) // 2, 0), width - side)
        hole = np.zeros((b - t, r - l), bool)
        for k in members[i]:  # the merged regions' own pixels: whatever else lies in the box is not this hole
            kt, kl, kb, kr = pieces[k].box
            hole[kt - t:kb - t, kl - l:kr - l] |= pieces[k].pixels
        windows.append(Window((top, left, top + side, left + side), (t, l, b, r), hole, len(members[i])))
    return windows


@dataclasses.dataclass(frozen=True, eq=False)
class Region:
    """One connected hole region: its bounding box in the mask and its pixels (bool, the box's shape)."""

    box: Box
    pixels: np.ndarray


def regions(hole: np.ndarray) -> tuple[np.ndarray, list[Region]]:
    """The 8-connected regions of a bool (H,W) hole, in the raster order of their first pixels (the
    order `ndimage.label` numbers them in): their boxes as an int64 (K,4) array and the regions.

    Only the parts of the mask with hole pixels are labelled. A region cannot cross a row without
    hole pixels, nor, within a band of rows that all have some, a column without any: each band of
    consecutive rows with hole pixels is cut into its runs of columns with hole pixels, and each
    such block is labelled on its own (on a phone-size photo with a few holes, a few percent of its
    pixels rather than all of them, twice: labelling and finding the labels' boxes)."""
    found = []
    for top, bottom in _runs(hole.any(axis=1)):
        band = hole[top:bottom]
        for left, right in _runs(band.any(axis=0)):
            labels, _ = ndimage.label(band[:, left:right], structure=_EIGHT_CONNECTED)
            for label, (rows, columns) in enumerate(ndimage.find_objects(labels), start=1):
                pixels = labels[rows, columns] == label
                first = (top + rows.start, left + columns.start + int(np.argmax(pixels[0])))
                box = (top + rows.start, left + columns.start, top + rows.stop, left + columns.stop)
                found.append((first, Region(box, pixels)))
    found.sort(key=lambda entry: entry[0])
    pieces = [region for _, region in found]
    return np.array([region.box for region in pieces], np.int64).reshape(len(pieces), 4), pieces


def _runs(present: np.ndarray) -> list[tuple[int, int]]:
    """The [start, stop) runs of True in a 1-d bool array."""
    edges = np.flatnonzero(np.diff(present.astype(np.int8), prepend=0, append=0))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def model_inputs(photo: full_resolution.Photo, mask: np.ndarray, windows: list[Window], size: int,
                 fill_rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The windows as the mask model's inputs: uint8 images (K,S,S,3) and masks (K,S,S), 255 = hole.
    `mask`: the photo's, as `plan` takes it."""
    images = np.empty((len(windows), size, size, 3), np.uint8)
    masks = np.empty((len(windows), size, size), np.uint8)
    for k, window in enumerate(windows):
        top, left, bottom, right = window.box
        hole = _hole(mask[top:bottom, left:right])
        pixels = np.array(photo.rgb(window.box))  # only the window is converted, and copied
        pixels[hole] = fill_rgb
        images[k] = np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC,
                                                              reducing_gap=3.0))
        masks[k] = _touched(hole, size)
    return images, masks


def _hole(mask: np.ndarray) -> np.ndarray:
    """A bool hole as it is; a uint8 mask's hole pixels (255)."""
    return mask if mask.dtype == bool else mask == HOLE


def _touched(hole: np.ndarray, size: int) -> np.ndarray:
    """A square bool window mask resized to (size, size): hole wherever the model pixel's area
    overlaps a hole pixel's. Model pixel i spans photo pixels [low_i, high_i) on each axis; whether
    a span holds a hole pixel is a difference of prefix counts, along the rows and then, of what
    that leaves, along the columns (a rectangle holds a hole pixel where one of its rows does)."""
    side = hole.shape[0]
    i = np.arange(size)
    low, high = (i * side) // size, -((-(i + 1) * side) // size)
    counts = np.zeros((side + 1, side), np.int32)
    np.cumsum(hole, axis=0, dtype=np.int32, out=counts[1:])
    rows = (counts[high] - counts[low]) > 0  # (size, side): model row i's span holds a hole pixel in that column
    counts = np.zeros((size, side + 1), np.int32)
    np.cumsum(rows, axis=1, dtype=np.int32, out=counts[:, 1:])
    return np.where((counts[:, high] - counts[:, low]) > 0, HOLE, 0).astype(np.uint8)


def paste(photo: full_resolution.Photo, windows: list[Window], predictions: np.ndarray,
          out: np.ndarray | None = None) -> np.ndarray:
    """The photo's pixels with each window's hole replaced by its (S,S,3) prediction resampled onto
    the hole's pixels; (H,W) for L, (H,W,C) otherwise. Every other pixel is the input's. Written
    into `out` (the photo's shape, a `png.Canvas`'s pixels) where given, else into a copy."""
    pixels = full_resolution.copied(photo, out)
    for window, prediction in zip(windows, predictions, strict=True):
        full_resolution.put_rgb(pixels, photo.mode, window.region, _on_region(prediction, window), window.hole)
    return pixels


def _on_region(prediction: np.ndarray, window: Window) -> np.ndarray:
    """The prediction resampled onto the photo pixels of the window's hole region."""
    scale = prediction.shape[0] / window.side
    w_top, w_left = window.box[:2]
    top, left, bottom, right = window.region
    box = ((left - w_left) * scale, (top - w_top) * scale, (right - w_left) * scale, (bottom - w_top) * scale)
    resized = Image.fromarray(prediction).resize((right - left, bottom - top), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.uint8)
