"""Users' own masks (pipelines/mask_files.py): pairing by relative path and stem, reading with every
reject reason, cutting a mask with the photo's boxes, and preprocess --masks end to end: records of
kind user, each reject reason with its row, and the accounting of photos, mask files and crops."""
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines import holes, images, mask_files, preprocess
from pipelines import manifest as manifests
from tfrecords import Geometry, Record, masks, shards
from tfrecords.schema import parse_examples
from tests.builders import LIGHT, encode, png_header_only, read_all, real_photo, same_shards, save, serialized_records

GREEN = (0, 255, 0)


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """A black mask with the white hole `box` (left, top, right, bottom)."""
    pixels = np.zeros((height, width), np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = 255
    return Image.fromarray(pixels)


def painted(image: Image.Image, box: tuple[int, int, int, int], colour=GREEN) -> Image.Image:
    pixels = np.asarray(image.convert("RGB")).copy()
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = colour
    return Image.fromarray(pixels)


def touched_by_brute_force(mask: np.ndarray, box, size: int) -> np.ndarray:
    left, top, right, bottom = box
    height, width = mask.shape
    out = np.zeros((size, size), np.uint8)
    for i in range(size):
        y0, y1 = top + i * (bottom - top) / size, top + (i + 1) * (bottom - top) / size
        for j in range(size):
            x0, x1 = left + j * (right - left) / size, left + (j + 1) * (right - left) / size
            rows = slice(max(0, math.floor(y0)), min(height, math.ceil(y1)))
            cols = slice(max(0, math.floor(x0)), min(width, math.ceil(x1)))
            out[i, j] = 255 if (mask[rows, cols] == 255).any() else 0
    return out


# ---------------------------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------------------------
def test_relative_stems_and_match_roots():
    assert mask_files.relative_stem("/p/a/b/cat.jpg", "/p") == "a/b/cat"
    assert mask_files.relative_stem("gs://b/p/cat.JPG", "gs://b/p/") == "cat"
    assert mask_files.relative_stem("cat.jpg", "") == "cat"
    with pytest.raises(ValueError, match="not under"):
        mask_files.relative_stem("/q/cat.jpg", "/p")
    assert mask_files.match_root("photos/**/*.jpg") == "photos"
    assert mask_files.match_root("gs://b/photos/**") == "gs://b/photos"
    assert mask_files.match_root("photos/") == "photos" and mask_files.match_root("*.jpg") == ""


def test_pairing_by_relative_path_and_stem_in_nested_folders():
    photos = ["/p/a.jpg", "/p/x/b.png", "/p/x/y/c.webp", "/p/x/d.jpg", "/p/x/d.png", "/p/lonely.jpg"]
    masks_found = ["/m/a.png", "/m/x/b.bmp", "/m/x/y/c.jpg", "/m/x/y/c.png", "/m/x/d.png", "/m/y/b.png",
                   "/m/orphan.png"]
    pairs, lonely, spare = mask_files.pair_by_stem(photos, "/p", masks_found, "/m")
    assert pairs == {"/p/a.jpg": "/m/a.png", "/p/x/b.png": "/m/x/b.bmp", "/p/x/y/c.webp": "/m/x/y/c.png",
                     "/p/x/d.jpg": "/m/x/d.png"}
    # c.png beats c.jpg (PNG first); /m/y/b.png is in another folder than /p/x/b.png; of d.jpg and
    # d.png, the first in sorted order takes the mask.
    assert lonely == ["/p/lonely.jpg", "/p/x/d.png"]
    assert spare == ["/m/orphan.png", "/m/x/y/c.jpg", "/m/y/b.png"]
    assert mask_files.pair_by_stem(list(reversed(photos)), "/p", list(reversed(masks_found)), "/m") == (
        pairs, lonely, spare)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def test_read_mask_thresholds_grey_at_128_in_any_mode():
    grey = np.zeros((20, 30), np.uint8)
    grey[:, 10:20] = 127
    grey[:, 20:] = 128
    expected = np.where(grey >= 128, 255, 0)
    for image in (Image.fromarray(grey), Image.fromarray(grey).convert("RGB"), Image.fromarray(grey).convert("P"),
                  Image.fromarray(np.dstack([grey] * 3 + [np.zeros_like(grey)]), "RGBA"),  # alpha ignored
                  Image.fromarray(grey).convert("LA")):
        mask = mask_files.read_mask(encode(image, "PNG"), 30, 20)
        assert mask.dtype == np.uint8 and np.array_equal(mask, expected), image.mode
    sixteen = Image.fromarray(grey.astype(np.uint16) * 257)  # 16-bit: its top 8 bits count
    assert Image.open(io.BytesIO(encode(sixteen, "PNG"))).mode.startswith("I")
    assert np.array_equal(mask_files.read_mask(encode(sixteen, "PNG"), 30, 20), expected)
    one_bit = Image.fromarray(grey >= 128)
    assert np.array_equal(mask_files.read_mask(encode(one_bit, "PNG"), 30, 20), expected)


@pytest.mark.parametrize("data, reason", [
    (b"", mask_files.UNREADABLE_MASK),
    (b"a text file, not a mask\n", mask_files.UNREADABLE_MASK),
    (encode(box_mask(30, 20, (0, 0, 5, 5)), "PNG")[:60], mask_files.UNREADABLE_MASK),  # truncated
    (encode(box_mask(20, 30, (0, 0, 5, 5)), "PNG"), mask_files.MASK_SIZE_MISMATCH),  # width and height swapped
    (png_header_only(40000, 40000), mask_files.MASK_SIZE_MISMATCH),  # never decoded
    (encode(Image.new("L", (30, 20), 0), "PNG"), mask_files.EMPTY_MASK),
    (encode(Image.new("L", (30, 20), 255), "PNG"), mask_files.FULL_MASK),
    (encode(Image.new("RGB", (30, 20), (200, 200, 200)), "JPEG"), mask_files.FULL_MASK),
])
def test_read_mask_rejects_with_its_reason(data, reason):
    with pytest.raises(images.Rejected) as caught:
        mask_files.read_mask(data, 30, 20)
    assert caught.value.reason == reason and caught.value.detail


# ---------------------------------------------------------------------------------------------
# Cutting a mask with the photo's boxes
# ---------------------------------------------------------------------------------------------
def test_cut_hole_marks_every_crop_pixel_the_hole_touches():
    rng = np.random.default_rng(0)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(20, 160, 2))
        mask = np.where(rng.random((height, width)) < rng.choice([0.001, 0.02, 0.3]), 255, 0).astype(np.uint8)
        size = int(rng.integers(4, 24))
        side = rng.uniform(0.3, 1.0) * min(height, width)  # down- and upsampling
        left, top = rng.uniform(0, width - side), rng.uniform(0, height - side)
        box = (left, top, left + side, top + side)
        assert np.array_equal(mask_files.cut_hole(mask == mask_files.HOLE, box, size), touched_by_brute_force(mask, box, size))
    # One hole pixel in a 1000-pixel-wide source stays one hole pixel at 10x10, where its footprint is.
    single = np.zeros((1000, 1000), np.uint8)
    single[555, 123] = 255
    cut = mask_files.cut_hole(single == mask_files.HOLE, (0, 0, 1000, 1000), 10)
    assert np.argwhere(cut == 255).tolist() == [[5, 1]]


