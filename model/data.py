"""tf.data input for training and evaluation, over the preprocess stage's TFRecord shards.

Training batches are deterministic functions of (seed, epoch, batch index): each epoch shuffles
the file order and blocks of records with stateless seeds of its own and draws flips, quarter turns
and colour jitter the same way. Augmentations act on the whole crop (the masked input and its true
patch put back together, or the record's true crop where holes are anywhere), which is then masked
again, so input and truth always agree; a flip or a turn moves the crop and its mask together.
Every batch carries its (epoch, batch) position, so a resumed run rebuilds the stream from where it
stopped without saving the shuffle buffer in the checkpoint.

The data set's hole layout (model/hole_layouts.py) decides what a batch holds: the centre hole
{masked, patch}, holes anywhere {masked, mask (bool, True = hole), original}.
"""
from __future__ import annotations

import logging

import tensorflow as tf

from model.hole_layouts import CentreHole, HoleLayout, hole_layout
from model.self_ensemble import turned
from tfrecords import shards
from tfrecords.geometry import Geometry
from tfrecords.schema import parse_examples

AUTOTUNE = tf.data.AUTOTUNE
MAX_PARALLEL_FILES = 16
# The smallest view `fresh_views` takes of a crop, as a fraction of its side: the preprocess's crops
# already span half the photo's shorter side to all of it, and a view much smaller than the crop is an
# upscale blurrier than any test crop.
SMALLEST_VIEW = 0.75


def geometry_from_manifest(data_dir: str) -> Geometry:
    return Geometry.from_dict(shards.read_manifest(data_dir)["geometry"])


def layout_from_manifest(data_dir: str) -> HoleLayout:
    """The data set's hole layout."""
    return hole_layout(shards.hole_layout(shards.read_manifest(data_dir)))


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


def flip_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors a random half of the crops left-right."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
    return tf.where(flip, images[:, :, ::-1], images)


