"""The inpaint job's ways of giving photos' masks besides the mirrored tree: masks beside their photos
(`NAME_mask.png`, numbered `NAME_maskNNN.png`), one mask for every photo (`--mask FILE`), JPEG and
alpha masks, and holes grown by `--dilate` (pipelines/mask_naming.py, mask_fitting.py, mask_files.py,
inpaint_masks.py)."""
from __future__ import annotations

import io
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage import data

from model.hole_layouts import hole_layout
from pipelines import inpaint, inpaint_masks, mask_files, mask_fitting, mask_naming, writers
from pipelines.images import Rejected
from tests.builders import LIGHT, encode


def _hole(height: int, width: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A bool hole with the boxes (top, left, bottom, right)."""
    hole = np.zeros((height, width), bool)
    for top, left, bottom, right in boxes:
        hole[top:bottom, left:right] = True
    return hole


def _image(hole: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(hole, 255, 0).astype(np.uint8))


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


# --- reading a mask file --------------------------------------------------------------------------

def _shapes(height: int, width: int) -> np.ndarray:
    """A binary mask with a box, a disk and a thin diagonal line: edges JPEG rings around."""
    hole = _hole(height, width, (30, 20, 90, 80))
    y, x = np.ogrid[:height, :width]
    hole |= (x - 200) ** 2 + (y - 100) ** 2 <= 50 ** 2
    hole |= np.abs((y - 180) + (x - 10) * 60 / 280) < 1.5
    return hole


@pytest.mark.parametrize("quality", [95, 75, 50])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_jpeg_compressed_black_and_white_mask_gives_exactly_its_hole(quality, mode):
    hole = _shapes(200, 300)
    jpeg = encode(_image(hole).convert(mode), "JPEG", quality=quality)
    noisy = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L")).astype(int)
    assert np.abs(noisy - np.where(hole, 255, 0)).max() > 0  # compression did add noise
    # The threshold is grey 128: noise below 128 on either side of it changes no pixel.
    assert np.array_equal(mask_files.read_mask(jpeg, 300, 200) == 255, hole)


def test_an_alpha_mask_is_hole_where_transparent():
    hole = _hole(20, 30, (5, 10, 15, 20))
    white = np.full((20, 30, 3), 255, np.uint8)  # grey alone would make it all hole
    rgba = Image.fromarray(np.dstack([white, np.where(hole, 0, 255).astype(np.uint8)]), "RGBA")
    la = Image.fromarray(np.dstack([white[..., 0], np.where(hole, 40, 200).astype(np.uint8)]), "LA")
    for image in (rgba, la):
        assert np.array_equal(mask_files.read_mask(encode(image, "PNG"), 30, 20) == 255, hole), image.mode
    # An alpha that is all opaque says nothing: grey decides.
    grey = np.where(hole, 255, 0).astype(np.uint8)
    opaque = Image.fromarray(np.dstack([grey] * 3 + [np.full((20, 30), 255, np.uint8)]))
    assert np.array_equal(mask_files.read_mask(encode(opaque, "PNG"), 30, 20) == 255, hole)


def test_numbered_masks_give_the_union_of_their_holes():
    first, second = _hole(40, 50, (2, 3, 10, 12)), _hole(40, 50, (20, 30, 35, 45))
    empty = _hole(40, 50)  # one numbered mask may be empty; the union may not
    files = [encode(_image(first), "PNG"), encode(_image(second), "JPEG"), encode(_image(empty), "PNG")]
    assert np.array_equal(mask_fitting.photo_hole(files, 50, 40, 0), first | second)
    with pytest.raises(Rejected) as caught:
        mask_fitting.photo_hole([encode(_image(empty), "PNG")] * 2, 50, 40, 0)
    assert caught.value.reason == mask_files.EMPTY_MASK
    with pytest.raises(Rejected) as caught:
        mask_fitting.photo_hole([files[0], encode(_image(_hole(40, 51, (1, 1, 4, 4))), "PNG")], 50, 40, 0)
    assert caught.value.reason == mask_files.MASK_SIZE_MISMATCH


# --- dilation and fitting -------------------------------------------------------------------------

def test_dilation_grows_each_hole_by_a_disk_not_a_square():
    hole = _hole(60, 70, (30, 35, 31, 36))  # one pixel
    grown = mask_fitting.dilate(hole, 5)
    assert grown.sum() == _disk(5).sum() == 81  # the lattice points within 5 of the centre
    assert grown[30, 40] and grown[34, 38] and not grown[34, 39] and not grown[35, 40]  # 5 along, not corner
    hole = _shapes(200, 300)
    hole[0, 299] = hole[199, 0] = True  # holes at the border: the disk is cut there
    for radius in (1, 4, 9):
        assert np.array_equal(mask_fitting.dilate(hole, radius), ndimage.binary_dilation(hole, _disk(radius)))
    assert mask_fitting.dilate(hole, 0) is hole


def test_one_mask_is_scaled_to_each_photo_of_its_aspect():
    hole = _hole(30, 40, (10, 5, 20, 15))
    assert np.array_equal(mask_fitting.fit(hole, 80, 60), np.kron(hole, np.ones((2, 2), bool)))
    half = mask_fitting.fit(hole, 20, 15)  # 5..7.5 rows, 2.5..7.5 columns: every pixel it touches
    assert np.array_equal(half, _hole(15, 20, (5, 2, 10, 8)))
    thin = _hole(300, 400, (100, 0, 101, 400))  # a one-pixel line survives downscaling
    assert mask_fitting.fit(thin, 40, 30).any(axis=1).sum() == 1
    assert mask_fitting.fit(_hole(200, 300, (0, 0, 5, 5)), 1000, 667).shape == (667, 1000)  # 0.05% off 3:2


@pytest.mark.parametrize("width, height", [(60, 40), (30, 40), (41, 30)])
def test_a_photo_of_another_aspect_ratio_than_the_one_mask_is_a_reject(width, height):
    with pytest.raises(Rejected) as caught:
        mask_fitting.shared_hole(_hole(30, 40, (10, 5, 20, 15)), width, height, 0)
    assert caught.value.reason == mask_files.MASK_ASPECT_MISMATCH
    assert f"{width}x{height}" in caught.value.detail and "40x30" in caught.value.detail


# --- naming -----------------------------------------------------------------------------------------

def test_beside_photo_mask_names():
    assert mask_naming.photo_stem("p/a/cat_mask.png") == "p/a/cat"
    assert mask_naming.photo_stem("p/cat_mask002.JPG") == "p/cat"
    assert mask_naming.photo_stem("gs://b/x/my_dog_mask1.webp") == "gs://b/x/my_dog"
    for other in ("p/cat.png", "p/cat_masked.png", "p/cat_mask.txt", "p/_mask.png", "p/cat-mask.png",
                  "p/cat_mask_2.png"):
        assert not mask_naming.is_beside_mask(other), other
    assert mask_naming.beside_pattern("p/**") == "p/**"
    assert mask_naming.beside_pattern("p/a/*.jpg") == "p/a/*"
    assert mask_naming.beside_pattern("p/**/*.jpg") == "p/**/*"


def test_beside_photo_masks_are_chosen_per_photo():
    sources, rejects = mask_naming.choose("p/cat", ["p/cat.png", "p/cat.jpg"],
                                          ["p/cat_mask002.png", "p/cat_mask.png", "p/cat_mask001.jpg"], True)
    assert sources == [("p/cat.jpg", "p/cat_mask.png", ("p/cat_mask001.jpg", "p/cat_mask002.png"))]
    assert [(r["path"], r["reason"]) for r in rejects] == [("p/cat.png", mask_files.NO_MASK)]
    _, rejects = mask_naming.choose("p/dog", ["p/dog.png"], [], True)
    assert rejects[0]["reason"] == mask_files.NO_MASK and "dog_mask" in rejects[0]["detail"]
    _, rejects = mask_naming.choose("p/eel", [], ["p/eel_mask.png"], False)
    assert [(r["path"], r["reason"]) for r in rejects] == [("p/eel_mask.png", mask_files.MASK_WITHOUT_PHOTO)]
    assert mask_naming.choose("p/fox", [], ["p/fox_mask.png"], True) == ([], [])  # its photo is not an input


# --- the command line ---------------------------------------------------------------------------

def _args(**given) -> SimpleNamespace:
    return SimpleNamespace(**{"model": "m", "masks": None, "mask": None, "dilate": 0, "engine": "keyed", **given})


def test_mask_options_pick_one_convention(tmp_path):
    mask = tmp_path / "logo.png"
    _image(_hole(30, 40, (1, 1, 5, 5))).save(mask)
    anywhere, centre = hole_layout("anywhere"), hole_layout("center")
    fields = inpaint_masks.mask_fields(_args(masks=str(mask), dilate=3), anywhere, "images")
    assert fields == {"masks": None, "mask": str(mask), "beside_masks": False, "dilate": 3}  # --masks FILE is --mask
    assert inpaint_masks.mask_fields(_args(masks=str(tmp_path)), anywhere, "images")["masks"] == str(tmp_path)
    assert inpaint_masks.mask_fields(_args(), anywhere, "images")["beside_masks"]
    assert not inpaint_masks.mask_fields(_args(), anywhere, "tfrecord")["beside_masks"]
    for args, layout, fmt, message in [
        (_args(masks=str(tmp_path), mask=str(mask)), anywhere, "images", "both given"),
        (_args(dilate=-1), anywhere, "images", "below 0"),
        (_args(dilate=2), centre, "images", "grows the holes of photos' masks"),
        (_args(dilate=2), anywhere, "tfrecord", "grows the holes of photos' masks"),
        (_args(mask=str(mask)), centre, "images", "needs a mask model"),
        (_args(engine="tfx-bsl"), anywhere, "images", "keyed engine only"),
    ]:
        with pytest.raises(SystemExit, match=message):
            inpaint_masks.mask_fields(args, layout, fmt)


# --- end to end -------------------------------------------------------------------------------------

def _run(model: str, photos: str, output: str, *extra: str) -> dict:
    return inpaint.run(["--model", model, "--input", photos, "--output", output, *extra, *LIGHT])


def _rejects(output: str) -> dict[str, dict]:
    with open(os.path.join(output, writers.REJECTS)) as f:
        return {os.path.basename(row["path"]): row for row in map(json.loads, f) if row}


def _after(photo: str, output: str) -> np.ndarray:
    return np.asarray(Image.open(os.path.join(output, writers.IMAGES_DIR, writers.output_name(photo, "png"))))


def _assert_changed_only_inside(photo: str, output: str, hole: np.ndarray) -> None:
    before, after = np.asarray(Image.open(photo)), _after(photo, output)
    assert np.array_equal(after[~hole], before[~hole])  # bit-exact outside the (grown) hole
    labels, count = ndimage.label(hole)
    for region in range(1, count + 1):
        assert not np.array_equal(after[labels == region], before[labels == region])


@pytest.fixture(scope="module")
def beside_folder(tmp_path_factory) -> dict[str, object]:
    """Photos with their masks beside them, in every naming, and a photo and a mask without a partner."""
    root = tmp_path_factory.mktemp("beside")
    astronaut = Image.fromarray(data.astronaut()).resize((256, 256))
    holes = {"a": _hole(256, 256, (40, 40, 60, 70)),
             "b1": _hole(256, 256, (150, 30, 170, 50)), "b2": _hole(256, 256, (30, 170, 45, 190)),
             "c": _hole(256, 256, (100, 100, 120, 130))}
    astronaut.save(root / "a.png")
    _image(holes["a"]).save(root / "a_mask.png")
    astronaut.save(root / "b.jpg", quality=95)
    _image(holes["b1"]).save(root / "b_mask001.png")
    _image(holes["b2"]).save(root / "b_mask002.jpg", quality=75)  # a JPEG mask
    astronaut.save(root / "c.png")
    alpha = np.where(holes["c"], 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([np.zeros((256, 256, 3), np.uint8), alpha]), "RGBA").save(root / "c_mask.png")
    astronaut.save(root / "d.png")  # no mask
    _image(holes["a"]).save(root / "e_mask.png")  # no photo
    return {"root": str(root), "holes": holes}


@pytest.mark.slow
def test_masks_beside_their_photos_are_read_unioned_and_grown(beside_folder, mask_exported_model, tmp_path):
    root, holes = beside_folder["root"], beside_folder["holes"]
    output = str(tmp_path / "out")
    summary = _run(mask_exported_model, root, output, "--dilate", "4")
    # 4 photos and the lonely e_mask.png; the other mask files are no inputs of their own.
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (5, 3, 2)
    assert summary["rejects_by_reason"] == {"no_mask": 1, "mask_without_photo": 1}
    rejects = _rejects(output)
    assert rejects["d.png"]["reason"] == "no_mask" and rejects["e_mask.png"]["reason"] == "mask_without_photo"
    names = os.listdir(os.path.join(output, writers.IMAGES_DIR))
    assert len(names) == 3 and not any("_mask" in name for name in names)  # masks are never inpainted
    for photo, hole in (("a.png", holes["a"]), ("b.jpg", holes["b1"] | holes["b2"]), ("c.png", holes["c"])):
        path, grown = os.path.join(root, photo), mask_fitting.dilate(hole, 4)
        _assert_changed_only_inside(path, output, grown)
        ring = grown & ~hole  # the ring the holes grew by is inpainted too
        assert not np.array_equal(_after(path, output)[ring], np.asarray(Image.open(path))[ring])


@pytest.mark.slow
def test_a_mask_model_without_any_mask_is_a_one_line_error(beside_folder, mask_exported_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()).save(photos / "x.png")
    with pytest.raises(SystemExit, match="give the photos' masks with --masks DIR"):
        _run(mask_exported_model, str(photos), str(tmp_path / "out"))
    logo = tmp_path / "empty.png"
    _image(_hole(30, 40)).save(logo)
    with pytest.raises(SystemExit, match="empty_mask"):
        _run(mask_exported_model, str(photos), str(tmp_path / "out"), "--mask", str(logo))


@pytest.mark.slow
def test_one_mask_for_every_photo_is_scaled_to_each_and_rejects_other_shapes(mask_exported_model, tmp_path):
    photos, logo = tmp_path / "photos", tmp_path / "logo.png"
    photos.mkdir()
    hole = _hole(300, 400, (250, 320, 285, 390))  # a timestamp in the bottom-right corner, 4:3
    _image(hole).save(logo)
    astronaut = Image.fromarray(data.astronaut())
    astronaut.resize((400, 300)).save(photos / "same.png")
    astronaut.resize((800, 600)).save(photos / "double.png")
    astronaut.convert("L").resize((200, 150)).save(photos / "half_grey.png")
    astronaut.resize((300, 400)).save(photos / "portrait.png")  # 3:4: the mask does not fit
    astronaut.resize((450, 300)).save(photos / "wide.png")  # 3:2
    output = str(tmp_path / "out")
    summary = _run(mask_exported_model, str(photos), output, "--masks", str(logo))  # --masks FILE is --mask
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (5, 3, 2)
    assert summary["rejects_by_reason"] == {"mask_aspect_mismatch": 2}
    rejects = _rejects(output)
    assert "300x400" in rejects["portrait.png"]["detail"] and "400x300" in rejects["portrait.png"]["detail"]
    for name, (width, height) in (("same.png", (400, 300)), ("double.png", (800, 600)), ("half_grey.png", (200, 150))):
        _assert_changed_only_inside(str(photos / name), output, mask_fitting.fit(hole, width, height))
