"""Pixel encoding inside gzip TFRecords (raw uint8 bytes, the contract, against PNG), and the gzip
writer (the project's per-record ISA-L members against TensorFlow's zlib stream).

    python -m bench.record_encoding [--crops 2000]

Real 128x128 crops of the embedded photos, each written as the record's masked image plus its
64x64 centre patch, to a gzip TFRecord file; prints write speed, file size and decode speed of both
encodings. Then the project's records (`tfrecords.Record`) of the same crops are written by
`tf.io.TFRecordWriter` (zlib's default level, one stream) and by `tfrecords.writer` (ISA-L level 1,
one gzip member per record), and read back with tf.data.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from bench.preprocess import SOURCES
from demo import sample_data
from tfrecords import Geometry, Record, mask_centre
from tfrecords.writer import compress_record, write_shard


def real_crops(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    photos = []
    for package, relative in SOURCES:
        root = sample_data.package_dir(package)
        if root is not None and (root / relative).exists():
            photo = Image.open(root / relative).convert("RGB")
            photo.thumbnail((768, 768))
            photos.append(np.asarray(photo))
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - size + 1), rng.integers(0, photo.shape[1] - size + 1)
        out.append(np.ascontiguousarray(photo[y:y + size, x:x + size]))
    return out


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def example(masked: bytes, patch: bytes) -> bytes:
    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[masked])),
               "image/patch/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[patch]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write(path: Path, crops: list[np.ndarray], encode, geometry: Geometry) -> float:
    start = time.perf_counter()
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for crop in crops:
            masked, patch = mask_centre(crop, geometry)
            writer.write(example(encode(masked), encode(patch)))
    return time.perf_counter() - start


def read(path: Path, decode) -> float:
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/patch/encoded": tf.io.FixedLenFeature([], tf.string)}
    start = time.perf_counter()
    for serialized in tf.data.TFRecordDataset([str(path)], compression_type="GZIP"):
        parsed = tf.io.parse_single_example(serialized, spec)
        decode(parsed["image/encoded"]), decode(parsed["image/patch/encoded"])
    return time.perf_counter() - start


def write_with_tensorflow(path: Path, records: list[bytes]) -> float:
    start = time.perf_counter()
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)
    return time.perf_counter() - start


def write_members(path: Path, records: list[bytes]) -> float:
    start = time.perf_counter()
    write_shard(str(path), (compress_record(record) for record in records))
    return time.perf_counter() - start


def read_all(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    count = sum(1 for _ in tf.data.TFRecordDataset([str(path)], compression_type="GZIP"))
    return time.perf_counter() - start, count


def compare_writers(crops: list[np.ndarray], geometry: Geometry, tmp: Path) -> None:
    records = [Record.from_image(c, geometry, key=f"{i:064x}", crop_index=0).serialize() for i, c in enumerate(crops)]
    n = len(records)
    timings = {}
    for name, writer in (("tf.io.TFRecordWriter, zlib level 6 stream", write_with_tensorflow),
                         ("tfrecords.writer, ISA-L level 1 members", write_members)):
        path = tmp / f"{writer.__name__}.tfrecord.gz"
        writer(path, records[:50])  # warm up
        seconds = min(writer(path, records) for _ in range(3))
        read_seconds, count = read_all(path)
        assert count == n, (name, count)
        timings[name] = seconds
        print(f"{name}: {1000 * seconds / n:.3f} ms/record written, {path.stat().st_size / n / 1024:.1f} KiB/record, "
              f"tf.data reads {n / read_seconds:.0f} records/s")
    (tf_name, tf_s), (ours_name, ours_s) = timings.items()
    print(f"the project's writer is {tf_s / ours_s:.1f}x faster than TensorFlow's")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.record_encoding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", type=int, default=2000)
    args = parser.parse_args(argv)
    geometry = Geometry()
    crops = real_crops(args.crops, geometry.image_size)
    with tempfile.TemporaryDirectory() as tmp:
        raw_path, png_path = Path(tmp) / "raw.tfrecord.gz", Path(tmp) / "png.tfrecord.gz"
        write(raw_path, crops[:50], lambda p: p.tobytes(), geometry)  # warm up
        raw_write = write(raw_path, crops, lambda p: p.tobytes(), geometry)
        png_write = write(png_path, crops, png, geometry)
        raw_read = read(raw_path, lambda t: tf.io.decode_raw(t, tf.uint8))
        png_read = read(png_path, lambda t: tf.io.decode_png(t, channels=3))
        raw_size, png_size = raw_path.stat().st_size, png_path.stat().st_size
    n = len(crops)
    print(f"{n} real {geometry.image_size}px photo crops (masked image + centre patch per record)")
    print(f"write raw+gzip: {n / raw_write:7.0f} records/s, {raw_size / n / 1024:.1f} KiB/record")
    print(f"write PNG+gzip: {n / png_write:7.0f} records/s, {png_size / n / 1024:.1f} KiB/record")
    print(f"raw writes {png_write / raw_write:.2f}x faster; raw shards {raw_size / png_size - 1:+.0%} larger")
    print(f"read+decode: raw {n / raw_read:.0f} records/s, PNG {n / png_read:.0f} records/s "
          f"-> raw {png_read / raw_read:.2f}x faster")
    with tempfile.TemporaryDirectory() as tmp:
        compare_writers(crops, geometry, Path(tmp))


if __name__ == "__main__":
    main()
