"""The inpaint pipeline end to end on real photos and records, with the real (tiny) generator."""
from __future__ import annotations

import glob
import io
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image
from scipy import ndimage
from skimage import data

from model.exported import load_inpainter
from model.metrics import inpainting_metrics, masked_metrics, mean_metrics
from pipelines import engines, inpaint, model_handler, writers
from pipelines.inpaint_settings import Settings
from pipelines.items import Item
from pipelines.tallies import SUMMARY
from pipelines.full_resolution import place
from pipelines.options import pipeline_options
from tests.builders import LIGHT
from tfrecords import Record
from tfrecords.geometry import Geometry

pytestmark = pytest.mark.slow  # runs the bulk-inpainting job

G = Geometry()
HOSTILE_SOURCES = ["../../escape.png", "gs://bucket/a/../../../etc/passwd.jpg", "..", "C:\\..\\..\\evil.png"]


def _run(model: str, input_glob: str, output: str, *extra: str) -> dict:
    return inpaint.run(["--model", model, "--input", input_glob, "--output", output, *extra, *LIGHT])


def _run_into(output, model: str, input_glob: str, *extra: str) -> tuple[str, dict]:
    """(output folder, summary) of a run into a fresh folder."""
    return str(output), _run(model, input_glob, str(output), *extra)


def _read_records(output: str) -> dict[str, Record]:
    records = {}
    for path in glob.glob(os.path.join(output, "inpainted-*-of-*.tfrecord.gz")):
        for data_ in tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator():
            record = Record.parse(data_)
            records[record.record_id] = record
    return records


def _lines(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _assert_accounted(summary: dict) -> None:
    assert summary["inputs"] == summary["inpainted"] + summary["rejects"]
    counters = summary["counters"]
    assert counters.get("inputs", 0) == summary["inputs"]
    assert counters.get("inpainted", 0) == summary["inpainted"]
    assert counters.get("rejects", 0) == summary["rejects"]
    assert sum(summary["rejects_by_reason"].values()) == summary["rejects"]


# --- raw photos of any size ---------------------------------------------------------------------

def _save(image: Image.Image, path: str, **kwargs) -> None:
    image.save(path, **kwargs)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, str]:
    """Real photos in several modes and shapes, plus a corrupt and a too-small file among them."""
    d = tmp_path_factory.mktemp("photos")
    astronaut = Image.fromarray(data.astronaut())
    rgba = Image.fromarray(data.coffee()).resize((301, 203))
    rgba.putalpha(Image.fromarray(np.tile(np.arange(301, dtype=np.uint8), (203, 1))))
    good = {
        "a_astronaut.png": lambda p: _save(astronaut, p),
        "b_camera_grey.png": lambda p: _save(Image.fromarray(data.camera()), p),
        "d_coffee_rgba.png": lambda p: _save(rgba, p),
        "e_tiny.png": lambda p: _save(astronaut.resize((7, 5)), p),
        "f_strip.jpg": lambda p: _save(Image.fromarray(data.chelsea()).resize((600, 4)), p, quality=90),
        "g_tall.png": lambda p: _save(Image.fromarray(data.rocket()).resize((11, 900)), p),
    }
    paths = {}
    for name, write in good.items():
        write(str(d / name))
        paths[name] = str(d / name)
    encoded = io.BytesIO()
    astronaut.save(encoded, format="JPEG")
    (d / "c_corrupt.jpg").write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])  # in the middle of a batch
    _save(Image.new("RGB", (1, 1), (9, 9, 9)), str(d / "h_dot.png"))
    (d / "notes.txt").write_text("not a photo, and not an image name: never listed")
    return {"dir": str(d), **paths}


@pytest.fixture(scope="module")
def photos_run(photos, exported_model, tmp_path_factory) -> tuple[str, dict]:
    return _run_into(tmp_path_factory.mktemp("inpainted_photos"), exported_model, photos["dir"],
                     "--batch-size", "3", "--write", "png,tfrecord")


