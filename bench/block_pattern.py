"""A grid pattern in the fills, measured: which exports stamp blocks on their holes, side by side.

    python -m bench.block_pattern --data DIR --export NAME=PATH [--export NAME=PATH ...]
        [--split test --images 512 --output runs/block_pattern]

A decoder that upsamples by copying pixels (nearest neighbour) or by stride-2 transposed convolutions,
or a fill grown from a 4 x 4 start, leaves steps every p pixels across the fill: its horizontal and
vertical differences are larger on every p-th column and row than between them. For each period p
(2, 4, 8, 16), each direction and each phase, this takes the absolute difference across the hole on
that phase's lines over its local level (the mean over the p lines around each, within the same
hole), and keeps the largest: 1.00 is no grid, a photo's own fill (the truth) scores its texture's chance
alignments, and a fill scoring well above the truth at one period shows blocks of that side. Each
export, the classical fills and the truth are measured on the same crops of the split; `zoom.png`
beside them shows the hole of a few crops at 4x (nearest neighbour, so every pixel is a visible
square) from each.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import os

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import convolve1d

from evaluation import baselines
from evaluation.evaluate import read_eval_images
from model.data import layout_from_manifest
from model.exported import load_geometry, load_inpainter

PERIODS = (2, 4, 8, 16)
ZOOM = 4
ZOOM_CROPS = 4
CLASSICAL = ("harmonic", "fsr", "telea")


def grid_scores(fills: np.ndarray, masks: np.ndarray) -> dict[int, float]:
    """period p -> the largest, over the two directions and the p phases, of (the holes' |difference|
    across lines of that phase) / (the same lines' local level), summed over crops.

    A line's local level is the mean |difference| of the p lines around it (the two ends half
    weighted, so a pattern of period p averages to its mean), taken only where all of them lie in
    the same crop's hole. That keeps a fill's trends out of the score: every fill changes faster next
    to the context than in the middle of its hole, and a centre hole's edges sit at the same phase in
    every crop, so raw line means scored the smooth harmonic fill 1.32 at period 16. The directions
    are scored apart because a grid's rows and columns need not share a phase: taken together, a
    model's 2-px pairs (1.2 on each) scored 1.02."""
    x = fills.astype(np.float32).mean(axis=-1)
    hole = masks > 0
    pairs = [(np.abs(np.diff(x, axis=1)), hole[:, 1:] & hole[:, :-1], 1),
             (np.abs(np.diff(x, axis=2)), hole[:, :, 1:] & hole[:, :, :-1], 2)]
    scores = {}
    for p in PERIODS:
        window = np.ones(p + 1)
        window[[0, -1]] = 0.5
        best = 0.0
        for difference, inside, axis in pairs:
            inside = inside.astype(np.float32)
            whole = convolve1d(inside, window, axis=axis, mode="constant") > window.sum() - 1e-3
            local = convolve1d(difference * inside, window, axis=axis, mode="constant") / window.sum()
            lines = np.arange(difference.shape[axis]) % p
            phase = np.broadcast_to(lines[:, None] if axis == 1 else lines[None, :], difference.shape[1:])
            phase = np.broadcast_to(phase, difference.shape)[whole]
            on_phase = np.bincount(phase, difference[whole], minlength=p)
            level = np.bincount(phase, local[whole], minlength=p)
            best = max(best, float((on_phase / np.maximum(level, 1e-9)).max()))
        scores[p] = best
    return scores


def hole_window(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def zoom_sheet(fills: dict[str, np.ndarray], masks: np.ndarray, path: str) -> None:
    """One row per method: the holes' bounding boxes of ZOOM_CROPS crops spread over the batch, at
    ZOOM x, side by side."""
    label_width, gap = 150, 4
    chosen = np.linspace(0, len(masks) - 1, ZOOM_CROPS).astype(int)
    fills = {name: images[chosen] for name, images in fills.items()}
    windows = [hole_window(m) for m in masks[chosen]]
    widths = [(r - l) * ZOOM for _, l, _, r in windows]
    height = max((b - t) * ZOOM for t, _, b, _ in windows)
    sheet = Image.new("RGB", (label_width + sum(widths) + gap * len(widths), len(fills) * (height + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, images) in enumerate(fills.items()):
        y = row * (height + gap)
        draw.text((2, y + 2), name, fill="black")
        x = label_width
        for image, (t, l, b, r), width in zip(images, windows, widths):
            window = Image.fromarray(image[t:b, l:r]).resize((width, (b - t) * ZOOM), Image.NEAREST)
            sheet.paste(window, (x, y))
            x += width + gap
    sheet.save(path)


def main(argv: list[str] | None = None) -> dict[str, dict[int, float]]:
    parser = argparse.ArgumentParser(prog="python -m bench.block_pattern", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a preprocessed data set (its --split is measured)")
    parser.add_argument("--export", action="append", default=[], metavar="NAME=PATH", required=True,
                        help="an exported model to measure (repeat)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--output", default="runs/block_pattern")
    args = parser.parse_args(argv)
    exports = dict(item.split("=", 1) for item in args.export)
    geometry = load_geometry(next(iter(exports.values())))
    layout = layout_from_manifest(args.data)
    batch = next(read_eval_images(args.data, args.split, geometry, args.images, args.images, layout))
    fills = {"truth": batch.originals}
    for name, path in exports.items():
        inpainter, _ = load_inpainter(path)
        fills[name] = np.concatenate([inpainter(**layout.serving_feed(batch.masked[i:i + 64], batch.masks[i:i + 64]))
                                      ["inpainted"].numpy() for i in range(0, len(batch.masked), 64)])
    for method in CLASSICAL:
        fill = getattr(baselines, method)
        fills[baselines.LABELS[method]] = np.stack([fill(m, k) for m, k in zip(batch.masked, batch.masks)])
    scores = {name: grid_scores(images, batch.masks) for name, images in fills.items()}
    print(f"grid score on {len(batch.masked)} {args.split} crops' holes (1.00: no grid; the truth: the photos' own)")
    print(f"{'fill':<28}" + "".join(f"{f'period {p}':>11}" for p in PERIODS) + f"{'8 / truth':>11}")
    for name, by_period in scores.items():
        print(f"{name:<28}" + "".join(f"{by_period[p]:>11.3f}" for p in PERIODS)
              + f"{by_period[8] / scores['truth'][8]:>11.2f}")
    os.makedirs(args.output, exist_ok=True)
    zoom = os.path.join(args.output, "zoom.png")
    zoom_sheet(fills, batch.masks, zoom)
    print(f"holes at {ZOOM}x: {zoom}")
    return scores


if __name__ == "__main__":
    main()
