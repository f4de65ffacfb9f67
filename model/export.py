"""Exports a trained generator as a SavedModel that inpaints uint8 images.

Signatures of the context encoder's export (`inpainting.json` "holes": "center"):
- `serving_default`: `images` uint8 (N,S,S,3) -> `inpainted` uint8 (N,S,S,3) (only the hole replaced)
  and `patch` uint8 (N,P,P,3) (the generator's whole predicted centre patch).
- `serve_examples`: `examples` string (N,) serialized records (tfrecords/ format) -> the same, for
  tfx-bsl RunInference and TF Serving.
Signatures of the mask generator's export ("holes": "anywhere"):
- `serving_default`: `images` uint8 (N,S,S,3) and `masks` uint8 (N,S,S) (>= 128 = hole) ->
  `inpainted` uint8 (N,S,S,3) (the hole pixels replaced, every other pixel the input's, bit for bit)
  and `prediction` uint8 (N,S,S,3) (the generator's whole predicted crop).
- `serve_examples`: `examples` string (N,) serialized records of layout "anywhere" (each with its
  mask) -> the same.
Each signature averages the generator's prediction over symmetries of the crop (`--self-ensemble`,
model/self_ensemble.py; default the crop and its mirror image).
`inpainting.json` beside it records the geometry, the hole layout, the self-ensemble and how the
model was trained.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import json
import logging
import os
import sys
from typing import Any

import keras
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from common.logs import command_logging
from model import config as layout
from model.averaging import restore_average
from model.config import SELECTION_METRICS, TrainConfig
from model.networks import build_generator, build_mask_generator
from model.exported import METADATA, read_metadata
from model.self_ensemble import DEFAULT_SELF_ENSEMBLE, DESCRIPTIONS, SELF_ENSEMBLES, averaged_prediction
from common.paths import make_output
from common.usage import CommandParser
from tfrecords.geometry import Geometry
from tfrecords.schema import parse_examples

COMMAND = "model.export"
# Why the periodic evaluation picks the checkpoint to export (model/train.py), by the metric it ranks by.
_PEAKS = "held-out quality peaks and then falls while the training loss keeps falling"
SELECTION_REASONS = {
    "l1": f"{_PEAKS}; of the hole metrics, L1 follows a run's trend closest against the noise between "
          "evaluations (bench/RESULTS.md)",
    "psnr": f"{_PEAKS}; PSNR is the hole metric the published context-encoder figures quote",
}
LATEST_REASON = "the latest was asked for, or none was selected (no eval split, or --no-select-best)"


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0,255] -> float32 [-1,1], the generator's input range."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """float [-1,1] -> uint8 [0,255], rounded and clipped."""
    scaled = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)


def fill_hole(images: tf.Tensor, geometry: Geometry) -> tf.Tensor:
    """Paints the centre hole with the fill colour, whatever the caller left there (uint8 in, uint8 out)."""
    return fill_holes(images, hole_mask(geometry), geometry)


def fill_holes(images: tf.Tensor, mask: tf.Tensor, geometry: Geometry) -> tf.Tensor:
    """Paints the pixels of a boolean mask (N,S,S,1) or (S,S,1), True in the hole, with the fill colour."""
    fill = tf.broadcast_to(tf.constant(geometry.fill_rgb, tf.uint8), tf.shape(images))
    return tf.where(mask, fill, images)


def mask_model_input(masked: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The mask generator's input: uint8 masked images (N,S,S,3) in [-1, 1] and the boolean mask
    (N,S,S,1) as a 4th channel, 1 in the hole, 0 in the context (float32)."""
    return tf.concat([to_unit_range(masked), tf.cast(mask, tf.float32)], axis=-1)


def masks_from_uint8(masks: tf.Tensor) -> tf.Tensor:
    """uint8 (N,S,S) masks (>= 128 = hole) -> boolean (N,S,S,1), True in the hole."""
    return (masks >= 128)[..., None]


