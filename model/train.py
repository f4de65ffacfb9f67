"""Trains the structural inpainting network on the preprocess stage's TFRecords, then exports it.

    python -m model.train --data DIR --model-dir DIR [--steps N --batch-size 64 --bottleneck 4000
        --phase-steps STRUCT,JOINT --lambda-adv 0.001 --vgg-weights imagenet|PATH|random ...]

Phase 1 trains the generator on the structural loss alone (pixel + VGG16 feature reconstruction);
phase 2 adds the adversarial loss and trains the discriminator beside it (DESIGN.md section 1).
The data's hole layout (manifest.json, tfrecords/masks.py) picks the networks: the context encoder
and a patch discriminator for centre holes; for holes anywhere, the mask generator (the mask as a
4th input channel, the whole crop out) and a crop discriminator, with the structural loss on each
mask's hole and the hole metrics over its pixels.
The default recipe is the one chosen by measurement on held-out photos (model/config.py; the
measured recipe runs phase 1 only); `--recipe paper` trains the paper's.
The run directory holds config.json, run.json (geometry, hole layout, VGG weights used, hardware),
checkpoints/ (the latest few, and best/: the generator at the best periodic evaluation's hole PSNR),
logs/ (TensorBoard), eval.jsonl and, at the end, export/ (the SavedModel of the best checkpoint).
A rerun resumes from the latest checkpoint (on data of the same hole layout); a finished run says so
and does nothing.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import sys
import time
from typing import Any, Iterator

import keras
import tensorflow as tf

from common.logs import command_logging
from model import config as layout
from model import losses
from model.averaging import WeightAverage
from model.config import ARCHITECTURE_FIELDS, PAPER_RECIPE, RECIPES, SELECTION_METRICS, TrainConfig
from common.cpu import cpu_has_amx_bfloat16
from model.data_checks import check_geometry, check_schema
from model.data import eval_dataset, geometry_from_manifest, layout_from_manifest, originals, train_dataset
from model.export import export_run, improves, inpaint, inpaint_anywhere, mask_model_input, selection_score, to_unit_range
from model.exported import read_metadata
from model.metrics import inpainting_metrics, masked_metrics, mean_metrics
from model.networks import build_discriminator, build_generator, build_mask_generator
from model.vgg import build_vgg_features
from model.vgg_weights import VggWeightsError, load_vgg_weights
from common.usage import CommandParser
from tfrecords import shards
from tfrecords.geometry import Geometry

COMMAND = "model.train"
GRID_IMAGES = 4


class NonFiniteLossError(RuntimeError):
    pass


@dataclasses.dataclass
class Hardware:
    """What the run executes on, chosen from the devices present (and recorded in run.json)."""

    strategy: tf.distribute.Strategy
    policy: str  # the Keras dtype policy: float32, mixed_float16 or mixed_bfloat16
    jit_compile: bool
    gpus: int

    @property
    def loss_scaling(self) -> bool:
        """float16 gradients underflow without dynamic loss scaling; bfloat16 has float32's range."""
        return self.policy == "mixed_float16"

    def describe(self) -> dict[str, Any]:
        return {"strategy": type(self.strategy).__name__, "replicas": self.strategy.num_replicas_in_sync,
                "gpus": self.gpus, "precision": self.policy, "jit_compile": self.jit_compile}


def choose_hardware(config: TrainConfig) -> Hardware:
    """MirroredStrategy over several GPUs, else the default; mixed precision and XLA on GPU ("auto")."""
    gpus = len(tf.config.list_logical_devices("GPU"))
    if config.strategy == "mirrored" or (config.strategy == "auto" and gpus > 1):
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    # On a 2-core CPU, XLA sped the paper network's step up (4.5 -> 3.4 s) but slowed the demo's narrower
    # one (1.7 -> 2.3 s; bench/RESULTS.md): GPU only by default, --jit-compile on where it pays.
    if config.mixed_precision == "auto":
        policy = "mixed_float16" if gpus else "mixed_bfloat16" if cpu_has_amx_bfloat16() else "float32"
    else:
        policy = {"on": "mixed_float16", "bfloat16": "mixed_bfloat16", "off": "float32"}[config.mixed_precision]
    jit = {"on": True, "off": False, "auto": gpus > 0}[config.jit_compile]
    return Hardware(strategy, policy, jit, gpus)


