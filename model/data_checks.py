"""A data set's manifest against what a model or a run needs: the records' schema version and their
geometry. Each mismatch is a `DataMismatch` of one line, naming the problem and the fix."""
from __future__ import annotations

from typing import Any

from tfrecords.geometry import Geometry
from tfrecords.record import READABLE_VERSIONS


class DataMismatch(ValueError):
    """Records that this code, model or run cannot take."""


def check_schema(manifest: dict[str, Any], data_dir: str) -> None:
    """DataMismatch where the manifest states a schema version the record readers do not read
    (a manifest without one predates versions: its records are version 1)."""
    version = manifest.get("schema_version", READABLE_VERSIONS[0])
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise DataMismatch(f"the records in {data_dir} are of schema version {version} and this code reads "
                           f"{readable}; preprocess the photos again with this code (make preprocess)")


def check_geometry(data: Geometry, data_dir: str, wanted: Geometry, whose: str, fix: str) -> None:
    """DataMismatch where the data's geometry is not the one `whose` (a model, a run) takes."""
    if data != wanted:
        raise DataMismatch(f"the records in {data_dir} are {describe(data)} but {whose} takes {describe(wanted)}; "
                           f"{fix}")


def describe(geometry: Geometry) -> str:
    g = geometry
    return f"{g.image_size}px crops, a {g.patch_size}px patch, overlap {g.overlap}, fill {tuple(g.fill_rgb)}"
