"""tf.data input for training and evaluation, over the preprocess stage's TFRecord shards.

Training batches are deterministic functions of (seed, epoch, batch index): each epoch shuffles
the file order and blocks of records with stateless seeds of its own and draws flips the same way. Every batch
carries its (epoch, batch) position, so a resumed run rebuilds the stream from where it stopped
without saving the shuffle buffer in the checkpoint.
"""
from __future__ import annotations

import logging

import tensorflow as tf

from tfrecords import shards
from tfrecords.geometry import Geometry
from tfrecords.schema import parse_examples

AUTOTUNE = tf.data.AUTOTUNE
MAX_PARALLEL_FILES = 16


def geometry_from_manifest(data_dir: str) -> Geometry:
    return Geometry.from_dict(shards.read_manifest(data_dir)["geometry"])


def count_records(data_dir: str, split: str) -> int:
    """Records in a split, from the manifest, else by reading the shards."""
    counted = shards.read_manifest(data_dir).get("splits", {}).get(split, {}).get("records")
    if counted is not None:
        return int(counted)
    logging.info("manifest has no %s record count: counting the shards", split)
    files = shards.split_files(data_dir, split)
    return int(tf.data.TFRecordDataset(files, compression_type="GZIP").reduce(0, lambda n, _: n + 1))


def _records(files: list[str], seed: tf.Tensor) -> tf.data.Dataset:
    names = tf.data.Dataset.from_tensor_slices(tf.random.experimental.stateless_shuffle(files, tf.stack([seed, -1])))
    return names.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                            cycle_length=min(len(files), MAX_PARALLEL_FILES), num_parallel_calls=AUTOTUNE,
                            deterministic=True)


def flip_batch(masked: tf.Tensor, patch: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirrors a random half of the images left-right, each image's masked input and patch together.

    Flipping the original image and masking it again equals flipping both halves, because the
    patch and the hole are centred (Geometry enforces it).
    """
    flip = tf.random.stateless_uniform([tf.shape(masked)[0], 1, 1, 1], seed) < 0.5
    return tf.where(flip, masked[:, :, ::-1], masked), tf.where(flip, patch[:, :, ::-1], patch)


def train_dataset(data_dir: str, geometry: Geometry, batch_size: int, seed: int, shuffle_buffer: int,
                  flip: bool = True, start: tuple[int, int] = (0, 0)) -> tf.data.Dataset:
    """Endless batches {masked, patch (uint8), epoch, batch (int64)}, starting after position `start`.

    `start` = (epoch, batch) of the first batch to produce.
    """
    files = shards.split_files(data_dir, "train")
    records = count_records(data_dir, "train")
    if records < batch_size:
        raise ValueError(f"the train split of {data_dir} has {records} records, fewer than one batch "
                         f"of {batch_size}: lower --batch-size or preprocess more images")
    start_epoch, start_batch = (int(v) for v in start)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        epoch_seed = epoch_seed_of(seed, epoch)
        # tf.data's shuffle takes no tensor seed: shuffle blocks of `shuffle_buffer` records statelessly.
        batches = (_records(files, epoch_seed)
                   .batch(shuffle_buffer)
                   .enumerate()
                   .map(lambda block, records: tf.random.experimental.stateless_shuffle(
                       records, tf.stack([epoch_seed, block])))
                   .unbatch()
                   .batch(batch_size, drop_remainder=True)
                   .enumerate())
        skip = tf.where(tf.equal(epoch, start_epoch), tf.constant(start_batch, tf.int64), tf.constant(0, tf.int64))
        return batches.skip(skip).map(lambda index, serialized: (epoch, index, serialized))

    def parse(epoch: tf.Tensor, index: tf.Tensor, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = parse_examples(serialized, geometry)
        masked, patch = parsed["masked"], parsed["patch"]
        if flip:
            masked, patch = flip_batch(masked, patch, tf.stack([epoch_seed_of(seed, epoch), index]))
        return {"masked": masked, "patch": patch, "epoch": epoch, "batch": index}

    return (tf.data.Dataset.range(start_epoch, tf.int64.max)
            .flat_map(epoch_batches)
            .map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
            .prefetch(AUTOTUNE))


def epoch_seed_of(seed: int, epoch: tf.Tensor) -> tf.Tensor:
    return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def eval_dataset(data_dir: str, geometry: Geometry, batch_size: int, max_images: int) -> tf.data.Dataset | None:
    """The eval split's first `max_images` records, in order, as {masked, patch}; None without an eval split."""
    try:
        files = shards.split_files(data_dir, "eval")
    except FileNotFoundError:
        return None
    return (tf.data.TFRecordDataset(files, compression_type="GZIP")
            .take(max_images)
            .batch(batch_size)
            .map(lambda s: parse_examples(s, geometry), num_parallel_calls=AUTOTUNE)
            .prefetch(AUTOTUNE))
