"""The record contract (tfrecords/): lossless round trip, tf.data parsing, geometry checks, shard names,
the shard writer."""
import gzip

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

from tfrecords import SCHEMA_VERSION, Geometry, Record
from tfrecords.schema import FEATURE_SPEC, parse_examples
from tfrecords import record, shards
from tfrecords.geometry import mask_centre, paste_hole, unmask
from tfrecords.writer import compress_record, write_shard


def photo(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_gzip(path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for r in records:
            writer.write(r)


@pytest.mark.parametrize("geometry", [Geometry(), Geometry(image_size=64, patch_size=32, overlap=2, fill_rgb=(0, 0, 0))])
def test_round_trip_is_bit_exact(geometry):
    image = photo(geometry.image_size)
    record = Record.from_image(image, geometry, key="ab12", source_uri="gs://b/p.jpg", crop_index=3)
    back = Record.parse(record.serialize())
    assert np.array_equal(back.original(), image)
    assert np.array_equal(back.masked, record.masked) and np.array_equal(back.patch, record.patch)
    assert (back.key, back.source_uri, back.crop_index, back.geometry) == ("ab12", "gs://b/p.jpg", 3, geometry)
    assert back.record_id == "ab12-3"


def test_masking_fills_only_the_hole():
    g = Geometry()
    image = photo(128, seed=1)
    masked, patch = mask_centre(image, g)
    top, left, bottom, right = g.hole_box
    assert (masked[top:bottom, left:right] == g.fill_rgb).all()
    keep = np.ones((128, 128), bool)
    keep[top:bottom, left:right] = False
    assert np.array_equal(masked[keep], image[keep])
    assert np.array_equal(unmask(masked, patch, g), image)
    # Pasting the true patch back touches only the hole and restores the image.
    assert np.array_equal(paste_hole(masked, patch, g), image)


def test_plain_tf_data_reads_records_with_the_documented_spec(tmp_path):
    g = Geometry()
    images = [photo(128, seed=i) for i in range(5)]
    records = [Record.from_image(im, g, key=f"k{i}", source_uri=f"/p/{i}.png") for i, im in enumerate(images)]
    path = tmp_path / shards.shard_name("train", 0, 1)
    write_gzip(path, [r.serialize() for r in records])
    dataset = tf.data.TFRecordDataset([str(path)], compression_type="GZIP")
    parsed = [tf.io.parse_single_example(s, FEATURE_SPEC) for s in dataset]
    assert len(parsed) == 5
    for example, image in zip(parsed, images):
        assert int(example[record.VERSION]) == SCHEMA_VERSION
        masked = tf.reshape(tf.io.decode_raw(example[record.IMAGE], tf.uint8), (128, 128, 3)).numpy()
        patch = tf.reshape(tf.io.decode_raw(example[record.PATCH], tf.uint8), (64, 64, 3)).numpy()
        assert np.array_equal(unmask(masked, patch, g), image)
        assert example[record.HOLE_BOX].numpy().tolist() == list(g.hole_box)
    batch = next(iter(dataset.batch(5).map(lambda s: parse_examples(s, g))))
    assert batch["masked"].shape == (5, 128, 128, 3) and batch["patch"].shape == (5, 64, 64, 3)
    assert np.array_equal(unmask(batch["masked"][2].numpy(), batch["patch"][2].numpy(), g), images[2])


def test_parse_examples_fails_on_another_geometry():
    record = Record.from_image(photo(64), Geometry(image_size=64, patch_size=32, overlap=2), key="k")
    with pytest.raises(tf.errors.InvalidArgumentError, match="record image size"):
        parse_examples(tf.constant([record.serialize()]), Geometry())


def test_records_without_truth_and_bad_versions():
    g = Geometry()
    masked, _ = mask_centre(photo(128), g)
    bare = Record.parse(Record(masked, g, key="k").serialize())
    assert bare.patch is None
    with pytest.raises(ValueError, match="no ground truth"):
        bare.original()
    example = tf.train.Example.FromString(Record.from_image(photo(128), g, key="k").serialize())
    example.features.feature[record.VERSION].int64_list.value[0] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema version"):
        Record.parse(example.SerializeToString())
    with pytest.raises(ValueError, match="not a tf.train.Example"):
        Record.parse(b"\xff\x00 not a proto")


@pytest.mark.parametrize("kwargs", [dict(image_size=64, patch_size=64), dict(image_size=128, patch_size=63),
                                    dict(overlap=32), dict(fill_rgb=(0, 0, 300))])
def test_geometry_validation(kwargs):
    with pytest.raises(ValueError):
        Geometry(**kwargs)


def test_geometry_boxes_and_dict():
    g = Geometry()
    assert g.patch_box == (32, 32, 96, 96) and g.hole_box == (36, 36, 92, 92) and g.hole_size == 56
    assert Geometry.from_dict(g.to_dict()) == g
    with pytest.raises(ValueError):
        mask_centre(photo(64), g)


def test_shard_names():
    assert shards.shard_name("train", 3, 16) == "train-00003-of-00016.tfrecord.gz"
    assert shards.parse_shard_name("gs://b/d/eval-00000-of-00001.tfrecord.gz") == ("eval", 0, 1)
    assert shards.parse_shard_name("train-0-of-1.tfrecord") is None
    assert shards.num_shards_for(0) == 1 and shards.num_shards_for(shards.RECORDS_PER_SHARD + 1) == 2


def test_an_output_of_two_splits_reads_with_the_test_split_absent(tmp_path):
    assert shards.SPLITS == ("train", "eval", "test")
    for split in ("train", "eval"):
        write_shard(str(tmp_path / shards.shard_name(split, 0, 1)), [])
    shards.write_manifest(str(tmp_path), {"splits": {"train": {"records": 0}, "eval": {"records": 0}}})
    assert shards.read_manifest(str(tmp_path))["splits"].get("test") is None
    assert shards.split_files(str(tmp_path), "eval") == [str(tmp_path / shards.shard_name("eval", 0, 1))]
    with pytest.raises(FileNotFoundError, match="no test shards"):
        shards.split_files(str(tmp_path), "test")


def test_shards_of_per_record_gzip_members_read_as_one_gzip_stream(tmp_path):
    g = Geometry()
    records = [Record.from_image(photo(128, seed=i), g, key=f"k{i}", crop_index=i).serialize() for i in range(4)]
    path, again = str(tmp_path / "train-00000-of-00001.tfrecord.gz"), str(tmp_path / "again.tfrecord.gz")
    for target in (path, again):
        write_shard(target, [compress_record(r) for r in records])
    assert [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")] == records
    with FileSystems.open(path) as f:  # Beam infers gzip from the name, as the inpaint pipeline does
        assert list(iter(lambda: _TFRecordUtil.read_record(f), None)) == records
    framed = gzip.decompress(open(path, "rb").read())
    assert len(framed) == sum(len(r) + 16 for r in records)  # 16: length, its CRC and the data's CRC
    assert open(path, "rb").read() == open(again, "rb").read()  # no time or name in the headers

    empty = str(tmp_path / "eval-00000-of-00001.tfrecord.gz")
    write_shard(empty, [])
    assert gzip.decompress(open(empty, "rb").read()) == b""
    assert list(tf.data.TFRecordDataset(empty, compression_type="GZIP")) == []


def box_mask(size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = 255
    return mask


def test_records_with_a_hole_anywhere_round_trip_bit_exactly_in_numpy_and_tf():
    g = Geometry()
    image = photo(128, seed=4)
    mask = box_mask(128, (5, 70, 40, 120))
    rec = Record.from_image(image, g, key="k", source_uri="/p.png", crop_index=2, mask=mask, kind="boxes")
    assert (rec.masked[mask == 255] == g.fill_rgb).all() and np.array_equal(rec.masked[mask == 0], image[mask == 0])
    back = Record.parse(rec.serialize())
    assert np.array_equal(back.original(), image) and np.array_equal(back.mask, mask)
    assert back.kind == "boxes" and back.patch is None and back.has_truth
    batch = parse_examples(tf.constant([rec.serialize()] * 2), g, layout="anywhere")
    assert np.array_equal(batch["original"][1].numpy(), image)
    assert np.array_equal(batch["mask"][0, :, :, 0].numpy(), mask == 255)
    assert batch["kind"].numpy().tolist() == [b"boxes"] * 2


def test_centre_records_carry_their_mask_and_version_1_records_still_read():
    g = Geometry()
    image = photo(128, seed=5)
    rec = Record.from_image(image, g, key="k")
    values = rec.features()
    assert values[record.VERSION] == [2] and values[record.HOLE_KIND] == [b"center"]
    assert np.array_equal(np.frombuffer(values[record.MASK][0], np.uint8).reshape(128, 128), record.masks.centre_mask(g))
    # A version 1 record: no mask, no kind, no whole truth.
    v1 = {k: v for k, v in values.items() if k not in (record.MASK, record.TRUTH, record.HOLE_KIND)}
    v1[record.VERSION] = [1]
    old = Record.from_features(v1)
    assert np.array_equal(old.original(), image) and np.array_equal(old.mask, record.masks.centre_mask(g))
    assert old.kind == "center"
    old_bytes = Record(old.masked, g, "k", patch=old.patch).serialize()  # v2 writer, same content
    assert Record.parse(old_bytes).kind == "center"


@pytest.mark.parametrize("mask, message", [
    (np.zeros((128, 128), np.uint8), "no hole"),
    (np.full((128, 128), 255, np.uint8), "all hole"),
    (np.full((128, 128), 7, np.uint8), "0 or 255"),
    (np.zeros((64, 64), np.uint8), "mask"),
])
def test_invalid_masks_are_refused(mask, message):
    with pytest.raises(ValueError, match=message):
        Record.from_image(photo(128), Geometry(), key="k", mask=mask, kind="user")
