"""What the trainer does every `eval_every` and `image_every` steps with the weights it would export:
inpaints eval-split crops as the export does (without the self-ensemble), scores their holes (the
scores checkpoint selection ranks by, model/selection.py) and draws the TensorBoard image grid."""
from __future__ import annotations

import json
import logging
import os
from typing import Any

import keras
import tensorflow as tf

from model import config as layout
from model.hole_layouts import HoleLayout
from model.metrics import mean_metrics
from tfrecords.geometry import Geometry

GRID_IMAGES = 4


class PeriodicEvaluation:
    """Scores and draws a generator's inpainting of parsed batches, and logs the scores of a run."""

    def __init__(self, generator: keras.Model, geometry: Geometry, holes: HoleLayout, model_dir: str):
        self.geometry, self.holes, self.model_dir = geometry, holes, model_dir
        self._predict = tf.function(lambda *inputs: holes.inpaint(generator, geometry, *inputs))

    def inpainted(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """(inpainted, truth) uint8 crops of a parsed batch, inpainted as the export does."""
        return (self._predict(*self.holes.inference_inputs(batch))["inpainted"],
                self.holes.truth(batch, self.geometry))

    def score(self, eval_data: tf.data.Dataset) -> dict[str, Any]:
        """Mean hole (and, centre holes, patch) PSNR/SSIM/L1/L2 over the batches; for holes anywhere
        the hole metrics are over each mask's pixels."""
        per_image = []
        for batch in eval_data:
            predicted, truth = (t.numpy() for t in self.inpainted(batch))
            masks = self.holes.hole_masks(batch, self.geometry)
            per_image.extend(self.holes.hole_scores(p, t, m, self.geometry) for p, t, m in zip(predicted, truth, masks))
        return mean_metrics(per_image)

    def record(self, result: dict[str, Any], writer: tf.summary.SummaryWriter | None, step: int) -> None:
        """Writes a score to TensorBoard (where there is a writer), eval.jsonl and the log."""
        if writer is not None:
            with writer.as_default(step=step):
                for region in (r for r in result if r != "count"):
                    for name, value in result[region].items():
                        tf.summary.scalar(f"{region}/{name}", value)
        with tf.io.gfile.GFile(os.path.join(self.model_dir, layout.EVAL_LOG), "a") as f:
            f.write(json.dumps({"step": step, **result}, sort_keys=True) + "\n")
        logging.info("eval at step %d on %d images: hole PSNR %.2f dB, SSIM %.3f, L1 %.2f%%, L2 %.2f%%", step,
                     result["count"], result["hole"]["psnr"], result["hole"]["ssim"],
                     100 * result["hole"]["l1"], 100 * result["hole"]["l2"])

    def log_images(self, writer: tf.summary.SummaryWriter, step: int, batch: dict[str, tf.Tensor]) -> None:
        """Rows of the layout's grid columns (masked | inpainted | truth, and the mask in white for holes
        anywhere) of the batch's first crops."""
        batch = {k: v[:GRID_IMAGES] for k, v in batch.items()}
        rows = tf.concat(self.holes.grid_columns(batch, *self.inpainted(batch)), axis=2)
        grid = tf.reshape(rows, [1, -1, rows.shape[2], 3])
        with writer.as_default(step=step):
            tf.summary.image(self.holes.grid_name, grid)
