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
import uuid
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
from pipelines import full_resolution, hole_windows, photo_metadata, png, proofs
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
PROOFS_DIR = "proofs"
PARTIAL = ".partial"  # the end of a file's temporary name while it is written (`write_whole`)
WRITE_FAILED = "write_failed"
RECORDS, METRIC_ROWS, PROOFS = "records", "metrics", "proofs"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What Pillow saves losslessly or well enough to keep the photo's own format with --image-format input
# (a JPEG with the source's own quantization tables: pipelines/photo_metadata.py). PNG is written by
# pipelines/png.py (ISA-L deflate: 9x faster than Pillow's zlib level 1 on a full-size photo); the
# options here are Pillow's.
_SAVE_OPTIONS = {"JPEG": photo_metadata.FALLBACK_JPEG, "WEBP": {"lossless": True}, "BMP": {},
                 "TIFF": {"compression": "tiff_lzw"}}
_WITH_EXIF = ("PNG", "JPEG", "WEBP")
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


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
            written, proof = [], None
            if "png" in s.writes or s.proofs:
                pixels, mode, canvas = self._pixels(item, outputs)
                # The proof first: an image under its final name is a finished input (pipelines/resume.py),
                # and a PNG's encode spends the canvas the pixels are in.
                proof = self._write_proof(item, pixels) if s.proofs else None
                if "png" in s.writes:
                    written.append(self._write_image(item, pixels, mode, canvas))
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
        if proof is not None:
            yield beam.pvalue.TaggedOutput(PROOFS, (item.source, proof))
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

    def _pixels(self, item: Item, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, str, png.Canvas | None]:
        """The output's pixels and mode, and the PNG canvas they are in: the photo with its holes
        pasted back (into a canvas: the one copy of the photo on its way to the file), or the
        record's image (no canvas)."""
        if item.photo is None:
            return outputs["inpainted"], "RGB", None
        photo = item.photo
        canvas = png.Canvas(photo.height, photo.width, photo.mode)
        if item.windows is not None:
            hole_windows.paste(photo, item.windows, outputs["prediction"], canvas.pixels)
        else:
            full_resolution.paste_back(photo, item.placement, outputs["patch"], self._settings.geometry, canvas.pixels)
        return canvas.pixels, photo.mode, canvas

    def _write_image(self, item: Item, pixels: np.ndarray, mode: str, canvas: png.Canvas | None = None) -> str:
        """Writes the image, with what the photo carries (pipelines/photo_metadata.py), whole; a PNG
        from the canvas the pixels are in, where they are in one."""
        s = self._settings
        info = item.photo.info if item.photo is not None else {}
        crop = item.record.crop_index if item.photo is None else None
        fmt = photo_metadata.source_format(item.photo) if item.photo is not None and s.image_format == "input" else None
        fmt = fmt if fmt in _SAVE_OPTIONS else "PNG"
        if fmt == "JPEG" and mode in ("LA", "RGBA"):
            fmt = "PNG"  # JPEG holds no alpha
        icc = photo_metadata.icc_out(info, mode)
        exif = photo_metadata.exif_out(info, s.strip_metadata) if fmt in _WITH_EXIF else None
        path = FileSystems.join(s.output, IMAGES_DIR, output_name(item.source, EXTENSIONS[fmt], crop))
        if fmt == "PNG":
            data = canvas.encode(icc, exif) if canvas is not None else png.encode(pixels, mode, icc, exif)
        else:
            options = photo_metadata.jpeg_options(info) if fmt == "JPEG" else _SAVE_OPTIONS[fmt]
            extra = {key: value for key, value in (("icc_profile", icc), ("exif", exif)) if value}
            encoded = io.BytesIO()
            Image.fromarray(pixels, mode).save(encoded, format=fmt, **options, **extra)
            data = encoded.getvalue()
        write_whole(path, data, Image.MIME.get(fmt, "application/octet-stream"))
        return path

    def _write_proof(self, item: Item, pixels: np.ndarray) -> bytes:
        """Writes the input's before/after proof (pipelines/proofs.py); returns its JPEG."""
        before = item.photo.pixels if item.photo is not None else item.record.masked
        data = proofs.encode(proofs.proof(before, pixels, item.hole_mask()))
        crop = item.record.crop_index if item.photo is None else None
        write_whole(FileSystems.join(self._settings.output, PROOFS_DIR, output_name(item.source, "jpg", crop)), data,
                    "image/jpeg")
        return data

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


def write_whole(path: str, data: bytes, mime_type: str) -> None:
    """Writes `data` to `path` under a hidden temporary name in the same folder, then renames it: a
    file under its final name is never half written (pipelines/resume.py)."""
    folder, name = FileSystems.split(path)
    temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex[:12]}{PARTIAL}")
    with FileSystems.create(temporary, mime_type=mime_type) as f:
        f.write(data)
    FileSystems.rename([temporary], [path])


def write_contact_sheet(first: list[tuple[str, bytes]], output: str) -> None:
    """The contact sheet of the first proofs (`proofs.contact_sheet`); none where there are none."""
    if first:
        write_whole(FileSystems.join(output, PROOFS_DIR, proofs.SHEET_NAME),
                    proofs.encode(proofs.contact_sheet(sorted(first))), "image/jpeg")


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
