"""The inference path an export serves and the trainer evaluates: the value ranges the generators
work in, painting holes with the fill colour, and the two layouts' predict-and-paste
(docs/DESIGN.md section 4)."""
from __future__ import annotations

import keras
import tensorflow as tf

from model.self_ensemble import averaged_prediction
from tfrecords.geometry import Geometry


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0,255] -> float32 [-1,1], the generator's input range."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """float [-1,1] -> uint8 [0,255], rounded and clipped."""
    scaled = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)


def fill_hole(images: tf.Tensor, geometry: Geometry) -> tf.Tensor:
    """Paints the centre hole with the fill colour, whatever the caller left there (uint8 in, uint8 out)."""
    return fill_holes(images, hole_mask(geometry), geometry)


def fill_holes(images: tf.Tensor, mask: tf.Tensor, geometry: Geometry) -> tf.Tensor:
    """Paints the pixels of a boolean mask (N,S,S,1) or (S,S,1), True in the hole, with the fill colour."""
    fill = tf.broadcast_to(tf.constant(geometry.fill_rgb, tf.uint8), tf.shape(images))
    return tf.where(mask, fill, images)


def mask_model_input(masked: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The mask generator's input: uint8 masked images (N,S,S,3) in [-1, 1] and the boolean mask
    (N,S,S,1) as a 4th channel, 1 in the hole, 0 in the context (float32)."""
    return tf.concat([to_unit_range(masked), tf.cast(mask, tf.float32)], axis=-1)


def masks_from_uint8(masks: tf.Tensor) -> tf.Tensor:
    """uint8 (N,S,S) masks (>= 128 = hole) -> boolean (N,S,S,1), True in the hole."""
    return (masks >= 128)[..., None]


def hole_mask(geometry: Geometry) -> tf.Tensor:
    """A (S,S,1) boolean mask, True inside the hole."""
    top, left, bottom, right = geometry.hole_box
    s = geometry.image_size
    rows = tf.range(s)[:, None]
    cols = tf.range(s)[None, :]
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    return inside[:, :, None]


def inpaint(generator: keras.Model, images: tf.Tensor, geometry: Geometry,
            self_ensemble: str = "none") -> dict[str, tf.Tensor]:
    """The whole inference path: fill, predict the centre patch (averaged over the symmetries of
    `self_ensemble`, model/self_ensemble.py), paste its hole part back."""
    masked = fill_hole(images, geometry)
    patch = to_uint8(averaged_prediction(lambda x: generator(x, training=False), to_unit_range(masked),
                                         self_ensemble))
    top, left, _, _ = geometry.patch_box
    s, p = geometry.image_size, geometry.patch_size
    placed = tf.pad(patch, [[0, 0], [top, s - top - p], [left, s - left - p], [0, 0]])
    return {"inpainted": tf.where(hole_mask(geometry), placed, masked), "patch": patch}


def inpaint_anywhere(generator: keras.Model, images: tf.Tensor, mask: tf.Tensor, geometry: Geometry,
                     self_ensemble: str = "none") -> dict[str, tf.Tensor]:
    """The mask generator's inference path: fill the mask's (N,S,S,1, True = hole) pixels, predict
    the whole crop (averaged over the symmetries of `self_ensemble`), keep the prediction in the hole
    and the input everywhere else."""
    masked = fill_holes(images, mask, geometry)
    prediction = to_uint8(averaged_prediction(lambda x: generator(x, training=False),
                                              mask_model_input(masked, mask), self_ensemble))
    return {"inpainted": tf.where(mask, prediction, images), "prediction": prediction}


def originals(masked: tf.Tensor, patch: tf.Tensor, geometry: Geometry) -> tf.Tensor:
    """The original crops (N,S,S,3), rebuilt from the masked images and their true centre patches."""
    top, left, _, _ = geometry.patch_box
    s, p = geometry.image_size, geometry.patch_size
    placed = tf.pad(patch, [[0, 0], [top, s - top - p], [left, s - left - p], [0, 0]])
    inside = tf.pad(tf.ones([p, p, 1], tf.bool), [[top, s - top - p], [left, s - left - p], [0, 0]])
    return tf.where(inside, placed, masked)


def mask_again(images: tf.Tensor, geometry: Geometry) -> tuple[tf.Tensor, tf.Tensor]:
    """Original crops -> (masked images, true centre patches), as the records store them."""
    top, left, bottom, right = geometry.patch_box
    return fill_hole(images, geometry), images[:, top:bottom, left:right]