def test_photos_every_input_is_inpainted_or_rejected_with_a_reason(photos_run):
    output, summary = photos_run
    _assert_accounted(summary)
    assert summary["input_format"] == "images"
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (8, 6, 2)
    rejects = {os.path.basename(r["source"]): r for r in _lines(os.path.join(output, writers.REJECTS))}
    assert set(rejects) == {"c_corrupt.jpg", "h_dot.png"}
    assert rejects["c_corrupt.jpg"]["stage"] == "decode"
    assert rejects["c_corrupt.jpg"]["reason"] in ("truncated", "corrupt")
    assert rejects["h_dot.png"]["reason"] == "too_small"
    assert summary["metrics"] is None  # photos carry no ground truth
    assert _lines(os.path.join(output, writers.METRICS)) == []
    # The outputs and nothing else: no temporary folder left by the TFRecord writes.
    assert sorted(n for n in os.listdir(output) if not n.startswith("inpainted-")) == [
        "images", writers.METRICS, writers.REJECTS, SUMMARY]


def _before_and_after(source: str, output: str) -> tuple[np.ndarray, np.ndarray]:
    """A photo's pixels and its inpainted PNG's, which has the photo's size and mode."""
    original = Image.open(source)
    result = Image.open(os.path.join(output, writers.IMAGES_DIR, writers.output_name(source, "png")))
    assert (result.size, result.mode, result.format) == (original.size, original.mode, "PNG")
    return np.asarray(original), np.asarray(result)


@pytest.mark.parametrize("name", ["a_astronaut.png", "b_camera_grey.png", "d_coffee_rgba.png", "e_tiny.png",
                                  "f_strip.jpg", "g_tall.png"])
