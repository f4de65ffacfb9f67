"""The JSON files of a training run directory (model/config.py names them): config.json, the run's
TrainConfig; run.json, what it was trained on; and the checks a resumed run makes against them."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import keras
import tensorflow as tf

from model import config as layout
from model.config import ARCHITECTURE_FIELDS, TrainConfig
from model.data_checks import check_geometry
from model.hardware import Hardware
from model.hole_layouts import HoleLayout
from tfrecords.geometry import Geometry


def write_json(path: str, values: dict[str, Any]) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(values, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> dict[str, Any]:
    with tf.io.gfile.GFile(path) as f:
        return json.loads(f.read())


def resolve_config(model_dir: str, overrides: dict[str, Any]) -> TrainConfig:
    """The run's config: a resumed run keeps its saved one, with the given fields overriding.

    Fields that shape the networks cannot change once checkpoints exist.
    """
    saved_path = os.path.join(model_dir, layout.CONFIG_FILE)
    if not tf.io.gfile.exists(saved_path):
        return TrainConfig(**overrides)
    saved = TrainConfig.from_dict(read_json(saved_path))
    changed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    clash = sorted(set(changed) & set(ARCHITECTURE_FIELDS))
    if clash:
        raise ValueError(f"{model_dir} was trained with {', '.join(f'{k}={getattr(saved, k)}' for k in clash)}; "
                         f"asked for {', '.join(f'{k}={changed[k]}' for k in clash)}: use a new --model-dir")
    if changed:
        logging.info("resuming %s with changed settings: %s", model_dir, changed)
    return dataclasses.replace(saved, **changed)


def check_run_matches(model_dir: str, data_dir: str, holes: HoleLayout, geometry: Geometry) -> None:
    """ValueError where the run in `model_dir` was trained on data of another hole layout or geometry
    than `data_dir`'s; a new run directory passes."""
    run_file = os.path.join(model_dir, layout.RUN_FILE)
    if not tf.io.gfile.exists(run_file):
        return
    trained = read_json(run_file)
    if trained["holes"] != holes.name:
        raise ValueError(f"{model_dir} was trained on holes {trained['holes']!r} but {data_dir} "
                         f"has holes {holes.name!r}: use a new --model-dir for this data")
    check_geometry(geometry, data_dir, Geometry.from_dict(trained["geometry"]), f"the run {model_dir}",
                   "use a new --model-dir for this data")


def write_run_files(model_dir: str, config: TrainConfig, data_dir: str, geometry: Geometry, holes: HoleLayout,
                    vgg_weights: str, hardware: Hardware) -> None:
    """config.json and run.json, written when a run starts or resumes."""
    write_json(os.path.join(model_dir, layout.CONFIG_FILE), config.to_dict())
    write_json(os.path.join(model_dir, layout.RUN_FILE), {
        "geometry": geometry.to_dict(), "holes": holes.name, "vgg_weights": vgg_weights,
        "hardware": hardware.describe(), "data": data_dir, "tensorflow": tf.__version__,
        "keras": keras.__version__})
