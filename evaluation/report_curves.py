"""The report's training curves: every scalar the trainer logged to TensorBoard, one panel per quantity."""
from __future__ import annotations

import glob
import logging
import os
import re
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402

# tag -> run (the folder under logs/ that holds the events, e.g. "train", "eval") -> [(step, value)]
Scalars = dict[str, dict[str, list[tuple[int, float]]]]
# panel title -> series label -> [(step, value)]
Panels = dict[str, dict[str, list[tuple[int, float]]]]
# The trainer logs `phase1_structural/pixel`, `phase2_joint/pixel`, ... and `hole/psnr`, `patch/psnr`:
# such a first component names a series of the panel its second names. Any other `a/b` is panel a,
# series b.
SERIES_PREFIX = re.compile(r"^(phase\d+\w*|hole|patch)$")
PHASE_TAG = "phase"


def read_scalars(log_dir: str) -> Scalars:
    """Every scalar in the TensorBoard event files under `log_dir`, old-style or tensor summaries."""
    series: Scalars = defaultdict(lambda: defaultdict(list))
    for path in sorted(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True)):
        run = os.path.relpath(os.path.dirname(path), log_dir)
        run = "" if run == "." else run
        try:
            for record in tf.data.TFRecordDataset(path):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    scalar = _scalar(value)
                    if scalar is not None:
                        series[value.tag][run].append((int(event.step), scalar))
        except tf.errors.DataLossError:
            # A trainer killed mid-write leaves a truncated last record; what came before is good.
            logging.warning("truncated event file %s: using the records before the damage", path)
    return {tag: {run: sorted(points) for run, points in runs.items()} for tag, runs in sorted(series.items())}


def _scalar(value) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.metadata.plugin_data.plugin_name in ("scalars", ""):
        array = tf.make_ndarray(value.tensor)
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            return float(array.reshape(()))
    return None


def group_panels(scalars: Scalars) -> Panels:
    """Scalars arranged as panels of series: losses first (one panel per loss, a series per training
    phase), then eval metrics (a series per region), then the rest. The `phase` tag is left out: the
    plot marks phase changes instead."""
    panels: dict[tuple[int, str], dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    for tag, runs in scalars.items():
        if tag == PHASE_TAG:
            continue
        first, _, rest = tag.partition("/")
        if rest and SERIES_PREFIX.match(first):
            order = 0 if first.startswith("phase") else 1
            panel, series = rest, first
        else:
            order, panel, series = 2, (first if rest else tag), rest
        for run, points in runs.items():
            label = "/".join(p for p in (run if len(runs) > 1 or not series else "", series) if p) or run
            panels[(order, panel)][label] = points
    return {panel: dict(sorted(series.items())) for (_, panel), series in sorted(panels.items())}


def phase_changes(scalars: Scalars) -> list[int]:
    """The steps at which the logged training phase changes."""
    points = sorted(p for runs in scalars.get(PHASE_TAG, {}).values() for p in runs)
    return [step for (_, before), (step, after) in zip(points, points[1:]) if after != before]


def plot_training_curves(scalars: Scalars, path: str) -> None:
    """One panel per quantity; noisy series drawn faint with a smoothed line over them; dashed lines
    where the training phase changes."""
    panels, changes = group_panels(scalars), phase_changes(scalars)
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.4 * rows), squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items()):
        for i, (label, points) in enumerate(series.items()):
            steps, values = np.array([p[0] for p in points]), np.array([p[1] for p in points])
            colour = f"C{i}"
            if len(points) > 20:
                ax.plot(steps, values, color=colour, alpha=0.25, linewidth=1)
                ax.plot(steps, _smooth(values), color=colour, linewidth=1.8, label=label or None)
            else:
                ax.plot(steps, values, color=colour, marker="o", markersize=3, linewidth=1.5, label=label or None)
        for step in changes:
            ax.axvline(step, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("step")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.grid(alpha=0.3)
        if any(series):
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """TensorBoard's debiased exponential moving average."""
    out, last = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out[i] = last / (1 - weight ** (i + 1))
    return out
