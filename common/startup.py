"""TensorFlow's start-up settings, applied by each command before it imports TensorFlow.

`configure()` turns TensorFlow's oneDNN CPU kernels on (TensorFlow turns them on by itself only on
CPUs with AVX-512/AMX; on AVX2 CPUs they make the train step 2.8x faster, bench/RESULTS.md;
TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off) and, for a command, keeps
TensorFlow's start-up notices out of its stderr.

Every TensorFlow process prints, before its logging is set up and whatever TF_CPP_MIN_LOG_LEVEL
says, that oneDNN is on, which CPU instructions it could have been built for, and, on a machine
without an NVIDIA driver, `Could not find cuda drivers` and an `E0000 ... failed call to cuInit`
line that reads like a failure; where a uint8 or bool tensor meets a oneDNN kernel it logs, as an
error, that it falls back to TensorFlow's own.
`install()` drops exactly those lines and lets everything else through:
- a filter process reads the process's stderr (file descriptor 2, where TensorFlow's C++ code
  writes) through a pipe and copies every other line to the real stderr as it comes; being a
  process of its own, it still drains the pipe if this one dies, so a crash's last words are kept;
- the CUDA lines are dropped only where no NVIDIA driver is loaded: with a GPU they are news;
- TensorFlow's C++ INFO lines after start-up (TF_CPP_MIN_LOG_LEVEL 1 unless set) and its Python
  INFO lines (checkpoint timings, logged through absl) go too; warnings and errors stay.
"""
from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys

NVIDIA_DRIVER = "/proc/driver/nvidia/version"
ALWAYS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"I0000 .* port\.cc:\d+\] oneDNN custom operations are on",
    r"I0000 .* cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
    # Logged as an error, once, where a non-float tensor meets a oneDNN kernel, which TensorFlow's own then
    # runs: the quarter turns transpose uint8 crops and boolean masks (casting to float first does not
    # help: Grappler moves the transpose before the cast).
    r"E0000 .* util\.cc:\d+\] oneDNN supports DT_\w+ only on platforms with AVX-512\. Falling back to the default",
)
WITHOUT_DRIVER = (
    r"I0000 .* cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
    r"E0000 .* cuda_platform\.cc:\d+\] failed call to cuInit",
)
# The filter: stdin lines to stderr, unless they match; unbuffered both ways.
_FILTER = ("import re, sys\n"
           "noise = re.compile(sys.argv[1])\n"
           "out = sys.stderr.buffer\n"
           "for line in sys.stdin.buffer:\n"
           "    if not noise.match(line.decode(errors='replace')):\n"
           "        out.write(line); out.flush()\n")


def noise_pattern(has_driver: bool) -> str:
    """The regular expression of the lines `install` drops (matched at a line's start)."""
    return "|".join(f"(?:{p})" for p in ALWAYS + (() if has_driver else WITHOUT_DRIVER))


def install() -> None:
    """Filters this process's stderr; call before TensorFlow is imported. Once per process."""
    if os.environ.get("INPAINTING_QUIET") == "0" or getattr(install, "done", False):
        return
    install.done = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    for name in ("tensorflow", "absl"):  # TensorFlow's Python code logs through both
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        sys.stderr.flush()
        read, write = os.pipe()
        process = subprocess.Popen([sys.executable, "-I", "-c", _FILTER, noise_pattern(os.path.exists(NVIDIA_DRIVER))],
                                   stdin=read, stdout=subprocess.DEVNULL, close_fds=True)
    except OSError:  # no filter: the notices show, nothing else changes
        return
    original = os.dup(2)
    os.dup2(write, 2)
    os.close(read)
    os.close(write)

    def finish() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer closes: the filter drains it and exits
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()

    atexit.register(finish)


def configure(command: bool) -> None:
    """Call at the top of an entry point, before anything imports TensorFlow; `command` is whether
    this process is that command (`__name__ == "__main__"`), whose stderr is then filtered."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if command:
        install()
