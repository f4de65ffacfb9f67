"""Frozen VGG16 up to block3_conv1: the feature extractor of the structural loss.

    image in [-1, 1] -> RGB [0, 255] -> BGR minus the ImageNet mean (Keras vgg16.preprocess_input)
      block1_conv1 (64) -> conv1_1 features
      block1_conv2 (64), max-pool
      block2_conv1 (128) -> conv2_1 features
      block2_conv2 (128), max-pool
      block3_conv1 (256) -> conv3_1 features
All 3x3 convolutions with ReLU, as in keras.applications.VGG16, whose layer names these keep.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from model.vgg_weights import LAYERS, Weights

# Keras's "caffe" preprocessing for VGG16: the ImageNet mean in BGR order.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] RGB -> what VGG16 was trained on: [0, 255] BGR minus the ImageNet mean."""
    rgb = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return rgb[..., ::-1] - tf.constant(IMAGENET_MEAN_BGR, tf.float32)


def build_vgg_features(weights: Weights | None, dtype: str | keras.DTypePolicy | None = None) -> keras.Model:
    """Preprocessed BGR image -> [conv1_1, conv2_1, conv3_1] post-ReLU features; frozen.

    `weights` None leaves Keras's random initialisation (`--vgg-weights random`).
    """
    image = keras.Input((None, None, 3), name="bgr_minus_mean")

    def conv(x, filters, name):
        return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name, dtype=dtype)(x)

    def pool(x, name):
        return keras.layers.MaxPooling2D(2, name=name, dtype=dtype)(x)

    conv1_1 = conv(image, 64, "block1_conv1")
    x = pool(conv(conv1_1, 64, "block1_conv2"), "block1_pool")
    conv2_1 = conv(x, 128, "block2_conv1")
    x = pool(conv(conv2_1, 128, "block2_conv2"), "block2_pool")
    conv3_1 = conv(x, 256, "block3_conv1")
    features = [conv1_1, conv2_1, conv3_1]
    model = keras.Model(image, features, name="vgg16_conv3_1")
    if weights is not None:
        for name in LAYERS:
            model.get_layer(name).set_weights(list(weights[name]))
    model.trainable = False
    return model


def vgg_features(vgg: keras.Model, images: tf.Tensor) -> list[tf.Tensor]:
    """Features of images in [-1, 1], as float32."""
    return [tf.cast(f, tf.float32) for f in vgg(preprocess(images), training=False)]
