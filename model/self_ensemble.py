"""Geometric self-ensemble: the generator's prediction averaged over symmetries of the square crop.

Each symmetry moves the input (and its mask), the generator predicts, the prediction is moved
back, and the predictions are averaged before they are rounded to uint8: the "geometric
self-ensemble" of super-resolution (Lim et al., EDSR, CVPRW 2017). The centre hole and every mask
move with the crop, so each pass sees a valid input and fills the same pixels. Averaging predictions
that err apart lowers the error: the mirror pair gains hole PSNR and L1 with LPIPS level, for one
more generator pass per image; all 8 symmetries gain more on pixels but blur: LPIPS worsens on
average (bench/RESULTS.md, bench.quality).
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

# name: the (mirror left-right, quarter turns) applied to the input, in that order.
SELF_ENSEMBLES: dict[str, tuple[tuple[bool, int], ...]] = {
    "none": ((False, 0),),
    "mirror": ((False, 0), (True, 0)),
    "dihedral": tuple((mirror, turns) for mirror in (False, True) for turns in range(4)),
}
DESCRIPTIONS = {"none": "the crop alone (1 pass)", "mirror": "the crop and its mirror image (2 passes)",
                "dihedral": "the crop's mirror images and quarter turns (8 passes)"}
DEFAULT_SELF_ENSEMBLE = "mirror"


def check_self_ensemble(name: str) -> str:
    """`name`, or ValueError for one that is not in SELF_ENSEMBLES."""
    if name not in SELF_ENSEMBLES:
        raise ValueError(f"self-ensemble {name!r} is not one of {', '.join(SELF_ENSEMBLES)}")
    return name


def turned(images: tf.Tensor, turns: int) -> tf.Tensor:
    """(N,H,W,C) images turned `turns` quarter turns anticlockwise, as `np.rot90(x, turns, axes=(1, 2))`.

    A transpose and a reverse: `tf.image.rot90` adds shape assertions whose control flow makes
    Grappler log a warning in every process that traces it."""
    for _ in range(turns % 4):
        images = tf.reverse(tf.transpose(images, [0, 2, 1, 3]), [1])
    return images


def move(images: tf.Tensor, mirror: bool, turns: int) -> tf.Tensor:
    """(N,S,S,C) images mirrored left-right, then turned `turns` quarter turns anticlockwise."""
    return turned(images[:, :, ::-1] if mirror else images, turns)


def move_back(images: tf.Tensor, mirror: bool, turns: int) -> tf.Tensor:
    """The inverse of `move`."""
    images = turned(images, -turns)
    return images[:, :, ::-1] if mirror else images


def averaged_prediction(predict: Callable[[tf.Tensor], tf.Tensor], inputs: tf.Tensor, name: str) -> tf.Tensor:
    """`predict(inputs)` averaged over the symmetries of self-ensemble `name`, in one batch of
    N x (number of symmetries) images; `predict` maps square (N,S,S,C) tensors to square ones (the
    mask generator's mask is a channel of `inputs`, so it moves with the crop)."""
    symmetries = SELF_ENSEMBLES[check_self_ensemble(name)]
    if len(symmetries) == 1:
        return predict(inputs)
    predictions = tf.split(predict(tf.concat([move(inputs, *s) for s in symmetries], axis=0)), len(symmetries),
                           axis=0)
    return tf.add_n([move_back(p, *s) for p, s in zip(predictions, symmetries)]) / len(symmetries)
