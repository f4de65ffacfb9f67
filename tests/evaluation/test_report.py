"""evaluation.report on a tiny run: TensorBoard scalars of both kinds, the grid, the pages."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2

from evaluation.report import build_report, coarse_fill_line, run, selection_line
from evaluation.report_curves import group_panels, phase_changes, read_scalars


def _write_tensor_scalars(log_dir, steps, switch):
    """What the TF2 trainer writes: tf.summary.scalar (tensor summaries), plus an image to ignore."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for step in steps:
            prefix = "phase1_structural" if step < switch else "phase2_joint"
            tf.summary.scalar(f"{prefix}/pixel", 1.0 / (1 + step), step=step)
            tf.summary.scalar("learning_rate/generator", 2e-4, step=step)
            tf.summary.scalar("phase", 1 if step < switch else 2, step=step)
        tf.summary.image("masked_inpainted_truth", np.zeros((1, 8, 8, 3), np.float32), step=steps[-1])
    writer.close()


def _write_simple_values(log_dir, tag, points, truncate=False):
    """Old-style `simple_value` summaries, written as raw event records."""
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, "events.out.tfevents.1.legacy")
    with tf.io.TFRecordWriter(path) as writer:
        for step, value in points:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            writer.write(event_pb2.Event(step=step, summary=summary).SerializeToString())
    if truncate:
        with open(path, "ab") as f:
            f.write(b"\x20\x00\x00\x00\x00\x00\x00\x00garbage")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    _write_tensor_scalars(str(run_dir / "logs" / "train"), list(range(0, 60, 2)), switch=40)
    _write_simple_values(str(run_dir / "logs" / "eval"), "hole/psnr", [(0, 12.5), (30, 14.0), (58, 15.25)],
                         truncate=True)
    return str(run_dir)


def test_reads_tensor_and_simple_value_scalars_and_skips_images(tiny_run):
    scalars = read_scalars(os.path.join(tiny_run, "logs"))
    assert set(scalars) == {"phase1_structural/pixel", "phase2_joint/pixel", "learning_rate/generator", "phase",
                            "hole/psnr"}
    phase1 = scalars["phase1_structural/pixel"]["train"]
    assert len(phase1) == 20 and phase1[0] == (0, 1.0)
    assert phase1[-1][0] == 38 and phase1[-1][1] == pytest.approx(1 / 39)
    assert scalars["hole/psnr"] == {"eval": [(0, 12.5), (30, 14.0), (58, 15.25)]}


def test_panels_put_the_phases_of_one_loss_together_and_mark_the_switch(tiny_run):
    scalars = read_scalars(os.path.join(tiny_run, "logs"))
    panels = group_panels(scalars)
    assert list(panels) == ["pixel", "psnr", "learning_rate"]  # losses, eval metrics, the rest
    assert set(panels["pixel"]) == {"phase1_structural", "phase2_joint"}
    assert [step for step, _ in panels["pixel"]["phase2_joint"]][0] == 40
    assert set(panels["psnr"]) == {"hole"} and set(panels["learning_rate"]) == {"generator"}
    assert phase_changes(scalars) == [40]


def test_builds_pages_grid_and_curves(tiny_run, evaluated_dir, tmp_path):
    paths = build_report(tiny_run, evaluated_dir, str(tmp_path))
    assert set(paths) == {"html", "markdown", "grid", "curves"}
    grid = Image.open(paths["grid"])
    # Nine columns (masked, six baselines, model, truth) and two sample rows, each cell larger than 128 px.
    assert grid.width >= 9 * 128 * 1.5 and grid.height >= 2 * 128 * 1.5
    curves = np.asarray(Image.open(paths["curves"]).convert("L"))
    assert curves.std() > 10  # something was drawn

    html = open(paths["html"]).read()
    markdown = open(paths["markdown"]).read()
    for page in (html, markdown):
        for needed in ("OpenCV Telea", "OpenCV Navier-Stokes", "Mean colour fill", "scikit-image biharmonic",
                       "OpenCV FSR (fast)", "Model (structural inpainting)", "LPIPS", "VGG feature distance",
                       "Paris StreetView", "18.58", "9.37", "grid.png", "training_curves.png", "untrained tiny test generator",
                       "its mirror image (2 passes): self-ensemble mirror"):
            assert needed in page, needed
    assert "<table>" in html
    assert "| Method | PSNR (dB) | SSIM | mean L1 (%) | mean L2 (%) | LPIPS | VGG feature distance |" in markdown


