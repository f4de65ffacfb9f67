"""The inpaint job's outputs for photo collections: reruns that resume, what the photo carries (EXIF,
ICC, orientation, JPEG quality), proofs and the contact sheet, and the summary line."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps
from skimage import data

from pipelines import inpaint, photo_metadata, proofs, resume, writers
from pipelines.full_resolution import place
from tests.builders import LIGHT
from tfrecords.geometry import Geometry

G = Geometry()
ROOT = Path(__file__).resolve().parents[2]
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GPS_LATITUDE = (48.0, 51.0, 24.0)


def _run(model: str, photos: str, output: str, *extra: str) -> dict:
    return inpaint.run(["--model", model, "--input", photos, "--output", output, *extra, *LIGHT])


def _images(output: str) -> dict[str, str]:
    """The finished images by name (no temporary files)."""
    folder = os.path.join(output, writers.IMAGES_DIR)
    return {n: os.path.join(folder, n) for n in sorted(os.listdir(folder)) if not n.startswith(".")}


# --- quick: the parts on their own ----------------------------------------------------------------

@pytest.mark.parametrize("quality", [30, 50, 75, 90, 97])
def test_the_jpeg_quality_is_read_back_from_the_quantization_tables(quality):
    encoded = io.BytesIO()
    Image.fromarray(data.astronaut()).save(encoded, "JPEG", quality=quality)
    assert photo_metadata.estimate_quality(Image.open(encoded).quantization) == quality


def test_a_whole_write_leaves_no_temporary_file_and_a_rerun_removes_stale_ones(tmp_path):
    path = str(tmp_path / writers.IMAGES_DIR / "a.png")
    writers.write_whole(path, b"complete", "image/png")
    assert os.listdir(tmp_path / writers.IMAGES_DIR) == ["a.png"] and Path(path).read_bytes() == b"complete"
    stale = tmp_path / writers.IMAGES_DIR / f".b.png.0123{writers.PARTIAL}"
    stale.write_bytes(b"half")
    assert resume.remove_partial_files(str(tmp_path)) == 1 and not stale.exists()


def test_the_proof_outlines_the_hole_on_both_sides():
    before = data.astronaut()
    hole = np.zeros(before.shape[:2], bool)
    hole[200:300, 100:240] = True
    image = np.asarray(proofs.proof(before, before, hole))
    assert image.shape == (proofs.PANEL, 2 * proofs.PANEL + proofs.GAP, 3)
    drawn = np.all(image == proofs.OUTLINE_RGB, axis=2)
    for side in (drawn[:, :proofs.PANEL], drawn[:, proofs.PANEL + proofs.GAP:]):
        rows, cols = np.nonzero(side)
        # The hole at half scale: rows 100-150, columns 50-120, outlined within a pixel or two.
        assert abs(rows.min() - 100) <= 2 and abs(rows.max() - 149) <= 2
        assert abs(cols.min() - 50) <= 2 and abs(cols.max() - 119) <= 2
        assert not side[110:140, 60:110].any()  # an outline, not a filled box


# --- what the photo carries -------------------------------------------------------------------------

def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = "Canon", "EOS 5D"
    exif[ExifTags.Base.Orientation] = 6  # stored turned: shown rotated 90 degrees clockwise
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2020:01:02 03:04:05"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", GPS_LATITUDE
    return exif


@pytest.fixture(scope="module")
def carried(tmp_path_factory) -> dict[str, str]:
    """A JPEG (quality 70) with a camera's EXIF (orientation 6, date, GPS) and an sRGB profile, and a
    plain PNG beside it."""
    folder = tmp_path_factory.mktemp("carried")
    upright = Image.fromarray(data.chelsea())  # 451x300, landscape
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what orientation 6 turns back upright
    stored.save(folder / "a_camera.jpg", quality=70, exif=_exif(), icc_profile=SRGB)
    Image.fromarray(data.astronaut()).resize((320, 240)).save(folder / "b_plain.png")
    return {"dir": str(folder), "jpg": str(folder / "a_camera.jpg"), "png": str(folder / "b_plain.png")}


@pytest.fixture(scope="module")
def carried_runs(carried, exported_model, tmp_path_factory) -> dict[str, tuple[str, dict]]:
    """The default run (PNG, with proofs), --image-format input, and --strip-metadata."""
    runs = {}
    for name, extra in (("png", ["--proofs"]), ("input", ["--image-format", "input"]),
                        ("strip", ["--strip-metadata"])):
        output = str(tmp_path_factory.mktemp(f"carried_{name}"))
        runs[name] = output, _run(exported_model, carried["dir"], output, *extra)
    return runs


def _output(run: tuple[str, dict], source: str, extension: str) -> Image.Image:
    return Image.open(os.path.join(run[0], writers.IMAGES_DIR, writers.output_name(source, extension)))


@pytest.mark.slow
def test_the_output_keeps_the_camera_date_gps_and_colour_profile(carried, carried_runs):
    result = _output(carried_runs["png"], carried["jpg"], "png")
    exif = result.getexif()
    assert (exif[ExifTags.Base.Make], exif[ExifTags.Base.Model]) == ("Canon", "EOS 5D")
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2020:01:02 03:04:05"
    assert tuple(exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude]) == GPS_LATITUDE
    assert result.info["icc_profile"] == SRGB
    # A photo without EXIF gets none.
    assert not _output(carried_runs["png"], carried["png"], "png").getexif()


@pytest.mark.slow
def test_the_output_is_upright_once_with_orientation_1(carried, carried_runs):
    result = _output(carried_runs["png"], carried["jpg"], "png")
    assert result.getexif()[ExifTags.Base.Orientation] == 1
    upright = np.asarray(ImageOps.exif_transpose(Image.open(carried["jpg"])))
    after = np.asarray(result)
    assert after.shape == upright.shape == (300, 451, 3)
    top, left, bottom, right = place(300, 451, G).hole
    outside = np.ones((300, 451), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(after[outside], upright[outside])  # PNG: bit-exact outside the hole


@pytest.mark.slow
def test_strip_metadata_writes_no_exif_and_keeps_the_colour_profile(carried, carried_runs):
    result = _output(carried_runs["strip"], carried["jpg"], "png")
    assert not result.getexif() and "exif" not in result.info
    assert result.info["icc_profile"] == SRGB
    assert result.size == (451, 300)  # still upright


@pytest.mark.slow
def test_image_format_input_keeps_a_jpeg_with_the_source_quality_and_metadata(carried, carried_runs):
    source = Image.open(carried["jpg"])
    result = _output(carried_runs["input"], carried["jpg"], "jpg")
    assert result.format == "JPEG" and result.size == (451, 300)
    assert abs(photo_metadata.estimate_quality(result.quantization) - 70) <= 2
    assert result.quantization == source.quantization  # the source's own tables, reused
    exif = result.getexif()
    assert exif[ExifTags.Base.Make] == "Canon" and exif[ExifTags.Base.Orientation] == 1
    assert result.info["icc_profile"] == SRGB
    # The PNG stays PNG.
    assert _output(carried_runs["input"], carried["png"], "png").format == "PNG"


# --- proofs -----------------------------------------------------------------------------------------

def _outline_box(proof: Image.Image, side: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the outline drawn on the proof's left (0) or right (1) panel."""
    pixels = np.asarray(proof.convert("RGB")).astype(int)
    width = (pixels.shape[1] - proofs.GAP) // 2
    panel = pixels[:, side * (width + proofs.GAP):side * (width + proofs.GAP) + width]
    drawn = np.abs(panel - proofs.OUTLINE_RGB).sum(axis=2) < 90  # JPEG: near the outline colour
    rows, cols = np.nonzero(drawn)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.slow