def test_masked_crops_cut_photo_and_mask_with_the_same_boxes_each_over_the_hole():
    # The photo shows its mask (white hole on black), so a crop's bright pixels must be its hole.
    mask = np.zeros((600, 800), np.uint8)
    mask[100:180, 500:620] = 255
    mask[400:430, 40:400] = 255
    photo = Image.fromarray(mask).convert("RGB")
    spec = images.CropSpec(size=128, scale=(0.3, 1.0), mode="random", count=12)
    for image in (photo, photo.resize((400, 300), Image.Resampling.BOX)):  # full size, and as a JPEG draft
        crops, dropped = mask_files.masked_crops(image, mask, spec, seed="photo-key")
        assert dropped == 0 and [c.index for c in crops] == list(range(12))
        for crop in crops:
            masks.check_mask(crop.mask, 128)
            bright = crop.pixels[..., 0] > 40
            assert crop.pixels.shape == (128, 128, 3) and bright.any()
            assert not (bright & (crop.mask == 0)).any()  # no visible pixel of the hole
            assert (bright | (crop.mask == 0)).mean() > 0.97  # and the hole no larger than its footprint
        again, _ = mask_files.masked_crops(image, mask, spec, seed="photo-key")
        assert all(a.pixels.tobytes() == b.pixels.tobytes() and a.mask.tobytes() == b.mask.tobytes()
                   for a, b in zip(crops, again))
    other, _ = mask_files.masked_crops(photo, mask, spec, seed="other-key")
    assert not any(np.array_equal(a.mask, b.mask) for a, b in zip(crops, other))


def test_masked_crops_redraw_crops_left_all_hole_and_drop_the_rest():
    photo = Image.new("RGB", (400, 300), (10, 20, 30))
    mostly = np.full((300, 400), 255, np.uint8)
    mostly[140:160, 370:400] = 0  # a sliver of context at the right edge
    spec = images.CropSpec(size=128, scale=(0.45, 1.0), mode="random", count=30)
    crops, dropped = mask_files.masked_crops(photo, mostly, spec, seed="sliver")
    assert len(crops) + dropped == 30 and 0 < dropped < 30
    assert all(masks.check_mask(c.mask, 128) is c.mask for c in crops)
    assert len({c.index for c in crops}) == len(crops)
    # A single visible corner pixel: no crop draw holds it.
    corner = np.full((300, 400), 255, np.uint8)
    corner[0, 0] = 0
    assert mask_files.masked_crops(photo, corner, images.CropSpec(mode="random", count=3), "corner") == ([], 3)


