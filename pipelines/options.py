"""Beam pipeline options shared by the project's pipelines."""
from __future__ import annotations

import difflib
import inspect
import logging
import os
from collections.abc import Iterable

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.worker import statesampler

from common.usage import UsageError

# Beam's DirectRunner first tries the Prism runner, which it downloads; the FnApiRunner runs
# in-process and offline. Locally it runs each stage's bundles on one worker per core, as threads
# of this process that call the DoFns directly ("in_memory"): the heavy calls (Pillow, ISA-L,
# TensorFlow) release the GIL. Its "multi_threading" mode runs the same threads behind an in-process
# gRPC data plane, which copies every element, and "multi_processing" adds a Python and TensorFlow
# start-up per worker: both were slower here (bench/RESULTS.md).
LOCAL_RUNNER = "FnApiRunner"
LOCAL_MODE = "in_memory"
_FN_RUNNER_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner"
IN_PROCESS_MODES = ("in_memory", "multi_threading")
# A bundle ends by joining its state sampler's thread, which sleeps a sampling period between
# samples ("May have to wait up to sampling_period_ms", Beam's statesampler_fast.pyx). The period
# ramps from 2 ms to Beam's 200 ms over a bundle's first second, so every stage that ran longer
# ended up to 200 ms after its last element (bench/RESULTS.md). Bundles that run in this process
# sample every 10 ms instead; the sampler thread does its work without the GIL.
LOCAL_STATE_SAMPLING_MS = 10


class UnknownOptionError(UsageError):
    """An argument that neither the command nor Beam knows: a typo must not silently run the job with
    a default (Beam alone only warns, "Discarding unparseable args")."""


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Beam options from the arguments the pipeline did not claim, with an offline local default;
    UnknownOptionError as `check_options` raises it (a command calls that first, with its own options)."""
    options = check_options(beam_args)
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
        if direct.direct_running_mode in IN_PROCESS_MODES:
            _sample_bundle_state_every(LOCAL_STATE_SAMPLING_MS)
        logging.info("Running locally on %s with %d %s worker(s)", LOCAL_RUNNER,
                     direct.direct_num_workers, direct.direct_running_mode)
    return options


def _sample_bundle_state_every(milliseconds: int) -> None:
    """Makes `milliseconds` the sampling period of the bundles this process runs (the default of
    `StateSampler`'s `sampling_period_ms`, which the SDK worker leaves unset); a Beam whose sampler
    takes no such parameter keeps its own."""
    init = statesampler.StateSampler.__init__
    if list(inspect.signature(init).parameters)[-1:] == ["sampling_period_ms"] and len(init.__defaults__ or ()) == 1:
        init.__defaults__ = (milliseconds,)


def check_options(beam_args: list[str], command_options: Iterable[str] = (),
                  command: str = "pipeline") -> PipelineOptions:
    """Beam's view of `beam_args`, as they are; UnknownOptionError (its line starts with `command`)
    for an option that Beam does not know either, suggesting the closest of the command's own
    `command_options` (e.g. "--crops-per-image") and Beam's. Says nothing where all are known:
    a command checks them before it writes anything."""
    options = PipelineOptions(beam_args)
    unknown = unknown_options(options)
    if unknown:
        name = f"--{unknown[0].replace('_', '-')}"
        spelled = next((a.split("=", 1)[0] for a in beam_args if a.split("=", 1)[0].lstrip("-").replace("-", "_")
                        == unknown[0]), name)
        close = difflib.get_close_matches(spelled, list(command_options) + _beam_option_names(), n=1, cutoff=0.75)
        raise UnknownOptionError(command, f"unknown option {spelled}: neither this command nor Beam knows it"
                                 + (f" (did you mean {close[0]}?)" if close else ""), "see --help")
    return options


def runs_in_this_process(options: PipelineOptions) -> bool:
    """Whether the job runs on the local runner's threads in this process: where common/progress.py
    can count its work in one place (a remote runner's console shows its own progress; worker
    processes would each count a part)."""
    return (options.view_as(StandardOptions).runner == LOCAL_RUNNER
            and options.view_as(DirectOptions).direct_running_mode == "in_memory")


def _drop_in_memory_workers_warning(record: logging.LogRecord) -> bool:
    """The FnApiRunner warns that in_memory workers do not run in parallel; they do (it hands each
    bundle's parts to a thread pool, one in-process worker each), so the warning would mislead."""
    return not str(record.msg).startswith("If direct_num_workers is not equal to 1")


def unknown_options(options: PipelineOptions) -> list[str]:
    """The names of the options that no Beam options class declares."""
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)  # its "Discarding unparseable args" warning: we say it better
    try:
        return sorted(set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options()))
    finally:
        beam_logger.setLevel(level)


def _beam_option_names() -> list[str]:
    return [f"--{name}" for name in PipelineOptions([]).get_all_options()]
