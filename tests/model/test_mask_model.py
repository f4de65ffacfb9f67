"""Holes anywhere, model side: the mask generator's export, its data, its losses and its training."""

import keras
import numpy as np
import tensorflow as tf
from skimage import data

from model.export import export_saved_model
from model.exported import export_hole_layout, load_inpainter, read_metadata
from model.networks import build_generator, build_mask_generator
from tfrecords import Record
from tfrecords.geometry import Geometry

SMALL = Geometry(image_size=64, patch_size=32, overlap=2)


def photo_crops(count: int, size: int = 64) -> np.ndarray:
    photo = data.astronaut()
    return np.stack([np.ascontiguousarray(photo[40 * i:40 * i + size, 60 * i:60 * i + size]) for i in range(count)])


def test_mask_export_takes_image_and_mask_and_keeps_every_outside_pixel(tmp_path):
    keras.utils.set_random_seed(0)
    path = export_saved_model(build_mask_generator(SMALL, bottleneck=16, width=8), SMALL, str(tmp_path / "export"),
                              {"note": "untrained"})
    assert export_hole_layout(path) == "anywhere" and read_metadata(path)["holes"] == "anywhere"
    serve, geometry = load_inpainter(path)
    assert geometry == SMALL
    images = photo_crops(2)
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[0, 5:20, 30:60] = 255
    masks[1, 40:62, 3:12] = 200  # >= 128 is hole
    masks[1, 0:10, 0:64] = 127  # < 128 is not
    out = serve(images=tf.constant(images), masks=tf.constant(masks))
    inpainted, prediction = out["inpainted"].numpy(), out["prediction"].numpy()
    assert inpainted.dtype == np.uint8 and inpainted.shape == prediction.shape == (2, 64, 64, 3)
    hole = masks >= 128
    np.testing.assert_array_equal(inpainted[~hole], images[~hole])
    np.testing.assert_array_equal(inpainted[hole], prediction[hole])
    assert np.mean(inpainted[hole] != images[hole]) > 0.5  # the untrained fill is not the photo

    # Serialized records carry their masks: the same fill.
    records = [Record.from_image(image, SMALL, key=f"k{i}", mask=np.where(h, 255, 0).astype(np.uint8),
                                 kind="boxes").serialize() for i, (image, h) in enumerate(zip(images, hole))]
    served = tf.saved_model.load(path).signatures["serve_examples"](examples=tf.constant(records))
    np.testing.assert_array_equal(served["prediction"].numpy(), prediction)
    np.testing.assert_array_equal(served["inpainted"].numpy(), inpainted)


def test_centre_export_says_center(tmp_path):
    keras.utils.set_random_seed(0)
    path = export_saved_model(build_generator(SMALL, bottleneck=16, width=8), SMALL, str(tmp_path / "export"))
    assert export_hole_layout(path) == "center"
