"""The classical baselines: only the hole changes, and they recover what they should."""
import cv2
import numpy as np
import pytest
from skimage import data

from evaluation.baselines import LABELS, biharmonic, fsr, harmonic, mean_fill, navier_stokes, run_baselines, telea
from model.metrics import masked_metrics
from tfrecords.geometry import Geometry, crop, mask_centre
from tfrecords.masks import centre_mask, mask_image

G = Geometry()
CENTRE = centre_mask(G)


def _photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[40:168, 180:308])


def _hole_error(out: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.abs(crop(out, G.hole_box).astype(np.int64) - crop(truth, G.hole_box))


def _uint8(channels) -> np.ndarray:
    return np.clip(np.round(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


Y, X = np.mgrid[0:128, 0:128].astype(np.float64)


def _boxes(size: int = 128) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[10:40, 70:120] = 255
    mask[80:110, 5:50] = 255
    return mask


def _strokes(size: int = 128) -> np.ndarray:
    """Two thick polylines, off the image border."""
    mask = np.zeros((size, size), np.uint8)
    cv2.polylines(mask, [np.array([[15, 20], [60, 70], [110, 30]]), np.array([[15, 110], [100, 90]])],
                  isClosed=False, color=255, thickness=9)
    return mask


MASKS = {"centre": CENTRE, "boxes": _boxes(), "strokes": _strokes()}


@pytest.mark.parametrize("kind", list(MASKS))
@pytest.mark.parametrize("name", list(LABELS))
def test_only_the_hole_changes(name, kind):
    mask = MASKS[kind]
    masked = mask_image(_photo(), mask, G.fill_rgb)
    out = run_baselines(masked, mask)[name]
    assert out.dtype == np.uint8 and out.shape == masked.shape
    np.testing.assert_array_equal(out[mask == 0], masked[mask == 0])
    # The fill colour is gone from the hole: every baseline painted something of its own.
    assert not np.all(out[mask > 0] == np.array(G.fill_rgb, np.uint8))


@pytest.mark.parametrize("name", list(LABELS))
def test_a_boolean_mask_on_a_non_square_image(name):
    image = np.ascontiguousarray(data.astronaut()[40:136, 180:340])  # 96x160
    hole = np.zeros(image.shape[:2], bool)
    hole[30:60, 100:150] = True
    masked = mask_image(image, hole.astype(np.uint8) * 255, G.fill_rgb)
    out = run_baselines(masked, hole)[name]
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert masked_metrics(out, image, hole)["psnr"] > masked_metrics(masked, image, hole)["psnr"]


def test_mean_fill_uses_the_mean_of_the_visible_context():
    image = np.zeros((128, 128, 3), np.uint8)
    image[:64] = (200, 100, 0)   # top half
    image[64:] = (0, 100, 200)   # bottom half: the context mean is (100, 100, 100)
    masked, _ = mask_centre(image, G)
    hole = crop(mean_fill(masked, CENTRE), G.hole_box)
    assert np.all(hole == (100, 100, 100))


@pytest.mark.parametrize("method", [telea, navier_stokes, biharmonic, harmonic])
def test_diffusion_methods_recover_a_smooth_gradient(method):
    # A horizontal ramp: diffusion from the borders should rebuild it closely, a constant should not.
    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.float64)[None, :, None], (128, 1, 3)).astype(np.uint8)
    masked, _ = mask_centre(ramp, G)
    diffused = masked_metrics(method(masked, CENTRE), ramp, CENTRE)
    constant = masked_metrics(mean_fill(masked, CENTRE), ramp, CENTRE)
    assert diffused["l1"] < constant["l1"] / 2


def test_a_constant_image_is_filled_with_its_colour():
    masked, _ = mask_centre(np.full((128, 128, 3), (50, 120, 200), np.uint8), G)
    assert np.all(crop(biharmonic(masked, CENTRE), G.hole_box) == (50, 120, 200))
    assert np.all(crop(harmonic(masked, CENTRE), G.hole_box) == (50, 120, 200))
    # FSR works in YCrCb: the colour round trip may move a channel by one grey level.
    assert _hole_error(fsr(masked, CENTRE), np.full((128, 128, 3), (50, 120, 200), np.uint8)).max() <= 1


def test_biharmonic_rebuilds_ramps_exactly_and_a_harmonic_surface_to_a_grey_level():
    # Linear functions with integer slopes are exact in uint8 and biharmonic: rebuilt exactly.
    ramps = _uint8([X + Y, 2 * X, 255 - Y])
    masked, _ = mask_centre(ramps, G)
    assert _hole_error(biharmonic(masked, CENTRE), ramps).max() == 0
    # x^2 - y^2 is harmonic (so biharmonic); the context's rounding is all that is lost.
    saddle = _uint8([128 + ((X - 64) ** 2 - (Y - 64) ** 2) / 40, 100 + (X - 64) * (Y - 64) / 40, 60 + X])
    masked, _ = mask_centre(saddle, G)
    error = _hole_error(biharmonic(masked, CENTRE), saddle)
    assert error.max() <= 1 and error.mean() < 0.5


def test_fsr_follows_a_smooth_image_about_as_well_as_telea():
    # FSR fits each 16 px block from its neighbourhood, so across a 56 px hole it drifts from a
    # smooth surface (mean error 8.7 grey levels here, Telea 7.2, biharmonic 0.4), but far less
    # than a constant does (26.9). The hole starts as the fill colour: had FSR taken the mask the
    # wrong way round, it would have kept that colour.
    smooth = _uint8([128 + 60 * np.sin(X / 20), 120 + 50 * np.cos(Y / 25), 60 + X])
    masked, _ = mask_centre(smooth, G)
    error = _hole_error(fsr(masked, CENTRE), smooth).mean()
    assert error < _hole_error(mean_fill(masked, CENTRE), smooth).mean() / 2.5
    assert error < 1.5 * _hole_error(telea(masked, CENTRE), smooth).mean()


def test_every_baseline_beats_the_fill_colour_on_a_real_photo():
    photo = _photo()
    masked, _ = mask_centre(photo, G)
    fill_colour = masked_metrics(masked, photo, CENTRE)["psnr"]
    for name, out in run_baselines(masked, CENTRE).items():
        assert masked_metrics(out, photo, CENTRE)["psnr"] > fill_colour, name


@pytest.mark.parametrize("kind", ["boxes", "strokes"])
def test_mean_fill_anywhere_uses_the_mean_of_the_visible_context(kind):
    mask = MASKS[kind]
    image = np.zeros((128, 128, 3), np.uint8)
    image[:, :64] = (200, 100, 0)
    image[:, 64:] = (0, 100, 220)
    expected = np.round(image[mask == 0].mean(axis=0))
    out = mean_fill(mask_image(image, mask, G.fill_rgb), mask)
    assert np.all(out[mask > 0] == expected)


@pytest.mark.parametrize("kind", ["boxes", "strokes"])
def test_holes_anywhere_are_filled_from_their_own_context(kind):
    # Ramps are biharmonic: rebuilt exactly wherever the hole is; the diffusion methods rebuild
    # them far better than a constant does.
    mask = MASKS[kind]
    ramps = _uint8([X + Y, 2 * X, 255 - Y])
    masked = mask_image(ramps, mask, G.fill_rgb)
    assert np.abs(biharmonic(masked, mask).astype(int) - ramps)[mask > 0].max() == 0
    constant = masked_metrics(mean_fill(masked, mask), ramps, mask)["l1"]
    for method in (telea, navier_stokes, fsr, harmonic):
        assert masked_metrics(method(masked, mask), ramps, mask)["l1"] < constant / 2, method.__name__
    # A linear function is harmonic too: the coarse-to-fine sweeps land within a few grey levels of it.
    assert np.abs(harmonic(masked, mask).astype(int) - ramps)[mask > 0].mean() < 3


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="uint8"):
        telea(np.zeros((128, 128, 3), np.float32), CENTRE)
    with pytest.raises(ValueError, match="does not match"):
        mean_fill(np.zeros((64, 64, 3), np.uint8), CENTRE)
    with pytest.raises(ValueError, match="radius"):
        navier_stokes(np.zeros((128, 128, 3), np.uint8), CENTRE, radius=0)
    for method in (biharmonic, fsr, harmonic):
        with pytest.raises(ValueError, match="uint8"):
            method(np.zeros((128, 128, 3), np.int16), CENTRE)
    with pytest.raises(ValueError, match="no hole"):
        telea(np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128), np.uint8))
    with pytest.raises(ValueError, match="all hole"):
        biharmonic(np.zeros((128, 128, 3), np.uint8), np.full((128, 128), 255, np.uint8))
