"""The gated U-Net generator (model/unet.py) for both hole layouts, and fresh views (model/data.py)."""
import json

import numpy as np
import pytest
import tensorflow as tf

from model.config import TrainConfig
from model.data import fresh_views, train_dataset
from model.exported import load_inpainter
from model.harmonic_fill import harmonic_fill
from model.hole_layouts import CentreHole, HolesAnywhere
from model.inference import inpaint, inpaint_anywhere
from model.self_ensemble import DEFAULT_SELF_ENSEMBLE
from model.train import Trainer
from model.unet import DOWNSAMPLINGS, MIDDLE_DILATIONS, GatedConv2D, NyquistBlur, build_unet
from tfrecords.geometry import Geometry
from tfrecords.masks import centre_mask

SMALL = Geometry(image_size=64, patch_size=32, overlap=2)


def _crops(n: int = 2, side: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, side, side, 3)).astype(np.float32)


def test_the_unet_starts_from_the_harmonic_fill_for_holes_anywhere_and_the_centre_hole():
    geometry = Geometry()
    crops = _crops()
    hole = np.zeros((2, 128, 128, 1), np.float32)
    hole[0, 10:40, 20:90] = 1.0
    hole[1, 70:75, 5:120] = 1.0
    anywhere = build_unet(geometry, width=8)
    assert anywhere.input_shape == (None, 128, 128, 4) and anywhere.output_shape == (None, 128, 128, 3)
    np.testing.assert_array_equal(anywhere.get_layer("decoder_rgb").kernel.numpy(), 0.0)
    np.testing.assert_allclose(anywhere(np.concatenate([crops, hole], -1)).numpy(),
                               harmonic_fill(crops, hole).numpy(), atol=1e-6)

    centre = build_unet(geometry, width=8, centre_hole=True, dtype="mixed_bfloat16")
    assert centre.input_shape == (None, 128, 128, 3) and centre.output_shape == (None, 64, 64, 3)
    box = (centre_mask(geometry) > 0)[None, ..., None].astype(np.float32)
    top, left, bottom, right = geometry.patch_box
    out = centre(crops)
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), harmonic_fill(crops, box).numpy()[:, top:bottom, left:right], atol=1e-6)
    # What the hole holds on input does not matter: the network sees the harmonic fill there.
    painted = crops.copy()
    h_top, h_left, h_bottom, h_right = geometry.hole_box
    painted[:, h_top:h_bottom, h_left:h_right] = 0.3
    np.testing.assert_array_equal(centre(painted).numpy(), out.numpy())
    with pytest.raises(ValueError, match="multiple of 8"):
        build_unet(Geometry(image_size=100, patch_size=52, overlap=4), width=8)


def test_the_unets_skips_carry_the_context_and_its_middle_sees_the_whole_crop():
    """Once trained weights are not zero, a change anywhere in the context moves the fill anywhere in
    the hole (the dilated middle spans the crop), and the output is not a copy of blocks."""
    import keras

    keras.utils.set_random_seed(1)
    g = build_unet(Geometry(), width=8)
    layer = g.get_layer("decoder_rgb")
    layer.kernel.assign(np.random.default_rng(0).normal(0, 0.05, layer.kernel.shape).astype(np.float32))
    crops, hole = _crops(1), np.zeros((1, 128, 128, 1), np.float32)
    hole[:, 48:80, 48:80] = 1.0
    moved = crops.copy()
    moved[:, 0:8, 0:8] = -moved[:, 0:8, 0:8]  # the far corner of the context
    before = g(np.concatenate([crops, hole], -1)).numpy()
    after = g(np.concatenate([moved, hole], -1)).numpy()
    change = np.abs(after - before)[0, 48:80, 48:80].max(axis=-1)
    assert change[-1, -1] > 0  # the hole's corner farthest from the change
    # Bilinear upsampling: no 8-px (or 2-px) steps repeated over the fill of a smooth input.
    smooth = np.broadcast_to(np.linspace(-1, 1, 128, dtype=np.float32)[None, None, :, None], (1, 128, 128, 3))
    fill = g(np.concatenate([smooth, hole], -1)).numpy()[0, 48:80, 48:80, 0]
    steps = np.abs(np.diff(fill, axis=1))
    assert steps[:, 7::8].mean() < 2 * steps.mean()