def _write_json(path: str, values: dict[str, Any]) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(values, indent=2, sort_keys=True) + "\n")


def _read_json(path: str) -> dict[str, Any]:
    with tf.io.gfile.GFile(path) as f:
        return json.loads(f.read())


def resolve_config(model_dir: str, overrides: dict[str, Any]) -> TrainConfig:
    """The run's config: a resumed run keeps its saved one, with the given fields overriding.

    Fields that shape the networks cannot change once checkpoints exist.
    """
    saved_path = os.path.join(model_dir, layout.CONFIG_FILE)
    if not tf.io.gfile.exists(saved_path):
        return TrainConfig(**overrides)
    saved = TrainConfig.from_json(tf.io.gfile.GFile(saved_path).read())
    changed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    clash = sorted(set(changed) & set(ARCHITECTURE_FIELDS))
    if clash:
        raise ValueError(f"{model_dir} was trained with {', '.join(f'{k}={getattr(saved, k)}' for k in clash)}; "
                         f"asked for {', '.join(f'{k}={changed[k]}' for k in clash)}: use a new --model-dir")
    if changed:
        logging.info("resuming %s with changed settings: %s", model_dir, changed)
    return dataclasses.replace(saved, **changed)


class Progress:
    """Keras's live progress bar on a terminal; elsewhere (a log file, CI, nohup) one plain line at
    most every `every_seconds` and at the end, where a bar would write a carriage-return update per step."""

    def __init__(self, start: int, stop: int, every_seconds: float = 30.0, stream=None):
        self.stream = stream or sys.stdout
        self.start, self.stop, self.every = start, stop, every_seconds
        self.began = self.printed = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            self.bar = keras.utils.Progbar(stop, stateful_metrics=["loss", "img/s", "phase"], unit_name="step")
            self.bar.update(start)

    def update(self, step: int, loss: float, rate: float, phase: int) -> None:
        if self.bar is not None:
            self.bar.update(step, [("loss", loss), ("img/s", rate), ("phase", phase)])
            return
        now = time.monotonic()
        if now - self.printed < self.every and step < self.stop:
            return
        self.printed = now
        eta = (now - self.began) / max(step - self.start, 1) * (self.stop - step)
        print(f"step {step}/{self.stop}: loss {loss:.4f}, {rate:.1f} images/s, phase {phase}, "
              f"ETA {int(eta // 60)}m{int(eta % 60):02d}s", file=self.stream, flush=True)


