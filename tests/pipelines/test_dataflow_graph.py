"""Dataflow readiness without a cloud: the sdist carries the workers' modules, and both pipelines
build their graphs from the Makefile's Dataflow command lines (nothing is submitted)."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (DebugOptions, GoogleCloudOptions, SetupOptions, StandardOptions,
                                                  WorkerOptions)

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines import inpaint, preprocess
from pipelines.inpaint_settings import ENGINES

pytestmark = pytest.mark.slow  # builds an sdist and the Dataflow graphs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("tfrecords", "common", "model", "evaluation", "pipelines", "demo")
WORKER_ENTRY_POINTS = ("pipelines.inpaint", "pipelines.preprocess")


def _project_modules_imported_by(modules: tuple[str, ...]) -> list[str]:
    """Repository-relative files of every project module that importing `modules` loads."""
    code = (f"import json, sys, importlib; [importlib.import_module(m) for m in {list(modules)!r}]; "
            "print(json.dumps(sorted(getattr(m, '__file__', None) or '' for m in list(sys.modules.values()))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    files = [os.path.relpath(f, REPO) for f in json.loads(out.stdout.strip().splitlines()[-1]) if f]
    return sorted(f for f in files if f.split(os.sep)[0] in PACKAGES)


def test_sdist_carries_every_module_the_workers_import(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(os.path.join(REPO, "setup.py"), source)
    for package in PACKAGES:
        shutil.copytree(os.path.join(REPO, package), source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "dist")], cwd=source,
                   check=True, capture_output=True)
    (archive,) = (tmp_path / "dist").iterdir()
    with tarfile.open(archive) as tar:
        shipped = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    needed = _project_modules_imported_by(WORKER_ENTRY_POINTS)
    assert "pipelines/model_handler.py" in needed and "tfrecords/geometry.py" in needed
    assert [f for f in needed if f not in shipped] == []


def _make_command(target: str, **variables: str) -> list[str]:
    """The pipeline's argv from `make -n TARGET` (what the Makefile would run)."""
    assignments = [f"{k}={v}" for k, v in variables.items()]
    out = subprocess.run(["make", "--no-print-directory", "-n", target, *assignments], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    (line,) = [l for l in out.replace("\\\n", " ").splitlines() if "-m pipelines." in l]
    argv = shlex.split(line)
    return argv[argv.index("-m") + 2:]


def _assert_dataflow_options(options) -> None:
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    cloud = options.view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region) == ("my-project", "europe-west4")
    assert cloud.temp_location == "gs://my-bucket/tmp"
    assert options.view_as(SetupOptions).setup_file == "./setup.py"
    assert options.view_as(WorkerOptions).sdk_container_image.endswith("/my-project/inpainting/worker:latest")


def _unsubmitted_pipeline(options) -> beam.Pipeline:
    """A pipeline under the Dataflow options whose runner object never submits: with the real
    DataflowRunner, construction already asks GCS whether the temp bucket exists."""
    return beam.Pipeline(runner=FnApiRunner(), options=options)


def _transform_names(pipeline: beam.Pipeline) -> set[str]:
    proto = pipeline.to_runner_api()
    return {t.unique_name for t in proto.components.transforms.values()}


@pytest.mark.parametrize("engine", ENGINES)
def test_inpaint_graph_builds_under_the_makefile_dataflow_options(exported_model, engine):
    # The model must be readable where the job is built (its geometry); the rest stays in the bucket.
    # tfx-bsl's RunInference has no model sharing across processes: MODEL_COPIES= leaves it out.
    copies = {"MODEL_COPIES": ""} if engine == "tfx-bsl" else {}
    argv = _make_command("dataflow-inpaint", PROJECT="my-project", BUCKET="my-bucket", REGION="europe-west4",
                         MODEL=exported_model, GPU="nvidia-tesla-t4", BEAM_ARGS=f"--engine {engine}", **copies)
    args, beam_args = inpaint.parse_args(argv)
    settings = inpaint.settings_from(args)
    assert (settings.input_format, settings.output) == ("tfrecord", "gs://my-bucket/inpainted")
    assert settings.model_copies == (None if engine == "tfx-bsl" else 1)
    options = inpaint.pipeline_options(beam_args)
    _assert_dataflow_options(options)
    assert options.view_as(GoogleCloudOptions).dataflow_service_options == [
        "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"]
    assert options.view_as(WorkerOptions).machine_type == "g2-standard-16"
    assert options.view_as(DebugOptions).number_of_worker_harness_threads == 16
    # One SDK process per vCPU (Dataflow's default), sharing the model's copy on the GPU.
    assert "no_use_multiple_sdk_containers" not in (options.view_as(DebugOptions).experiments or [])

    pipeline = _unsubmitted_pipeline(options)
    inpaint.build(pipeline, settings)
    names = _transform_names(pipeline)
    assert {"ReadAndValidate/MatchFiles", "ReadAndValidate", "Inpaint", "WriteOutputs", "WriteSummary"} <= names
    assert any(name.startswith("Inpaint/RunInference") for name in names)


def test_preprocess_graph_builds_under_the_makefile_dataflow_options():
    argv = _make_command("dataflow-preprocess", PROJECT="my-project", BUCKET="my-bucket", REGION="europe-west4")
    args, beam_args = preprocess.parse_args(argv)
    assert (args.input, args.output) == ("gs://my-bucket/photos", "gs://my-bucket/tfrecords")
    options = preprocess.pipeline_options(beam_args)
    _assert_dataflow_options(options)

    from pipelines import images
    from pipelines.shard_files import shards_per_split
    from pipelines.splits import SplitSpec
    from tfrecords.geometry import Geometry

    pipeline = _unsubmitted_pipeline(options)
    splits = SplitSpec(args.eval_fraction, args.test_fraction, args.split_group_pattern, args.test_source)
    spec = images.CropSpec(scale=args.crop_scale, mode="random", count=args.crops_per_image)
    preprocess.build(pipeline, preprocess.Settings(args.input, args.output, Geometry(), spec, splits,
                                                   shards_per_split(10_000, 0, args.crops_per_image, splits)))
    names = _transform_names(pipeline)
    assert {"MatchFiles", "ReadHashAndDecode", "WriteManifest"} <= names
