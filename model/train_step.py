"""One training step of either phase (docs/DESIGN.md section 1): the structural loss of the
generator's prediction, the adversarial loss and the discriminator's in phase 2, the gradients
(XLA-compiled where the hardware asks for it) and the optimizers' updates, over the replicas of the
distribution strategy."""
from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from model import losses
from model.config import TrainConfig
from model.hardware import Hardware
from model.hole_layouts import HoleLayout
from tfrecords.geometry import Geometry

Losses = dict[str, tf.Tensor]


class TrainStep:
    """The compiled step of each phase, `by_phase[1]` (structural) and `by_phase[2]` (joint), over
    the networks and optimizers it is given."""

    def __init__(self, config: TrainConfig, geometry: Geometry, holes: HoleLayout, hardware: Hardware,
                 generator: keras.Model, discriminator: keras.Model, vgg: keras.Model,
                 optimizer_g: keras.optimizers.Optimizer, optimizer_d: keras.optimizers.Optimizer):
        self.config, self.geometry, self.holes, self.hardware = config, geometry, holes, hardware
        self.generator, self.discriminator, self.vgg = generator, discriminator, vgg
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.ring = losses.overlap_weights(geometry.patch_size, geometry.overlap, config.overlap_weight)
        self.by_phase = {
            1: self._distributed(self._structural_gradients, [(generator, optimizer_g)]),
            2: self._distributed(self._joint_gradients, [(generator, optimizer_g), (discriminator, optimizer_d)]),
        }

    def __call__(self, phase: int, batch: dict[str, tf.Tensor]) -> dict[str, float]:
        """One step of `phase` on one host batch (the layout's `batch_keys`); returns the losses."""
        keys = self.holes.batch_keys
        return {k: float(v) for k, v in self.by_phase[phase](self._split({k: batch[k] for k in keys})).items()}

    def structural(self, predicted: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None) -> Losses:
        """The structural loss of the centre patch, or (with the crops' `mask`) of each crop's hole."""
        c = self.config
        if mask is None:
            pixel = losses.pixel_loss(predicted, truth, self.ring, c.pixel_loss)
        else:
            pixel = losses.hole_pixel_loss(predicted, truth, mask, self.geometry.overlap, c.overlap_weight, c.pixel_loss)
        feature, style = losses.feature_and_style_losses(self.vgg, predicted, truth, mask, self.geometry.overlap,
                                                         style=bool(c.lambda_style))
        values = {"pixel": pixel, "feature": feature,
                  "structural": losses.structural_loss(pixel, feature, c.lambda_feat, style, c.lambda_style)}
        return values if style is None else {**values, "style": style}

    def _scaled(self, loss: tf.Tensor, optimizer: keras.optimizers.Optimizer) -> tf.Tensor:
        # Each replica's gradient is summed over replicas: average by their count.
        loss = loss / self.hardware.strategy.num_replicas_in_sync
        return optimizer.scale_loss(loss) if self.hardware.loss_scaling else loss

    def _structural_gradients(self, inputs: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None):
        """Phase 1: the generator alone, on the structural loss."""
        with tf.GradientTape() as tape:
            predicted = self.generator(inputs, training=True)
            values = self.structural(predicted, truth, mask)
            values["generator"] = values["structural"]
            scaled = self._scaled(values["generator"], self.optimizer_g)
        return [tape.gradient(scaled, self.generator.trainable_variables)], values

    def _joint_gradients(self, inputs: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None):
        """Phase 2: the generator on structural + adversarial loss, the discriminator on real vs fake:
        the predicted patch, or for holes anywhere the prediction composited into its context."""
        c = self.config
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            predicted = self.generator(inputs, training=True)
            real_logits = self.discriminator(truth, training=True)
            fake = predicted if mask is None else losses.composite(predicted, truth, mask)
            fake_logits = self.discriminator(fake, training=True)
            values = self.structural(predicted, truth, mask)
            values["adversarial"] = losses.generator_adversarial_loss(fake_logits)
            values["generator"] = losses.generator_loss(values["structural"], values["adversarial"],
                                                        c.lambda_rec, c.lambda_adv)
            values["discriminator"] = losses.discriminator_loss(real_logits, fake_logits)
            g_scaled = self._scaled(values["generator"], self.optimizer_g)
            d_scaled = self._scaled(values["discriminator"], self.optimizer_d)
        return [g_tape.gradient(g_scaled, self.generator.trainable_variables),
                d_tape.gradient(d_scaled, self.discriminator.trainable_variables)], values

    def _distributed(self, gradients_fn: Callable,
                     updated: list[tuple[keras.Model, keras.optimizers.Optimizer]]) -> Callable:
        """One replica step = gradients (XLA-compiled when enabled), then each model's optimizer update.

        The updates stay outside XLA: under MirroredStrategy they all-reduce across replicas.
        """
        compute = tf.function(gradients_fn, jit_compile=self.hardware.jit_compile)
        strategy = self.hardware.strategy

        def replica_step(batch):
            gradients, values = compute(**self.holes.network_inputs(batch))
            for grads, (model, optimizer) in zip(gradients, updated):
                optimizer.apply(grads, model.trainable_variables)
            return values

        @tf.function
        def step(batch):
            per_replica = strategy.run(replica_step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

        return step

    def _split(self, batch: dict[str, tf.Tensor]):
        """A host batch as per-replica slices (the whole batch with one replica)."""
        strategy = self.hardware.strategy
        replicas = strategy.num_replicas_in_sync
        if replicas == 1:
            return batch
        size = self.config.batch_size // replicas

        def part(context):
            i = context.replica_id_in_sync_group
            return {k: v[i * size:(i + 1) * size] for k, v in batch.items()}

        return strategy.experimental_distribute_values_from_function(part)