def test_proofs_show_each_hole_and_a_contact_sheet_gathers_them(carried, carried_runs):
    output, summary = carried_runs["png"]
    folder = os.path.join(output, writers.PROOFS_DIR)
    assert sorted(os.listdir(folder)) == sorted(
        [writers.output_name(carried["jpg"], "jpg"), writers.output_name(carried["png"], "jpg"), proofs.SHEET_NAME])
    proof = Image.open(os.path.join(folder, writers.output_name(carried["jpg"], "jpg")))
    scale = proofs.PANEL / 451
    assert proof.size == (2 * proofs.PANEL + proofs.GAP, round(300 * scale))
    top, left, bottom, right = place(300, 451, G).hole
    for side in (0, 1):
        found = _outline_box(proof, side)
        assert np.allclose(found, (top * scale, left * scale, bottom * scale, right * scale), atol=3), found
    sheet = Image.open(os.path.join(folder, proofs.SHEET_NAME))
    assert sheet.width >= 2 * (2 * proofs.PANEL) and sheet.height >= proofs.PANEL  # two proofs, one row
    assert not os.path.exists(os.path.join(carried_runs["input"][0], writers.PROOFS_DIR))  # only with --proofs


@pytest.mark.slow
def test_proofs_outline_a_mask_files_holes(mask_exported_model, tmp_path):
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir(), masks.mkdir()
    Image.fromarray(data.astronaut()).save(photos / "a.png")
    mask = np.zeros((512, 512), np.uint8)
    mask[100:180, 300:420] = 255
    Image.fromarray(mask).save(masks / "a.png")
    output = str(tmp_path / "out")
    summary = _run(mask_exported_model, str(photos), output, "--masks", str(masks), "--proofs")
    assert summary["inpainted"] == 1
    proof = Image.open(os.path.join(output, writers.PROOFS_DIR, writers.output_name(str(photos / "a.png"), "jpg")))
    found = _outline_box(proof, 1)
    assert np.allclose(found, (50, 150, 90, 210), atol=3), found  # the hole at half scale


