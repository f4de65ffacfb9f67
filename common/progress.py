"""Progress lines for long local Beam runs: `done of total, rate, ETA`, at most one every few seconds.

The local runner (pipelines/options.py) runs every bundle in threads of one process and shows
nothing while a stage runs; Dataflow's console shows each step's element counts itself. A DoFn that
does a job's unit of work (a photo decoded, an image written) calls `Progress.tick()`; the ticks of
all its threads go to one reporter per process and name, which prints

    preprocess: 1,200 of 4,000 files (30%), 85 files/s, ETA 0m33s

to stderr at most every `every_seconds`, and at the last unit. One reporter per process is the
point (the threads share the count), so reporters live in a process-wide table.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import TextIO

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
    done: int = 0
    began: float = dataclasses.field(default_factory=time.monotonic)
    printed: float = dataclasses.field(default_factory=time.monotonic)

    def tick(self, count: int) -> None:
        with _LOCK:
            self.done += count
            now = time.monotonic()
            last = self.total is not None and self.done >= self.total
            if now - self.printed < self.every and not last:
                return
            self.printed = now
            self.stream.write(line(self.label, self.unit, self.done, self.total, now - self.began) + "\n")
            self.stream.flush()


def line(label: str, unit: str, done: int, total: int | None, seconds: float) -> str:
    """`label: done of total unit (pct), rate unit/s, ETA` (no total: done and rate only)."""
    rate = done / seconds if seconds > 0 else 0.0
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
    `enabled` False (e.g. on Dataflow, whose console shows progress) makes `tick` a no-op."""

    label: str
    unit: str
    total: int | None = None
    enabled: bool = True
    every_seconds: float = EVERY_SECONDS

    def tick(self, count: int = 1, stream: TextIO | None = None) -> None:
        if not self.enabled:
            return
        with _LOCK:
            reporter = _REPORTERS.get(self._key) or self._new_reporter(stream)
        reporter.tick(count)

    def start(self, stream: TextIO | None = None) -> None:
        """Starts this process's count and clock now (a new run: an earlier run's count is dropped),
        so that the rate counts from the job's start, not from its first unit."""
        if self.enabled:
            with _LOCK:
                self._new_reporter(stream)

    def reset(self) -> None:
        """Forgets this process's count, for a new run in the same process."""
        with _LOCK:
            _REPORTERS.pop(self._key, None)

    @property
    def _key(self) -> str:
        return f"{self.label}/{self.unit}"

    def _new_reporter(self, stream: TextIO | None) -> _Reporter:
        """The process's reporter of this label and unit, replaced by a fresh one (under _LOCK)."""
        reporter = _REPORTERS[self._key] = _Reporter(self.label, self.unit, self.total, self.every_seconds,
                                                      stream or sys.stderr)
        return reporter