def hole_mask(geometry: Geometry) -> tf.Tensor:
    """A (S,S,1) boolean mask, True inside the hole."""
    top, left, bottom, right = geometry.hole_box
    s = geometry.image_size
    rows = tf.range(s)[:, None]
    cols = tf.range(s)[None, :]
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    return inside[:, :, None]


def inpaint(generator: keras.Model, images: tf.Tensor, geometry: Geometry,
            self_ensemble: str = "none") -> dict[str, tf.Tensor]:
    """The whole inference path: fill, predict the centre patch (averaged over the symmetries of
    `self_ensemble`, model/self_ensemble.py), paste its hole part back."""
    masked = fill_hole(images, geometry)
    patch = to_uint8(averaged_prediction(lambda x: generator(x, training=False), to_unit_range(masked),
                                         self_ensemble))
    top, left, _, _ = geometry.patch_box
    s, p = geometry.image_size, geometry.patch_size
    placed = tf.pad(patch, [[0, 0], [top, s - top - p], [left, s - left - p], [0, 0]])
    return {"inpainted": tf.where(hole_mask(geometry), placed, masked), "patch": patch}


def inpaint_anywhere(generator: keras.Model, images: tf.Tensor, mask: tf.Tensor, geometry: Geometry,
                     self_ensemble: str = "none") -> dict[str, tf.Tensor]:
    """The mask generator's inference path: fill the mask's (N,S,S,1, True = hole) pixels, predict
    the whole crop (averaged over the symmetries of `self_ensemble`), keep the prediction in the hole
    and the input everywhere else."""
    masked = fill_holes(images, mask, geometry)
    prediction = to_uint8(averaged_prediction(lambda x: generator(x, training=False),
                                              mask_model_input(masked, mask), self_ensemble))
    return {"inpainted": tf.where(mask, prediction, images), "prediction": prediction}


def generator_layout(generator: keras.Model) -> str:
    """The hole layout a generator serves: "anywhere" for the mask generator (4 input channels), else
    "center"."""
    return "anywhere" if generator.input_shape[-1] == 4 else "center"


