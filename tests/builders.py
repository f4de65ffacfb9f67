"""Plain functions the test folders share: photos and files to feed the jobs, tiny record sets,
and readers of what the jobs wrote. Session fixtures built from them are in tests/conftest.py."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from demo import sample_data
import tensorflow as tf

from model.config import TrainConfig
from tfrecords import Record, shards

# One in-process worker: the jobs' tests compare outputs, not speed.
LIGHT = ["--runner", "FnApiRunner", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]


def real_photo() -> Image.Image:
    return Image.open(sample_data.package_dir("skimage") / "data" / "astronaut.png").convert("RGB")


def save(image: Image.Image, path: Path, fmt: str, **kwargs) -> None:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    path.write_bytes(buffer.getvalue())


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG whose header claims width x height: what a decompression bomb looks like to Pillow."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def anywhere_mask(kind: str, index: int) -> np.ndarray:
    """A 128x128 hole mask of `kind` ("boxes": two rectangles, "strokes": a thick polyline), varied by `index`."""
    import cv2  # a demo extra: imported where used

    mask = np.zeros((128, 128), np.uint8)
    if kind == "boxes":
        mask[10 + 5 * index:50 + 5 * index, 60:110] = 255
        mask[80:110, 10 + 7 * index:45 + 7 * index] = 255
    else:
        cv2.polylines(mask, [np.array([[10, 15 + 9 * index], [64, 100], [118, 20 + 11 * index]])], isClosed=False,
                      color=255, thickness=7 + 2 * index)
    return mask


TINY_TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TINY_EVAL_PHOTOS = ("hubble_deep_field",)


def build_tiny_records(directory, train_crops: int = 6, eval_crops: int = 4, train_shards: int = 2,
                       seed: int = 0, geometry=None, mask_of=None, hole_kind: str = "center") -> str:
    """Writes train/eval gzip shards of crops of scikit-image photos, and manifest.json.

    Every crop of one photo stays in one split. `mask_of(rng)` -> (mask, kind) gives each crop a hole
    anywhere (a data set of layout "anywhere" whose --holes is `hole_kind`); None: the centre hole.
    Returns the directory.
    """
    from skimage import data

    from tfrecords import Geometry
    from tfrecords.shards import shard_name, write_manifest

    geometry = geometry or Geometry()
    size = geometry.image_size
    rng = np.random.default_rng(seed)

    def crops(names, per_photo):
        for name in names:
            photo = getattr(data, name)()
            for index in range(per_photo):
                top = int(rng.integers(0, photo.shape[0] - size))
                left = int(rng.integers(0, photo.shape[1] - size))
                image = np.ascontiguousarray(photo[top:top + size, left:left + size, :3])
                mask, kind = mask_of(rng) if mask_of else (None, "center")
                yield Record.from_image(image, geometry, key=f"sha-{name}", source_uri=f"{name}.png",
                                        crop_index=index, mask=mask, kind=kind)

    splits = {}
    for split, names, per_photo, count in (("train", TINY_TRAIN_PHOTOS, train_crops, train_shards),
                                           ("eval", TINY_EVAL_PHOTOS, eval_crops, 1)):
        records = list(crops(names, per_photo))
        names_out, per_shard = [], []
        for shard in range(count):
            name = shard_name(split, shard, count)
            part = records[shard::count]
            with tf.io.TFRecordWriter(str(directory / name), options="GZIP") as writer:
                for record in part:
                    writer.write(record.serialize())
            names_out.append(name)
            per_shard.append(len(part))
        splits[split] = {"images": len(names), "records": len(records), "shards": names_out,
                         "records_per_shard": per_shard}
    manifest = {"geometry": geometry.to_dict(), "fill_rgb": list(geometry.fill_rgb), "splits": splits,
                "records": sum(s["records"] for s in splits.values())}
    if mask_of:
        manifest["holes"] = {"kind": hole_kind, "layout": "anywhere"}
    write_manifest(str(directory), manifest)
    return str(directory)


def read_split(output: Path, split: str) -> list[Record]:
    files = shards.split_files(str(output), split)
    return [Record.parse(s.numpy()) for s in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def read_all(output: Path) -> dict[str, list[Record]]:
    return {split: read_split(output, split) for split in shards.SPLITS}


def serialized_records(output: Path) -> list[bytes]:
    files = [f for split in shards.SPLITS for f in shards.split_files(str(output), split)]
    return [s.numpy() for s in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def same_shards(one: Path, two: Path) -> bool:
    names = sorted(p.name for p in one.glob(f"*{shards.SUFFIX}"))
    return bool(names) and names == sorted(p.name for p in two.glob(f"*{shards.SUFFIX}")) and all(
        (one / name).read_bytes() == (two / name).read_bytes() for name in names)


def tiny(vgg_npz: str, **changes) -> TrainConfig:
    """A training config at the tiny records' scale: width 8, batches of 4, every step logged and
    checkpointed, float32 on one device, so a test trains a few steps in seconds."""
    values = dict(generator="context-encoder", width=8, bottleneck=32, batch_size=4, phase_steps=(2, 2), vgg_weights=vgg_npz, lr_g=1e-3,
                  lr_d=1e-4, log_every=1, image_every=1000, eval_every=1000, checkpoint_every=1, eval_images=4,
                  shuffle_buffer=16, strategy="default", mixed_precision="off", jit_compile="off")
    values.update(changes)
    return TrainConfig(**values)
