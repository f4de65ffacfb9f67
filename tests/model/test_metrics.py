"""model.metrics against values computed by hand."""
import math

import numpy as np
import pytest

from model.metrics import MAX_PSNR_DB, inpainting_metrics, masked_metrics, mean_metrics
from tfrecords.geometry import Box, Geometry

G = Geometry()


def _box_mask(box: Box, side: int = 128) -> np.ndarray:
    mask = np.zeros((side, side), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = 255
    return mask


def _photo_like(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)


def test_known_constant_error_gives_hand_computed_psnr_l1_l2():
    truth = np.full((128, 128, 3), 100, np.uint8)
    predicted = truth.copy()
    top, left, bottom, right = G.hole_box
    predicted[top:bottom, left:right] += 10  # every hole pixel off by 10 levels

    hole = masked_metrics(predicted, truth, _box_mask(G.hole_box))

    mse = (10 / 255) ** 2
    assert hole["l1"] == pytest.approx(10 / 255)
    assert hole["l2"] == pytest.approx(mse)
    assert hole["psnr"] == pytest.approx(10 * math.log10(1 / mse))  # 28.13 dB
    assert hole["psnr"] == pytest.approx(28.1308, abs=1e-4)


def test_error_on_half_the_hole_halves_l1():
    truth = np.zeros((128, 128, 3), np.uint8)
    predicted = truth.copy()
    top, left, bottom, right = G.hole_box
    predicted[top:(top + bottom) // 2, left:right] = 51  # 0.2 of the range on half the hole

    hole = masked_metrics(predicted, truth, _box_mask(G.hole_box))

    assert hole["l1"] == pytest.approx(0.1)
    assert hole["l2"] == pytest.approx(0.02)
    assert hole["psnr"] == pytest.approx(10 * math.log10(1 / 0.02))


def test_identical_images_have_ssim_one_and_capped_psnr():
    image = _photo_like()
    metrics = inpainting_metrics(image, image.copy(), G)
    for region in ("hole", "patch"):
        assert metrics[region]["ssim"] == pytest.approx(1.0)
        assert metrics[region]["psnr"] == MAX_PSNR_DB
        assert metrics[region]["l1"] == 0.0 and metrics[region]["l2"] == 0.0


def test_errors_outside_the_hole_do_not_count_but_the_overlap_ring_counts_in_the_patch():
    truth = _photo_like(1)
    predicted = truth.copy()
    predicted[:8] = 255 - predicted[:8]            # far outside the patch
    top, left, _, _ = G.patch_box
    predicted[top, left:left + G.patch_size] = 0   # a row of the overlap ring, outside the hole

    metrics = inpainting_metrics(predicted, truth, G)

    assert metrics["hole"]["l1"] == 0.0
    assert metrics["patch"]["l1"] > 0.0


def test_ssim_falls_with_structure_lost():
    truth = _photo_like(2)
    blurred = np.full_like(truth, int(truth.mean()))
    assert masked_metrics(blurred, truth, _box_mask(G.hole_box))["ssim"] < 0.1


@pytest.mark.parametrize("shape", [(56, 56, 3), (64, 64, 3), (20, 33, 1)])
def test_ssim_equals_scikit_images_on_real_and_damaged_photos(shape):
    from skimage import data
    from skimage.metrics import structural_similarity

    h, w, c = shape
    truth = data.astronaut()[100:100 + h, 150:150 + w, :c].astype(np.float64)
    rng = np.random.default_rng(3)
    for predicted in (truth + rng.normal(0, 20, truth.shape), np.full_like(truth, truth.mean()), truth[::-1]):
        predicted = np.clip(predicted, 0, 255)
        expected = structural_similarity(predicted, truth, channel_axis=-1, data_range=255.0)
        assert masked_metrics(predicted, truth, np.ones((h, w), np.uint8))["ssim"] == pytest.approx(expected, abs=1e-12)


def test_mean_metrics_averages_and_counts():
    a = {"hole": {"psnr": 10.0, "ssim": 0.2, "l1": 0.1, "l2": 0.01}}
    b = {"hole": {"psnr": 20.0, "ssim": 0.4, "l1": 0.3, "l2": 0.03}}
    mean = mean_metrics([a, b])
    assert mean["count"] == 2
    assert mean["hole"] == pytest.approx({"psnr": 15.0, "ssim": 0.3, "l1": 0.2, "l2": 0.02})
    with pytest.raises(ValueError):
        mean_metrics([])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        masked_metrics(np.zeros((128, 128, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), _box_mask(G.hole_box))


def test_masked_metrics_on_a_box_mask_are_the_box_metrics_and_ignore_the_context():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    predicted = truth.copy()
    predicted[10:40, 20:50] = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:40, 20:50] = 255
    ours = masked_metrics(predicted, truth, mask)
    diff = (predicted[10:40, 20:50].astype(np.float64) - truth[10:40, 20:50]) / 255.0
    box = {"l1": np.abs(diff).mean(), "l2": (diff**2).mean()}
    box["psnr"] = 10 * math.log10(1 / box["l2"])
    for name in ("psnr", "l1", "l2"):
        assert ours[name] == pytest.approx(box[name])
    assert ours["ssim"] < 0.2
    predicted[0:5] = 0  # outside the hole: no effect
    assert masked_metrics(predicted, truth, mask) == ours
