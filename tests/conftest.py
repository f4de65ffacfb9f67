"""Session fixtures shared by the test modules. Each area keeps its fixtures in its own block."""
from __future__ import annotations

import numpy as np
import pytest


# ---------------------------------------------------------------------------------------------
# Evaluation and report (evaluation/evaluate.py, evaluation/report.py): a tiny eval split of real photos.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def eval_records_dir(tmp_path_factory) -> str:
    """Six eval records (two crops each of three scikit-image photos) in one gzip shard."""
    import tensorflow as tf
    from skimage import data

    from tfrecords import Geometry, Record
    from tfrecords.shards import shard_name

    directory = tmp_path_factory.mktemp("eval_records")
    geometry = Geometry()
    with tf.io.TFRecordWriter(str(directory / shard_name("eval", 0, 1)), options="GZIP") as writer:
        for name in ("astronaut", "coffee", "chelsea"):
            photo = getattr(data, name)()
            for crop_index, (top, left) in enumerate([(20, 30), (150, 200)]):
                image = np.ascontiguousarray(photo[top:top + 128, left:left + 128])
                writer.write(Record.from_image(image, geometry, key=f"sha-{name}", source_uri=f"{name}.png",
                                               crop_index=crop_index).serialize())
    return str(directory)


@pytest.fixture(scope="session")
def imagenet_vgg_npz(tmp_path_factory) -> str:
    """The ImageNet VGG16 .npz, extracted from the installed ONNX file as bootstrap does (a checkout's
    data/weights/ may not have it)."""
    from model.vgg_weights import extract

    path = str(tmp_path_factory.mktemp("vgg_weights") / "vgg16_imagenet_conv3_1.npz")
    extract(path)
    return path


@pytest.fixture(scope="session")
def evaluated_dir(tmp_path_factory, eval_records_dir, exported_model, imagenet_vgg_npz) -> str:
    """evaluation.evaluate's output for the inpainting block's exported model on the tiny eval split, two
    samples kept for the grid."""
    from evaluation.evaluate import evaluate

    output = str(tmp_path_factory.mktemp("evaluated"))
    evaluate(exported_model, eval_records_dir, output, num_samples=2, vgg_weights=imagenet_vgg_npz)
    return output


ANYWHERE_PHOTOS = ("astronaut", "coffee", "chelsea")


def anywhere_mask(kind: str, index: int) -> np.ndarray:
    """A 128x128 hole mask of `kind` ("boxes": two rectangles, "strokes": a thick polyline), varied by `index`."""
    import cv2

    mask = np.zeros((128, 128), np.uint8)
    if kind == "boxes":
        mask[10 + 5 * index:50 + 5 * index, 60:110] = 255
        mask[80:110, 10 + 7 * index:45 + 7 * index] = 255
    else:
        cv2.polylines(mask, [np.array([[10, 15 + 9 * index], [64, 100], [118, 20 + 11 * index]])], isClosed=False,
                      color=255, thickness=7 + 2 * index)
    return mask


@pytest.fixture(scope="session")
def anywhere_records_dir(tmp_path_factory) -> str:
    """A data set of holes anywhere: a test split of 12 records (two crops of three scikit-image photos,
    each crop once with boxes and once with strokes) in one gzip shard, and its manifest."""
    import tensorflow as tf
    from skimage import data

    from tfrecords import Geometry, Record
    from tfrecords.shards import shard_name, write_manifest

    directory = tmp_path_factory.mktemp("anywhere_records")
    geometry = Geometry()
    with tf.io.TFRecordWriter(str(directory / shard_name("test", 0, 1)), options="GZIP") as writer:
        for kind in ("boxes", "strokes"):
            for name in ANYWHERE_PHOTOS:
                photo = getattr(data, name)()
                for crop_index, (top, left) in enumerate([(20, 30), (150, 200)]):
                    image = np.ascontiguousarray(photo[top:top + 128, left:left + 128])
                    writer.write(Record.from_image(image, geometry, key=f"sha-{name}", source_uri=f"{name}.png",
                                                   crop_index=crop_index, mask=anywhere_mask(kind, crop_index),
                                                   kind=kind).serialize())
    write_manifest(str(directory), {"geometry": geometry.to_dict(), "splits": {"test": {"records": 12}},
                                    "holes": {"kind": "mixed", "layout": "anywhere"}})
    return str(directory)


