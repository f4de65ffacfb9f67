"""Holes anywhere at full resolution: one context window per hole, its model inputs, exact paste-back."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage import data

from pipelines import hole_windows as hw
from pipelines.full_resolution import Photo
from pipelines.images import Rejected
from tfrecords.masks import HOLE

S = 128
FILL = (117, 104, 123)
PREDICTED_RGB = (250, 10, 30)


def _mask(height: int, width: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = HOLE
    return mask


def _photo(mode: str, height: int, width: int) -> Image.Image:
    rgb = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BILINEAR)
    if mode == "RGBA":
        rgb.putalpha(Image.fromarray(np.tile(np.arange(width, dtype=np.uint8), (height, 1))))
        return rgb
    return rgb.convert(mode)


THREE_HOLES = ((40, 50, 70, 90), (300, 420, 380, 470), (520, 100, 560, 300))


def test_three_separate_holes_get_three_windows_that_hold_them():
    mask = _mask(600, 800, *THREE_HOLES)
    windows = hw.plan(mask, S)
    assert [w.region for w in windows] == list(THREE_HOLES)
    for window, (t, l, b, r) in zip(windows, THREE_HOLES):
        top, left, bottom, right = window.box
        assert bottom - top == right - left == window.side
        assert 0 <= top <= t < b <= bottom <= 600 and 0 <= left <= l < r <= right <= 800
        assert window.side >= S and max(b - t, r - l) <= hw.MAX_HOLE_FRACTION * window.side
        assert window.hole.all() and window.regions == 1
    # The 200-pixel-wide hole needs a 400-pixel window, clamped to the photo's bottom edge.
    assert windows[2].side == 400 and windows[2].box[2] == 600


def test_holes_closer_than_the_merge_distance_are_one_window():
    near = _mask(600, 800, (100, 100, 140, 140), (100, 150, 140, 190))  # a 10-pixel gap
    (window,) = hw.plan(near, S)
    assert window.region == (100, 100, 140, 190) and window.regions == 2
    assert window.hole.sum() == 2 * 40 * 40  # the gap between them is not hole
    far = _mask(600, 800, (100, 100, 140, 140), (100, 300, 140, 340))
    assert len(hw.plan(far, S)) == 2


def test_merging_grows_until_no_hole_is_close():
    # The first two merge; the merged hole's larger window reaches the third, which joins it.
    chain = _mask(1000, 1000, (100, 100, 160, 160), (100, 170, 160, 230), (100, 262, 160, 300))
    (window,) = hw.plan(chain, S)
    assert window.regions == 3 and window.region == (100, 100, 160, 300)


def _scribbles(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Specks, boxes, and diagonal strokes (8-connected only), in both directions."""
    hole = rng.random((height, width)) < rng.choice([0.0, 0.002, 0.02, 0.2])
    for _ in range(rng.integers(0, 6)):
        top, left = rng.integers(0, height), rng.integers(0, width)
        hole[top:top + rng.integers(1, 30), left:left + rng.integers(1, 30)] = True
    for _ in range(rng.integers(0, 4)):
        top, left, step = rng.integers(0, height), rng.integers(0, width), rng.choice([-1, 1])
        for k in range(rng.integers(1, 60)):
            if 0 <= top + k < height and 0 <= left + step * k < width:
                hole[top + k, left + step * k] = True
    return hole


@pytest.mark.parametrize("seed", range(40))
def test_regions_are_ndimage_labels_in_their_order(seed):
    """Labelled block by block, the regions are those of one `ndimage.label` of the whole mask:
    the same pixels, boxes and order."""
    rng = np.random.default_rng(seed)
    hole = _scribbles(rng, *rng.integers(1, 160, 2))
    boxes, pieces = hw.regions(hole)
    labels, count = ndimage.label(hole, structure=np.ones((3, 3), bool))
    assert len(pieces) == count and boxes.shape == (count, 4)
    for label, (rows, columns) in enumerate(ndimage.find_objects(labels), start=1):
        piece = pieces[label - 1]
        assert piece.box == (rows.start, columns.start, rows.stop, columns.stop) == tuple(boxes[label - 1])
        assert np.array_equal(piece.pixels, labels[rows, columns] == label)


def test_a_hole_too_large_for_any_window_in_the_photo_is_rejected():
    mask = _mask(300, 800, (20, 50, 60, 100), (100, 200, 260, 400))  # 160x200 needs a 400 window
    with pytest.raises(Rejected) as e:
        hw.plan(mask, S)
    assert e.value.reason == hw.HOLE_TOO_LARGE
    assert "1 of 2 holes" in e.value.detail and "rows 100-260, columns 200-400" in e.value.detail


