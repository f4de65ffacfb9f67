"""The classical baselines: only the hole changes, and they recover what they should."""
import numpy as np
import pytest
from skimage import data

from model.baselines import LABELS, mean_fill, navier_stokes, run_baselines, telea
from model.metrics import region_metrics
from tfrecords.geometry import Geometry, crop, mask_centre

G = Geometry()


def _photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[40:168, 180:308])


@pytest.mark.parametrize("name", list(LABELS))
def test_only_the_hole_changes(name):
    masked, _ = mask_centre(_photo(), G)
    out = run_baselines(masked, G)[name]
    assert out.dtype == np.uint8 and out.shape == masked.shape
    top, left, bottom, right = G.hole_box
    outside = np.ones(masked.shape[:2], bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(out[outside], masked[outside])
    # The fill colour is gone from the hole: every baseline painted something of its own.
    assert not np.all(crop(out, G.hole_box) == np.array(G.fill_rgb, np.uint8))


def test_mean_fill_uses_the_mean_of_the_visible_context():
    image = np.zeros((128, 128, 3), np.uint8)
    image[:64] = (200, 100, 0)   # top half
    image[64:] = (0, 100, 200)   # bottom half: the context mean is (100, 100, 100)
    masked, _ = mask_centre(image, G)
    hole = crop(mean_fill(masked, G), G.hole_box)
    assert np.all(hole == (100, 100, 100))


@pytest.mark.parametrize("method", [telea, navier_stokes])
def test_opencv_methods_recover_a_smooth_gradient(method):
    # A horizontal ramp: diffusion from the borders should rebuild it closely, a constant should not.
    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.float64)[None, :, None], (128, 1, 3)).astype(np.uint8)
    masked, _ = mask_centre(ramp, G)
    diffused = region_metrics(method(masked, G), ramp, G.hole_box)
    constant = region_metrics(mean_fill(masked, G), ramp, G.hole_box)
    assert diffused["l1"] < constant["l1"] / 2


def test_opencv_beats_the_fill_colour_on_a_real_photo():
    photo = _photo()
    masked, _ = mask_centre(photo, G)
    fill_colour = region_metrics(masked, photo, G.hole_box)["psnr"]
    for name, out in run_baselines(masked, G).items():
        assert region_metrics(out, photo, G.hole_box)["psnr"] > fill_colour, name


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="uint8"):
        telea(np.zeros((128, 128, 3), np.float32), G)
    with pytest.raises(ValueError, match="shape"):
        mean_fill(np.zeros((64, 64, 3), np.uint8), G)
    with pytest.raises(ValueError, match="radius"):
        navier_stokes(np.zeros((128, 128, 3), np.uint8), G, radius=0)