def _markdown_table(markdown, header_start):
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_hole_table_has_every_method_and_marks_the_best_of_each_column(tiny_run, evaluated_dir, tmp_path):
    with open(os.path.join(evaluated_dir, "metrics.json")) as f:
        results = json.load(f)
    methods = results["methods"]
    markdown = open(build_report(tiny_run, evaluated_dir, str(tmp_path))["markdown"]).read()
    rows = _markdown_table(markdown, "| Method | PSNR (dB) | SSIM | mean L1 (%) | mean L2 (%) | LPIPS |")
    assert sorted(r[0] for r in rows) == sorted(results["labels"].values())
    by_label = {results["labels"][name]: name for name in methods}
    columns = [("hole", "psnr", max), ("hole", "ssim", max), ("hole", "l1", min), ("hole", "l2", min),
               ("perceptual", "lpips", min), ("perceptual", "vgg_feature", min)]
    for c, (group, key, pick) in enumerate(columns, start=1):
        best = pick(methods, key=lambda n: methods[n][group][key])
        bold = [by_label[r[0]] for r in rows if r[c].startswith("**")]
        assert bold == [best], (key, bold, best)
    html = open(os.path.join(tmp_path, "report.html")).read()
    assert html.count("<strong>") == len(columns) + 4  # and the patch table's four columns


def test_a_run_without_logs_still_reports_and_says_so(evaluated_dir, tmp_path):
    paths = build_report(str(tmp_path / "no-run"), evaluated_dir, str(tmp_path / "report"))
    assert "curves" not in paths
    assert "No TensorBoard scalars were found" in open(paths["markdown"]).read()


