"""Train-step throughput: TFRecord input vs tensors in memory, and step time per configuration.

    python -m bench.train [--data DIR] [--steps 8] [--configs default,...] [--no-onednn-baseline]

Without --data it writes 128x128 crops of scikit-image photos as gzip shards in a temp dir. Each
configuration trains the real Trainer step (phase 1, structural loss; phase 2 adds D) on the same
batch size; the input comparison times the same compiled step fed by the tf.data pipeline and by
one batch already in memory. The ratio is the input pipeline's share of the step. The oneDNN
baseline reruns the first configuration in a child process with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's
own default on CPUs without AVX-512), to show what the project's default (common/startup.py) buys.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import dataclasses
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from model import losses
from model.config import TrainConfig
from model.data import train_dataset
from model.train import Trainer
from model.vgg import vgg_features
from tfrecords import Geometry, Record
from tfrecords.shards import shard_name, write_manifest

ROUNDS = 3
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def write_records(directory: str, count: int = 512, shards: int = 4) -> str:
    from skimage import data

    geometry, rng = Geometry(), np.random.default_rng(0)
    photos = [getattr(data, name)()[..., :3] for name in PHOTOS]
    records = []
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = (int(rng.integers(0, photo.shape[k] - 128)) for k in (0, 1))
        records.append(Record.from_image(np.ascontiguousarray(photo[top:top + 128, left:left + 128]), geometry,
                                         key=f"bench-{i % len(photos)}", crop_index=i))
    for s in range(shards):
        with tf.io.TFRecordWriter(f"{directory}/{shard_name('train', s, shards)}", options="GZIP") as w:
            for r in records[s::shards]:
                w.write(r.serialize())
    write_manifest(directory, {"geometry": geometry.to_dict(),
                               "splits": {"train": {"records": count}, "eval": {"records": 0}}})
    return directory


def time_steps(step_fn, batches: Iterator[dict], steps: int) -> float:
    """Seconds per step over `steps` steps of an already traced step function."""
    start = time.perf_counter()
    for _ in range(steps):
        b = next(batches)
        values = step_fn({"masked": b["masked"], "patch": b["patch"]})
    float(values["generator"])  # wait for the last step
    return (time.perf_counter() - start) / steps


def in_memory(batch):
    while True:
        yield batch


CONFIGS = {
    # name: (TrainConfig changes, phase)
    "C4000/w64 (paper) structural": (dict(bottleneck=4000, width=64), 1),
    "C4000/w64 (paper) joint": (dict(bottleneck=4000, width=64), 2),
    "C4000/w64 XLA": (dict(bottleneck=4000, width=64, jit_compile="on"), 1),
    "C1000/w64": (dict(bottleneck=1000, width=64), 1),
    "C1000/w32": (dict(bottleneck=1000, width=32), 1),
    "C1000/w32 XLA": (dict(bottleneck=1000, width=32, jit_compile="on"), 1),
    "C500/w32": (dict(bottleneck=500, width=32), 1),
    "C1000/w32 resize-conv (demo)": (dict(bottleneck=1000, width=32, upsampling="resize"), 1),
    "C1000/w32 resize-conv bf16 (demo on AMX)": (dict(bottleneck=1000, width=32, upsampling="resize",
                                                   mixed_precision="bfloat16"), 1),
    "C4000/w64 (paper) bf16": (dict(bottleneck=4000, width=64, mixed_precision="bfloat16"), 1),
    "U-Net w32 bf16": (dict(generator="unet", width=32, mixed_precision="bfloat16"), 1),
    "U-Net w24 bf16": (dict(generator="unet", width=24, mixed_precision="bfloat16"), 1),
    "U-Net w16 bf16": (dict(generator="unet", width=16, mixed_precision="bfloat16"), 1),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train")
    parser.add_argument("--data", help="preprocessed shards (default: photo crops written to a temp dir)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    parser.add_argument("--no-onednn-baseline", dest="onednn_baseline", action="store_false",
                        help="skip the rerun of the first configuration with oneDNN off")
    parser.add_argument("--json", action="store_true", help="end with the s/step of each config as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data_dir = args.data or write_records(tempfile.mkdtemp(prefix="bench_train_"))
    print(f"batch {args.batch_size}, {args.steps} timed steps each, {tf.config.threading.get_inter_op_parallelism_threads() or 'default'} threads")
    # The paper's decoder in float32 unless a configuration says otherwise.
    base = TrainConfig(batch_size=args.batch_size, vgg_weights="imagenet", phase_steps=(1000, 1000),
                       upsampling="transpose", mixed_precision="off")
    results = {}
    for name in args.configs.split(","):
        changes, phase = CONFIGS[name]
        config = dataclasses.replace(base, **changes)
        trainer = Trainer(config, data_dir, tempfile.mkdtemp(prefix="bench_run_"))
        records = train_dataset(data_dir, trainer.geometry, config.batch_size, 0, 256)
        step_fn, fed_batches = trainer.train_steps.by_phase[phase], iter(records)
        time_steps(step_fn, fed_batches, 2)  # warm-up: tracing, kernel selection
        compared = not args.json and ("paper" in name or name == "C1000/w32")
        if compared:
            # Rounds alternate the two feeds, so that neither gets the warmer process or the quieter machine.
            memory_batches = in_memory(next(fed_batches))
            rounds = [(time_steps(step_fn, fed_batches, args.steps), time_steps(step_fn, memory_batches, args.steps))
                      for _ in range(ROUNDS)]
            fed, memory = (statistics.median(r[i] for r in rounds) for i in (0, 1))
        else:
            fed = time_steps(step_fn, fed_batches, args.steps)
        results[name] = fed
        line = f"{name:38s} {fed:7.3f} s/step  {config.batch_size / fed:6.1f} img/s (TFRecords)"
        if compared:
            line += (f" | {config.batch_size / memory:6.1f} img/s (in memory): input pipeline share "
                     f"{100 * (fed - memory) / fed:+.1f}% of the step (median of {ROUNDS} alternated rounds)")
        print(line, flush=True)

    if args.json:
        print(json.dumps(results))
        return
    if args.onednn_baseline:
        first = args.configs.split(",")[0]
        child = subprocess.run(
            [sys.executable, "-m", "bench.train", "--data", data_dir, "--batch-size", str(args.batch_size),
             "--steps", str(args.steps), "--configs", first, "--no-onednn-baseline", "--json"],
            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}, capture_output=True, text=True, check=True)
        off = json.loads(child.stdout.strip().splitlines()[-1])[first]
        print(f"{first} with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0): {off:.3f} s/step "
              f"{args.batch_size / off:6.1f} img/s; oneDNN on is {off / results[first]:.2f}x faster", flush=True)

    # The frozen VGG16's share: the feature loss's forward + backward alone on the same batch, as the
    # trainer runs it (the truth through the network apart, outside the gradient) and as one batch of
    # prediction and truth together (the gradient then also flows back through the truth's half).
    trainer = Trainer(dataclasses.replace(base, bottleneck=1000, width=32), data_dir, tempfile.mkdtemp())
    batch = next(iter(train_dataset(data_dir, trainer.geometry, args.batch_size, 0, 256)))
    patch = tf.cast(batch["patch"], tf.float32) / 127.5 - 1

    def one_batch_feature_loss(predicted):
        both = vgg_features(trainer.vgg, tf.concat([predicted, patch], axis=0))
        n = tf.shape(predicted)[0]
        return tf.add_n([tf.reduce_mean(tf.square(f[:n] - f[n:])) / (tf.reduce_mean(tf.square(f[n:])) + 1e-3)
                         for f in both])

    def timed(loss_fn) -> float:
        @tf.function
        def gradient(predicted):
            with tf.GradientTape() as tape:
                tape.watch(predicted)
                loss = loss_fn(predicted)
            return tape.gradient(loss, predicted)

        gradient(patch * 0.9)
        start = time.perf_counter()
        for _ in range(args.steps):
            gradient(patch * 0.9).numpy()
        return (time.perf_counter() - start) / args.steps

    apart = timed(lambda predicted: losses.feature_loss(trainer.vgg, predicted, patch))
    together = timed(one_batch_feature_loss)
    share = f" = {100 * apart / results['C1000/w32']:.0f}% of the C1000/w32 step" if "C1000/w32" in results else ""
    print(f"VGG16 feature loss fwd+bwd alone (float32): {apart:.3f} s/step{share}; with prediction and truth in "
          f"one batch {together:.3f} s/step: the truth apart is {together / apart:.2f}x faster")


if __name__ == "__main__":
    main()
