"""Beam pipeline options shared by the project's pipelines."""
from __future__ import annotations

import logging
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

# Beam's DirectRunner first tries the Prism runner, which it downloads; the FnApiRunner runs
# in-process and offline. Locally it runs each stage's bundles on one worker per core, as threads
# of this process that call the DoFns directly ("in_memory"): the heavy calls (Pillow, ISA-L,
# TensorFlow) release the GIL. Its "multi_threading" mode runs the same threads behind an in-process
# gRPC data plane, which copies every element, and "multi_processing" adds a Python and TensorFlow
# start-up per worker: both were slower here (bench/RESULTS.md).
LOCAL_RUNNER = "FnApiRunner"
LOCAL_MODE = "in_memory"
_FN_RUNNER_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner"


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Beam options from the arguments the pipeline did not claim, with an offline local default."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = LOCAL_RUNNER
    if standard.runner == LOCAL_RUNNER:
        direct = options.view_as(DirectOptions)
        if "--direct_num_workers" not in " ".join(beam_args):
            direct.direct_num_workers = os.cpu_count() or 1
        if "--direct_running_mode" not in " ".join(beam_args):
            direct.direct_running_mode = LOCAL_MODE
        if direct.direct_running_mode == "in_memory":
            logging.getLogger(_FN_RUNNER_LOGGER).addFilter(_drop_in_memory_workers_warning)
        logging.info("Running locally on %s with %d %s worker(s)", LOCAL_RUNNER,
                     direct.direct_num_workers, direct.direct_running_mode)
    return options


def _drop_in_memory_workers_warning(record: logging.LogRecord) -> bool:
    """The FnApiRunner warns that in_memory workers do not run in parallel; they do (it hands each
    bundle's parts to a thread pool, one in-process worker each), so the warning would mislead."""
    return not str(record.msg).startswith("If direct_num_workers is not equal to 1")
