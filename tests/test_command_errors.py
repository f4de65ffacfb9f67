"""Every command answers a user's mistake with one line on stderr, `COMMAND: problem; fix`, a
non-zero status, no traceback and nothing written (issue 11); a local preprocess run shows its
progress. Each case runs the real command line in a subprocess.

The exports and data sets here are what the checks read (saved_model.pb beside inpainting.json, a
manifest.json, run.json): each command must stop at the check, before it loads anything, so the
files need no real model or records behind them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from tfrecords import Geometry

pytestmark = pytest.mark.slow  # each case runs a command in a fresh process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = Geometry(image_size=64, patch_size=32, overlap=2)
# Hides Beam's GCS filesystem, as an install without apache-beam[gcp] lacks it.
WITHOUT_GCP = "import sys; sys.modules['apache_beam.io.gcp.gcsfilesystem'] = None\n"


def _export(folder: Path, geometry: Geometry, metadata: bool = True) -> str:
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    if metadata:
        (folder / "inpainting.json").write_text(json.dumps({"geometry": geometry.to_dict(), "holes": "center"}))
    return str(folder)


def _data(folder: Path, geometry: Geometry, schema_version: int = 2) -> str:
    folder.mkdir(parents=True)
    (folder / "eval-00000-of-00001.tfrecord.gz").write_bytes(b"")
    (folder / "manifest.json").write_text(json.dumps({"schema_version": schema_version,
                                                      "geometry": geometry.to_dict()}))
    return str(folder)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Photos, an empty folder, a file, exports and data sets of two geometries, a run directory."""
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (150, 170, 3), np.uint8)).save(tmp_path / "photos" / f"{name}.jpg")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    _export(tmp_path / "export", Geometry())
    _export(tmp_path / "bare_savedmodel", Geometry(), metadata=False)
    _data(tmp_path / "records", Geometry())
    _data(tmp_path / "records64", SMALL)
    _data(tmp_path / "records_v99", Geometry(), schema_version=99)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"geometry": SMALL.to_dict(), "holes": "center"}))
    (tmp_path / "gcp_hidden").mkdir()
    (tmp_path / "gcp_hidden" / "sitecustomize.py").write_text(WITHOUT_GCP)
    return tmp_path