# ---------------------------------------------------------------------------------------------
# preprocess --masks
# ---------------------------------------------------------------------------------------------
HOLE_A = (400, 480, 640, 760)  # in a.jpg's 1200x1040 pixels
HOLE_UPRIGHT = (40, 150, 140, 250)  # in the upright 260x300 photo
EXPECTED_REJECTS = {
    ("lonely.png", mask_files.NO_MASK, None),
    ("orphan.png", mask_files.MASK_WITHOUT_PHOTO, "orphan.png"),
    ("c.jpg", mask_files.MASK_WITHOUT_PHOTO, "c.jpg"),
    ("sideways.png", mask_files.MASK_SIZE_MISMATCH, "sideways.png"),
    ("blank.png", mask_files.EMPTY_MASK, "blank.png"),
    ("white.png", mask_files.FULL_MASK, "white.png"),
    ("garbage.png", mask_files.UNREADABLE_MASK, "garbage.png"),
    ("corner.png", mask_files.NO_CONTEXT_IN_CROPS, "corner.png"),
    ("broken.png", images.CORRUPT, "broken.png"),
}


@pytest.fixture(scope="module")
def user_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """Photos and their masks in nested folders, with one photo or mask file per reject reason."""
    root = tmp_path_factory.mktemp("user_masks")
    photos, masks_dir = root / "photos", root / "masks"
    for base in (photos, masks_dir):
        (base / "nested" / "deeper").mkdir(parents=True)
    source = real_photo()

    def view(x: int, y: int, width: int = 300, height: int = 260) -> Image.Image:
        return source.crop((x, y, x + width, y + height))

    hole = box_mask(300, 260, (60, 80, 160, 170))
    # A JPEG decoded at 1/4 scale (its 1040 px shorter side against a 256 px target), its mask at 1200x1040.
    save(painted(view(0, 0).resize((1200, 1040)), HOLE_A), photos / "a.jpg", "JPEG", quality=95)
    save(box_mask(1200, 1040, HOLE_A), masks_dir / "a.png", "PNG")
    shutil.copyfile(photos / "a.jpg", photos / "nested" / "a-dup.jpg")
    save(box_mask(1200, 1040, HOLE_A), masks_dir / "nested" / "a-dup.png", "PNG")
    save(view(200, 0), photos / "nested" / "b.png", "PNG")
    save(hole, masks_dir / "nested" / "b.bmp", "BMP")
    save(view(0, 250), photos / "nested" / "deeper" / "c.webp", "WEBP", quality=90)
    save(hole, masks_dir / "nested" / "deeper" / "c.png", "PNG")
    save(hole, masks_dir / "nested" / "deeper" / "c.jpg", "JPEG")
    # Stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view): its mask is drawn
    # on the upright 260x300 photo, over the green box.
    exif = Image.Exif()
    exif[0x0112] = 6
    upright = painted(view(212, 200, 260, 300), HOLE_UPRIGHT)
    save(upright.transpose(Image.Transpose.ROTATE_90), photos / "upright.png", "PNG", exif=exif)
    save(box_mask(260, 300, HOLE_UPRIGHT), masks_dir / "upright.png", "PNG")
    sideways = painted(view(0, 200, 260, 300), HOLE_UPRIGHT)
    save(sideways.transpose(Image.Transpose.ROTATE_90), photos / "sideways.png", "PNG", exif=exif)
    save(box_mask(300, 260, HOLE_UPRIGHT), masks_dir / "sideways.png", "PNG")  # drawn on the stored pixels
    save(view(100, 100), photos / "lonely.png", "PNG")
    save(hole, masks_dir / "orphan.png", "PNG")
    for name, offset, mask in (("blank.png", 40, Image.new("L", (300, 260), 0)),
                               ("white.png", 50, Image.new("L", (300, 260), 255))):
        save(view(offset, offset), photos / name, "PNG")
        save(mask, masks_dir / name, "PNG")
    save(view(60, 60), photos / "garbage.png", "PNG")
    (masks_dir / "garbage.png").write_bytes(b"drawn in a text editor\n")
    corner = np.full((260, 300), 255, np.uint8)
    corner[0, 0] = 0
    save(view(70, 70), photos / "corner.png", "PNG")
    save(Image.fromarray(corner), masks_dir / "corner.png", "PNG")
    (photos / "broken.png").write_bytes(encode(view(80, 80), "PNG")[:300])
    save(hole, masks_dir / "broken.png", "PNG")
    (masks_dir / "notes.txt").write_text("not an image name: not listed as a mask\n")
    return photos, masks_dir