def test_the_unets_middle_carries_a_change_to_every_cell_of_its_map():
    """No gridding: a change in a cell of the S/8 map away from its border reaches every cell of it
    through the dilated middle, those an odd number of cells away too (all-even rates reached half)."""
    import keras

    keras.utils.set_random_seed(2)
    width = 8
    g = build_unet(Geometry(), width=width)
    side = Geometry().image_size // 2 ** DOWNSAMPLINGS
    x = np.random.default_rng(0).normal(0, 1, (1, side, side, 4 * width)).astype(np.float32)

    def middle(x):
        for rate in MIDDLE_DILATIONS:
            x = x + g.get_layer(f"middle_dilation{rate}")(x)
        return x.numpy()

    moved = x.copy()
    moved[0, side // 2, side // 2] += 1.0
    change = np.abs(middle(moved) - middle(x)).max(axis=-1)[0]
    assert (change > 0).all(), np.argwhere(change == 0)[:4]


def test_the_decoder_blurs_each_map_before_doubling_it():
    """Cell-by-cell alternation (the map's Nyquist frequency) is taken out before every x2 upsampling,
    and smooth content passes: a constant unchanged, a ramp unchanged away from the edges."""
    blur = NyquistBlur()
    checker = np.where(np.add.outer(np.arange(8), np.arange(8)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    stripes = np.broadcast_to(np.where(np.arange(8) % 2 == 0, 1.0, -1.0).astype(np.float32), (8, 8))
    for pattern in (checker, stripes, stripes.T):
        np.testing.assert_allclose(blur(np.stack([pattern, 2 * pattern], -1)[None]).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(blur(np.full((1, 8, 8, 3), 0.7, np.float32)).numpy(), 0.7, atol=1e-6)
    ramp = np.broadcast_to(np.linspace(-1, 1, 8, dtype=np.float32)[None, :, None, None], (1, 8, 8, 2))
    np.testing.assert_allclose(blur(ramp).numpy()[:, 1:-1], ramp[:, 1:-1], atol=1e-6)
    g = build_unet(Geometry(), width=8)
    names = [layer.name for layer in g.layers]
    for i in range(1, DOWNSAMPLINGS + 1):
        assert names.index(f"decoder{i}_blur") == names.index(f"decoder{i}_upsample") - 1


def test_a_run_config_without_a_generator_is_a_context_encoders_run():
    old = TrainConfig(generator="context-encoder").to_dict()
    del old["generator"]
    assert TrainConfig.from_dict(old).generator == "context-encoder"
    assert TrainConfig.from_dict(TrainConfig().to_dict()).generator == "unet"


def test_a_gated_convolution_is_features_times_a_sigmoid_gate():
    layer = GatedConv2D(2, 1)
    x = tf.constant(np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype(np.float32))
    out = layer(x).numpy()
    kernel, bias = layer.conv.kernel.numpy()[0, 0], layer.conv.bias.numpy()
    both = x.numpy() @ kernel + bias
    expected = np.where(both[..., :2] > 0, both[..., :2], 0.2 * both[..., :2]) / (1 + np.exp(-both[..., 2:]))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_fresh_views_are_seeded_crops_of_each_record_at_another_scale_and_place():
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), np.uint8))
    seed = tf.constant([3, 4], tf.int64)
    a, b = fresh_views(images, seed).numpy(), fresh_views(images, seed).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 64, 64, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, fresh_views(images, seed + 1).numpy())
    # A view of the whole crop is the crop itself.
    np.testing.assert_array_equal(fresh_views(images, seed, smallest=1.0).numpy(), images.numpy())


