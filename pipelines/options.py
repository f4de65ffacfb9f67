"""Beam pipeline options shared by the project's pipelines."""
from __future__ import annotations

import logging
import os

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

# Beam's DirectRunner first tries the Prism runner, which it downloads; the FnApiRunner runs
# in-process and offline, here with one worker thread per core. Threads rather than processes: the
# heavy calls (Pillow, zlib, TensorFlow) release the GIL, and threads skip the gRPC data plane and
# the per-process TensorFlow start-up. On 2 cores, threads ran preprocess 1.7x and inpaint 1.4x
# faster end to end than processes (bench/RESULTS.md).
LOCAL_RUNNER = "FnApiRunner"
LOCAL_MODE = "multi_threading"


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
            direct.direct_running_mode = LOCAL_MODE if direct.direct_num_workers > 1 else "in_memory"
        logging.info("Running locally on %s with %d %s worker(s)", LOCAL_RUNNER,
                     direct.direct_num_workers, direct.direct_running_mode)
    return options
