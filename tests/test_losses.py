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
