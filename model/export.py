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
model was trained (model/exported.py reads it). The signatures' inference path is model/inference.py,
chosen by the generator's hole layout (model/hole_layouts.py).
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
from model.config import TrainConfig
from model.exported import METADATA, read_metadata
from model.hole_layouts import generator_layout, hole_layout
from model.run_files import read_json
from model.selection import selection_summary
from model.self_ensemble import DEFAULT_SELF_ENSEMBLE, DESCRIPTIONS, SELF_ENSEMBLES
from common.paths import make_output
from common.usage import CommandParser
from tfrecords.geometry import Geometry

COMMAND = "model.export"


def export_saved_model(generator: keras.Model, geometry: Geometry, path: str,
                       metadata: dict[str, Any] | None = None, self_ensemble: str = DEFAULT_SELF_ENSEMBLE) -> str:
    """Writes the SavedModel and its `inpainting.json` to `path` (local or gs://), with the context
    encoder's signatures or the mask generator's (model/hole_layouts.py), each averaging the generator
    over the symmetries of `self_ensemble` (model/self_ensemble.py; a name it does not know is a
    ValueError when the signatures are traced, before anything is written)."""
    holes = generator_layout(generator)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    serve_images, image_inputs, serve_examples = holes.serving_endpoints(generator, geometry, self_ensemble)
    # The first endpoint added becomes `serving_default`.
    archive.add_endpoint("serve_images", serve_images, input_signature=image_inputs)
    archive.add_endpoint("serve_examples", serve_examples,
                         input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    archive.write_out(path, verbose=False)
    write_metadata(path, {**(metadata or {}), "geometry": geometry.to_dict(), "holes": holes.name,
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
    def run_file(name: str) -> dict[str, Any]:
        path = os.path.join(model_dir, name)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"no {name} in {model_dir}: not a training run directory; give the --model-dir "
                                    "model.train wrote (make train)")
        return read_json(path)

    if checkpoint not in ("best", "latest"):
        raise ValueError(f"checkpoint {checkpoint!r} is not 'best' or 'latest'")
    config = TrainConfig.from_dict(run_file(layout.CONFIG_FILE))
    run = run_file(layout.RUN_FILE)
    geometry = Geometry.from_dict(run["geometry"])
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, layout.CHECKPOINTS))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {model_dir}/{layout.CHECKPOINTS}; train first (make train)")
    best = tf.train.latest_checkpoint(os.path.join(model_dir, layout.BEST_CHECKPOINT))
    chosen = best if checkpoint == "best" and best else latest
    # float32 whatever the training policy: the export must run on CPUs as well as GPUs.
    generator = hole_layout(run["holes"]).build_generator(geometry, config, "float32")
    step, trained = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, step=step).restore(chosen).expect_partial().assert_existing_objects_matched()
    if chosen != best and config.ema_momentum:
        # A latest checkpoint holds the raw weights and their average; the best one holds the average.
        restore_average(generator.trainable_variables, chosen)
    tf.train.Checkpoint(step=trained).restore(latest).expect_partial()
    metadata = {"step": int(step), "trained_steps": int(trained), "checkpoint": chosen,
                "selection": selection_summary(model_dir, int(step), chosen == best, config.select_by),
                "config": config.to_dict(), "vgg_weights": run["vgg_weights"], "trained_on": run["hardware"],
                "data": run["data"]}
    return generator, geometry, metadata


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
