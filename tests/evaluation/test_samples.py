"""evaluation.samples: which scored images the report's grid shows, and their PNGs."""
import os

import numpy as np
from PIL import Image

from evaluation.samples import Sample, SampleChooser


def _sample(key: str, kind: str, value: int = 0) -> Sample:
    scores = {"telea": {"hole": {"psnr": 20.0 + value}, "perceptual": {"lpips": 0.1}}}
    return Sample(key, kind, {"masked": np.full((4, 4, 3), value, np.uint8)}, scores)


def _offer_all(chooser: SampleChooser, offered: list[tuple[str, str]]) -> None:
    for i, (key, kind) in enumerate(offered):
        if chooser.wants(key, kind):
            chooser.offer(_sample(key, kind, i))


def test_one_kind_keeps_the_first_crop_of_the_first_distinct_photos():
    chooser = SampleChooser(2)
    _offer_all(chooser, [("a", "center"), ("a", "center"), ("b", "center"), ("c", "center")])
    assert [(s.key, int(s.images["masked"][0, 0, 0])) for s in chooser.chosen()] == [("a", 0), ("b", 2)]
    assert not chooser.wants("d", "center")


def test_kinds_take_turns_and_prefer_photos_not_yet_shown():
    chooser = SampleChooser(4)
    # File order: every strokes record, then every boxes record, of the same three photos.
    _offer_all(chooser, [(key, kind) for kind in ("strokes", "boxes") for key in "abc"])
    chosen = [(s.kind, s.key) for s in chooser.chosen()]
    # Boxes comes first in RECORD_KINDS whatever the file order; strokes' second turn finds no new photo.
    assert chosen == [("boxes", "a"), ("boxes", "c"), ("strokes", "b"), ("strokes", "a")]


def test_fewer_images_than_samples_and_no_samples():
    chooser = SampleChooser(5)
    _offer_all(chooser, [("a", "user"), ("a", "strokes")])
    assert [(s.kind, s.key) for s in chooser.chosen()] == [("strokes", "a"), ("user", "a")]
    none = SampleChooser(0)
    assert not none.wants("a", "center") and none.chosen() == []


def test_offered_images_are_copies_and_written_as_pngs(tmp_path):
    chooser = SampleChooser(1)
    batch = np.zeros((2, 4, 4, 3), np.uint8)
    chooser.offer(Sample("a", "boxes", {"masked": batch[0], "mask": np.full((4, 4), 255, np.uint8)},
                         {"telea": {"hole": {"psnr": 21.5}, "perceptual": {"lpips": 0.25}}}))
    batch[0] = 9  # the next batch reuses the array
    listed = chooser.write(str(tmp_path))
    assert listed == [{"key": "a", "kind": "boxes", "hole_psnr": {"telea": 21.5}, "lpips": {"telea": 0.25},
                       "images": {"masked": os.path.join("samples", "00_masked.png"),
                                  "mask": os.path.join("samples", "00_mask.png")}}]
    assert np.all(np.asarray(Image.open(tmp_path / "samples" / "00_masked.png")) == 0)
    assert np.all(np.asarray(Image.open(tmp_path / "samples" / "00_mask.png")) == 255)