# --- reruns that resume -----------------------------------------------------------------------------

PHOTOS = 48


@pytest.fixture
def many_photos(tmp_path) -> str:
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = Image.fromarray(data.astronaut())
    for k in range(PHOTOS):
        photo.rotate(k * 7).resize((480, 360)).save(folder / f"p{k:02d}.png")
    return str(folder)


def _killed_halfway(command: list[str], output: str) -> None:
    """Runs the command and kills it (and its workers) once a few images are finished."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    folder = os.path.join(output, writers.IMAGES_DIR)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if os.path.isdir(folder) and len([n for n in os.listdir(folder) if not n.startswith(".")]) >= 3:
                break
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped_and_overwrite_redoes_all(many_photos, exported_model, tmp_path,
                                                                        capsys):
    output = str(tmp_path / "out")
    arguments = ["--model", exported_model, "--input", many_photos, "--output", output, "--batch-size", "1", *LIGHT]
    _killed_halfway([sys.executable, "-m", "pipelines.inpaint", *arguments], output)
    finished = _images(output)
    assert 0 < len(finished) < PHOTOS, f"the kill came at {len(finished)} of {PHOTOS} images"
    for path in finished.values():  # no file under its final name is partial
        Image.open(path).load()
    before = {name: (os.stat(path).st_mtime_ns, os.stat(path).st_ino, Path(path).read_bytes())
              for name, path in finished.items()}

    summary = inpaint.run(arguments)
    line = capsys.readouterr().out
    assert (summary["inputs"], summary["skipped"], summary["inpainted"]) == (PHOTOS, len(finished),
                                                                            PHOTOS - len(finished))
    assert f"{PHOTOS} inputs -> {PHOTOS - len(finished)} inpainted, {len(finished)} skipped" in line
    assert summary["counters"]["skipped"] == len(finished)
    after = _images(output)
    assert len(after) == PHOTOS
    assert not [n for n in os.listdir(os.path.join(output, writers.IMAGES_DIR)) if n.startswith(".")]
    for name, (mtime, inode, content) in before.items():
        stat = os.stat(after[name])
        assert (stat.st_mtime_ns, stat.st_ino, Path(after[name]).read_bytes()) == (mtime, inode, content)

    summary = inpaint.run([*arguments, "--overwrite"])
    assert (summary["skipped"], summary["inpainted"]) == (0, PHOTOS)
    assert all(os.stat(path).st_ino != before[name][1] for name, path in _images(output).items() if name in before)


@pytest.mark.slow
def test_the_summary_line_counts_done_skipped_rejected_holes_time_and_rate(carried, exported_model, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(carried["png"]).save(folder / "a.png")
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    output = str(tmp_path / "out")
    _run(exported_model, str(folder), output)
    capsys.readouterr()
    summary = _run(exported_model, str(folder), output)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("inpaint: 2 inputs -> 0 inpainted, 1 skipped (done before), 1 rejected (")
    assert "; 0 holes filled in 0 windows; " in line and " inputs/s -> " in line and line.endswith(output)
    assert summary["skipped"] == 1 and summary["rejects"] == 1 and summary["seconds"] > 0
