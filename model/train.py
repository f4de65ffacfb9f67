"""Trains the structural inpainting network on the preprocess stage's TFRecords, then exports it.

    python -m model.train --data DIR --model-dir DIR [--steps N --batch-size 64 --bottleneck 4000
        --phase-steps STRUCT,JOINT --lambda-adv 0.001 --vgg-weights imagenet|PATH|random ...]

Phase 1 trains the generator on the structural loss alone (pixel + VGG16 feature reconstruction);
phase 2 adds the adversarial loss and trains the discriminator beside it (docs/DESIGN.md section 1).
The data's hole layout (manifest.json, tfrecords/masks.py) picks the networks: the context encoder
and a patch discriminator for centre holes; for holes anywhere, the mask generator (the mask as a
4th input channel, the whole crop out) and a crop discriminator, with the structural loss on each
mask's hole and the hole metrics over its pixels.
The default recipe is the one chosen by measurement on held-out photos (model/config.py; the
measured recipe runs phase 1 only); `--recipe paper` trains the paper's.
The run directory holds config.json, run.json (geometry, hole layout, VGG weights used, hardware),
checkpoints/ (the latest few, and best/: the generator at the best periodic evaluation's hole score,
model/selection.py), logs/ (TensorBoard), eval.jsonl and, at the end, export/ (the SavedModel of the
best checkpoint). A rerun resumes from the latest checkpoint (on data of the same hole layout); a
finished run says so and does nothing.
The step itself is model/train_step.py, the periodic evaluation model/periodic_eval.py, the run
directory's files model/run_files.py and the flags model/train_options.py.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import contextlib
import logging
import math
import os
import sys
import time
from typing import Any, Iterator

import keras
import tensorflow as tf

from common.logs import command_logging
from common.progress import Progress
from model import config as layout
from model.averaging import WeightAverage
from model.config import TrainConfig
from model.data import eval_dataset, geometry_from_manifest, layout_from_manifest, train_dataset
from model.data_checks import check_schema
from model.export import export_run
from model.exported import read_metadata
from model.hardware import choose_hardware
from model.networks import build_discriminator
from model.patch_discriminator import build_patch_discriminator
from model.periodic_eval import PeriodicEvaluation
from model.run_files import check_run_matches, resolve_config, write_run_files
from model.selection import BestCheckpoint
from model.train_options import COMMAND, overrides_from_args, parser
from model.train_step import TrainStep
from model.vgg import build_vgg_features
from model.vgg_weights import VggWeightsError, load_vgg_weights
from tfrecords import shards
from tfrecords.geometry import Geometry


class NonFiniteLossError(RuntimeError):
    pass


class Trainer:
    """Builds the networks, optimizers and checkpoint of one run directory, and trains them."""

    def __init__(self, config: TrainConfig, data_dir: str, model_dir: str):
        self.data_dir, self.model_dir = data_dir, model_dir
        check_schema(shards.read_manifest(data_dir), data_dir)
        self.geometry: Geometry = geometry_from_manifest(data_dir)
        self.holes = layout_from_manifest(data_dir)
        self.config = config = config.for_layout(self.holes.name)
        check_run_matches(model_dir, data_dir, self.holes, self.geometry)
        self.vgg_weights = load_vgg_weights(config.vgg_weights)  # fails here, before any work
        self.hardware = choose_hardware(config)
        self.strategy = self.hardware.strategy
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(f"batch size {config.batch_size} must divide over {replicas} replicas")
        policy = self.hardware.policy
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.generator = self.holes.build_generator(self.geometry, config, policy)
            build = build_patch_discriminator if config.discriminator == "patch" else build_discriminator
            self.discriminator = build(self.geometry, config.width, dtype=policy,
                                       side=self.holes.discriminator_side(self.geometry))
            self.vgg = build_vgg_features(self.vgg_weights.arrays, dtype=policy)
            self.optimizer_g = self._optimizer(config.lr_g, config.steps, "adam_generator")
            self.optimizer_d = self._optimizer(config.lr_d, config.phase_steps[1], "adam_discriminator")
            self.optimizer_g.build(self.generator.trainable_variables)
            self.optimizer_d.build(self.discriminator.trainable_variables)
            self.average = (WeightAverage(self.generator.trainable_variables, config.ema_momentum)
                            if config.ema_momentum else None)
        # Host-side counters, outside the strategy: the step, and the (epoch, batch) of the next batch.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
        self.data_batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_batch")
        averaged = {"generator_average": self.average.averages} if self.average else {}
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator, optimizer_g=self.optimizer_g,
            optimizer_d=self.optimizer_d, step=self.step, data_epoch=self.data_epoch, data_batch=self.data_batch,
            **averaged)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(model_dir, layout.CHECKPOINTS),
                                                  max_to_keep=config.keep_checkpoints)
        self.best = BestCheckpoint(model_dir, self.generator, self.step, config.select_by)
        self.train_steps = TrainStep(config, self.geometry, self.holes, self.hardware, self.generator,
                                     self.discriminator, self.vgg, self.optimizer_g, self.optimizer_d)
        self.evaluation = PeriodicEvaluation(self.generator, self.geometry, self.holes, model_dir)

    def _optimizer(self, learning_rate: float, updates: int, name: str) -> keras.optimizers.Optimizer:
        """Adam at `learning_rate`, decayed over the network's `updates` by the config's schedule (the
        schedule reads the optimizer's own update count, which the checkpoint keeps)."""
        if self.config.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, max(updates, 1))
        adam = keras.optimizers.Adam(learning_rate, beta_1=self.config.beta1, name=name)
        # Dynamic loss scaling keeps float16 gradients from underflowing.
        return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_scaled") if self.hardware.loss_scaling else adam

    def train_step(self, batch: dict[str, tf.Tensor]) -> dict[str, float]:
        """One step of the current phase on one host batch ({masked, patch}, or {masked, mask, original}
        for holes anywhere); returns the losses."""
        phase = self.phase(int(self.step))
        values = self.train_steps(phase, batch)
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            last = self.manager.latest_checkpoint or "none yet"
            raise NonFiniteLossError(
                f"non-finite loss {bad} at step {int(self.step) + 1} (phase {phase}): training stopped. "
                f"The last good checkpoint ({last}) is kept; resume from it with a lower learning rate "
                f"(--lr-g/--lr-d) or check the data")
        self.step.assign_add(1)
        if self.average:
            self.average.update(self.step)
        return values

    def exported_weights(self):
        """A context with the generator holding the weights the run keeps and exports (the weight
        average, where there is one)."""
        return self.average.swapped_in() if self.average else contextlib.nullcontext()

    def phase(self, step: int) -> int:
        return 1 if step < self.config.phase_steps[0] else 2

    def restore(self) -> int:
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            logging.info("resumed from %s at step %d", latest, int(self.step))
        return int(self.step)

    def finished(self) -> bool:
        """True when the checkpoint reached the configured steps and the export was made after that step."""
        export = os.path.join(self.model_dir, layout.EXPORT)
        if int(self.step) < self.config.steps or not tf.io.gfile.exists(os.path.join(export, "saved_model.pb")):
            return False
        return read_metadata(export)["trained_steps"] == int(self.step)

    def evaluate(self, eval_data: tf.data.Dataset, writer=None, step: int | None = None) -> dict[str, Any]:
        """Scores the generator's current weights on the eval batches and records the scores."""
        result = self.evaluation.score(eval_data)
        step = int(self.step) if step is None else step
        self.evaluation.record(result, writer, step)
        return result

    def run(self, until_step: int | None = None) -> dict[str, Any]:
        """Trains to the configured steps (or `until_step`), checkpointing, logging and evaluating.

        Exports at the end of the run. Returns a summary.
        """
        c = self.config
        tf.io.gfile.makedirs(self.model_dir)
        start = self.restore()
        if self.finished():
            logging.info("%s already finished at step %d (export in %s): nothing to do", self.model_dir,
                         start, os.path.join(self.model_dir, layout.EXPORT))
            return {"step": start, "trained_steps": 0, "already_finished": True}
        write_run_files(self.model_dir, c, self.data_dir, self.geometry, self.holes, self.vgg_weights.source,
                        self.hardware)
        stop = min(c.steps, until_step if until_step is not None else c.steps)
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, layout.LOGS, "train"))
        eval_writer = tf.summary.create_file_writer(os.path.join(self.model_dir, layout.LOGS, "eval"))
        eval_data = eval_dataset(self.data_dir, self.geometry, c.batch_size, c.eval_images, self.holes)
        if eval_data is None:
            logging.warning("no eval split in %s: periodic evaluation is off", self.data_dir)
        progress = Progress("train", "steps", stop, every_seconds=30.0, bar=True)
        progress.start(sys.stdout, done=start)
        logging.info("training steps %d -> %d of %d (phase 1 structural: %d steps, phase 2 joint: %d) on %s",
                     start, stop, c.steps, c.phase_steps[0], c.phase_steps[1], self.hardware.describe())
        last_eval: dict[str, Any] | None = None
        tick, tick_step = time.perf_counter(), start
        rate = 0.0
        for batch in self._batches(start, stop):
            values = self.train_step(batch)
            self.data_epoch.assign(batch["epoch"])
            self.data_batch.assign(batch["batch"] + 1)
            step = int(self.step)
            if step % c.log_every == 0 or step == stop:
                now = time.perf_counter()
                rate = (step - tick_step) * c.batch_size / max(now - tick, 1e-9)
                tick, tick_step = now, step
                self._log_scalars(writer, step, values, rate)
            progress.tick(values={"loss": values["generator"], "img/s": rate, "phase": self.phase(step - 1)})
            if step % c.image_every == 0 or step == c.steps:
                with self.exported_weights():
                    self.evaluation.log_images(writer, step, self._grid_batch(eval_data))
            if eval_data is not None and (step % c.eval_every == 0 or step == c.steps):
                with self.exported_weights():
                    last_eval = self.evaluate(eval_data, eval_writer, step)
                    if c.select_best:
                        self.best.keep_if_best(last_eval, step)
            if step % c.checkpoint_every == 0 or step == stop:
                self.manager.save(checkpoint_number=step)
        writer.flush()
        eval_writer.flush()
        summary = {"step": int(self.step), "trained_steps": int(self.step) - start, "already_finished": False,
                   "eval": last_eval, "best": self.best.best_so_far()}
        if int(self.step) >= c.steps:
            summary["export"] = export_run(self.model_dir, os.path.join(self.model_dir, layout.EXPORT),
                                           "best" if c.select_best else "latest")
        return summary

    def _batches(self, start: int, stop: int) -> Iterator[dict[str, tf.Tensor]]:
        c = self.config
        if start >= stop:
            return
        position = (int(self.data_epoch), int(self.data_batch))
        data = train_dataset(self.data_dir, self.geometry, c.batch_size, c.seed, c.shuffle_buffer, c.flip, position,
                             c.color_jitter, c.grayscale_fraction, self.holes, c.quarter_turns, c.fresh_views)
        for _, batch in zip(range(start, stop), data):
            yield batch

    def _grid_batch(self, eval_data: tf.data.Dataset | None) -> dict[str, tf.Tensor]:
        """The batch the image grid shows: the eval split's first, else the training data's."""
        if eval_data is not None:
            return next(iter(eval_data))
        return next(iter(train_dataset(self.data_dir, self.geometry, self.config.batch_size, 0, 1, False,
                                       holes=self.holes)))

    def _log_scalars(self, writer, step: int, values: dict[str, float], rate: float) -> None:
        phase = self.phase(step - 1)
        prefix = "phase1_structural" if phase == 1 else "phase2_joint"
        with writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(f"{prefix}/{name}", value)
            for name, optimizer in (("generator", self.optimizer_g), ("discriminator", self.optimizer_d)):
                tf.summary.scalar(f"learning_rate/{name}", tf.convert_to_tensor(optimizer.learning_rate))
            tf.summary.scalar("throughput/images_per_second", rate)
            tf.summary.scalar("phase", phase)


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n")[0]).parse_args(argv)
    command_logging()
    try:
        config = resolve_config(args.model_dir, overrides_from_args(args))
        summary = Trainer(config, args.data, args.model_dir).run()
    except (VggWeightsError, NonFiniteLossError, ValueError, FileNotFoundError) as e:
        print(f"{COMMAND}: {e}", file=sys.stderr)
        return 1
    if not summary["already_finished"]:
        logging.info("done: step %d%s", summary["step"],
                     f", exported to {summary['export']}" if summary.get("export") else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