def test_photos_keep_every_pixel_outside_the_hole(photos, photos_run, name):
    output, _ = photos_run
    before, after = _before_and_after(photos[name], output)
    top, left, bottom, right = place(before.shape[0], before.shape[1], G).hole
    outside = np.ones(before.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(after[outside], before[outside])
    assert not np.array_equal(after[top:bottom, left:right], before[top:bottom, left:right])


def test_photos_as_records_carry_the_model_view(photos_run, exported_model):
    output, _ = photos_run
    records = _read_records(output)
    assert len(records) == 6
    signature, _ = load_inpainter(exported_model)
    for record in records.values():
        assert record.patch is None and record.inpainted is not None
        direct = signature(images=tf.constant(record.masked[None]))["inpainted"].numpy()[0]
        assert np.array_equal(record.inpainted, direct)


# --- TFRecords with ground truth ----------------------------------------------------------------

@pytest.fixture(scope="module")
def records_dir(tmp_path_factory) -> str:
    """A gzip shard of real-photo records (some with hostile source names), a record that does not
    parse and one of another geometry; and an uncompressed shard whose third record is cut off."""
    d = tmp_path_factory.mktemp("records")
    photo = data.astronaut()
    good = []
    for i in range(8):
        top, left = 40 * (i % 4), 60 * (i // 4)
        source = HOSTILE_SOURCES[i] if i < len(HOSTILE_SOURCES) else f"photos/astronaut_{i}.png"
        good.append(Record.from_image(np.ascontiguousarray(photo[top:top + 128, left:left + 128]), G,
                                      f"key{i}", source, crop_index=i))
    other = Geometry(image_size=64, patch_size=32, overlap=2)
    mismatched = Record.from_image(np.ascontiguousarray(photo[:64, :64]), other, "other", "other.png")
    with tf.io.TFRecordWriter(str(d / "eval-00000-of-00002.tfrecord.gz"), options="GZIP") as w:
        for r in good[:4]:
            w.write(r.serialize())
        w.write(b"definitely not a tf.train.Example")
        for r in good[4:6]:
            w.write(r.serialize())
        w.write(mismatched.serialize())
    cut = d / "eval-00001-of-00002.tfrecord"
    with tf.io.TFRecordWriter(str(cut)) as w:
        for r in good[6:] + [good[0]]:
            w.write(r.serialize())
    cut.write_bytes(cut.read_bytes()[:-100])
    return str(d)


@pytest.fixture(scope="module")
def records_run(records_dir, exported_model, tmp_path_factory) -> tuple[str, dict]:
    return _run_into(tmp_path_factory.mktemp("inpainted_records"), exported_model,
                     os.path.join(records_dir, "eval-*.tfrecord*"), "--batch-size", "4", "--write", "png,tfrecord")


def test_records_are_accounted_for(records_run):
    output, summary = records_run
    _assert_accounted(summary)
    assert summary["input_format"] == "tfrecord"
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (11, 8, 3)
    assert summary["rejects_by_reason"] == {"corrupt_file": 1, "geometry_mismatch": 1, "invalid_record": 1}
    assert summary["rejects_by_stage"] == {"read": 1, "validate": 2}


def test_records_inpainted_match_the_model_called_directly(records_run, exported_model):
    output, _ = records_run
    records = _read_records(output)
    assert sorted(records) == sorted(f"key{i}-{i}" for i in range(8))
    signature, _ = load_inpainter(exported_model)
    masked = np.stack([records[k].masked for k in sorted(records)])
    direct = signature(images=tf.constant(masked))["inpainted"].numpy()
    assert np.array_equal(np.stack([records[k].inpainted for k in sorted(records)]), direct)


def test_records_hole_metrics_per_image_and_their_mean(records_run):
    output, summary = records_run
    records = _read_records(output)
    rows = {row["id"]: row for row in _lines(os.path.join(output, writers.METRICS))}
    assert set(rows) == set(records)
    for record_id, row in rows.items():
        expected = inpainting_metrics(records[record_id].inpainted, records[record_id].original(), G)
        for region in ("hole", "patch"):
            assert row[region] == pytest.approx(expected[region])
    mean = mean_metrics([{k: row[k] for k in ("hole", "patch")} for row in rows.values()])
    assert summary["metrics"]["count"] == mean["count"] == 8
    for region in ("hole", "patch"):
        assert summary["metrics"][region] == pytest.approx(mean[region])


def test_crafted_names_stay_inside_the_output_folder(records_run):
    output, _ = records_run
    images_dir = os.path.realpath(os.path.join(output, writers.IMAGES_DIR))
    written = [p for p in glob.glob(os.path.join(output, "**"), recursive=True) if os.path.isfile(p)]
    pngs = [p for p in written if p.endswith(".png")]
    assert len(pngs) == 8
    assert all(os.path.dirname(os.path.realpath(p)) == images_dir for p in pngs)
    for source in HOSTILE_SOURCES:
        name = writers.output_name(source, "png", 0)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert writers.output_name("gs://bucket/a/../../../etc/passwd.jpg", "png").startswith("passwd-")
    # Same base name, different folders: different files.
    assert writers.output_name("gs://b/x/1.jpg", "png") != writers.output_name("gs://b/y/1.jpg", "png")


def test_tfx_bsl_engine_gives_the_same_pixels(records_run, records_dir, exported_model, tmp_path):
    keyed_output, _ = records_run
    summary = _run(exported_model, os.path.join(records_dir, "eval-*.tfrecord*"), str(tmp_path),
                   "--engine", "tfx-bsl", "--write", "tfrecord", "--batch-size", "4")
    _assert_accounted(summary)
    assert (summary["inpainted"], summary["rejects"]) == (8, 3)
    keyed, tfx = _read_records(keyed_output), _read_records(str(tmp_path))
    assert sorted(keyed) == sorted(tfx)
    for record_id in keyed:
        assert np.array_equal(keyed[record_id].inpainted, tfx[record_id].inpainted)
    keyed_metrics = _run_metrics(keyed_output)
    for region in ("hole", "patch"):
        assert summary["metrics"][region] == pytest.approx(keyed_metrics[region])


def _run_metrics(output: str) -> dict:
    with open(os.path.join(output, SUMMARY)) as f:
        return json.load(f)["metrics"]


# --- failed batches and model loading -----------------------------------------------------------

def _bad_item(engine: str, i: int) -> Item:
    """An input its engine's model refuses: four channels for the keyed handler's, bytes that are
    no tf.Example for tfx-bsl's."""
    if engine == "keyed":
        return Item(f"bad{i}", f"bad{i}.png", np.zeros((128, 128, 4), np.uint8))
    return Item(f"bad{i}", f"bad{i}.png", np.zeros((128, 128, 3), np.uint8), serialized=b"no tf.Example")


@pytest.mark.parametrize("engine", ["keyed", "tfx-bsl"])
def test_a_failing_batch_goes_to_the_dead_letters_whole(exported_model, engine):
    good = [Item(f"good{i}", f"good{i}.png", np.full((128, 128, 3), 10 * i, np.uint8)) for i in range(5)]
    bad = [_bad_item(engine, i) for i in range(2)]
    inpainter = (engines.InpaintWithKeyedHandler(exported_model, batch_size=3) if engine == "keyed"
                 else engines.InpaintWithTfxBsl(exported_model, 3, G))
    with beam.Pipeline(options=pipeline_options(LIGHT)) as p:
        outputs, rejects = p | beam.Create(good[:2] + bad + good[2:]) | inpainter
        done = outputs | "Ids" >> beam.MapTuple(lambda item, out: (item.id, out["inpainted"].shape))
        failed = rejects | "Failed" >> beam.Map(lambda r: r["id"])
        both = ((done | "TagDone" >> beam.Map(lambda d: ("done", d[0])),
                 failed | "TagFailed" >> beam.Map(lambda i: ("failed", i)))
                | beam.Flatten() | beam.combiners.ToList())

        def check(lists):
            (everything,) = lists
            done_ids = {i for tag, i in everything if tag == "done"}
            failed_ids = {i for tag, i in everything if tag == "failed"}
            assert {"bad0", "bad1"} <= failed_ids and not {"bad0", "bad1"} & done_ids
            assert done_ids | failed_ids == {item.id for item in good + bad}
            assert not done_ids & failed_ids and done_ids  # some batch of good ones went through

        assert_that(both, check)
        reasons = rejects | "Reasons" >> beam.Map(lambda r: (r["stage"], r["reason"], "batch of" in r["detail"]))
        assert_that(reasons | "Distinct" >> beam.Distinct(),
                    equal_to([("inference", "inference_failed", True)]), label="Reasons")


def test_the_model_is_loaded_once_per_worker_process(records_dir, exported_model, tmp_path):
    """Two worker processes (Beam's default local mode here), six batches: at most two loads."""
    summary = inpaint.run(["--model", exported_model, "--input", os.path.join(records_dir, "eval-*.tfrecord*"),
                           "--output", str(tmp_path), "--batch-size", "2", "--write", "tfrecord",
                           "--runner", "FnApiRunner", "--direct_num_workers", "2",
                           "--direct_running_mode", "multi_processing"])
    _assert_accounted(summary)
    counters = summary["counters"]
    assert counters["num_inferences"] == summary["inpainted"] == 8
    assert 1 <= counters["model_loads"] <= 2
    assert counters.get("failed_batches_counter", 0) == 0


def test_model_copies_share_one_model_between_worker_processes(records_dir, exported_model, tmp_path):
    """--model-copies 1: one copy in a process of its own, called by both worker processes (the
    Dataflow GPU shape's one SDK process per vCPU); the results are the unshared run's."""
    common = ["--model", exported_model, "--input", os.path.join(records_dir, "eval-*.tfrecord*"), "--batch-size",
              "2", "--write", "tfrecord", "--runner", "FnApiRunner", "--direct_num_workers", "2",
              "--direct_running_mode", "multi_processing"]
    shared = inpaint.run([*common, "--output", str(tmp_path / "shared"), "--model-copies", "1"])
    alone = inpaint.run([*common, "--output", str(tmp_path / "alone")])
    _assert_accounted(shared)
    assert shared["counters"]["model_loads"] == 1 and shared["model_copies"] == 1
    assert shared["counters"]["num_inferences"] == shared["inpainted"] == 8
    for region in ("hole", "patch"):
        assert shared["metrics"][region] == pytest.approx(alone["metrics"][region])
    handler = model_handler.KeyedInpainterModelHandler(exported_model, 2, model_copies=1)
    assert handler.share_model_across_processes() and handler.model_copies() == 1
    assert not model_handler.KeyedInpainterModelHandler(exported_model, 2).share_model_across_processes()


# --- the write stage on its own -----------------------------------------------------------------

def _photo_item(path: str) -> Item:
    from pipelines import full_resolution

    with open(path, "rb") as f:
        image = full_resolution.open_upright(f.read())
    placement = place(image.height, image.width, G)
    return Item("id", path, full_resolution.model_input(image, placement, G), photo=full_resolution.Photo.of(image),
                placement=placement)


def _outputs() -> dict[str, np.ndarray]:
    return {"inpainted": np.zeros((128, 128, 3), np.uint8), "patch": np.full((64, 64, 3), 200, np.uint8)}


def test_image_format_input_keeps_the_photo_format(photos, tmp_path):
    settings = Settings(model="unused", input="unused", output=str(tmp_path), geometry=G,
                                input_format="images", image_format="input")
    (done,) = writers.WriteOutputs(settings).process((_photo_item(photos["f_strip.jpg"]), _outputs()))
    (path,) = done["written"]
    assert path.endswith(".jpg") and Image.open(path).format == "JPEG"
    # A format without alpha never gets an RGBA photo: that one stays PNG.
    (done,) = writers.WriteOutputs(settings).process((_photo_item(photos["d_coffee_rgba.png"]), _outputs()))
    assert done["written"][0].endswith(".png")


def test_a_failing_write_is_a_reject_not_a_crash(photos, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    settings = Settings(model="unused", input="unused", output=str(blocker), geometry=G,
                                input_format="images")
    (out,) = writers.WriteOutputs(settings).process((_photo_item(photos["a_astronaut.png"]), _outputs()))
    assert out.tag == "reject" and out.value["stage"] == "write" and out.value["reason"] == "write_failed"


def test_the_command_line_runs_across_worker_processes(records_dir, exported_model, tmp_path):
    """`python -m pipelines.inpaint` as the Makefile runs it: the elements cross process boundaries."""
    import subprocess
    import sys

    output = str(tmp_path / "cli")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.inpaint", "--model", exported_model,
         "--input", os.path.join(records_dir, "*.tfrecord.gz"), "--output", output,
         "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(output, SUMMARY)) as f:
        summary = json.load(f)
    assert summary["inputs"] == summary["inpainted"] + summary["rejects"] and summary["inpainted"] > 0
    assert "inpaint: " in done.stdout
    assert "Resource module is not available" not in done.stderr, done.stderr[-3000:]


# --- holes anywhere: users' masks on full-size photos, records with masks -----------------------

def _hole_mask(height: int, width: int, *boxes: tuple[int, int, int, int]) -> Image.Image:
    mask = np.zeros((height, width), np.uint8)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = 255
    return Image.fromarray(mask)


THREE_HOLES = ((40, 60, 90, 100), (250, 300, 290, 380), (420, 80, 470, 130))
CLOSE_HOLES = ((100, 100, 140, 140), (100, 150, 140, 190))  # 10 pixels apart: one window


@pytest.fixture(scope="module")
def masked_photos(tmp_path_factory) -> dict[str, str]:
    """Photos (RGB, grey, RGBA, one in a subfolder) and their mask files at the same relative paths,
    plus every way a photo and a mask can fail to make a pair."""
    root = tmp_path_factory.mktemp("masked")
    photos, masks = root / "photos", root / "masks"
    (photos / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    astronaut = Image.fromarray(data.astronaut())
    rgba = Image.fromarray(data.coffee()).resize((301, 203))
    rgba.putalpha(Image.fromarray(np.tile(np.arange(301, dtype=np.uint8), (203, 1))))
    cases = {  # photo name: (photo, mask file name, mask)
        "a_three.png": (astronaut, "a_three.png", _hole_mask(512, 512, *THREE_HOLES)),
        "b_close_grey.png": (Image.fromarray(data.camera()), "b_close_grey.bmp", _hole_mask(512, 512, *CLOSE_HOLES)),
        "c_rgba.png": (rgba, "c_rgba.png", _hole_mask(203, 301, (50, 200, 80, 240))),
        "sub/d_nested.jpg": (astronaut.resize((200, 150)), "sub/d_nested.png", _hole_mask(150, 200, (60, 90, 75, 110))),
        "e_too_large.png": (astronaut.resize((400, 300)), "e_too_large.png", _hole_mask(300, 400, (50, 50, 250, 300))),
        "f_wrong_size.png": (astronaut, "f_wrong_size.png", _hole_mask(100, 100, (10, 10, 20, 20))),
        "g_empty.png": (astronaut, "g_empty.png", _hole_mask(512, 512)),
        "h_full.png": (astronaut, "h_full.png", _hole_mask(512, 512, (0, 0, 512, 512))),
        "i_no_mask.png": (astronaut, None, None),
    }
    paths = {}
    for name, (photo, mask_name, mask) in cases.items():
        photo.save(photos / name, quality=95)
        paths[name] = str(photos / name)
        if mask is not None:
            mask.save(masks / mask_name)
    astronaut.save(photos / "j_bad_mask.png")
    (masks / "j_bad_mask.png").write_bytes(b"not an image at all")
    _hole_mask(512, 512, (1, 1, 5, 5)).save(masks / "k_lonely.png")  # a mask without a photo
    return {"photos": str(photos), "masks": str(masks), **paths, "j_bad_mask.png": str(photos / "j_bad_mask.png")}


@pytest.fixture(scope="module")
def masked_run(masked_photos, mask_exported_model, tmp_path_factory) -> tuple[str, dict]:
    return _run_into(tmp_path_factory.mktemp("inpainted_masked"), mask_exported_model, masked_photos["photos"],
                     "--masks", masked_photos["masks"], "--batch-size", "2", "--write", "png,tfrecord")


INPAINTED_WITH_MASKS = ("a_three.png", "b_close_grey.png", "c_rgba.png", "sub/d_nested.jpg")


def _mask_of(masked_photos: dict, name: str) -> np.ndarray:
    stem = os.path.splitext(name)[0]
    (path,) = glob.glob(os.path.join(masked_photos["masks"], stem + ".*"))
    return np.asarray(Image.open(path).convert("L")) >= 128


def test_masked_photos_every_photo_and_lonely_mask_is_inpainted_or_rejected(masked_run):
    output, summary = masked_run
    _assert_accounted(summary)
    # 10 photos and 1 mask file without a photo; the masks of photos are part of their photo's input.
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (11, 4, 7)
    assert summary["rejects_by_reason"] == {"empty_mask": 1, "full_mask": 1, "hole_too_large": 1,
                                            "mask_size_mismatch": 1, "mask_without_photo": 1, "no_mask": 1,
                                            "unreadable_mask": 1}
    assert summary["rejects_by_stage"] == {"mask": 4, "match": 2, "windows": 1}
    rejects = {os.path.basename(r["source"]): r for r in _lines(os.path.join(output, writers.REJECTS))}
    assert rejects["e_too_large.png"]["reason"] == "hole_too_large" and "rows 50-250" in rejects["e_too_large.png"]["detail"]
    assert rejects["k_lonely.png"]["reason"] == "mask_without_photo"
    assert rejects["i_no_mask.png"]["reason"] == "no_mask"
    # Three holes in three windows, two close holes in one, and one each: 7 holes in 6 windows.
    assert (summary["holes_inpainted"], summary["windows_inpainted"]) == (7, 6)
    assert summary["hole_layout"] == "anywhere" and summary["masks"]


@pytest.mark.parametrize("name", INPAINTED_WITH_MASKS)
def test_masked_photos_change_their_masked_pixels_only(masked_photos, masked_run, name):
    output, _ = masked_run
    before, after = _before_and_after(masked_photos[name], output)
    hole = _mask_of(masked_photos, name)
    assert np.array_equal(after[~hole], before[~hole])
    labels, count = ndimage.label(hole)
    for region in range(1, count + 1):  # every hole is filled, not just one
        assert not np.array_equal(after[labels == region], before[labels == region])


def test_masked_photos_are_the_model_called_directly_on_the_same_windows(masked_photos, masked_run,
                                                                          mask_exported_model):
    from pipelines import full_resolution, hole_windows

    output, _ = masked_run
    signature, geometry = load_inpainter(mask_exported_model)
    with open(masked_photos["a_three.png"], "rb") as f:
        photo = full_resolution.Photo.of(full_resolution.open_upright(f.read()))
    mask = np.where(_mask_of(masked_photos, "a_three.png"), 255, 0).astype(np.uint8)
    windows = hole_windows.plan(mask, geometry.image_size)
    assert [w.region for w in windows] == list(THREE_HOLES)
    images_, masks_ = hole_windows.model_inputs(photo, mask, windows, geometry.image_size, geometry.fill_rgb)
    prediction = signature(images=tf.constant(images_), masks=tf.constant(masks_))["prediction"].numpy()
    expected = hole_windows.paste(photo, windows, prediction)
    written = Image.open(os.path.join(output, writers.IMAGES_DIR, writers.output_name(masked_photos["a_three.png"], "png")))
    assert np.array_equal(np.asarray(written), expected)


def test_masked_photos_as_records_are_one_per_window(masked_run):
    output, _ = masked_run
    records = _read_records(output)
    assert len(records) == 6
    for record in records.values():
        assert record.kind == "user" and record.inpainted is not None and not record.has_truth
        hole = record.mask == 255
        assert hole.any() and (record.masked[hole] == G.fill_rgb).all()
        assert np.array_equal(record.inpainted[~hole], record.masked[~hole])


@pytest.fixture(scope="module")
def masked_records_run(anywhere_records_dir, mask_exported_model, tmp_path_factory) -> tuple[str, dict]:
    return _run_into(tmp_path_factory.mktemp("inpainted_anywhere_records"), mask_exported_model,
                     os.path.join(anywhere_records_dir, "test-*.tfrecord.gz"), "--batch-size", "5",
                     "--write", "png,tfrecord")


def _all_records(output: str) -> list[Record]:
    """Every written record, sorted by id and kind (the holes-anywhere fixture holds each crop twice,
    once with boxes and once with strokes)."""
    records = [Record.parse(data_) for path in glob.glob(os.path.join(output, "inpainted-*-of-*.tfrecord.gz"))
               for data_ in tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator()]
    return sorted(records, key=lambda r: (r.record_id, r.kind))


def test_records_with_masks_are_inpainted_with_their_own_masks(masked_records_run, mask_exported_model):
    output, summary = masked_records_run
    _assert_accounted(summary)
    assert (summary["inputs"], summary["inpainted"], summary["rejects"]) == (12, 12, 0)
    assert summary["windows_inpainted"] == 12
    records = _all_records(output)
    assert len(records) == 12 and len({r.mask.tobytes() for r in records}) == 4  # two kinds x two crops
    signature, _ = load_inpainter(mask_exported_model)
    direct = signature(images=tf.constant(np.stack([r.masked for r in records])),
                       masks=tf.constant(np.stack([r.mask for r in records])))["inpainted"].numpy()
    assert np.array_equal(np.stack([r.inpainted for r in records]), direct)


def test_records_with_masks_get_hole_metrics_on_their_masks(masked_records_run):
    output, summary = masked_records_run
    records = _all_records(output)
    rows = _lines(os.path.join(output, writers.METRICS))
    assert len(rows) == 12 and all(set(row) == {"id", "source", "hole"} for row in rows)
    expected = sorted(masked_metrics(r.inpainted, r.original(), r.mask)["psnr"] for r in records)
    assert sorted(row["hole"]["psnr"] for row in rows) == pytest.approx(expected)
    assert set(summary["metrics"]) == {"hole", "count"} and summary["metrics"]["count"] == 12
    assert summary["metrics"]["hole"]["psnr"] == pytest.approx(np.mean(expected))


def test_a_centre_model_rejects_records_whose_hole_is_elsewhere(anywhere_records_dir, exported_model, tmp_path):
    summary = _run(exported_model, os.path.join(anywhere_records_dir, "test-*.tfrecord.gz"), str(tmp_path),
                   "--write", "tfrecord")
    _assert_accounted(summary)
    assert (summary["inpainted"], summary["rejects_by_reason"]) == (0, {"hole_layout_mismatch": 12})


def test_a_model_and_input_that_do_not_go_together_are_a_one_line_error(masked_photos, exported_model,
                                                                        mask_exported_model, records_dir, tmp_path):
    cases = [
        (exported_model, masked_photos["photos"], ["--masks", masked_photos["masks"]], "needs a mask model"),
        (mask_exported_model, masked_photos["photos"], [], "give the photos' masks with --masks"),
        (mask_exported_model, os.path.join(records_dir, "*.tfrecord.gz"), ["--masks", masked_photos["masks"]],
         "records carry their own masks"),
        (mask_exported_model, masked_photos["photos"], ["--masks", masked_photos["masks"], "--engine", "tfx-bsl"],
         "keyed engine only"),
    ]
    for model, input_glob, extra, message in cases:
        with pytest.raises(SystemExit, match=message):
            _run(model, input_glob, str(tmp_path), *extra)


def test_the_mask_handler_batches_windows_across_photos_and_splits_them_back(mask_exported_model):
    from pipelines.model_handler import MaskInpainterModelHandler

    rng = np.random.default_rng(0)
    counts = [3, 1, 5]
    elements = [(rng.integers(0, 256, (k, 128, 128, 3), np.uint8),
                 np.where(rng.random((k, 128, 128)) < 0.2, 255, 0).astype(np.uint8)) for k in counts]
    elements.insert(1, (elements[0][0][0], elements[0][1][0]))  # one window on its own
    handler = MaskInpainterModelHandler(mask_exported_model, batch_size=2)
    model = handler.load_model()
    results = list(handler.run_inference(elements, model))
    for (images_, masks_), result in zip(elements, results):
        direct = model(images_.reshape(-1, 128, 128, 3), masks_.reshape(-1, 128, 128))
        for name in ("inpainted", "prediction"):
            assert result.inference[name].shape == images_.shape
            assert np.array_equal(result.inference[name].reshape(-1, 128, 128, 3), direct[name])


def test_the_progress_total_of_shards_is_the_records_their_manifest_lists(tmp_path):
    from tfrecords.shards import write_manifest

    shards = [str(tmp_path / f"eval-0000{i}-of-00002.tfrecord.gz") for i in range(2)]
    assert inpaint.manifest_records(shards) is None  # no manifest
    write_manifest(str(tmp_path), {"splits": {"eval": {"shards": [os.path.basename(s) for s in shards],
                                                       "records_per_shard": [3, 4]}}})
    assert inpaint.manifest_records(shards) == 7 and inpaint.manifest_records(shards[1:]) == 4
    assert inpaint.manifest_records([*shards, str(tmp_path / "other.tfrecord.gz")]) is None
