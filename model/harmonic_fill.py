"""A smooth fill of a hole from its context, in TensorFlow ops: the generators' coarse start.

The hole's pixels get the harmonic function the context sets at the hole's border (each hole pixel
the mean of its neighbours), solved coarse to fine: a mask-weighted image pyramid (pull-push, Gortler
et al., "The Lumigraph", 1996) gives every hole pixel the colour of the context nearest it at some
scale, then `ITERATIONS` Jacobi sweeps at each scale relax it towards the harmonic solution there.
The context's pixels come back exactly. It runs inside the networks (training, export, the GPU) as
ordinary ops: average pooling and bilinear resizing.

On held-out photos this fill alone beats OpenCV Telea on every hole kind; fewer sweeps per scale
than `ITERATIONS` lose hole PSNR, more gain next to nothing (bench/RESULTS.md).
"""
from __future__ import annotations

import tensorflow as tf

ITERATIONS = 32


def harmonic_fill(images: tf.Tensor, hole: tf.Tensor, iterations: int = ITERATIONS) -> tf.Tensor:
    """float (N,H,W,C) images and their (N,H,W,1) hole (1 in the hole, 0 in the context; broadcast
    over the batch if N is 1) -> the images with the hole filled smoothly from the context, float32.
    A crop with no context at all comes back 0 in the hole."""
    images = tf.cast(images, tf.float32)
    known = 1.0 - tf.cast(hole, tf.float32) * tf.ones_like(images[..., :1])
    # Each level: the known pixels' colour sum and their share of the cell, both cell means.
    levels = [(images * known, known)]
    while levels[-1][1].shape[1] > 1 or levels[-1][1].shape[2] > 1:
        value, weight = levels[-1]
        levels.append((tf.nn.avg_pool2d(value, 2, 2, "SAME"), tf.nn.avg_pool2d(weight, 2, 2, "SAME")))
    filled = None
    for value, weight in reversed(levels):
        mean = value / tf.maximum(weight, 1e-6)
        # A cell's own known colour counts by the share of it that is known; the rest comes from the
        # coarser level, then from its neighbours (Jacobi sweeps).
        share = tf.minimum(weight, 1.0)
        if filled is not None:
            coarser = tf.image.resize(filled, tf.shape(weight)[1:3], method="bilinear")
            filled = share * mean + (1.0 - share) * coarser
            for _ in range(iterations):
                filled = share * mean + (1.0 - share) * tf.nn.avg_pool2d(filled, 3, 1, "SAME")
        else:
            filled = mean
    return tf.where(known > 0.5, images, filled)
