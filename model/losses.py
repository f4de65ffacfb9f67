"""The structural inpainting losses: functions of tensors that return scalar tensors.

Images and patches are in [-1, 1], shaped (N, P, P, 3) for the context encoder's centre patch and
(N, S, S, 3) for the mask generator's whole crop, whose hole is a mask (N, S, S, 1), 1 in the hole.
The hole losses are the context encoder's for a hole of any shape: the centre mask's region (the
hole dilated by the overlap) is the centre patch, where they equal `pixel_loss` and `feature_loss`.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from model.config import PIXEL_LOSSES
from model.vgg import vgg_features


def overlap_weights(patch_size: int, overlap: int, overlap_weight: float) -> tf.Tensor:
    """(P, P, 1) weights: `overlap_weight` on the ring the prediction shares with the context, 1 inside."""
    inner = tf.ones([patch_size - 2 * overlap] * 2, tf.float32)
    ring = tf.pad(inner, [[overlap, overlap], [overlap, overlap]], constant_values=0.0)
    return (ring + (1.0 - ring) * overlap_weight)[:, :, None]


def _pixel_errors(predicted: tf.Tensor, truth: tf.Tensor, norm: str) -> tf.Tensor:
    """Per-pixel errors: squared ("mse", the context encoder's) or absolute ("l1")."""
    difference = tf.cast(predicted, tf.float32) - tf.cast(truth, tf.float32)
    if norm not in PIXEL_LOSSES:
        raise ValueError(f"pixel loss norm {norm!r} is not one of {PIXEL_LOSSES}")
    return tf.square(difference) if norm == "mse" else tf.abs(difference)


def pixel_loss(predicted: tf.Tensor, truth: tf.Tensor, weights: tf.Tensor, norm: str = "mse") -> tf.Tensor:
    """Ring-weighted mean squared (or, with norm "l1", absolute) error over the patch (the context
    encoder's reconstruction loss)."""
    return tf.reduce_mean(_pixel_errors(predicted, truth, norm) * weights)


def hole_region(mask: tf.Tensor, overlap: int) -> tf.Tensor:
    """(N, S, S, 1) float 0/1: a mask (N, S, S, 1, 1 in the hole) dilated by `overlap` px with a square
    window, so a box's region is the box grown by `overlap` on each side (the centre hole's: the patch)."""
    return tf.nn.max_pool2d(tf.cast(mask, tf.float32), 2 * overlap + 1, strides=1, padding="SAME")


def hole_pixel_loss(predicted: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor, overlap: int,
                    overlap_weight: float, norm: str = "mse") -> tf.Tensor:
    """The reconstruction loss of holes of any shape: squared (or, norm "l1", absolute) errors over
    each hole's region (`hole_region`), weighted 1 in the hole and `overlap_weight` on the ring the
    region shares with the context, summed over the batch and divided by (region pixels x 3). For the centre mask the
    region is the patch, and this is `pixel_loss` of the patch (with the same `norm`)."""
    hole = tf.cast(mask, tf.float32)
    region = hole_region(mask, overlap)
    weights = hole + (region - hole) * overlap_weight
    error = _pixel_errors(predicted, truth, norm) * weights
    return tf.reduce_sum(error) / (3.0 * tf.maximum(tf.reduce_sum(region), 1.0))


def composite(predicted: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The prediction in the hole, the truth elsewhere: what an inpainted image shows."""
    return tf.where(tf.cast(mask, tf.bool), tf.cast(predicted, tf.float32), tf.cast(truth, tf.float32))


def feature_and_style_losses(vgg: keras.Model, predicted: tf.Tensor, truth: tf.Tensor, mask: tf.Tensor | None = None,
                             overlap: int = 0, style: bool = True) -> tuple[tf.Tensor, tf.Tensor | None]:
    """`feature_loss` and, unless `style` is False (then None), `style_loss` from the same pass of each
    image through VGG16: of the centre patch, or (with the crops' `mask`) of the prediction composited
    into its context, where only the hole's pixels differ from the truth and the hole's gradient
    reaches the prediction; the style of each hole's region (`hole_region`, `overlap` px around the
    hole) alone."""
    if mask is not None:
        predicted = composite(predicted, truth, mask)
    ours, theirs = _features_of_both(vgg, predicted, truth)
    feature = _feature_error(ours, theirs, axis=None)
    if not style:
        return feature, None
    return feature, style_loss(ours, theirs, None if mask is None else hole_region(mask, overlap))


def gram_matrices(features: tf.Tensor, region: tf.Tensor | None = None) -> tf.Tensor:
    """(N, C, C) the features' second moments over each image's `region` (N, S, S, 1 weights at the
    image's side, a multiple of the features'), or over the whole image without one: which channels
    fire together there, wherever they fire (Gatys et al. 2016's texture statistics)."""
    if region is None:
        pixels = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], tf.float32)
        return tf.einsum("nhwc,nhwd->ncd", features, features) / pixels
    factor = region.shape[1] // features.shape[1]
    weights = tf.nn.avg_pool2d(region, factor, factor, "VALID") if factor > 1 else region
    pixels = tf.reduce_sum(weights, axis=[1, 2, 3])[:, None, None]
    return tf.einsum("nhwc,nhwd->ncd", features * weights, features) / tf.maximum(pixels, 1.0)


def style_loss(predicted_features: list[tf.Tensor], truth_features: list[tf.Tensor],
               region: tf.Tensor | None = None) -> tf.Tensor:
    """Sum over the VGG layers of the mean absolute difference of the Gram matrices (`gram_matrices`,
    over `region` when given), each divided by the truth's mean absolute Gram entry, so each layer
    weighs alike, as in `feature_loss`. The feature loss asks for each feature where the truth has it,
    and a blur is its least-risk answer where the hole could hold several; this term asks only that
    the fill's textures be the truth's textures, wherever they lie (Liu et al. 2018's style loss)."""
    terms = []
    for ours, theirs in zip(predicted_features, truth_features):
        truth_gram = gram_matrices(theirs, region)
        terms.append(tf.reduce_mean(tf.abs(gram_matrices(ours, region) - truth_gram))
                     / (tf.reduce_mean(tf.abs(truth_gram)) + 1e-3))
    return tf.add_n(terms)


def feature_loss(vgg: keras.Model, predicted: tf.Tensor, truth: tf.Tensor) -> tf.Tensor:
    """Sum over VGG16 conv1_1, conv2_1, conv3_1 of the mean squared feature difference.

    Each layer's term is divided by the mean square of the truth's features there (a constant to
    the gradient). Raw, these terms are 1e3 (conv1_1) to 1e5 (conv3_1) times the pixel MSE of
    [-1, 1] images of photos, which would leave the pixel and adversarial losses no say at
    lambda_feat 1 and let conv3_1 drown the other layers. Normalised, a grey patch scores
    about 1 per layer and the three layers weigh alike.

    The truth goes through VGG16 on its own, outside the gradient: one batch through the network
    with both halves would also carry the truth half's gradient back through every layer, a third of
    the loss's work for nothing (bench/RESULTS.md).
    """
    return _normalised_feature_error(vgg, predicted, truth, axis=None)


def feature_distances(vgg: keras.Model, predicted: tf.Tensor, truth: tf.Tensor) -> tf.Tensor:
    """(N,) the feature loss of each image alone: `feature_loss(vgg, predicted[i:i+1], truth[i:i+1])`,
    from one batched pass (the evaluation's VGG feature distance)."""
    return _normalised_feature_error(vgg, predicted, truth, axis=[1, 2, 3])


def _normalised_feature_error(vgg: keras.Model, predicted: tf.Tensor, truth: tf.Tensor, axis) -> tf.Tensor:
    """Sum over the VGG layers of the mean squared feature difference over `axis`, each divided by the
    truth's mean square over `axis`."""
    return _feature_error(*_features_of_both(vgg, predicted, truth), axis)


def _features_of_both(vgg: keras.Model, predicted: tf.Tensor,
                      truth: tf.Tensor) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
    """The VGG16 features of the prediction and of the truth, the truth's outside the gradient
    (`feature_loss` says why)."""
    return vgg_features(vgg, predicted), [tf.stop_gradient(f) for f in vgg_features(vgg, truth)]


def _feature_error(predicted_features: list[tf.Tensor], truth_features: list[tf.Tensor], axis) -> tf.Tensor:
    return tf.add_n([tf.reduce_mean(tf.square(ours - theirs), axis) / (tf.reduce_mean(tf.square(theirs), axis) + 1e-3)
                     for ours, theirs in zip(predicted_features, truth_features)])


def structural_loss(pixel: tf.Tensor, feature: tf.Tensor, lambda_feat: float,
                    style: tf.Tensor | None = None, lambda_style: float = 0.0) -> tf.Tensor:
    loss = pixel + lambda_feat * feature
    return loss if style is None else loss + lambda_style * style


def generator_adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """G is pushed to make D say real (1) on its patches."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """D learns real = 1, fake = 0 (sigmoid cross-entropy, summed over both halves as in CE)."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(structural: tf.Tensor, adversarial: tf.Tensor, lambda_rec: float,
                   lambda_adv: float) -> tf.Tensor:
    return lambda_rec * structural + lambda_adv * adversarial