def test_cli_prints_where_the_report_is_and_the_headline(tiny_run, evaluated_dir, tmp_path, capsys):
    run(["--run", tiny_run, "--eval", evaluated_dir, "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.html'}" in out
    assert "Model hole PSNR" in out and "best baseline" in out


def _markdown_section_table(markdown, heading):
    """The rows of the table under the `## heading` of a markdown page."""
    section = markdown.split(f"\n## {heading}\n", 1)[1]
    return _markdown_table(section, "| Method |")


def test_holes_anywhere_report_has_a_table_per_kind_with_the_best_in_bold(tiny_run, anywhere_evaluated_dir, tmp_path):
    with open(os.path.join(anywhere_evaluated_dir, "metrics.json")) as f:
        results = json.load(f)
    paths = build_report(tiny_run, anywhere_evaluated_dir, str(tmp_path))
    markdown, html = open(paths["markdown"]).read(), open(paths["html"]).read()
    assert "on 12 test images with holes anywhere; best baseline" in markdown
    assert "holes anywhere, a mask per record: 6 boxes, 6 strokes" in markdown
    # No patch table: the published context-encoder figures are of the centre hole.
    assert "Paris StreetView" not in markdown and "Against the published" not in html
    by_label = {label: name for name, label in results["labels"].items()}
    columns = [("hole", "psnr", max), ("hole", "ssim", max), ("hole", "l1", min), ("hole", "l2", min),
               ("perceptual", "lpips", min), ("perceptual", "vgg_feature", min)]
    for heading, methods in (("Hole metrics", results["methods"]),
                             ("Hole metrics: boxes", results["by_kind"]["boxes"]),
                             ("Hole metrics: strokes", results["by_kind"]["strokes"])):
        rows = _markdown_section_table(markdown, heading)
        assert [by_label[r[0]] for r in rows] == sorted(methods, key=lambda n: -methods[n]["hole"]["psnr"])
        assert {"telea", "navier_stokes", "biharmonic", "harmonic", "fsr", "mean_fill", "model"} == {by_label[r[0]] for r in rows}
        for c, (group, key, pick) in enumerate(columns, start=1):
            best = pick(methods, key=lambda n: methods[n][group][key])
            assert [by_label[r[0]] for r in rows if r[c].startswith("**")] == [best], (heading, key)
        psnr = {by_label[r[0]]: r[1].strip("*") for r in rows}
        assert psnr == {n: f"{methods[n]['hole']['psnr']:.2f}" for n in methods}
    assert "of the image on average" in markdown
    assert html.count("<table>") == 3 and html.count("<strong>") == 3 * len(columns)


def test_holes_anywhere_grid_shows_the_mask_column_and_a_row_per_sample(tiny_run, anywhere_evaluated_dir,
                                                                        evaluated_dir, tmp_path):
    anywhere = Image.open(build_report(tiny_run, anywhere_evaluated_dir, str(tmp_path / "a"))["grid"])
    centre = Image.open(build_report(tiny_run, evaluated_dir, str(tmp_path / "c"))["grid"])
    # Nine columns (masked, mask, five baselines, model, truth) against the centre grid's eight; four
    # sample rows against two.
    assert anywhere.width == pytest.approx(centre.width * 9 / 8, rel=0.02)
    assert anywhere.height > 1.8 * centre.height
    # The middle of the second column, the masks: black and white only, much of it black (the context).
    pixels = np.asarray(anywhere.convert("RGB")).astype(int)
    masks = pixels[:, int(anywhere.width * 1.3 / 9):int(anywhere.width * 1.7 / 9)]
    assert (masks.max(axis=-1) - masks.min(axis=-1)).max() < 3
    assert (masks.max(axis=-1) < 10).mean() > 0.3
    # The hole's outline on the masked input, in yellow.
    first = pixels[:, :anywhere.width // 9]
    assert ((first[..., 0] > 200) & (first[..., 1] > 200) & (first[..., 2] < 80)).sum() > 500


def test_the_selection_line_gives_the_score_of_the_metric_the_export_was_chosen_by():
    selection = {"by": "eval-split hole L1", "metric": "l1", "step": 2200, "evaluations": 24, "last_step": 2400,
                 "hole": {"l1": 0.11338, "psnr": 17.24}, "last_hole": {"l1": 0.11341, "psnr": 17.22}}
    results = {"split": "test", "model_metadata": {"trained_steps": 2400, "selection": selection}}
    assert selection_line(results).startswith(
        "The export is step 2200 of 2400, the checkpoint with the best eval-split hole L1 over 24 periodic "
        "evaluations (11.34%; the last, at step 2400, scored 11.34%). The figures here come from the `test` split")
    # An export from before the choice of metric was selected by PSNR and says nothing of it.
    legacy = {k: v for k, v in selection.items() if k != "metric"} | {"by": "eval-split hole PSNR"}
    assert "(17.24 dB; the last, at step 2400, scored 17.22 dB)" in selection_line(
        {"split": "test", "model_metadata": {"trained_steps": 2400, "selection": legacy}})


def test_the_intro_says_when_the_model_starts_from_the_harmonic_fill():
    harmonic = {"model_metadata": {"config": {"coarse_fill": "harmonic"}}}
    assert "starts from the hole's harmonic fill (the Harmonic fill row)" in coarse_fill_line(harmonic)
    assert coarse_fill_line({"model_metadata": {"config": {"coarse_fill": "none"}}}) == ""
    assert coarse_fill_line({"model_metadata": {}}) == ""  # exports from before the choice
