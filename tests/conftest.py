"""The session fixtures every test folder shares, built once: a tiny eval split, a tiny training
record set, the ImageNet VGG16 weights, a tiny centre export and a tiny mask export, and their
evaluations. The plain functions that build them are in tests/builders.py."""
from __future__ import annotations

import numpy as np
import pytest

from tests.builders import anywhere_mask, build_tiny_records

# A test that needs a trained export, or an evaluation of one, waits for them to be built: slow.
NEEDS_AN_EXPORT = {"exported_model", "mask_exported_model", "evaluated_dir", "anywhere_evaluated_dir"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if NEEDS_AN_EXPORT & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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
@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory) -> str:
    """24 train records (4 photos x 6 crops, 2 shards) and 4 eval records (another photo), at a
    64/32/2 geometry that keeps training steps (VGG16 on every patch) cheap on CPU."""
    from tfrecords.geometry import Geometry

    return build_tiny_records(tmp_path_factory.mktemp("tiny_records"),
                              geometry=Geometry(image_size=64, patch_size=32, overlap=2))
