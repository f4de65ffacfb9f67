"""Progress of long runs: `done of total, rate, ETA`, at most one line every few seconds, or Keras's
live progress bar on a terminal where the caller asks for one (training).

The local runner (pipelines/options.py) runs every bundle in threads of one process and shows
nothing while a stage runs; Dataflow's console shows each step's element counts itself. A DoFn that
does a job's unit of work (a photo decoded, an image written) calls `Progress.tick()`; the ticks of
all its threads go to one reporter per process and name, which prints

    preprocess: 1,200 of 4,000 files (30%), 85 files/s, ETA 0m33s

to stderr at most every `every_seconds`, and at the last unit. One reporter per process is the
point (the threads share the count), so reporters live in a process-wide table.

Training (model/train.py) ticks once per step with the step's values (loss, images/s, phase),
which follow the line, or go to the bar: a bar on a log file would write a carriage-return update
per step.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any, TextIO

EVERY_SECONDS = 5.0
_REPORTERS: dict[str, "_Reporter"] = {}
_LOCK = threading.Lock()


@dataclasses.dataclass
class _Reporter:
    label: str
    unit: str
    total: int | None
    every: float
    stream: TextIO
    bar: bool
    done: int = 0
    began: float = dataclasses.field(default_factory=time.monotonic)
    printed: float = dataclasses.field(default_factory=time.monotonic)
    first: int = 0  # the count the run started from (a resumed training run's step)
    progbar: Any = None  # Keras's bar, made at the first tick on a terminal

    def tick(self, count: int, values: dict[str, float] | None) -> None:
        with _LOCK:
            self.done += count
            if self.bar and self.stream.isatty():
                self._update_bar(values or {})
                return
            now = time.monotonic()
            last = self.total is not None and self.done >= self.total
            if now - self.printed < self.every and not last:
                return
            self.printed = now
            text = line(self.label, self.unit, self.done, self.total, now - self.began, self.first)
            self.stream.write(text + "".join(f", {name} {value:.4g}" for name, value in (values or {}).items()) + "\n")
            self.stream.flush()

    def _update_bar(self, values: dict[str, float]) -> None:
        if self.progbar is None:
            import keras  # only where a bar is drawn: the pipelines' workers need no Keras

            self.progbar = keras.utils.Progbar(self.total, stateful_metrics=list(values), unit_name=self.unit)
            self.progbar.update(self.first)
        self.progbar.update(self.done, list(values.items()))


def line(label: str, unit: str, done: int, total: int | None, seconds: float, first: int = 0) -> str:
    """`label: done of total unit (pct), rate unit/s, ETA` (no total: done and rate only); the rate
    counts from `first`, where the run started."""
    rate = (done - first) / seconds if seconds > 0 else 0.0
    text = f"{label}: {done:,}"
    if total:
        text += f" of {total:,} {unit} ({100 * done / total:.0f}%)"
    else:
        text += f" {unit}"
    text += f", {rate:.1f} {unit}/s"
    if total and rate > 0 and done < total:
        eta = (total - done) / rate
        text += f", ETA {int(eta // 60)}m{int(eta % 60):02d}s"
    return text


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a DoFn holds (it pickles): the name of its process-wide reporter and how to make it.
    `enabled` False (e.g. on Dataflow, whose console shows progress) makes `tick` a no-op; `bar` draws
    Keras's progress bar where the stream is a terminal."""

    label: str
    unit: str
    total: int | None = None
    enabled: bool = True
    every_seconds: float = EVERY_SECONDS
    bar: bool = False

    def tick(self, count: int = 1, stream: TextIO | None = None, values: dict[str, float] | None = None) -> None:
        """Counts `count` units done; `values` (e.g. a training step's loss) follow the line."""
        if not self.enabled:
            return
        with _LOCK:
            reporter = _REPORTERS.get(self._key) or self._new_reporter(stream)
        reporter.tick(count, values)

    def start(self, stream: TextIO | None = None, done: int = 0) -> None:
        """Starts this process's count at `done` and its clock now (a new run: an earlier run's count is
        dropped), so that the rate counts from the job's start, not from its first unit."""
        if self.enabled:
            with _LOCK:
                reporter = self._new_reporter(stream)
                reporter.done = reporter.first = done

    @property
    def _key(self) -> str:
        return f"{self.label}/{self.unit}"

    def _new_reporter(self, stream: TextIO | None) -> _Reporter:
        """The process's reporter of this label and unit, replaced by a fresh one (under _LOCK)."""
        reporter = _REPORTERS[self._key] = _Reporter(self.label, self.unit, self.total, self.every_seconds,
                                                      stream or sys.stderr, self.bar)
        return reporter
