"""evaluation.evaluate on a tiny eval split of real photos."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from evaluation.baselines import run_baselines
from evaluation.evaluate import LABELS, METRICS, PER_IMAGE, LayoutMismatch, evaluate, run, summary_lines
from model.exported import load_geometry, load_inpainter
from model.losses import feature_distances, feature_loss
from evaluation.lpips import Lpips
from model.metrics import inpainting_metrics, masked_metrics
from model.vgg import build_vgg_features
from model.vgg_weights import load_vgg_weights
from tfrecords.geometry import Geometry
from tfrecords.masks import centre_mask
from tfrecords.record import Record
from tfrecords.shards import split_files

pytestmark = pytest.mark.slow  # evaluates tiny exports against every baseline

G = Geometry()


def _results(directory):
    with open(os.path.join(directory, METRICS)) as f:
        return json.load(f)


def _png(directory, relative):
    return np.asarray(Image.open(os.path.join(directory, relative)))


def _records(directory, split):
    return [Record.parse(r.numpy()) for r in tf.data.TFRecordDataset(split_files(directory, split), "GZIP")]


def test_every_method_is_scored_on_every_image(evaluated_dir):
    results = _results(evaluated_dir)
    assert results["count"] == 6
    assert set(results["methods"]) == set(LABELS) == {"mean_fill", "telea", "navier_stokes", "biharmonic", "harmonic",
                                                      "fsr", "model"}
    for name, metrics in results["methods"].items():
        assert metrics["count"] == 6
        assert set(metrics["hole"]) == set(metrics["patch"]) == {"psnr", "ssim", "l1", "l2"}
        assert 0 < metrics["hole"]["psnr"] < 100 and 0 < metrics["hole"]["l1"] < 1
        assert 0 < metrics["perceptual"]["lpips"] < 1 and metrics["perceptual"]["vgg_feature"] > 0
    with open(os.path.join(evaluated_dir, PER_IMAGE)) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 6
    for name in LABELS:
        per_image = np.mean([r["metrics"][name]["hole"]["psnr"] for r in rows])
        assert per_image == pytest.approx(results["methods"][name]["hole"]["psnr"])
        for metric in ("lpips", "vgg_feature"):
            per_image = np.mean([r["metrics"][name]["perceptual"][metric] for r in rows])
            assert per_image == pytest.approx(results["methods"][name]["perceptual"][metric])


def test_perceptual_metrics_rank_the_untrained_model_below_the_diffusion_baselines(evaluated_dir):
    # The tiny untrained generator paints noise: every perceptual distance puts it behind a
    # baseline that continues the context.
    methods = _results(evaluated_dir)["methods"]
    for metric in ("lpips", "vgg_feature"):
        for baseline in ("telea", "navier_stokes", "biharmonic", "fsr"):
            assert methods["model"]["perceptual"][metric] > methods[baseline]["perceptual"][metric], (metric, baseline)


def test_samples_are_distinct_photos_and_their_scores_can_be_recomputed(evaluated_dir, exported_model):
    results = _results(evaluated_dir)
    samples = results["samples"]
    assert len(samples) == 2
    assert len({s["key"] for s in samples}) == 2
    inpainter, geometry = load_inpainter(exported_model)
    for sample in samples:
        masked, truth = _png(evaluated_dir, sample["images"]["masked"]), _png(evaluated_dir, sample["images"]["truth"])
        # The truth rebuilt from the record differs from the masked input in the hole only.
        top, left, bottom, right = G.hole_box
        outside = masked.copy()
        outside[top:bottom, left:right] = truth[top:bottom, left:right]
        np.testing.assert_array_equal(outside, truth)
        expected = {**run_baselines(masked, centre_mask(geometry)),
                    "model": inpainter(images=tf.constant(masked[None]))["inpainted"].numpy()[0]}
        lpips = Lpips()
        for name in LABELS:
            saved = _png(evaluated_dir, sample["images"][name])
            np.testing.assert_array_equal(saved, expected[name])
            assert sample["hole_psnr"][name] == pytest.approx(inpainting_metrics(saved, truth, G)["hole"]["psnr"])
            assert sample["lpips"][name] == pytest.approx(float(lpips(saved[None], truth[None])[0]), rel=1e-4)


def test_vgg_feature_distance_is_the_structural_feature_loss_of_each_image(imagenet_vgg_npz):
    vgg = build_vgg_features(load_vgg_weights(imagenet_vgg_npz).arrays)
    rng = np.random.default_rng(0)
    truth = tf.constant(rng.uniform(-1, 1, (3, 64, 64, 3)), tf.float32)
    predicted = tf.constant(np.clip(truth.numpy() + rng.normal(0, 0.3, truth.shape), -1, 1), tf.float32)
    distances = feature_distances(vgg, predicted, truth).numpy()
    expected = [float(feature_loss(vgg, predicted[i:i + 1], truth[i:i + 1])) for i in range(3)]
    np.testing.assert_allclose(distances, expected, rtol=1e-5)
    assert np.all(feature_distances(vgg, truth, truth).numpy() == 0)


def test_published_figures_and_settings_are_recorded(evaluated_dir):
    results = _results(evaluated_dir)
    assert "different dataset" in results["published"]["note"]
    assert results["published"]["methods"]["Context encoder (L2 + adversarial)"]["psnr"] == 18.58
    assert results["baseline_settings"]["opencv_inpaint_radius"] == 5
    assert results["model_metadata"]["note"] == "untrained tiny test generator"


def test_cli_limits_images_and_prints_the_table(eval_records_dir, exported_model, tmp_path, capsys):
    results = run(["--model", exported_model, "--data", eval_records_dir, "--output", str(tmp_path),
                   "--max-images", "3", "--batch-size", "2", "--samples", "5"])
    assert results["count"] == 3
    assert len(results["samples"]) == 2  # the first three records hold two distinct photos
    out = capsys.readouterr().out
    assert "hole metrics on 3 eval images" in out and "LPIPS" in out
    for label in LABELS.values():
        assert label in out


def test_without_vgg_weights_the_evaluation_runs_and_says_why(eval_records_dir, exported_model, tmp_path, caplog):
    missing = str(tmp_path / "missing.npz")
    results = evaluate(exported_model, eval_records_dir, str(tmp_path / "out"), max_images=2, vgg_weights=missing)
    assert all(m["perceptual"]["vgg_feature"] is None and m["perceptual"]["lpips"] > 0
               for m in results["methods"].values())
    assert "no such file" in results["perceptual_settings"]["vgg_feature"]["skipped"]
    assert "no VGG feature distance" in caplog.text
    assert all(line.rstrip().endswith("-") for line in summary_lines(results)[2:])


def test_missing_split_or_model_is_a_clear_error(eval_records_dir, exported_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="no train shards"):
        evaluate(exported_model, eval_records_dir, str(tmp_path), split="train")
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        evaluate(str(tmp_path), eval_records_dir, str(tmp_path))


def test_a_subset_of_methods_on_the_held_out_split(eval_records_dir, exported_model, tmp_path):
    from tfrecords.shards import shard_name, write_manifest

    data = tmp_path / "data"
    data.mkdir()
    shard = os.path.join(eval_records_dir, shard_name("eval", 0, 1))
    for split in ("eval", "test"):  # the same records, so the two splits can be told apart only by name
        with open(shard, "rb") as src, open(data / shard_name(split, 0, 1), "wb") as dst:
            dst.write(src.read())
    write_manifest(str(data), {"splits": {"eval": {"records": 6}, "test": {"records": 6}}})
    results = evaluate(exported_model, str(data), str(tmp_path / "out"), methods=("model", "telea"), num_samples=0)
    assert results["split"] == "test" and results["count"] == 6
    assert set(results["methods"]) == set(results["labels"]) == {"model", "telea"}
    with pytest.raises(ValueError, match="unknown methods"):
        evaluate(exported_model, str(data), str(tmp_path / "bad"), methods=("model", "photoshop"))


# Holes anywhere: the tiny mask export on a test split of boxes and strokes records (conftest).
def test_holes_anywhere_are_scored_per_kind_for_every_method(anywhere_evaluated_dir, anywhere_records_dir):
    results = _results(anywhere_evaluated_dir)
    records = _records(anywhere_records_dir, "test")
    assert results["holes"] == "anywhere" and results["split"] == "test" and results["count"] == 12
    assert list(results["kinds"]) == list(results["by_kind"]) == ["boxes", "strokes"]
    assert "published" not in results  # the context encoder's figures are of the centre hole
    with open(os.path.join(anywhere_evaluated_dir, PER_IMAGE)) as f:
        rows = [json.loads(line) for line in f]
    assert [r["kind"] for r in rows] == [r.kind for r in records] == ["boxes"] * 6 + ["strokes"] * 6
    for kind, summary in results["kinds"].items():
        assert summary["count"] == 6
        assert summary["hole_area"] == pytest.approx(np.mean([np.mean(r.mask > 0) for r in records if r.kind == kind]))
        assert set(results["by_kind"][kind]) == set(LABELS)
    for name in LABELS:
        overall = results["methods"][name]
        assert overall["count"] == 12 and set(overall) == {"hole", "perceptual", "count"}  # no centre patch
        assert 0 < overall["hole"]["psnr"] < 100 and 0 < overall["perceptual"]["lpips"] < 1
        assert overall["perceptual"]["vgg_feature"] > 0
        for kind in ("boxes", "strokes"):
            kind_rows = [r["metrics"][name] for r in rows if r["kind"] == kind]
            by_kind = results["by_kind"][kind][name]
            assert by_kind["count"] == 6
            for metric in ("psnr", "ssim", "l1", "l2"):
                assert by_kind["hole"][metric] == pytest.approx(np.mean([r["hole"][metric] for r in kind_rows]))
            for metric in ("lpips", "vgg_feature"):
                assert by_kind["perceptual"][metric] == pytest.approx(
                    np.mean([r["perceptual"][metric] for r in kind_rows]))
        assert overall["hole"]["psnr"] == pytest.approx(np.mean([r["metrics"][name]["hole"]["psnr"] for r in rows]))


def test_holes_anywhere_samples_show_each_kind_and_their_scores_can_be_recomputed(
        anywhere_evaluated_dir, anywhere_records_dir, mask_exported_model, imagenet_vgg_npz):
    samples = _results(anywhere_evaluated_dir)["samples"]
    records = {(r.kind, r.key, r.crop_index): r for r in _records(anywhere_records_dir, "test")}
    # In turns over the kinds, another photo where the kind has one: two rows of each kind.
    assert [(s["kind"], s["key"]) for s in samples] == [("boxes", "sha-astronaut"), ("boxes", "sha-chelsea"),
                                                         ("strokes", "sha-coffee"), ("strokes", "sha-astronaut")]
    inpainter, geometry = load_inpainter(mask_exported_model)
    vgg = build_vgg_features(load_vgg_weights(imagenet_vgg_npz).arrays)
    for sample in samples:
        masked, mask, truth = (_png(anywhere_evaluated_dir, sample["images"][n]) for n in ("masked", "mask", "truth"))
        record = records[(sample["kind"], sample["key"], 0)]  # the first crop of its photo
        np.testing.assert_array_equal(mask, record.mask)
        np.testing.assert_array_equal(truth, record.truth)
        hole = mask > 0
        np.testing.assert_array_equal(masked[~hole], truth[~hole])
        assert np.all(masked[hole] == geometry.fill_rgb)
        expected = {**run_baselines(masked, mask),
                    "model": inpainter(images=tf.constant(masked[None]),
                                       masks=tf.constant(mask[None]))["inpainted"].numpy()[0]}
        for name in LABELS:
            saved = _png(anywhere_evaluated_dir, sample["images"][name])
            np.testing.assert_array_equal(saved, expected[name])
            np.testing.assert_array_equal(saved[~hole], truth[~hole])
            assert sample["hole_psnr"][name] == pytest.approx(masked_metrics(saved, truth, mask)["psnr"])
    # The VGG feature distance is the whole image's (the fill composited into the context).
    with open(os.path.join(anywhere_evaluated_dir, PER_IMAGE)) as f:
        first = json.loads(f.readline())
    sample = samples[0]
    saved, truth = (_png(anywhere_evaluated_dir, sample["images"][n]) for n in ("telea", "truth"))
    distance = feature_distances(vgg, tf.constant(saved[None], tf.float32) / 127.5 - 1,
                                 tf.constant(truth[None], tf.float32) / 127.5 - 1).numpy()[0]
    assert first["key"] == sample["key"]
    assert first["metrics"]["telea"]["perceptual"]["vgg_feature"] == pytest.approx(float(distance), rel=1e-4)


def test_summary_has_a_table_per_hole_kind(anywhere_evaluated_dir):
    results = _results(anywhere_evaluated_dir)
    lines, n = summary_lines(results), len(LABELS)
    assert lines[0] == ("hole metrics on 12 test images, holes anywhere (boxes 6, strokes 6); LPIPS and VGG "
                        "feature distance of the whole image (lower is better):")
    tables = {"all": (results["methods"], lines[2:2 + n])}
    for i, kind in enumerate(("boxes", "strokes")):
        start = 2 + n + i * (n + 1)
        area = round(100 * results["kinds"][kind]["hole_area"])
        assert lines[start] == f"{kind}: 6 images, holes {area}% of the image on average"
        tables[kind] = (results["by_kind"][kind], lines[start + 1:start + 1 + n])
    assert len(lines) == 2 + 3 * n + 2
    for methods, table in tables.values():  # every method, best hole PSNR first
        ranked = sorted(methods, key=lambda name: -methods[name]["hole"]["psnr"])
        assert [line[2:34].strip() for line in table] == [LABELS[name] for name in ranked]
        assert [line.split()[-6] for line in table] == [f"{methods[name]['hole']['psnr']:.2f}" for name in ranked]


def test_a_centre_hole_model_on_holes_anywhere_is_a_one_line_error(anywhere_records_dir, exported_model, tmp_path):
    with pytest.raises(LayoutMismatch, match="fills the centre hole but the data .* holds holes anywhere") as e:
        evaluate(exported_model, anywhere_records_dir, str(tmp_path / "a"))
    assert "\n" not in str(e.value)
    with pytest.raises(SystemExit, match="^evaluation.evaluate: the model .* fills the centre hole"):
        run(["--model", exported_model, "--data", anywhere_records_dir, "--output", str(tmp_path / "c")])


def test_a_mask_model_scores_the_centre_hole_given_as_its_mask(eval_records_dir, mask_exported_model, tmp_path):
    """One model for every hole: the mask model fills the centre box of centre-hole data, scored as
    a centre-hole model is; everything outside the box is the input's."""
    results = evaluate(mask_exported_model, eval_records_dir, str(tmp_path / "b"), methods=("model", "harmonic"),
                       num_samples=2)
    assert results["holes"] == "center" and set(results["methods"]) == {"model", "harmonic"}
    assert set(results["methods"]["model"]) >= {"hole", "patch", "perceptual"}
    model = Image.open(tmp_path / "b" / results["samples"][0]["images"]["model"])
    masked = Image.open(tmp_path / "b" / results["samples"][0]["images"]["masked"])
    mask = centre_mask(load_geometry(mask_exported_model)) > 0
    np.testing.assert_array_equal(np.asarray(model)[~mask], np.asarray(masked)[~mask])
    assert not np.array_equal(np.asarray(model)[mask], np.asarray(masked)[mask])