class Trainer:
    """Builds the networks, optimizers and checkpoint of one run directory, and trains them."""

    def __init__(self, config: TrainConfig, data_dir: str, model_dir: str):
        self.data_dir, self.model_dir = data_dir, model_dir
        check_schema(shards.read_manifest(data_dir), data_dir)
        self.geometry: Geometry = geometry_from_manifest(data_dir)
        self.holes = layout_from_manifest(data_dir)  # "center" | "anywhere"
        self.config = config = config.for_layout(self.holes)
        run_file = os.path.join(model_dir, layout.RUN_FILE)
        trained = _read_json(run_file) if tf.io.gfile.exists(run_file) else {"holes": self.holes}
        if trained.get("holes", "center") != self.holes:
            raise ValueError(f"{model_dir} was trained on holes {trained.get('holes', 'center')!r} but {data_dir} "
                             f"has holes {self.holes!r}: use a new --model-dir for this data")
        if "geometry" in trained:
            check_geometry(self.geometry, data_dir, Geometry.from_dict(trained["geometry"]), f"the run {model_dir}",
                           "use a new --model-dir for this data")
        self.vgg_weights = load_vgg_weights(config.vgg_weights)  # fails here, before any work
        self.hardware = choose_hardware(config)
        self.strategy = self.hardware.strategy
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(f"batch size {config.batch_size} must divide over {replicas} replicas")
        policy = self.hardware.policy
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            anywhere = self.holes == "anywhere"
            build = build_mask_generator if anywhere else build_generator
            self.generator = build(self.geometry, config.bottleneck, config.width, dtype=policy,
                                   upsampling=config.upsampling, coarse_fill=config.coarse_fill)
            self.discriminator = build_discriminator(self.geometry, config.width, dtype=policy,
                                                     side=self.geometry.image_size if anywhere else None)
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
        self.ring = losses.overlap_weights(self.geometry.patch_size, self.geometry.overlap, config.overlap_weight)
        averaged = {"generator_average": self.average.averages} if self.average else {}
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator, optimizer_g=self.optimizer_g,
            optimizer_d=self.optimizer_d, step=self.step, data_epoch=self.data_epoch, data_batch=self.data_batch,
            **averaged)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(model_dir, layout.CHECKPOINTS),
                                                  max_to_keep=config.keep_checkpoints)
        # The generator alone at its best evaluation; best.json beside it holds the step and score, so
        # a resumed run compares against the best ever saved, not against a stale checkpointed value.
        self.best_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(generator=self.generator, step=self.step),
            os.path.join(model_dir, layout.BEST_CHECKPOINT), max_to_keep=1)
        self._steps = {
            1: self._distributed(self._structural_gradients, [(self.generator, self.optimizer_g)]),
            2: self._distributed(self._joint_gradients, [(self.generator, self.optimizer_g),
                                                         (self.discriminator, self.optimizer_d)]),
        }
        if self.holes == "anywhere":
            self._predict = tf.function(lambda images, mask: inpaint_anywhere(self.generator, images, mask,
                                                                              self.geometry))
        else:
            self._predict = tf.function(lambda images: inpaint(self.generator, images, self.geometry))

    def _optimizer(self, learning_rate: float, updates: int, name: str) -> keras.optimizers.Optimizer:
        """Adam at `learning_rate`, decayed over the network's `updates` by the config's schedule (the
        schedule reads the optimizer's own update count, which the checkpoint keeps)."""
        if self.config.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, max(updates, 1))
        adam = keras.optimizers.Adam(learning_rate, beta_1=self.config.beta1, name=name)
        # Dynamic loss scaling keeps float16 gradients from underflowing.
        return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_scaled") if self.hardware.loss_scaling else adam

    # --- the train step -----------------------------------------------------------------------

    def _structural(self, predicted: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The structural loss of the centre patch, or (with the crops' `mask`) of each crop's hole."""
        if mask is None:
            pixel = losses.pixel_loss(predicted, truth, self.ring, self.config.pixel_loss)
            feature = losses.feature_loss(self.vgg, predicted, truth)
        else:
            pixel = losses.hole_pixel_loss(predicted, truth, mask, self.geometry.overlap, self.config.overlap_weight,
                                           self.config.pixel_loss)
            feature = losses.hole_feature_loss(self.vgg, predicted, truth, mask)
        return {"pixel": pixel, "feature": feature,
                "structural": losses.structural_loss(pixel, feature, self.config.lambda_feat)}

    def _network_inputs(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A batch as the generator's input and the truth in [-1, 1] (and the mask, holes anywhere)."""
        if self.holes == "anywhere":
            return {"inputs": mask_model_input(batch["masked"], batch["mask"]),
                    "truth": to_unit_range(batch["original"]), "mask": batch["mask"]}
        return {"inputs": to_unit_range(batch["masked"]), "truth": to_unit_range(batch["patch"])}

    def _scaled(self, loss: tf.Tensor, optimizer: keras.optimizers.Optimizer) -> tf.Tensor:
        # Each replica's gradient is summed over replicas: average by their count.
        loss = loss / self.strategy.num_replicas_in_sync
        return optimizer.scale_loss(loss) if self.hardware.loss_scaling else loss

    def _structural_gradients(self, inputs: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None):
        """Phase 1: the generator alone, on the structural loss."""
        with tf.GradientTape() as tape:
            predicted = self.generator(inputs, training=True)
            values = self._structural(predicted, truth, mask)
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
            values = self._structural(predicted, truth, mask)
            values["adversarial"] = losses.generator_adversarial_loss(fake_logits)
            values["generator"] = losses.generator_loss(values["structural"], values["adversarial"],
                                                        c.lambda_rec, c.lambda_adv)
            values["discriminator"] = losses.discriminator_loss(real_logits, fake_logits)
            g_scaled = self._scaled(values["generator"], self.optimizer_g)
            d_scaled = self._scaled(values["discriminator"], self.optimizer_d)
        return [g_tape.gradient(g_scaled, self.generator.trainable_variables),
                d_tape.gradient(d_scaled, self.discriminator.trainable_variables)], values

    def _distributed(self, gradients_fn, updated: list[tuple[keras.Model, keras.optimizers.Optimizer]]):
        """One replica step = gradients (XLA-compiled when enabled), then each model's optimizer update.

        The updates stay outside XLA: under MirroredStrategy they all-reduce across replicas.
        """
        compute = tf.function(gradients_fn, jit_compile=self.hardware.jit_compile)

        def replica_step(batch):
            gradients, values = compute(**self._network_inputs(batch))
            for grads, (model, optimizer) in zip(gradients, updated):
                optimizer.apply(grads, model.trainable_variables)
            return values

        @tf.function
        def step(batch):
            per_replica = self.strategy.run(replica_step, args=(batch,))
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                    for k, v in per_replica.items()}

        return step

    def _split(self, batch: dict[str, tf.Tensor]):
        """A host batch as per-replica slices (the whole batch with one replica)."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            return batch
        size = self.config.batch_size // replicas

        def part(context):
            i = context.replica_id_in_sync_group
            return {k: v[i * size:(i + 1) * size] for k, v in batch.items()}

        return self.strategy.experimental_distribute_values_from_function(part)

    def train_step(self, batch: dict[str, tf.Tensor]) -> dict[str, float]:
        """One step of the current phase on one host batch ({masked, patch}, or {masked, mask, original}
        for holes anywhere); returns the losses."""
        phase = self.phase(int(self.step))
        keys = ("masked", "mask", "original") if self.holes == "anywhere" else ("masked", "patch")
        values = {k: float(v) for k, v in self._steps[phase](self._split({k: batch[k] for k in keys})).items()}
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

    # --- the loop -----------------------------------------------------------------------------

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
        metadata = read_metadata(export)
        return metadata.get("trained_steps", metadata.get("step")) == int(self.step)

    @property
    def _best_file(self) -> str:
        return os.path.join(self.model_dir, layout.BEST_CHECKPOINT, "best.json")

    def best_so_far(self) -> dict[str, Any] | None:
        """{step, score} of the best checkpoint saved so far, or None."""
        return _read_json(self._best_file) if tf.io.gfile.exists(self._best_file) else None

    def keep_if_best(self, result: dict[str, Any], step: int) -> bool:
        """Saves the generator as the best checkpoint when this evaluation beats every earlier one."""
        metric = self.config.select_by
        score = result["hole"][metric]
        best = self.best_so_far()
        if best is not None and not improves(metric, score, best["score"]):
            return False
        self.best_manager.save(checkpoint_number=step)
        _write_json(self._best_file, {"step": step, "score": score, "metric": SELECTION_METRICS[metric]})
        logging.info("step %d is the best so far (%s %s%s): kept in %s", step, SELECTION_METRICS[metric],
                     selection_score(metric, score),
                     f", was {selection_score(metric, best['score'])} at step {best['step']}" if best else "",
                     layout.BEST_CHECKPOINT)
        return True

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
        self._write_run_files()
        stop = min(c.steps, until_step if until_step is not None else c.steps)
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, layout.LOGS, "train"))
        eval_writer = tf.summary.create_file_writer(os.path.join(self.model_dir, layout.LOGS, "eval"))
        eval_data = eval_dataset(self.data_dir, self.geometry, c.batch_size, c.eval_images, self.holes)
        if eval_data is None:
            logging.warning("no eval split in %s: periodic evaluation is off", self.data_dir)
        progress = Progress(start, stop)
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
            progress.update(step, values["generator"], rate, self.phase(step - 1))
            if step % c.image_every == 0 or step == c.steps:
                with self.exported_weights():
                    self._log_images(writer, step, eval_data)
            if eval_data is not None and (step % c.eval_every == 0 or step == c.steps):
                with self.exported_weights():
                    last_eval = self.evaluate(eval_data, eval_writer, step)
                    if c.select_best:
                        self.keep_if_best(last_eval, step)
            if step % c.checkpoint_every == 0 or step == stop:
                self.manager.save(checkpoint_number=step)
        writer.flush()
        eval_writer.flush()
        summary = {"step": int(self.step), "trained_steps": int(self.step) - start, "already_finished": False,
                   "eval": last_eval, "best": self.best_so_far()}
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
                             c.color_jitter, c.grayscale_fraction, self.holes, c.quarter_turns)
        for _, batch in zip(range(start, stop), data):
            yield batch

    def _write_run_files(self) -> None:
        _write_json(os.path.join(self.model_dir, layout.CONFIG_FILE), self.config.to_dict())
        _write_json(os.path.join(self.model_dir, layout.RUN_FILE), {
            "geometry": self.geometry.to_dict(), "holes": self.holes, "vgg_weights": self.vgg_weights.source,
            "hardware": self.hardware.describe(), "data": self.data_dir, "tensorflow": tf.__version__,
            "keras": keras.__version__})

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

    def _inpainted(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """(inpainted, truth) uint8 crops of a parsed batch, inpainted as the export does."""
        if self.holes == "anywhere":
            return self._predict(batch["masked"], batch["mask"])["inpainted"], batch["original"]
        return self._predict(batch["masked"])["inpainted"], originals(batch["masked"], batch["patch"], self.geometry)

    def _log_images(self, writer, step: int, eval_data: tf.data.Dataset | None) -> None:
        """Rows of masked | inpainted | truth (and the mask in white, holes anywhere), from the eval
        split (else from training data)."""
        if eval_data is not None:
            batch = next(iter(eval_data))
        else:
            batch = next(iter(train_dataset(self.data_dir, self.geometry, self.config.batch_size, 0, 1, False,
                                            layout=self.holes)))
        batch = {k: v[:GRID_IMAGES] for k, v in batch.items()}
        columns = [batch["masked"], *self._inpainted(batch)]
        if self.holes == "anywhere":
            columns.insert(1, tf.repeat(tf.cast(batch["mask"], tf.uint8) * 255, 3, axis=-1))
        rows = tf.concat(columns, axis=2)
        grid = tf.reshape(rows, [1, -1, rows.shape[2], 3])
        name = "masked_mask_inpainted_truth" if self.holes == "anywhere" else "masked_inpainted_truth"
        with writer.as_default(step=step):
            tf.summary.image(name, grid)

    def evaluate(self, eval_data: tf.data.Dataset, writer=None, step: int | None = None) -> dict[str, Any]:
        """Hole (and, centre holes, patch) PSNR/SSIM/L1/L2 over the eval images, inpainted as the export
        does; for holes anywhere the hole metrics are over each mask's pixels."""
        per_image = []
        for batch in eval_data:
            predicted, truth = (t.numpy() for t in self._inpainted(batch))
            if self.holes == "anywhere":
                per_image.extend({"hole": masked_metrics(p, t, m[..., 0])}
                                 for p, t, m in zip(predicted, truth, batch["mask"].numpy()))
            else:
                per_image.extend(inpainting_metrics(p, t, self.geometry) for p, t in zip(predicted, truth))
        result = mean_metrics(per_image)
        step = int(self.step) if step is None else step
        if writer is not None:
            with writer.as_default(step=step):
                for region in (r for r in result if r != "count"):
                    for name, value in result[region].items():
                        tf.summary.scalar(f"{region}/{name}", value)
        with tf.io.gfile.GFile(os.path.join(self.model_dir, layout.EVAL_LOG), "a") as f:
            f.write(json.dumps({"step": step, **result}, sort_keys=True) + "\n")
        logging.info("eval at step %d on %d images: hole PSNR %.2f dB, SSIM %.3f, L1 %.2f%%, L2 %.2f%%", step,
                     result["count"], result["hole"]["psnr"], result["hole"]["ssim"],
                     100 * result["hole"]["l1"], 100 * result["hole"]["l2"])
        return result


# --- command line ---------------------------------------------------------------------------

HELP = {
    "bottleneck": "channels of the 1x1 bottleneck (paper 4000; smaller makes CPU runs practical)",
    "width": "base width of both networks (paper 64)",
    "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "lambda_rec": "weight of the structural loss in phase 2 (CE 0.999, TF reimplementation 1)",
    "lambda_adv": "weight of the adversarial loss in phase 2 (CE 0.001, TF reimplementation 0.1)",
    "lambda_feat": "weight of the VGG16 feature loss inside the structural loss",
    "overlap_weight": "pixel-loss weight of the overlap ring",
    "pixel_loss": "mse (the structural loss's squared error) | l1 (absolute error)",
    "vgg_weights": "imagenet | random | PATH (.npz, Keras notop .h5, Caffe vgg16.npy)",
    "eval_images": "most eval-split records the periodic evaluation scores (spread over the split when it has more)",
    "mixed_precision": "auto (float16 on GPUs, bfloat16 on CPUs with AMX) | on (float16) | bfloat16 | off", "jit_compile": "XLA: auto (GPU only) | on | off",
    "upsampling": "decoder upsampling: resize (nearest x2 + conv 3x3) | bilinear (bilinear x2 + conv 3x3) | transpose (the paper's)",
    "color_jitter": "brightness/contrast/saturation jitter: factors in [1-j, 1+j]; 0 turns it off",
    "grayscale_fraction": "fraction of training crops turned grey",
    "strategy": "auto (MirroredStrategy with >1 GPU) | default | mirrored",
    "ema_momentum": "momentum of the generator's weight average that is evaluated and exported; 0: raw weights",
    "lr_schedule": "constant | cosine (each network's learning rate falls to 0 over its updates)",
    "select_by": "the eval-split hole metric the best checkpoint is chosen by: l1 (lowest) | psnr (highest)",
    "coarse_fill": "what the encoder sees in the hole: harmonic (a smooth fill from the context, which the decoder refines) | none (the fill colour) | auto (harmonic for holes anywhere, none for the centre hole)",
}


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(COMMAND, prog="python -m model.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory of the preprocess stage (shards + manifest)")
    parser.add_argument("--model-dir", required=True, help="run directory (checkpoints, logs, export)")
    parser.add_argument("--recipe", choices=RECIPES, default="measured",
                        help="measured: the defaults chosen on held-out photos (bench/RESULTS.md); paper: "
                             f"the paper's ({', '.join(f'{k}={v}' for k, v in PAPER_RECIPE.items())}, "
                             "50/60 of --steps structural); explicit options override either")
    parser.add_argument("--steps", type=int,
                        help="total steps: all structural (measured recipe) or 50/60 structural (paper)")
    parser.add_argument("--phase-steps", help="STRUCT,JOINT: steps of phase 1 (structural) and 2 (joint)")
    parser.add_argument("--no-flip", dest="flip", action="store_false", default=None, help="no horizontal flips")
    parser.add_argument("--quarter-turns", action=argparse.BooleanOptionalAction, default=None,
                        help="turn each training crop by a random multiple of 90 degrees "
                             f"(default {TrainConfig.quarter_turns})")
    parser.add_argument("--no-select-best", dest="select_best", action="store_false", default=None,
                        help="export the last checkpoint, not the one the periodic evaluation selected")
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("phase_steps", "flip", "quarter_turns", "select_best"):
            continue
        default = field.default
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(default), default=None,
                            help=f"{HELP.get(field.name, field.name.replace('_', ' '))} (default {default})")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"phase_steps"}
    recipe = getattr(args, "recipe", "measured")
    values = dict(PAPER_RECIPE) if recipe == "paper" else {}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    if args.phase_steps:
        try:
            phases = tuple(int(s) for s in args.phase_steps.split(","))
        except ValueError:
            phases = ()
        if len(phases) != 2:
            raise ValueError(f"--phase-steps {args.phase_steps!r} must be STRUCT,JOINT (two integers)")
        if args.steps is not None and sum(phases) != args.steps:
            raise ValueError(f"--steps {args.steps} disagrees with --phase-steps {args.phase_steps}")
        values["phase_steps"] = phases
    elif args.steps is not None:
        values["phase_steps"] = TrainConfig.split_steps(args.steps, recipe)
    return values


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
