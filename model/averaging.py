"""An exponential moving average of a model's trainable weights: the weights the trainer evaluates,
keeps as its best checkpoint and exports, while the optimizer goes on updating the raw ones.

The eval-split score of the raw weights swings from one evaluation to the next at the demo's
learning rate; their average does not (bench/RESULTS.md, bench.quality). The momentum warms
up as TensorFlow's `ExponentialMovingAverage(num_updates=step)` does, min(momentum, (1 + step) /
(10 + step)), so early averages are not dominated by the random initial weights.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import tensorflow as tf


class WeightAverage:
    """The average of `variables` (float variables, updated in place by an optimizer)."""

    def __init__(self, variables: Sequence[tf.Variable], momentum: float) -> None:
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"momentum {momentum} must be in (0, 1)")
        self.momentum = momentum
        self._variables = list(variables)
        # Checkpointed with the run (a list of variables is trackable), so a resumed run keeps averaging.
        self.averages = [tf.Variable(v, trainable=False, name=f"average_{i}") for i, v in enumerate(self._variables)]

    @tf.function
    def update(self, step: tf.Tensor) -> None:
        """Moves the average towards the current weights after optimizer step `step` (1, 2, ...)."""
        step = tf.cast(step, tf.float32)
        momentum = tf.minimum(self.momentum, (1.0 + step) / (10.0 + step))
        for average, variable in zip(self.averages, self._variables):
            average.assign(momentum * average + (1.0 - momentum) * tf.cast(variable, average.dtype))

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the variables for the duration, the raw ones back after."""
        raw = [tf.identity(v) for v in self._variables]
        for variable, average in zip(self._variables, self.averages):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(self._variables, raw):
                variable.assign(value)


def restore_average(variables: Sequence[tf.Variable], checkpoint_path: str) -> None:
    """Puts the weight average saved in a training checkpoint (`generator_average`) into `variables`."""
    averages = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    tf.train.Checkpoint(generator_average=averages).restore(checkpoint_path).expect_partial() \
        .assert_existing_objects_matched()
    for variable, average in zip(variables, averages):
        variable.assign(average)
