"""Generated hole masks (pipelines/holes.py): deterministic per record id, each kind inside its stated
area range, boxes of 1-3 rectangles, free-form strokes, mixed kinds, and the manifest's area summary."""
import math

import numpy as np
import pytest
from scipy import ndimage

from pipelines import holes
from tfrecords import Geometry, masks

GEOMETRY = Geometry()
IDS = [f"{i:064x}-{i % 8}" for i in range(300)]


@pytest.mark.parametrize("kind", [masks.BOXES, masks.STROKES, masks.MIXED])
def test_masks_are_deterministic_per_record_id_and_differ_across_ids(kind):
    first = [holes.generate(kind, record_id, GEOMETRY) for record_id in IDS[:40]]
    again = [holes.generate(kind, record_id, GEOMETRY) for record_id in IDS[:40]]
    assert all(a[1] == b[1] and a[0].tobytes() == b[0].tobytes() for a, b in zip(first, again))
    distinct = {(k, m.tobytes()) for m, k in first if k != masks.CENTER}
    assert len(distinct) == len([k for _, k in first if k != masks.CENTER])


@pytest.mark.parametrize("kind", [masks.BOXES, masks.STROKES])
def test_each_kind_covers_its_stated_area_range_and_every_mask_is_valid(kind):
    low, high = holes.AREA[kind]
    areas = []
    for record_id in IDS:
        mask, record_kind = holes.generate(kind, record_id, GEOMETRY)
        assert record_kind == kind and masks.check_mask(mask, GEOMETRY.image_size) is mask
        areas.append(masks.hole_area(mask))
    assert low <= min(areas) and max(areas) <= high
    # Spread over the range, not bunched at one end.
    assert min(areas) < low + 0.02 and max(areas) > high - 0.15 and np.std(areas) > 0.05


def test_the_center_kind_is_the_geometry_s_centre_box_whatever_the_id():
    for record_id in IDS[:5]:
        mask, kind = holes.generate(masks.CENTER, record_id, GEOMETRY)
        assert kind == masks.CENTER and np.array_equal(mask, masks.centre_mask(GEOMETRY))
    assert masks.hole_area(mask) == pytest.approx(56 * 56 / 128 ** 2)


def test_boxes_are_one_to_three_rectangles_with_sides_of_ten_to_fifty_percent():
    size = GEOMETRY.image_size
    counts = set()
    for record_id in IDS:
        boxes = holes.hole_boxes(record_id, size)
        counts.add(len(boxes))
        assert 1 <= len(boxes) <= 3
        for top, left, bottom, right in boxes:
            assert 0 <= top < bottom <= size and 0 <= left < right <= size
            assert math.ceil(0.1 * size) <= bottom - top <= 0.5 * size
            assert math.ceil(0.1 * size) <= right - left <= 0.5 * size
        mask, _ = holes.generate(masks.BOXES, record_id, GEOMETRY)
        assert np.array_equal(mask, holes.boxes_mask(boxes, size))
    assert counts == {1, 2, 3}
    # Anywhere in the crop: boxes touch every edge over the ids.
    all_boxes = [b for record_id in IDS for b in holes.hole_boxes(record_id, size)]
    assert min(b[0] for b in all_boxes) == 0 and max(b[2] for b in all_boxes) == size
    assert min(b[1] for b in all_boxes) == 0 and max(b[3] for b in all_boxes) == size


def test_strokes_are_free_form_brush_walks_not_boxes():
    fills = []
    for record_id in IDS[:100]:
        mask, _ = holes.generate(masks.STROKES, record_id, GEOMETRY)
        hole = mask == masks.HOLE
        labels, count = ndimage.label(hole)
        assert 1 <= count <= holes.STROKES[1]  # each walk is one connected stroke; walks may cross
        rows, cols = np.nonzero(hole)
        fills.append(hole.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)))
    assert max(fills) < 0.9 and np.median(fills) < 0.6  # strokes fill little of their bounding box


def test_mixed_draws_all_three_kinds_by_id_with_each_kind_s_own_mask():
    kinds = {}
    for record_id in IDS:
        mask, kind = holes.generate(masks.MIXED, record_id, GEOMETRY)
        kinds[kind] = kinds.get(kind, 0) + 1
        alone, same = holes.generate(kind, record_id, GEOMETRY)
        assert same == kind and np.array_equal(mask, alone)
    assert set(kinds) == {masks.CENTER, masks.BOXES, masks.STROKES}
    assert min(kinds.values()) > len(IDS) / 5


def test_other_geometries_and_unknown_kinds():
    small = Geometry(image_size=64, patch_size=32, overlap=2)
    for kind in (masks.BOXES, masks.STROKES, masks.MIXED):
        mask, _ = holes.generate(kind, IDS[0], small)
        assert masks.check_mask(mask, 64) is mask
    with pytest.raises(ValueError, match="hole kind 'user'"):
        holes.generate(masks.USER, IDS[0], GEOMETRY)


def test_area_summary_is_exact_from_the_hole_pixel_counts():
    # 10 records: hole pixels 10 (x1), 20 (x4), 50 (x5) of a 10x10 crop.
    summary = holes.area_summary({20: 4, 10: 1, 50: 5}, 10)
    assert summary == {"mean": 0.34, "min": 0.1, "p10": 0.1, "p50": 0.2, "p90": 0.5, "max": 0.5}
    assert holes.area_summary({}, 10) == {}
    values = np.random.default_rng(0).integers(1, 100, 999)
    counted = {int(v): int(c) for v, c in zip(*np.unique(values, return_counts=True))}
    summary = holes.area_summary(counted, 10)
    assert summary["p50"] == np.percentile(values, 50, method="inverted_cdf") / 100
    assert summary["p90"] == np.percentile(values, 90, method="inverted_cdf") / 100
    assert summary["mean"] == pytest.approx(values.mean() / 100, abs=1e-6)