def _strokes(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    import cv2

    mask = np.zeros((64, 64), np.uint8)
    points = rng.integers(4, 60, (int(rng.integers(4, 7)), 2)).astype(np.int32)
    cv2.polylines(mask, [points], isClosed=False, color=255, thickness=int(rng.integers(4, 8)))
    return mask, "strokes"


@pytest.fixture(scope="module")
def stroke_records(tmp_path_factory) -> str:
    from tests.builders import build_tiny_records

    return build_tiny_records(tmp_path_factory.mktemp("unet_strokes"), geometry=SMALL, mask_of=_strokes,
                              hole_kind="strokes")


@pytest.mark.slow
def test_fresh_views_keep_input_and_truth_together_and_give_holes_anywhere_other_records_holes(
        tiny_records, stroke_records):
    fill = np.array(SMALL.fill_rgb, np.uint8)
    plain = next(iter(train_dataset(tiny_records, SMALL, 4, seed=5, shuffle_buffer=16, flip=False)))
    fresh = next(iter(train_dataset(tiny_records, SMALL, 4, seed=5, shuffle_buffer=16, flip=False, views=True)))
    assert not np.array_equal(plain["patch"], fresh["patch"])
    box = centre_mask(SMALL) > 0
    assert np.all(fresh["masked"].numpy()[:, box] == fill)

    records = [next(iter(train_dataset(stroke_records, SMALL, 8, seed=5, shuffle_buffer=16, flip=False,
                                       holes=HolesAnywhere(), views=v))) for v in (False, True)]
    before, after = (r["mask"].numpy() for r in records)
    # The same holes, each on another crop: the batch's masks rolled by one.
    np.testing.assert_array_equal(after, np.roll(before, 1, axis=0))
    for masked, mask, original in zip(*(records[1][k].numpy() for k in ("masked", "mask", "original"))):
        hole = mask[..., 0]
        assert np.all(masked[hole] == fill) and np.array_equal(masked[~hole], original[~hole])


@pytest.mark.slow
@pytest.mark.parametrize("data", ["tiny_records", "stroke_records"])
def test_the_unet_trains_exports_and_serves_both_layouts(data, request, imagenet_vgg_npz, tmp_path):
    records = request.getfixturevalue(data)
    config = TrainConfig(generator="unet", width=8, batch_size=4, phase_steps=(3, 1), vgg_weights=imagenet_vgg_npz,
                         lr_g=1e-3, log_every=1, image_every=1000, eval_every=2, checkpoint_every=2, eval_images=4,
                         shuffle_buffer=16, strategy="default", mixed_precision="off", jit_compile="off",
                         fresh_views=True)
    trainer = Trainer(config, records, str(tmp_path / "run"))
    assert trainer.generator.name == "gated_unet"
    summary = trainer.run()
    assert json.load(open(tmp_path / "run" / "config.json"))["generator"] == "unet"
    serve, geometry = load_inpainter(summary["export"])
    batch = next(iter(train_dataset(records, SMALL, 4, seed=0, shuffle_buffer=16, flip=False,
                                    holes=trainer.holes)))
    with trainer.exported_weights():
        if isinstance(trainer.holes, CentreHole):
            expected = inpaint(trainer.generator, batch["masked"], SMALL, DEFAULT_SELF_ENSEMBLE)["inpainted"]
            served = serve(images=batch["masked"])["inpainted"]
        else:
            expected = inpaint_anywhere(trainer.generator, batch["masked"], batch["mask"], SMALL,
                                        DEFAULT_SELF_ENSEMBLE)["inpainted"]
            masks = tf.cast(batch["mask"][..., 0], tf.uint8) * 255
            served = serve(images=batch["original"], masks=masks)["inpainted"]
            hole = batch["mask"].numpy()[..., 0]
            np.testing.assert_array_equal(served.numpy()[~hole], batch["original"].numpy()[~hole])
    assert np.abs(served.numpy().astype(int) - expected.numpy().astype(int)).max() <= 1