def export_saved_model(generator: keras.Model, geometry: Geometry, path: str,
                       metadata: dict[str, Any] | None = None, self_ensemble: str = DEFAULT_SELF_ENSEMBLE) -> str:
    """Writes the SavedModel and its `inpainting.json` to `path` (local or gs://), with the context
    encoder's signatures or the mask generator's (`generator_layout`), each averaging the generator
    over the symmetries of `self_ensemble` (model/self_ensemble.py; a name it does not know is a
    ValueError when the signatures are traced, before anything is written)."""
    s = geometry.image_size
    holes = generator_layout(generator)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    images = tf.TensorSpec([None, s, s, 3], tf.uint8, name="images")

    if holes == "anywhere":
        def serve_images(images, masks):
            return inpaint_anywhere(generator, images, masks_from_uint8(masks), geometry, self_ensemble)

        def serve_examples(examples):
            parsed = parse_examples(examples, geometry, with_truth=False, layout="anywhere")
            return inpaint_anywhere(generator, parsed["masked"], parsed["mask"], geometry, self_ensemble)

        image_inputs = [images, tf.TensorSpec([None, s, s], tf.uint8, name="masks")]
    else:
        def serve_images(images):
            return inpaint(generator, images, geometry, self_ensemble)

        def serve_examples(examples):
            return inpaint(generator, parse_examples(examples, geometry, with_truth=False)["masked"], geometry,
                           self_ensemble)

        image_inputs = [images]

    # The first endpoint added becomes `serving_default`.
    archive.add_endpoint("serve_images", serve_images, input_signature=image_inputs)
    archive.add_endpoint("serve_examples", serve_examples,
                         input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    archive.write_out(path, verbose=False)
    write_metadata(path, {**(metadata or {}), "geometry": geometry.to_dict(), "holes": holes,
                          "self_ensemble": self_ensemble})
    return path


def write_metadata(path: str, metadata: dict[str, Any]) -> None:
    with FileSystems.create(FileSystems.join(path, METADATA)) as f:
        f.write(json.dumps(metadata, indent=2, sort_keys=True).encode() + b"\n")


def export_run(model_dir: str, output: str, checkpoint: str = "best") -> str:
    """Rebuilds a run's generator (float32) from its saved config and a checkpoint, and exports it.

    `checkpoint` "best" takes the checkpoint the periodic evaluation selected (checkpoints/best/) where
    there is one, else the latest; "latest" takes the latest. inpainting.json says which step it is,
    how it was selected and how the last evaluation compared.
    """
    generator, geometry, metadata = restore_run(model_dir, checkpoint)
    return export_saved_model(generator, geometry, output, metadata)


def restore_run(model_dir: str, checkpoint: str = "best") -> tuple[keras.Model, Geometry, dict[str, Any]]:
    """(generator, geometry, metadata) of a run's chosen checkpoint, as `export_run` exports them;
    raises FileNotFoundError where `model_dir` is not a run with a checkpoint. Writes nothing."""
    def read_json(name: str) -> dict[str, Any]:
        path = os.path.join(model_dir, name)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"no {name} in {model_dir}: not a training run directory; give the --model-dir "
                                    "model.train wrote (make train)")
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())

    if checkpoint not in ("best", "latest"):
        raise ValueError(f"checkpoint {checkpoint!r} is not 'best' or 'latest'")
    config = TrainConfig.from_dict(read_json(layout.CONFIG_FILE))
    run = read_json(layout.RUN_FILE)
    geometry = Geometry.from_dict(run["geometry"])
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, layout.CHECKPOINTS))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {model_dir}/{layout.CHECKPOINTS}; train first (make train)")
    best = tf.train.latest_checkpoint(os.path.join(model_dir, layout.BEST_CHECKPOINT))
    chosen = best if checkpoint == "best" and best else latest
    # float32 whatever the training policy: the export must run on CPUs as well as GPUs.
    build = build_mask_generator if run.get("holes", "center") == "anywhere" else build_generator
    generator = build(geometry, config.bottleneck, config.width, dtype="float32", upsampling=config.upsampling,
                      coarse_fill=config.coarse_fill)
    step, trained = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, step=step).restore(chosen).expect_partial().assert_existing_objects_matched()
    if chosen != best and config.ema_momentum:
        # A latest checkpoint holds the raw weights and their average; the best one holds the average.
        restore_average(generator.trainable_variables, chosen)
    tf.train.Checkpoint(step=trained).restore(latest).expect_partial()
    metadata = {"step": int(step), "trained_steps": int(trained), "checkpoint": chosen,
                "selection": selection_summary(model_dir, int(step), chosen == best, config.select_by),
                "config": config.to_dict(), "vgg_weights": run["vgg_weights"], "trained_on": run.get("hardware"),
                "data": run.get("data")}
    return generator, geometry, metadata


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


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(COMMAND, prog="python -m model.export",
                           description="Exports a training run's best (or latest) checkpoint as a SavedModel.")
    parser.add_argument("--model-dir", required=True, help="the training run directory")
    parser.add_argument("--output", required=True, help="where to write the SavedModel (local or gs://)")
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="best: the one the run's periodic evaluation selected (default; the latest where "
                             "none was selected); latest: the last one")
    parser.add_argument("--self-ensemble", choices=tuple(SELF_ENSEMBLES), default=DEFAULT_SELF_ENSEMBLE,
                        help="average the generator's predictions over: " + "; ".join(
                            f"{name}: {words}" for name, words in DESCRIPTIONS.items()))
    args = parser.parse_args(argv)
    command_logging()
    try:
        generator, geometry, metadata = restore_run(args.model_dir, args.checkpoint)
    except FileNotFoundError as e:
        print(f"{COMMAND}: {e}", file=sys.stderr)
        return 1
    make_output(COMMAND, args.output)  # after the run's checks: a bad --model-dir leaves no folder behind
    path = export_saved_model(generator, geometry, args.output, metadata, args.self_ensemble)
    logging.info("exported %s (step %s) to %s", args.model_dir, read_metadata(path)["step"], path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
