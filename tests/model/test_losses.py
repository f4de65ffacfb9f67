"""The structural and adversarial losses on real photo patches."""
import math

import numpy as np
import pytest
import tensorflow as tf
from skimage import data, filters

from model import losses
from model.vgg import build_vgg_features
from model.vgg_weights import onnx_path, read_onnx_layers


@pytest.fixture(scope="module")
def vgg():
    return build_vgg_features(read_onnx_layers(onnx_path()))


@pytest.fixture(scope="module")
def truth():
    photo = data.astronaut()[100:164, 200:264].astype(np.float32) / 127.5 - 1.0
    return tf.constant(photo[None])


def test_pixel_loss_is_zero_on_a_perfect_prediction_and_weights_the_ring(truth):
    ring = losses.overlap_weights(64, 4, 10.0)
    assert float(losses.pixel_loss(truth, truth, ring)) == 0.0
    in_ring = np.zeros((1, 64, 64, 3), np.float32)
    in_ring[0, 1, 30] = 1.0  # row 1 is inside the 4-px ring
    in_hole = np.zeros((1, 64, 64, 3), np.float32)
    in_hole[0, 30, 30] = 1.0
    zeros = tf.zeros([1, 64, 64, 3])
    ring_loss = float(losses.pixel_loss(tf.constant(in_ring), zeros, ring))
    hole_loss = float(losses.pixel_loss(tf.constant(in_hole), zeros, ring))
    assert ring_loss == pytest.approx(10 * hole_loss)
    assert hole_loss == pytest.approx(3 / (64 * 64 * 3))  # one pixel, three channels


def test_feature_loss_is_zero_on_a_perfect_prediction(vgg, truth):
    assert float(losses.feature_loss(vgg, truth, truth)) == pytest.approx(0.0, abs=1e-6)


def test_feature_loss_responds_to_structure_not_just_brightness(vgg, truth):
    """A blurred patch and a brightened one with the same pixel error: the blur costs far more."""
    brighter = tf.clip_by_value(truth + 0.15, -1, 1)
    blurred = tf.constant(filters.gaussian(truth.numpy()[0], sigma=2, channel_axis=-1)[None], tf.float32)
    ones = tf.ones([64, 64, 1])
    target = float(losses.pixel_loss(brighter, truth, ones))
    # Scale the blur's difference to the brightening's pixel MSE.
    k = math.sqrt(target / float(losses.pixel_loss(blurred, truth, ones)))
    structural_change = truth + k * (blurred - truth)
    assert float(losses.pixel_loss(structural_change, truth, ones)) == pytest.approx(target, rel=1e-3)
    assert float(losses.feature_loss(vgg, structural_change, truth)) > 3 * float(losses.feature_loss(vgg, brighter, truth))


def test_structural_and_generator_loss_weights():
    pixel, feature, adversarial = tf.constant(0.5), tf.constant(2.0), tf.constant(3.0)
    structural = losses.structural_loss(pixel, feature, 1.0)
    assert float(structural) == 2.5
    assert float(losses.generator_loss(structural, adversarial, 0.999, 0.001)) == pytest.approx(0.999 * 2.5 + 0.003)
    assert float(losses.generator_loss(structural, adversarial, 1.0, 0.1)) == pytest.approx(2.8)


def test_adversarial_losses_are_sigmoid_cross_entropy():
    undecided = tf.zeros([4, 1])
    assert float(losses.generator_adversarial_loss(undecided)) == pytest.approx(math.log(2))
    assert float(losses.discriminator_loss(undecided, undecided)) == pytest.approx(2 * math.log(2))
    confident_real, confident_fake = tf.fill([4, 1], 20.0), tf.fill([4, 1], -20.0)
    assert float(losses.discriminator_loss(confident_real, confident_fake)) < 1e-6
    # G is penalised when D sees through its patches, rewarded when D is fooled.
    assert float(losses.generator_adversarial_loss(confident_fake)) == pytest.approx(20.0, rel=1e-3)
    assert float(losses.generator_adversarial_loss(confident_real)) < 1e-6


