"""`make demo`'s path scaled down: real photos -> preprocess -> train -> bulk inpaint -> evaluate -> report,
through the same `run`/`main` functions the Makefile's commands call, with few images and steps."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

from evaluation import evaluate, report, report_curves
from model import train, vgg_weights
from pipelines import inpaint, preprocess

pytestmark = pytest.mark.slow  # runs the demo's stages end to end

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field")
LOCAL_BEAM = ["--runner", "FnApiRunner", "--direct_num_workers", "1"]


def _raw_photos(directory) -> str:
    os.makedirs(directory)
    for i, name in enumerate(PHOTOS):
        pixels = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
        # Both formats the demo's photo collection holds.
        Image.fromarray(pixels).save(os.path.join(directory, f"{name}.{'jpg' if i % 2 else 'png'}"), quality=92)
    return str(directory)


def test_demo_path_end_to_end(tmp_path, capsys):
    raw = _raw_photos(tmp_path / "raw")
    records, run_dir = str(tmp_path / "tfrecords"), str(tmp_path / "run")
    inpainted, eval_dir, report_dir = str(tmp_path / "inpainted"), str(tmp_path / "eval"), str(tmp_path / "report")

    manifest = preprocess.run(["--input", raw, "--output", records, "--crops-per-image", "2",
                               "--eval-fraction", "0.4", *LOCAL_BEAM])
    assert manifest["files_matched"] == len(PHOTOS) and manifest["rejects"] == 0
    test_records = manifest["splits"]["test"]["records"]
    assert test_records > 0 and manifest["splits"]["eval"]["records"] > 0 and manifest["splits"]["train"]["records"] > 0

    vgg = str(tmp_path / "vgg16_imagenet_conv3_1.npz")
    vgg_weights.extract(vgg)
    assert train.main(["--data", records, "--model-dir", run_dir, "--steps", "6", "--batch-size", "4",
                       "--bottleneck", "16", "--width", "8", "--vgg-weights", vgg, "--log-every", "1",
                       "--eval-every", "2", "--eval-images", "4"]) == 0
    export = os.path.join(run_dir, "export")
    assert os.path.exists(os.path.join(export, "saved_model.pb"))

    summary = inpaint.run(["--model", export, "--input", os.path.join(records, "test-*.tfrecord.gz"),
                           "--output", inpainted, "--batch-size", "4", *LOCAL_BEAM])
    assert summary["inputs"] == summary["inpainted"] == test_records and summary["rejects"] == 0

    # The held-out split by default: photos that neither training nor checkpoint selection saw.
    results = evaluate.run(["--model", export, "--data", records, "--output", eval_dir])
    assert results["split"] == "test" and results["count"] == test_records
    # The Beam job and the evaluation ran the same SavedModel on the same records: same hole scores.
    for name in ("psnr", "ssim", "l1", "l2"):
        assert results["methods"]["model"]["hole"][name] == pytest.approx(summary["metrics"]["hole"][name], rel=1e-6)

    paths = report.run(["--run", run_dir, "--eval", eval_dir, "--output", report_dir])
    out = capsys.readouterr().out
    assert f"report: {os.path.abspath(paths['html'])}" in out and "Model hole PSNR" in out
    assert "curves" in paths  # the trainer's TensorBoard scalars were found and drawn
    panels = report_curves.group_panels(report_curves.read_scalars(os.path.join(run_dir, "logs")))
    assert set(panels["pixel"]) == {"phase1_structural"}  # the measured recipe has no adversarial phase
    assert {"hole", "patch"} <= set(panels["psnr"])
    grid = np.asarray(Image.open(paths["grid"]))
    assert grid.shape[0] > 256 and grid.shape[1] > 6 * 128
    with open(os.path.join(eval_dir, evaluate.METRICS)) as f:
        metadata = json.load(f)["model_metadata"]
    best = json.load(open(os.path.join(run_dir, "checkpoints", "best", "best.json")))
    assert metadata["trained_steps"] == 6 and metadata["step"] == best["step"] in (2, 4, 6)
    assert "which neither training nor that selection saw" in open(paths["markdown"]).read()
