"""The read side of an export, what the pipelines and the evaluation need of it: its metadata
(`inpainting.json`: geometry, hole layout, self-ensemble, how it was trained), a check that a path
is one, and the loaded serving function. model/export.py writes it."""
from __future__ import annotations

import json
from typing import Any

import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from common.paths import check_filesystem
from common.usage import UsageError
from tfrecords.geometry import Geometry

METADATA = "inpainting.json"


def read_metadata(path: str) -> dict[str, Any]:
    with FileSystems.open(FileSystems.join(path, METADATA)) as f:
        return json.loads(f.read())


def load_geometry(path: str) -> Geometry:
    return Geometry.from_dict(read_metadata(path)["geometry"])


def export_hole_layout(path: str) -> str:
    """The name of the hole layout an export serves (model/hole_layouts.py): "center" (the context
    encoder: `images` in) or "anywhere" (the mask generator: `images` and `masks` in)."""
    return read_metadata(path)["holes"]


def require_export(command: str, flag: str, path: str) -> None:
    """UsageError unless `path` is an export of this project: a SavedModel and its METADATA."""
    check_filesystem(command, path)
    missing = [name for name in ("saved_model.pb", METADATA) if not FileSystems.exists(FileSystems.join(path, name))]
    if missing:
        raise UsageError(command, f"{flag} {path} is not an export (no {' or '.join(missing)} in it)",
                         "give the folder model.export wrote, e.g. runs/default/export (make train, make export)")


def load_inpainter(path: str):
    """Loads the export in this process: returns (serving_default function, geometry).

    The function is the export's `serving_default` (module docstring): for a "center" export it takes
    `images=` and returns `inpainted` and `patch`; for an "anywhere" export (`export_hole_layout`) it
    takes `images=` and `masks=` and returns `inpainted` and `prediction`.
    """
    if not FileSystems.exists(FileSystems.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"no SavedModel at {path}: train and export first (make train)")
    loaded = tf.saved_model.load(path)
    return loaded.signatures["serving_default"], load_geometry(path)
