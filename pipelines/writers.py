"""The inpaint job's writers: each inpainted input's image (and record, and metrics row), the
records' gzip TFRecord files, and the JSON-lines files."""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import io
import logging
import os
import posixpath
import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from PIL import Image

from common.progress import Progress
from pipelines import full_resolution, hole_windows, png
from pipelines.inpaint_settings import Settings
from pipelines.items import Item, filled
from pipelines.readers import NAMESPACE
from pipelines.rejects import REJECT, reject
from tfrecords import Record, masks
from tfrecords.writer import compress_record

IMAGES_DIR = "images"
RECORDS_PREFIX = "inpainted"
METRICS = "metrics.jsonl"
REJECTS = "rejects.jsonl"
WRITE_FAILED = "write_failed"
RECORDS, METRIC_ROWS = "records", "metrics"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What Pillow saves losslessly or well enough to keep the photo's own format with --image-format input.
# PNG is written by pipelines/png.py (ISA-L deflate: 9x faster than Pillow's zlib level 1 on a full-size
# photo); the options here are Pillow's.
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True}, "BMP": {},
                 "TIFF": {"compression": "tiff_lzw"}}
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


def output_name(source: str, extension: str, crop_index: int | None = None) -> str:
    """A file name made from the input's name, that cannot leave the folder it is joined to.

    The name's hash of the whole source URI keeps two inputs with the same base name apart.
    """
    base = posixpath.basename(source.replace("\\", "/").rstrip("/"))
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = _NAME_UNSAFE.sub("_", stem).strip("._-")[:80] or "image"
    crop = "" if crop_index is None else f"-crop{crop_index}"
    digest = hashlib.sha256(source.encode()).hexdigest()[:10]
    return f"{stem}{crop}-{digest}.{extension}"


class WriteOutputs(beam.DoFn):
    """(item, model outputs) -> written image (and the record, the metrics as tagged outputs)."""

    def __init__(self, settings: Settings, progress: Progress = Progress("inpaint", "inputs", enabled=False)) -> None:
        self._settings = settings
        self._progress = progress
        self._inpainted = Metrics.counter(NAMESPACE, "inpainted")
        self._done = 0

    def process(self, element: tuple[Item, dict[str, np.ndarray]]) -> Iterator[Any]:
        item, outputs = element
        s = self._settings
        try:
            written = []
            if "png" in s.writes:
                written.append(self._write_image(item, outputs))
            records = self._records(item, outputs["inpainted"]) if "tfrecord" in s.writes else []
            metrics = self._metrics(item, outputs["inpainted"])
        except Exception as e:
            yield beam.pvalue.TaggedOutput(REJECT, reject(
                item.file, WRITE_FAILED, repr(e), stage="write", source=item.source, item_id=item.id))
            return
        self._inpainted.inc()
        self._progress.tick()
        self._done += 1
        if self._done % 1000 == 0:
            logging.info("This worker has inpainted %d inputs", self._done)
        for record in records:
            yield beam.pvalue.TaggedOutput(RECORDS, record)
        if metrics is not None:
            yield beam.pvalue.TaggedOutput(METRIC_ROWS, {"id": item.id, "source": item.source, **metrics})
        holes, windows = item.holes()
        yield {"id": item.id, "source": item.source, "written": written, "holes": holes, "windows": windows}

    def _metrics(self, item: Item, inpainted: np.ndarray) -> dict[str, Any] | None:
        """The hole metrics of a record with ground truth, by its layout (the centre hole's and its
        patch's; a mask model's on the record's mask)."""
        if item.record is None or not item.record.has_truth:
            return None
        s = self._settings
        return s.layout.hole_scores(inpainted, item.record.original(), item.record.mask, s.geometry)

    def _write_image(self, item: Item, outputs: dict[str, np.ndarray]) -> str:
        s = self._settings
        info: dict[str, Any] = {}
        if item.photo is not None:
            if item.windows is not None:
                pixels = hole_windows.paste(item.photo, item.windows, outputs["prediction"])
            else:
                pixels = full_resolution.paste_back(item.photo, item.placement, outputs["patch"], s.geometry)
            mode = item.photo.mode
            source_format = item.photo.format if s.image_format == "input" else None
            if item.photo.info.get("icc_profile"):
                info["icc_profile"] = item.photo.info["icc_profile"]
            crop = None
        else:
            pixels, mode = outputs["inpainted"], "RGB"
            source_format, crop = None, item.record.crop_index
        fmt = source_format if source_format in _SAVE_OPTIONS else "PNG"
        if fmt == "JPEG" and mode in ("LA", "RGBA"):
            fmt = "PNG"  # JPEG holds no alpha
        path = FileSystems.join(s.output, IMAGES_DIR, output_name(item.source, _EXTENSIONS[fmt], crop))
        if fmt == "PNG":
            data = png.encode(pixels, mode, info.get("icc_profile"))
        else:
            encoded = io.BytesIO()
            Image.fromarray(pixels, mode).save(encoded, format=fmt, **_SAVE_OPTIONS[fmt], **info)
            data = encoded.getvalue()
        with FileSystems.create(path, mime_type=Image.MIME.get(fmt, "application/octet-stream")) as f:
            f.write(data)
        return path

    def _records(self, item: Item, inpainted: np.ndarray) -> list[bytes]:
        """The records with their inpainted images (the input's record, or the model's view of a
        photo: one record per window), as gzip members (`tfrecords.writer`) compressed here on the
        worker."""
        g = self._settings.geometry
        if item.record is not None:
            records = [dataclasses.replace(item.record, inpainted=inpainted)]
        elif item.windows is not None:
            views, holes = item.model_input
            records = [Record(masks.mask_image(view, hole, g.fill_rgb), g, item.id, item.source, crop_index=k,
                              inpainted=inpainted[k], hole=hole, kind=masks.USER)
                       for k, (view, hole) in enumerate(zip(views, holes))]
        else:
            records = [Record(filled(item.model_input, g), g, item.id, item.source, inpainted=inpainted)]
        return [compress_record(record.serialize()) for record in records]


class GzipMembersSink(fileio.FileSink):
    """Writes `tfrecords.writer` gzip members as they come: the file is a gzip TFRecord file."""

    def create_metadata(self, destination: Any, full_file_name: str) -> fileio.FileMetadata:
        return fileio.FileMetadata(mime_type="application/octet-stream",
                                   compression_type=CompressionTypes.UNCOMPRESSED)

    def open(self, fh: Any) -> None:
        self._file = fh

    def write(self, member: bytes) -> None:
        self._file.write(member)

    def flush(self) -> None:
        self._file.flush()


class WriteJsonLines(beam.PTransform):
    """Lines to one file `name` in `directory` (written even when empty)."""

    def __init__(self, directory: str, name: str) -> None:
        super().__init__()
        self._path = FileSystems.join(directory, name)

    def expand(self, lines: beam.PCollection) -> beam.pvalue.PDone:
        return lines | beam.io.WriteToText(self._path, num_shards=1, shard_name_template="")


def remove_empty_temp_folders(output: str) -> None:
    """Beam's WriteToFiles moves its files out of a `.temp<uuid>` folder in the output, and leaves the
    emptied folder behind where folders exist (on local disks; object stores have none)."""
    if "://" in output:
        return
    for folder in glob.glob(os.path.join(output, ".temp*")):
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