def _centre_mask(geometry) -> tf.Tensor:
    from tfrecords.masks import centre_mask

    return tf.constant(centre_mask(geometry)[None, :, :, None] > 0)


def test_hole_pixel_loss_on_the_centre_mask_is_the_patch_pixel_loss():
    """For the centre hole the region (the hole dilated by the overlap) is the patch, and the loss
    is pixel_loss's: the ring-weighted squared errors summed over the region / (region pixels x 3)."""
    from tfrecords.geometry import Geometry

    geometry = Geometry()
    photo = data.astronaut()[:256:2, :256:2].astype(np.float32) / 127.5 - 1.0
    truth = tf.constant(np.stack([photo, photo[::-1]]))
    predicted = tf.random.stateless_uniform(truth.shape, [1, 2], -1, 1)
    mask = tf.repeat(_centre_mask(geometry), 2, axis=0)
    top, left, bottom, right = geometry.patch_box
    expected = losses.pixel_loss(predicted[:, top:bottom, left:right], truth[:, top:bottom, left:right],
                                 losses.overlap_weights(geometry.patch_size, geometry.overlap, 10.0))
    assert float(losses.hole_pixel_loss(predicted, truth, mask, geometry.overlap, 10.0)) == pytest.approx(
        float(expected), rel=1e-5)


def test_the_l1_pixel_loss_is_the_weighted_mean_absolute_error_for_the_patch_and_any_mask():
    from tfrecords.geometry import Geometry

    geometry = Geometry()
    rng = np.random.default_rng(0)
    predicted = tf.constant(rng.uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32))
    truth = tf.constant(rng.uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32))
    top, left, bottom, right = geometry.patch_box
    patch_p, patch_t = predicted[:, top:bottom, left:right], truth[:, top:bottom, left:right]
    ring = losses.overlap_weights(geometry.patch_size, geometry.overlap, 10.0)
    expected = np.mean(np.abs(patch_p.numpy() - patch_t.numpy()) * ring.numpy())
    assert float(losses.pixel_loss(patch_p, patch_t, ring, "l1")) == pytest.approx(expected, rel=1e-5)
    mask = tf.repeat(_centre_mask(geometry), 2, axis=0)
    assert float(losses.hole_pixel_loss(predicted, truth, mask, geometry.overlap, 10.0, "l1")) == pytest.approx(
        expected, rel=1e-5)
    # Half the error, half the loss (the squared one would be a quarter).
    half = (predicted + truth) / 2
    assert float(losses.hole_pixel_loss(half, truth, mask, geometry.overlap, 10.0, "l1")) == pytest.approx(
        expected / 2, rel=1e-5)
    with pytest.raises(ValueError, match="norm"):
        losses.pixel_loss(patch_p, patch_t, ring, "l2")


def test_hole_pixel_loss_weights_the_ring_of_any_mask_and_ignores_the_context():
    mask = np.zeros((1, 32, 32, 1), bool)
    mask[0, 10:14, 5:25] = True  # a 4 x 20 bar: with overlap 2 its region is 8 x 24
    zeros = tf.zeros([1, 32, 32, 3])

    def loss_of_error_at(row, col):
        error = np.zeros((1, 32, 32, 3), np.float32)
        error[0, row, col] = 1.0
        return float(losses.hole_pixel_loss(tf.constant(error), zeros, tf.constant(mask), 2, 10.0))

    in_hole, in_ring, outside = loss_of_error_at(11, 15), loss_of_error_at(8, 15), loss_of_error_at(5, 15)
    assert in_hole == pytest.approx(3 / (8 * 24 * 3))
    assert in_ring == pytest.approx(10 * in_hole) and outside == 0.0


