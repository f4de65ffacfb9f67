"""The generator and discriminator against DESIGN.md's layer table."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from model.harmonic_fill import harmonic_fill
from model.networks import build_discriminator, build_generator, build_mask_generator
from tfrecords.geometry import Geometry


def _shapes(model, prefix):
    return [(layer.name, tuple(layer.output.shape[1:])) for layer in model.layers if layer.name.startswith(prefix)]


def test_generator_is_designs_context_encoder_at_128_64():
    g = build_generator(Geometry(), bottleneck=4000, width=64)
    assert _shapes(g, "encoder_conv") == [("encoder_conv1", (64, 64, 64)), ("encoder_conv2", (32, 32, 64)),
                                          ("encoder_conv3", (16, 16, 128)), ("encoder_conv4", (8, 8, 256)),
                                          ("encoder_conv5", (4, 4, 512))]
    assert _shapes(g, "bottleneck_conv") == [("bottleneck_conv", (1, 1, 4000))]
    assert _shapes(g, "decoder_deconv") + _shapes(g, "decoder_rgb") == [
        ("decoder_deconv1", (4, 4, 512)), ("decoder_deconv2", (8, 8, 256)), ("decoder_deconv3", (16, 16, 128)),
        ("decoder_deconv4", (32, 32, 64)), ("decoder_rgb", (64, 64, 3))]
    # BatchNorm everywhere but after the first encoder conv and the RGB output; no bias where it follows.
    bn_inputs = {layer.input.name for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)}
    for layer in g.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            assert layer.use_bias == (layer.output.name not in bn_inputs), layer.name
            assert layer.kernel_size == (4, 4)
    assert [layer.name for layer in g.layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)) and layer.use_bias] == ["encoder_conv1", "decoder_rgb"]
    # N(0, 0.02) weights.
    kernel = g.get_layer("bottleneck_conv").kernel.numpy()
    assert abs(kernel.mean()) < 1e-3 and kernel.std() == pytest.approx(0.02, rel=0.02)


def test_discriminator_layers_and_logit():
    d = build_discriminator(Geometry(), width=64)
    assert _shapes(d, "conv") == [("conv1", (32, 32, 64)), ("conv2", (16, 16, 128)), ("conv3", (8, 8, 256)),
                                  ("conv4", (4, 4, 512))]
    assert tuple(d.output.shape[1:]) == (1,)
    assert [layer.name for layer in d.layers if isinstance(layer, keras.layers.BatchNormalization)] == ["bn2", "bn3", "bn4"]


def test_depth_follows_geometry_and_tiny_widths_run():
    g = build_generator(Geometry(image_size=64, patch_size=32, overlap=2), bottleneck=16, width=8)
    assert len(_shapes(g, "encoder_conv")) == 4 and len(_shapes(g, "decoder_deconv")) == 3
    out = g(tf.random.uniform([2, 64, 64, 3], -1, 1), training=False)
    assert out.shape == (2, 32, 32, 3) and out.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(out))) <= 1.0
    with pytest.raises(ValueError, match="image size 96"):
        build_generator(Geometry(image_size=96, patch_size=48, overlap=4), bottleneck=16, width=8)


def test_mixed_precision_computes_in_float16_and_returns_float32():
    g = build_generator(Geometry(), bottleneck=16, width=8, dtype="mixed_float16")
    d = build_discriminator(Geometry(), width=8, dtype="mixed_float16")
    assert g.get_layer("encoder_conv2").compute_dtype == "float16"
    assert g.get_layer("encoder_conv2").kernel.dtype == "float32"
    patch = g(tf.random.uniform([2, 128, 128, 3], -1, 1), training=True)
    logit = d(patch, training=True)
    assert patch.dtype == tf.float32 and patch.shape == (2, 64, 64, 3)
    assert logit.dtype == tf.float32 and logit.shape == (2, 1)
    assert np.all(np.isfinite(patch.numpy()))


def test_resize_upsampling_decoder_has_no_strided_transposed_convolution():
    g = build_generator(Geometry(), bottleneck=64, width=8, upsampling="resize")
    transposed = [layer.name for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert transposed == ["decoder_deconv1"]  # 1x1 -> 4x4 only
    assert _shapes(g, "decoder_deconv") + _shapes(g, "decoder_rgb") == [
        ("decoder_deconv1", (4, 4, 64)), ("decoder_deconv2_upsample", (8, 8, 64)), ("decoder_deconv2", (8, 8, 32)),
        ("decoder_deconv3_upsample", (16, 16, 32)), ("decoder_deconv3", (16, 16, 16)),
        ("decoder_deconv4_upsample", (32, 32, 16)), ("decoder_deconv4", (32, 32, 8)),
        ("decoder_rgb_upsample", (64, 64, 8)), ("decoder_rgb", (64, 64, 3))]
    assert g.get_layer("decoder_rgb").kernel_size == (3, 3) and g.get_layer("decoder_rgb").use_bias
    out = g(tf.random.uniform([2, 128, 128, 3], -1, 1), training=False)
    assert out.shape == (2, 64, 64, 3)
    with pytest.raises(ValueError, match="upsampling"):
        build_generator(Geometry(), bottleneck=16, width=8, upsampling="bicubic")


def test_bilinear_upsampling_decoder_interpolates_before_each_convolution():
    g = build_generator(Geometry(), bottleneck=16, width=8, upsampling="bilinear")
    upsamplers = [layer for layer in g.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert [layer.name for layer in upsamplers] == [f"decoder_deconv{i}_upsample" for i in (2, 3, 4)] + [
        "decoder_rgb_upsample"]
    assert {layer.interpolation for layer in upsamplers} == {"bilinear"}
    # A smooth ramp stays a ramp through bilinear x2 (nearest would repeat each value twice).
    ramp = tf.reshape(tf.range(4, dtype=tf.float32), [1, 1, 4, 1]) * tf.ones([1, 4, 1, 1])
    row = upsamplers[0](ramp).numpy()[0, 0, :, 0]
    assert len(set(np.round(row, 4))) == len(row) and np.all(np.diff(row) >= 0)
    assert g(tf.random.uniform([2, 128, 128, 3], -1, 1), training=False).shape == (2, 64, 64, 3)


def test_mask_generator_takes_the_mask_as_a_fourth_channel_and_predicts_the_whole_crop():
    g = build_mask_generator(Geometry(), bottleneck=16, width=8, upsampling="resize")
    assert tuple(g.input.shape[1:]) == (128, 128, 4)
    assert _shapes(g, "encoder_conv")[-1] == ("encoder_conv5", (4, 4, 64))
    # One more x2 stage than the context encoder's: the decoder grows to S, not P.
    assert [shape for name, shape in _shapes(g, "decoder_deconv") + _shapes(g, "decoder_rgb")
            if not name.endswith("_upsample")] == [(4, 4, 64), (8, 8, 64), (16, 16, 32), (32, 32, 16), (64, 64, 8),
                                                   (128, 128, 3)]
    out = g(tf.random.uniform([2, 128, 128, 4], -1, 1), training=False)
    assert out.shape == (2, 128, 128, 3) and out.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(out))) <= 1.0
    # The mixed-precision network still answers float32; the crop discriminator is one layer deeper.
    half = build_mask_generator(Geometry(), bottleneck=16, width=8, dtype="mixed_float16")
    assert half(tf.zeros([1, 128, 128, 4]), training=False).dtype == tf.float32
    d = build_discriminator(Geometry(), width=8, side=128)
    assert _shapes(d, "conv")[-1] == ("conv5", (4, 4, 64)) and tuple(d.output.shape[1:]) == (1,)


def test_harmonic_generators_start_from_the_holes_harmonic_fill_and_refine_it():
    geometry = Geometry()
    rng = np.random.default_rng(0)
    crops = rng.uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32)
    hole = np.zeros((2, 128, 128, 1), np.float32)
    hole[0, 10:40, 20:90] = 1.0
    hole[1, 70:75, 5:120] = 1.0
    g = build_mask_generator(geometry, bottleneck=16, width=8, upsampling="resize", coarse_fill="harmonic")
    # The same weights as the paper's network; the decoder's last layer starts at zero.
    assert g.count_params() == build_mask_generator(geometry, bottleneck=16, width=8, upsampling="resize").count_params()
    np.testing.assert_array_equal(g.get_layer("decoder_rgb").kernel.numpy(), 0.0)
    start = harmonic_fill(crops, hole).numpy()
    np.testing.assert_array_equal(g(np.concatenate([crops, hole], -1), training=False).numpy(), start)
    # The context encoder's start is its patch of the centre hole's fill.
    c = build_generator(geometry, bottleneck=16, width=8, upsampling="resize", coarse_fill="harmonic",
                        dtype="mixed_bfloat16")
    top, left, bottom, right = geometry.hole_box
    centre = np.zeros((1, 128, 128, 1), np.float32)
    centre[:, top:bottom, left:right] = 1.0
    p_top, p_left, p_bottom, p_right = geometry.patch_box
    expected = harmonic_fill(crops, centre).numpy()[:, p_top:p_bottom, p_left:p_right]
    out = c(crops, training=False)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    # The encoder sees the fill, not the fill colour: what the input holds in the hole does not matter.
    painted = crops.copy()
    painted[:, top:bottom, left:right] = 0.3
    np.testing.assert_array_equal(c(painted, training=False).numpy(), out.numpy())
    # Once the decoder's output is not zero, it is added to the fill.
    g.get_layer("decoder_rgb").bias.assign([0.1, 0.0, -0.1])
    moved = g(np.concatenate([crops, hole], -1), training=False).numpy() - start
    np.testing.assert_allclose(moved.reshape(-1, 3).mean(0), [0.1, 0.0, -0.1], atol=1e-4)
    with pytest.raises(ValueError, match="coarse_fill 'telea'"):
        build_mask_generator(geometry, bottleneck=16, width=8, coarse_fill="telea")
