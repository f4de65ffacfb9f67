"""The geometric self-ensemble: symmetries undo exactly, predictions average, exports say which."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from model.export import export_saved_model
from model.inference import inpaint, inpaint_anywhere
from model.exported import load_inpainter, read_metadata
from model.networks import build_generator, build_mask_generator
from model.self_ensemble import SELF_ENSEMBLES, averaged_prediction, check_self_ensemble, move, move_back
from tfrecords.geometry import Geometry

SMALL = Geometry(image_size=64, patch_size=32, overlap=2)


def crops(count: int) -> np.ndarray:
    photo = data.astronaut()
    return np.stack([np.ascontiguousarray(photo[50 * i:50 * i + 64, 70 * i:70 * i + 64]) for i in range(count)])


def test_each_symmetry_is_undone_and_the_dihedral_eight_are_distinct():
    x = tf.reshape(tf.range(2 * 5 * 5 * 3), [2, 5, 5, 3])
    moved = []
    for mirror, turns in SELF_ENSEMBLES["dihedral"]:
        y = move(x, mirror, turns)
        np.testing.assert_array_equal(move_back(y, mirror, turns).numpy(), x.numpy())
        moved.append(y.numpy().tobytes())
    assert len(set(moved)) == 8
    np.testing.assert_array_equal(move(x, True, 0).numpy(), x.numpy()[:, :, ::-1])
    np.testing.assert_array_equal(move(x, False, 1).numpy()[0, ..., 0], np.rot90(x.numpy()[0, ..., 0]))


def test_the_average_is_over_the_moved_back_predictions():
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 2)), tf.float32)
    ramp = tf.reshape(tf.range(8, dtype=tf.float32), [1, 1, 8, 1])

    def lopsided(images):  # not symmetric: its errors differ from one symmetry to the next
        return images * ramp

    mirrored = (lopsided(x) + move_back(lopsided(move(x, True, 0)), True, 0)) / 2
    np.testing.assert_allclose(averaged_prediction(lopsided, x, "mirror").numpy(), mirrored.numpy(), atol=1e-6)
    # The mirror pair's average of a left-right ramp is flat across the columns.
    flat = averaged_prediction(lopsided, tf.ones([1, 8, 8, 1]), "mirror").numpy()
    np.testing.assert_allclose(flat, np.full_like(flat, 3.5))
    np.testing.assert_array_equal(averaged_prediction(lopsided, x, "none").numpy(), lopsided(x).numpy())
    # A predictor that commutes with every symmetry gives what it gives alone.
    np.testing.assert_allclose(averaged_prediction(tf.tanh, x, "dihedral").numpy(), tf.tanh(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="not one of none, mirror, dihedral"):
        check_self_ensemble("flips")


@pytest.mark.parametrize("name", ["mirror", "dihedral"])
def test_centre_export_serves_the_self_ensemble_and_changes_only_the_hole(tmp_path, name):
    keras.utils.set_random_seed(0)
    generator = build_generator(SMALL, bottleneck=16, width=8)
    path = export_saved_model(generator, SMALL, str(tmp_path / "export"), self_ensemble=name)
    assert read_metadata(path)["self_ensemble"] == name
    serve, _ = load_inpainter(path)
    images = tf.constant(crops(2))
    served = serve(images=images)["inpainted"].numpy()
    np.testing.assert_array_equal(served, inpaint(generator, images, SMALL, name)["inpainted"].numpy())
    assert not np.array_equal(served, inpaint(generator, images, SMALL)["inpainted"].numpy())
    top, left, bottom, right = SMALL.hole_box
    outside = np.ones((64, 64), bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(served[:, outside], images.numpy()[:, outside])


def test_mask_export_serves_the_self_ensemble_and_changes_only_masked_pixels(tmp_path):
    keras.utils.set_random_seed(0)
    generator = build_mask_generator(SMALL, bottleneck=16, width=8)
    path = export_saved_model(generator, SMALL, str(tmp_path / "export"))
    assert read_metadata(path)["self_ensemble"] == "mirror"  # the default
    serve, _ = load_inpainter(path)
    images = crops(2)
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[0, 3:20, 40:61] = 255  # off centre: its mirror image is elsewhere
    masks[1, 30:60, 5:15] = 255
    out = serve(images=tf.constant(images), masks=tf.constant(masks))
    hole = masks >= 128
    expected = inpaint_anywhere(generator, tf.constant(images), tf.constant(hole[..., None]), SMALL, "mirror")
    np.testing.assert_array_equal(out["inpainted"].numpy(), expected["inpainted"].numpy())
    np.testing.assert_array_equal(out["inpainted"].numpy()[~hole], images[~hole])