# (the command and its arguments, {t} standing for the tree; the words its one line must hold)
Case = tuple[list[str], list[str]]
CASES: dict[str, Case] = {
    "preprocess-folder-without-photos": (
        ["pipelines.preprocess", "--input", "{t}/empty", "--output", "{t}/out"],
        ["preprocess: --input {t}/empty matches no image files"]),
    "preprocess-glob-matching-nothing": (
        ["pipelines.preprocess", "--input", "{t}/photos/*.png", "--output", "{t}/out"],
        ["--input {t}/photos/*.png matches no files"]),
    "preprocess-output-inside-input": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/photos/records"],
        ["--output {t}/photos/records is inside the --input folder {t}/photos", "outside it"]),
    "preprocess-unwritable-output": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/a_file/records"],
        ["cannot write to --output {t}/a_file/records (", "Not a directory", "give a folder you can write to"]),
    "preprocess-output-is-a-file": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/a_file"],
        ["--output {t}/a_file is a file"]),
    "preprocess-gs-input-without-gcp-extras": (
        ["pipelines.preprocess", "--input", "gs://bucket/photos", "--output", "{t}/out"],
        ["preprocess: gs:// needs Beam's GCP extras", "pip install 'apache-beam[gcp]'"]),
    "preprocess-gs-output-without-gcp-extras": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "gs://bucket/records"],
        ["gs:// needs Beam's GCP extras"]),
    "preprocess-unknown-option": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/out", "--crop-per-image", "3"],
        ["unknown option --crop-per-image", "did you mean --crops-per-image?", "see --help"]),
    "preprocess-bad-value": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/out", "--crops-per-image", "x"],
        ["preprocess: argument --crops-per-image: invalid int value: 'x'", "--help"]),
    "preprocess-masks-folder-without-masks": (
        ["pipelines.preprocess", "--input", "{t}/photos", "--output", "{t}/out", "--masks", "{t}/empty"],
        ["--masks {t}/empty matches no image files"]),
    "inpaint-model-copies-below-one": (
        ["pipelines.inpaint", "--model", "{t}/export", "--input", "{t}/records/eval-*", "--output", "{t}/out",
         "--model-copies", "0"],
        ["inpaint: --model-copies 0 is below 1", "give 1 or more, or leave it out"]),
    "inpaint-model-not-an-export": (
        ["pipelines.inpaint", "--model", "{t}/photos", "--input", "{t}/records/eval-*", "--output", "{t}/out"],
        ["inpaint: --model {t}/photos is not an export (no saved_model.pb or inpainting.json in it)",
         "make export"]),
    "inpaint-glob-matching-nothing": (
        ["pipelines.inpaint", "--model", "{t}/export", "--input", "{t}/records/test-*.tfrecord.gz", "--output",
         "{t}/out"], ["--input {t}/records/test-*.tfrecord.gz matches no files"]),
    "inpaint-output-inside-input": (
        ["pipelines.inpaint", "--model", "{t}/export", "--input", "{t}/photos", "--output", "{t}/photos/inpainted"],
        ["--output {t}/photos/inpainted is inside the --input folder {t}/photos"]),
    "evaluate-model-without-inpainting-json": (
        ["evaluation.evaluate", "--model", "{t}/bare_savedmodel", "--data", "{t}/records", "--output", "{t}/out"],
        ["evaluation.evaluate: --model {t}/bare_savedmodel is not an export (no inpainting.json in it)"]),
    "evaluate-records-of-another-geometry": (
        ["evaluation.evaluate", "--model", "{t}/export", "--data", "{t}/records64", "--output", "{t}/out"],
        ["the records in {t}/records64 are 64px crops", "the model {t}/export takes 128px crops",
         "preprocessed at the model's geometry"]),
    "train-data-without-manifest": (
        ["model.train", "--data", "{t}/photos", "--model-dir", "{t}/out"],
        ["model.train: no manifest.json in {t}/photos; give the folder the preprocess stage wrote"]),
    "train-records-of-another-schema": (
        ["model.train", "--data", "{t}/records_v99", "--model-dir", "{t}/out"],
        ["schema version 99", "this code reads 1, 2", "preprocess the photos again"]),
    "train-resumed-on-records-of-another-geometry": (
        ["model.train", "--data", "{t}/records", "--model-dir", "{t}/run"],
        ["the records in {t}/records are 128px crops", "the run {t}/run takes 64px crops",
         "use a new --model-dir"]),
    "train-unknown-option": (
        ["model.train", "--data", "{t}/records", "--model-dir", "{t}/out", "--stepz", "3"],
        ["model.train: unrecognized arguments: --stepz 3; see python -m model.train --help"]),
    "export-not-a-run-directory": (
        ["model.export", "--model-dir", "{t}/photos", "--output", "{t}/out"],
        ["model.export: no config.json in {t}/photos: not a training run directory", "make train"]),
    "report-eval-folder-without-metrics": (
        ["evaluation.report", "--run", "{t}/run", "--eval", "{t}/empty", "--output", "{t}/out"],
        ["evaluation.report: no metrics.json in --eval {t}/empty", "make evaluate"]),
}


def _command(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=env)


def _snapshot(folder: Path) -> list[tuple[str, bytes]]:
    """Every path under `folder` with its content, so that a case can tell nothing was written."""
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"") for p in folder.rglob("*"))


@pytest.mark.parametrize("name", CASES)
def test_a_mistake_is_one_line_on_stderr_and_writes_nothing(name: str, tree: Path):
    args, words = CASES[name]
    fill: Callable[[str], str] = lambda text: text.replace("{t}", str(tree))
    before = _snapshot(tree)  # every output named lies in the tree
    env = ({**os.environ, "PYTHONPATH": str(tree / "gcp_hidden"), "PYTHONDONTWRITEBYTECODE": "1"}
           if "without-gcp" in name else None)
    done = _command([fill(a) for a in args], env)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    command, _, message = lines[0].partition(": ")
    assert command in ("preprocess", "inpaint", "model.train", "model.export", "evaluation.evaluate", "evaluation.report")
    assert "; " in message, lines[0]
    for word in words:
        assert fill(word) in lines[0]
    assert _snapshot(tree) == before


def test_a_local_preprocess_run_shows_files_done_of_the_total(tree: Path):
    done = _command(["pipelines.preprocess", "--input", str(tree / "photos"), "--output", str(tree / "records_new"),
                     "--direct_num_workers", "2"])
    assert done.returncode == 0, done.stderr
    assert "preprocess: 3 of 3 files (100%)" in done.stderr
    assert "Converting string literal type hint" not in done.stderr