def hole_feature_loss(vgg, predicted, truth, mask) -> float:
    return float(losses.feature_and_style_losses(vgg, predicted, truth, mask, style=False)[0])


def test_hole_feature_loss_sees_only_the_hole(vgg):
    photo = tf.constant(data.coffee()[100:164, 200:264].astype(np.float32)[None] / 127.5 - 1.0)
    mask = np.zeros((1, 64, 64, 1), bool)
    mask[0, 20:40, 10:50] = True
    mask = tf.constant(mask)
    outside_changed = tf.where(mask, photo, -photo)
    assert hole_feature_loss(vgg, outside_changed, photo, mask) == pytest.approx(0.0, abs=1e-6)
    inside_changed = tf.where(mask, -photo, photo)
    assert hole_feature_loss(vgg, inside_changed, photo, mask) == pytest.approx(
        float(losses.feature_loss(vgg, inside_changed, photo)), rel=1e-5)
    assert hole_feature_loss(vgg, inside_changed, photo, mask) > 0.01


def _texture(name: str, top: int, left: int, side: int = 64) -> tf.Tensor:
    grey = getattr(data, name)()[top:top + side, left:left + side].astype(np.float32) / 127.5 - 1.0
    return tf.constant(np.repeat(grey[None, :, :, None], 3, axis=-1))


def test_the_style_loss_asks_for_the_truths_texture_wherever_it_lies(vgg):
    """Grass shifted by a few pixels has the truth's texture and the blurred truth has none: the
    feature loss, which compares each place with the truth, prefers the blur; the style term (Gram
    matrices) prefers the shifted grass by far, and is zero on the truth itself."""
    truth, shifted = _texture("grass", 200, 200), _texture("grass", 207, 211)
    blurred = tf.constant(filters.gaussian(truth.numpy()[0], sigma=2, channel_axis=-1)[None], tf.float32)

    def both(predicted):
        return [float(v) for v in losses.feature_and_style_losses(vgg, predicted, truth)]

    (feature_shifted, style_shifted), (feature_blurred, style_blurred) = both(shifted), both(blurred)
    assert feature_shifted > feature_blurred
    assert style_shifted < style_blurred / 3
    assert both(truth) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert feature_blurred == pytest.approx(float(losses.feature_loss(vgg, blurred, truth)), rel=1e-5)


def test_the_style_loss_of_holes_anywhere_sees_only_the_holes_region(vgg):
    """With a mask, the prediction is composited into its context and the Gram matrices weigh each
    place by the hole's region (the hole grown by the overlap): outside it nothing counts."""
    photo = tf.constant(data.coffee()[100:164, 200:264].astype(np.float32)[None] / 127.5 - 1.0)
    mask = np.zeros((1, 64, 64, 1), bool)
    mask[0, 20:40, 12:48] = True
    mask = tf.constant(mask)
    outside_changed = tf.where(mask, photo, -photo)
    assert [float(v) for v in losses.feature_and_style_losses(vgg, outside_changed, photo, mask, overlap=4)] == (
        pytest.approx([0.0, 0.0], abs=1e-6))
    inside_changed = tf.where(mask, -photo, photo)
    feature, style = losses.feature_and_style_losses(vgg, inside_changed, photo, mask, overlap=4)
    assert float(feature) == pytest.approx(float(losses.feature_loss(vgg, inside_changed, photo)), rel=1e-5)
    assert float(style) > 0.1
    # The Gram matrices over a region of ones are those of the whole image.
    features = vgg(tf.random.stateless_uniform([2, 16, 16, 3], [3, 4], -100, 100))
    for f in features:
        np.testing.assert_allclose(losses.gram_matrices(f, tf.ones([2, 16, 16, 1])), losses.gram_matrices(f),
                                   rtol=1e-5)
    assert float(losses.structural_loss(tf.constant(0.5), tf.constant(2.0), 1.0, tf.constant(3.0), 0.25)) == 3.25