@pytest.fixture(scope="session")
def mask_exported_model(tmp_path_factory) -> str:
    """The mask-channel generator of model/networks.py (bottleneck 16, width 8, untrained, seeded)
    exported through model/export.py at the default geometry."""
    import keras

    from model.export import export_saved_model
    from model.networks import build_mask_generator
    from tfrecords.geometry import Geometry

    keras.utils.set_random_seed(0)
    generator = build_mask_generator(Geometry(), **TINY_GENERATOR)
    path = str(tmp_path_factory.mktemp("mask_exported_model") / "export")
    return export_saved_model(generator, Geometry(), path, {"note": "untrained tiny mask generator", **TINY_GENERATOR})


@pytest.fixture(scope="session")
def anywhere_evaluated_dir(tmp_path_factory, anywhere_records_dir, mask_exported_model, imagenet_vgg_npz) -> str:
    """evaluation.evaluate's output for the tiny mask export on the holes-anywhere test split, four samples kept."""
    from evaluation.evaluate import evaluate

    output = str(tmp_path_factory.mktemp("anywhere_evaluated"))
    evaluate(mask_exported_model, anywhere_records_dir, output, num_samples=4, vgg_weights=imagenet_vgg_npz)
    return output


# ---------------------------------------------------------------------------------------------
# Bulk inpainting (pipelines/inpaint.py): the real generator at a tiny width, exported.
# ---------------------------------------------------------------------------------------------
TINY_GENERATOR = {"bottleneck": 16, "width": 8}


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> str:
    """The context encoder of model/networks.py (bottleneck 16, width 8, untrained, seeded) exported
    through model/export.py at the default 128/64/4 geometry."""
    import keras

    from model.export import export_saved_model
    from model.networks import build_generator
    from tfrecords.geometry import Geometry

    keras.utils.set_random_seed(0)
    generator = build_generator(Geometry(), **TINY_GENERATOR)
    path = str(tmp_path_factory.mktemp("exported_model") / "export")
    return export_saved_model(generator, Geometry(), path, {"note": "untrained tiny test generator", **TINY_GENERATOR})


# ---------------------------------------------------------------------------------------------
# Training (model/train.py): a tiny record set of real photos, as the preprocess stage lays it out.
# ---------------------------------------------------------------------------------------------
TINY_TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TINY_EVAL_PHOTOS = ("hubble_deep_field",)


def build_tiny_records(directory, train_crops: int = 6, eval_crops: int = 4, train_shards: int = 2,
                       seed: int = 0, geometry=None, mask_of=None, hole_kind: str = "center") -> str:
    """Writes train/eval gzip shards of crops of scikit-image photos, and manifest.json.

    Every crop of one photo stays in one split. `mask_of(rng)` -> (mask, kind) gives each crop a hole
    anywhere (a data set of layout "anywhere" whose --holes is `hole_kind`); None: the centre hole.
    Returns the directory.
    """
    import tensorflow as tf
    from skimage import data

    from tfrecords import Geometry, Record
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


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory) -> str:
    """24 train records (4 photos x 6 crops, 2 shards) and 4 eval records (another photo), at a
    64/32/2 geometry that keeps training steps (VGG16 on every patch) cheap on CPU."""
    from tfrecords.geometry import Geometry

    return build_tiny_records(tmp_path_factory.mktemp("tiny_records"),
                              geometry=Geometry(image_size=64, patch_size=32, overlap=2))