def turn_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Turns each square crop by its own random multiple of 90 degrees (uniform over the four)."""
    turns = tf.random.stateless_uniform([tf.shape(images)[0]], seed, 0, 4, tf.int32)
    choices = tf.stack([turned(images, k) for k in range(4)], axis=1)  # (N,4,S,S,C)
    return tf.gather(choices, turns, axis=1, batch_dims=1)


def fresh_views(images: tf.Tensor, seed: tf.Tensor, smallest: float = SMALLEST_VIEW) -> tf.Tensor:
    """Each crop replaced by a square of it, its side a uniform fraction in [`smallest`, 1] of the
    crop's and its place uniform, resized back to the crop's side (bilinear): a new view of the photo
    at another scale and place every time a record comes round. uint8 in, uint8 out."""
    n, side = tf.shape(images)[0], images.shape[1]
    fraction = tf.random.stateless_uniform([n], seed, smallest, 1.0)
    top = tf.random.stateless_uniform([n], seed + [0, 1]) * (1.0 - fraction)
    left = tf.random.stateless_uniform([n], seed + [0, 2]) * (1.0 - fraction)
    boxes = tf.stack([top, left, top + fraction, left + fraction], axis=1)
    views = tf.image.crop_and_resize(tf.cast(images, tf.float32), boxes, tf.range(n), [side, side])
    return tf.cast(tf.clip_by_value(tf.round(views), 0.0, 255.0), tf.uint8)


def jitter_colours(images: tf.Tensor, seed: tf.Tensor, strength: float, grayscale_fraction: float) -> tf.Tensor:
    """Per crop: brightness, contrast and saturation each scaled by a factor in [1 - strength,
    1 + strength], then a `grayscale_fraction` of the crops made grey. uint8 in, uint8 out."""
    n = tf.shape(images)[0]
    x = tf.cast(images, tf.float32)
    factors = tf.random.stateless_uniform([3, n, 1, 1, 1], seed, 1.0 - strength, 1.0 + strength)
    luma = tf.constant([0.299, 0.587, 0.114], tf.float32)

    def grey(values):
        return tf.reduce_sum(values * luma, axis=-1, keepdims=True)

    x = x * factors[0]
    mean = tf.reduce_mean(grey(x), axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * factors[1] + mean
    x = grey(x) + (x - grey(x)) * factors[2]
    to_grey = tf.random.stateless_uniform([n, 1, 1, 1], seed + [0, 7]) < grayscale_fraction
    x = tf.where(to_grey, tf.broadcast_to(grey(x), tf.shape(x)), x)
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def train_dataset(data_dir: str, geometry: Geometry, batch_size: int, seed: int, shuffle_buffer: int,
                  flip: bool = True, start: tuple[int, int] = (0, 0), color_jitter: float = 0.0,
                  grayscale_fraction: float = 0.0, holes: HoleLayout = CentreHole(),
                  quarter_turns: bool = False, views: bool = False) -> tf.data.Dataset:
    """Endless batches {masked, patch (uint8), epoch, batch (int64)} (the centre hole), or {masked,
    mask, original, epoch, batch} (holes anywhere), starting after position `start`.

    With `views`, every crop is a fresh view of its record (`fresh_views`) and, where holes are
    anywhere, takes another record's hole (HoleLayout.fresh_holes): each step sees crops and holes
    that no earlier step saw in that combination.

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

    def move(images: tf.Tensor, batch_seed: tf.Tensor) -> tf.Tensor:
        """The geometric augmentations, the same for a crop and its mask."""
        if flip:
            images = flip_batch(images, batch_seed)
        if quarter_turns:
            images = turn_batch(images, batch_seed + [0, 2_000_003])
        return images

    def augment(images: tf.Tensor, batch_seed: tf.Tensor) -> tf.Tensor:
        if views:
            images = fresh_views(images, batch_seed + [0, 3_000_017])
        images = move(images, batch_seed)
        if color_jitter or grayscale_fraction:
            images = jitter_colours(images, batch_seed + [0, 1_000_003], color_jitter, grayscale_fraction)
        return images

    def parse(epoch: tf.Tensor, index: tf.Tensor, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = parse_examples(serialized, geometry, layout=holes.name)
        if views:
            parsed = holes.fresh_holes(parsed)
        batch_seed = tf.stack([epoch_seed_of(seed, epoch), index])
        batch = holes.training_batch(parsed, geometry, lambda images: move(images, batch_seed),
                                     lambda images: augment(images, batch_seed),
                                     bool(flip or quarter_turns or color_jitter or grayscale_fraction or views))
        return {**batch, "epoch": epoch, "batch": index}

    return (tf.data.Dataset.range(start_epoch, tf.int64.max)
            .flat_map(epoch_batches)
            .map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
            .prefetch(AUTOTUNE))


def epoch_seed_of(seed: int, epoch: tf.Tensor) -> tf.Tensor:
    return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def eval_dataset(data_dir: str, geometry: Geometry, batch_size: int, max_images: int,
                 holes: HoleLayout = CentreHole()) -> tf.data.Dataset | None:
    """At most `max_images` records of the eval split, in order, as `parse_examples` gives them ({masked,
    patch, ...} or, holes anywhere, {masked, mask, original, ...}); None without an eval split.

    A split larger than `max_images` (its count from the manifest) gives every k-th record: a photo's
    crops lie next to each other, so its first records would be a few photos' crops only.
    """
    try:
        files = shards.split_files(data_dir, "eval")
    except FileNotFoundError:
        return None
    try:
        records = shards.read_manifest(data_dir).get("splits", {}).get("eval", {}).get("records", 0)
    except FileNotFoundError:
        records = 0
    every = max(1, -(-records // max_images))
    return (tf.data.TFRecordDataset(files, compression_type="GZIP")
            .shard(every, 0)
            .take(max_images)
            .batch(batch_size)
            .map(lambda s: parse_examples(s, geometry, layout=holes.name), num_parallel_calls=AUTOTUNE)
            .prefetch(AUTOTUNE))
