"""Where a trained U-Net's fill looks: the context its correction at a hole pixel depends on, measured.

    python -m bench.edge_reach --run RUN --data DIR [--crops 32]

For a few pixels near the centre of the 56-px centre hole, this takes the gradient of the generator's
correction there (model/unet.py, the layer added to the harmonic fill) with respect to the input, and
reads it along the 6 px of context just outside each side of the hole, summed over test crops. Each
side's profile, relative to its mean along the hole, is printed by offset from the pixel's own row or
column: a peak at offset 0 is a fill that takes each pixel from the context straight across the nearest
edge, which carries the context's lines in along rows and columns (the streaks of
docs/images/fills_at_4x.png). A mask model is measured on its data's centre-box crops.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse

import keras
import numpy as np
import tensorflow as tf

from evaluation.evaluate import read_eval_images
from model.data import layout_from_manifest
from model.export import restore_run

PIXELS = ((60, 60), (60, 68), (68, 60), (68, 68), (64, 64))
CONTEXT = 6  # px of context read beyond each side
REACH = 24  # offsets printed, each way


def side_profiles(run: str, data: str, crops: int) -> np.ndarray:
    """(2 * REACH + 1,) the mean over pixels and sides of each side's |gradient| by offset from the
    pixel's row or column, relative to that side's mean along the hole."""
    generator, geometry, _ = restore_run(run, "best")
    correction = keras.Model(generator.inputs, generator.get_layer("correction").output)
    holes = layout_from_manifest(data)
    top, left, bottom, right = geometry.hole_box
    batch = next(read_eval_images(data, "test", geometry, 4 * crops, 4 * crops, holes))
    images = tf.constant(batch.masked.astype(np.float32) / 127.5 - 1)
    if holes.name != "center":
        images = tf.concat([images, tf.constant((batch.masks > 0).astype(np.float32)[..., None])], -1)
        images = tf.gather(images, [i for i, kind in enumerate(batch.kinds) if kind == "center"])
    images = images[:crops]
    profiles = []
    for y, x in PIXELS:
        with tf.GradientTape() as tape:
            tape.watch(images)
            value = tf.reduce_sum(tf.abs(correction(images)[:, y, x, :]))
        gradient = tf.reduce_sum(tf.abs(tape.gradient(value, images)[..., :3]), axis=[0, 3]).numpy()
        sides = ((gradient[top - CONTEXT:top].mean(0), x), (gradient[bottom:bottom + CONTEXT].mean(0), x),
                 (gradient[:, left - CONTEXT:left].mean(1), y), (gradient[:, right:right + CONTEXT].mean(1), y))
        for line, centre in sides:
            profiles.append(line[centre - REACH:centre + REACH + 1] / line[top:bottom].mean())
    return np.mean(profiles, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_reach", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a training run directory (its best checkpoint is read)")
    parser.add_argument("--data", required=True, help="the preprocess output it was trained on")
    parser.add_argument("--crops", type=int, default=32, help="centre-hole test crops the gradients are summed over")
    args = parser.parse_args(argv)
    profile = side_profiles(args.run, args.data, args.crops)
    offsets = np.arange(-REACH, REACH + 1)
    print("context outside each side, |gradient| by offset from the pixel's row or column (1.00 = the side's mean):")
    print("  " + " ".join(f"{o:+d}:{v:.2f}" for o, v in zip(offsets, profile) if o % 4 == 0))
    near, off = profile[np.abs(offsets) <= 1].mean(), profile[(np.abs(offsets) >= 4) & (np.abs(offsets) <= 12)].mean()
    print(f"on the pixel's row or column (|offset| <= 1): {near:.2f}; at |offset| 4-12: {off:.2f}; ratio {near / off:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
