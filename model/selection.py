"""Checkpoint selection: how the periodic evaluation's scores rank, the best checkpoint the trainer
keeps by them, and what an export records of why it is the checkpoint it is."""
from __future__ import annotations

import json
import logging
import os
from typing import Any

import keras
import tensorflow as tf

from model import config as layout
from model.config import SELECTION_METRICS
from model.run_files import read_json, write_json

# Why the periodic evaluation picks the checkpoint to export, by the metric it ranks by.
_PEAKS = "held-out quality peaks and then falls while the training loss keeps falling"
SELECTION_REASONS = {
    "l1": f"{_PEAKS}; of the hole metrics, L1 follows a run's trend closest against the noise between "
          "evaluations (bench/RESULTS.md)",
    "psnr": f"{_PEAKS}; PSNR is the hole metric the published context-encoder figures quote",
}
LATEST_REASON = "the latest was asked for, or none was selected (no eval split, or --no-select-best)"


def selection_score(metric: str, value: float) -> str:
    """A selection score as the logs and the report print it: PSNR in dB, L1 in percent."""
    return f"{value:.2f} dB" if metric == "psnr" else f"{100 * value:.2f}%"


def improves(metric: str, score: float, best: float) -> bool:
    """Whether `score` beats `best` on `metric`: a higher PSNR, a lower L1."""
    return score > best if metric == "psnr" else score < best


def selection_summary(model_dir: str, step: int, selected: bool, metric: str) -> dict[str, Any]:
    """Which checkpoint the export is and why (selected by `metric`, a SELECTION_METRICS key), with the
    eval split's hole metrics at that step and at the last evaluation (from eval.jsonl)."""
    path = os.path.join(model_dir, layout.EVAL_LOG)
    evals = []
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            evals = [json.loads(line) for line in f if line.strip()]
    by_step = {e["step"]: e for e in evals}
    last = max(by_step.values(), key=lambda e: e["step"]) if by_step else None
    return {
        "by": SELECTION_METRICS[metric] if selected else "latest checkpoint",
        "metric": metric,
        "why": SELECTION_REASONS[metric] if selected else LATEST_REASON,
        "step": step,
        "hole": by_step[step]["hole"] if step in by_step else None,
        "last_step": last["step"] if last else None,
        "last_hole": last["hole"] if last else None,
        "evaluations": len(by_step),
    }


class BestCheckpoint:
    """checkpoints/best/: the generator at the best periodic evaluation so far. best.json beside it
    holds the step and score, so that a resumed run compares against the best ever saved, not against
    a stale checkpointed value."""

    def __init__(self, model_dir: str, generator: keras.Model, step: tf.Variable, metric: str):
        self.metric = metric
        self.manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator, step=step),
                                                  os.path.join(model_dir, layout.BEST_CHECKPOINT), max_to_keep=1)
        self.path = os.path.join(model_dir, layout.BEST_CHECKPOINT, "best.json")

    def best_so_far(self) -> dict[str, Any] | None:
        """{step, score, metric} of the best checkpoint saved so far, or None."""
        return read_json(self.path) if tf.io.gfile.exists(self.path) else None

    def keep_if_best(self, result: dict[str, Any], step: int) -> bool:
        """Saves the generator when this evaluation's hole score beats every earlier one."""
        score = result["hole"][self.metric]
        best = self.best_so_far()
        if best is not None and not improves(self.metric, score, best["score"]):
            return False
        self.manager.save(checkpoint_number=step)
        write_json(self.path, {"step": step, "score": score, "metric": SELECTION_METRICS[self.metric]})
        logging.info("step %d is the best so far (%s %s%s): kept in %s", step, SELECTION_METRICS[self.metric],
                     selection_score(self.metric, score),
                     f", was {selection_score(self.metric, best['score'])} at step {best['step']}" if best else "",
                     layout.BEST_CHECKPOINT)
        return True