@pytest.mark.slow
def test_user_masks_make_user_records_with_every_reject_accounted(user_corpus, tmp_path, capsys):
    photos, masks_dir = user_corpus
    geometry = Geometry()
    args = ["--input", str(photos), "--masks", str(masks_dir), "--crops-per-image", "3", "--eval-fraction", "0",
            "--test-fraction", "0"]
    manifest = preprocess.run([*args, "--output", str(tmp_path / "one"), *LIGHT])
    assert "with user holes (user 12)" in capsys.readouterr().out

    rejects = [json.loads(line) for line in (tmp_path / "one" / manifests.REJECTS).read_text().splitlines()]
    assert {(Path(r["path"]).name, r["reason"], r.get("mask") and Path(r["mask"]).name) for r in rejects} == (
        EXPECTED_REJECTS)
    duplicates = [json.loads(line) for line in (tmp_path / "one" / manifests.DUPLICATES).read_text().splitlines()]
    assert [(Path(d["path"]).name, Path(d["duplicate_of"]).name, Path(d["mask"]).name) for d in duplicates] == [
        ("a-dup.jpg", "a.jpg", "a-dup.png")]
    assert manifest["files_matched"] == 12 and manifest["images"] == 4 and manifest["duplicates"] == 1
    assert manifest["rejects"] == len(EXPECTED_REJECTS) and manifest["rejects_by_reason"] == {
        mask_files.NO_MASK: 1, mask_files.MASK_WITHOUT_PHOTO: 2, mask_files.MASK_SIZE_MISMATCH: 1,
        mask_files.EMPTY_MASK: 1, mask_files.FULL_MASK: 1, mask_files.UNREADABLE_MASK: 1,
        mask_files.NO_CONTEXT_IN_CROPS: 1, images.CORRUPT: 1}
    assert manifest["masks"] == {"matched": 13, "used": 4, "rejected": 8, "of_duplicates": 1, "without_photo": 2,
                                 "crops_dropped": 0}
    m = manifest["masks"]
    assert manifest["files_matched"] == manifest["images"] + manifest["duplicates"] + manifest["rejects"] - m[
        "without_photo"]
    assert m["matched"] == m["used"] + m["rejected"] + m["of_duplicates"]
    assert manifest["records"] == 3 * manifest["images"] - m["crops_dropped"] == 12
    assert "masks.matched == masks.used + masks.rejected" in manifest["accounting"]
    assert manifest["settings"]["holes"] == "user" and manifest["settings"]["masks"] == str(masks_dir)

    records = read_all(tmp_path / "one")["train"]
    assert len(records) == 12 and {r.kind for r in records} == {masks.USER}
    assert {Path(r.source_uri).name for r in records} == {"a.jpg", "b.png", "c.webp", "upright.png"}
    pixels = {}
    for r in records:
        masks.check_mask(r.mask, 128)
        assert r.patch is None and np.array_equal(r.masked, masks.mask_image(r.truth, r.mask, geometry.fill_rgb))
        pixels[int(np.count_nonzero(r.mask))] = pixels.get(int(np.count_nonzero(r.mask)), 0) + 1
        if Path(r.source_uri).name in ("a.jpg", "upright.png"):
            # The hole is where the photo shows green: the mask was placed on the upright, full-size photo.
            hole = r.truth[r.mask == masks.HOLE].astype(int)
            green = (hole[:, 1] > 180) & (hole[:, 0] < 90) & (hole[:, 2] < 90)
            assert green.mean() > 0.8, r.source_uri
    assert manifest["holes"]["kind"] == "user" and manifest["holes"]["layout"] == shards.hole_layout(manifest)
    assert manifest["holes"]["by_kind"] == {"user": 12} and manifest["holes"]["layout"] == "anywhere"
    assert manifest["holes"]["area"] == holes.area_summary(pixels, 128)

    batch = parse_examples(tf.constant(serialized_records(tmp_path / "one")), geometry, layout="anywhere")
    assert batch["mask"].shape == (12, 128, 128, 1) and set(batch["kind"].numpy().tolist()) == {b"user"}
    by_id = {r.record_id: r for r in records}
    for i, raw in enumerate(serialized_records(tmp_path / "one")):
        r = by_id[Record.parse(raw).record_id]
        assert np.array_equal(batch["mask"][i, ..., 0].numpy(), r.mask == masks.HOLE)
        assert np.array_equal(batch["original"][i].numpy(), r.truth)
    # Reruns write identical bytes, on the default local runner too.
    preprocess.run([*args, "--output", str(tmp_path / "two")])
    assert same_shards(tmp_path / "one", tmp_path / "two")