def test_a_photo_smaller_than_the_model_takes_its_shorter_side():
    (window,) = hw.plan(_mask(60, 90, (20, 30, 40, 50)), S)
    assert window.box == (0, 10, 60, 70)


@pytest.mark.parametrize("side", [37, 128, 300, 1000])
def test_the_model_mask_is_hole_wherever_a_hole_pixel_touches(side):
    rng = np.random.default_rng(side)
    hole = rng.random((side, side)) < 0.002
    touched = hw._touched(hole, S) == HOLE
    # Brute force: model pixel i spans [i*side/S, (i+1)*side/S) photo pixels.
    expected = np.zeros((S, S), bool)
    for y, x in zip(*np.nonzero(hole)):
        rows = [i for i in range(S) if i * side < (y + 1) * S and (i + 1) * side > y * S]
        cols = [j for j in range(S) if j * side < (x + 1) * S and (j + 1) * side > x * S]
        expected[np.ix_(rows, cols)] = True
    assert np.array_equal(touched, expected)


def test_model_inputs_count_every_hole_in_the_window_and_hide_what_the_holes_show():
    photo = _photo("L", 600, 800)
    mask = _mask(600, 800, (200, 200, 240, 240), (200, 300, 240, 330))  # the second in the first's window
    windows = hw.plan(mask, S)
    assert len(windows) == 2 and windows[0].box == (156, 156, 284, 284)
    images, masks = hw.model_inputs(Photo.of(photo), mask, windows, S, FILL)
    assert images.shape == (2, S, S, 3) and masks.shape == (2, S, S)
    # At 1:1 scale, the first window's model mask is the photo's mask there: both holes.
    assert np.array_equal(masks[0], mask[156:284, 156:284])
    assert (images[0][masks[0] == HOLE] == FILL).all()
    visible = masks[0] == 0
    expected = np.asarray(photo.convert("RGB"))[156:284, 156:284]
    assert np.array_equal(images[0][visible], expected[visible])


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA"])
@pytest.mark.parametrize("height,width", [(600, 800), (90, 70), (1500, 1100)])
def test_paste_changes_the_holes_pixels_only(mode, height, width):
    photo = _photo(mode, height, width)
    mask = np.zeros((height, width), np.uint8)
    arm = max(3, min(height, width) // 12)
    for y, x in ((0.2, 0.2), (0.5, 0.7), (0.8, 0.3)):  # three crosses: not boxes
        top, left = int(y * height), int(x * width)
        mask[top:top + arm, left + arm // 2] = HOLE
        mask[top + arm // 2, left:left + arm] = HOLE
    windows = hw.plan(mask, S)
    assert len(windows) == 3
    predictions = np.empty((len(windows), S, S, 3), np.uint8)
    predictions[:] = PREDICTED_RGB
    out = hw.paste(Photo.of(photo), windows, predictions)
    original = np.asarray(photo)
    assert out.shape == original.shape and out.dtype == np.uint8
    outside = mask == 0
    assert np.array_equal(out[outside], original[outside])
    hole = out[mask == HOLE]
    if mode in ("RGB", "RGBA"):
        assert (hole[:, :3] == PREDICTED_RGB).all()
    else:
        grey = np.asarray(Image.new("RGB", (1, 1), PREDICTED_RGB).convert("L"))[0, 0]
        assert ((hole if mode == "L" else hole[:, 0]) == grey).all()
    if mode in ("LA", "RGBA"):
        assert np.array_equal(out[..., -1], original[..., -1])


def test_paste_resamples_the_prediction_onto_the_hole():
    """A window 4x the model's size: each model pixel lands on a 4x4 block of the photo's hole."""
    photo = Image.fromarray(np.zeros((1024, 1024, 3), np.uint8))
    mask = _mask(1024, 1024, (400, 400, 600, 600))
    (window,) = hw.plan(mask, S)
    assert window.box == (300, 300, 700, 700)
    scale = window.side / S
    prediction = np.zeros((S, S, 3), np.uint8)
    prediction[:, :, 0] = np.arange(S, dtype=np.uint8)[None, :]  # red = model column
    out = hw.paste(Photo.of(photo), [window], prediction[None])
    row = out[500, 400:600, 0].astype(int)
    model_columns = ((np.arange(400, 600) - 300 + 0.5) / scale - 0.5)
    assert np.abs(row - model_columns).max() <= 1
