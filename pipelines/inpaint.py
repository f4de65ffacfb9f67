"""Bulk inpainting with the exported SavedModel: the inpaint pipeline.

    python -m pipelines.inpaint --model runs/default/export --input 'data/tfrecords/eval-*.tfrecord.gz' \\
        --output data/inpainted
    python -m pipelines.inpaint --model gs://b/export --input 'gs://b/photos/*.jpg' --output gs://b/inpainted \\
        --runner DataflowRunner ...   (see `make dataflow-inpaint`)

Input is either the preprocess stage's TFRecords or raw photos of any size (the format is told by
the glob unless --input-format says it). The export's hole layout (inpainting.json "holes") decides
what is filled:
- a centre-hole export fills each record's centre hole, and each photo's centre hole at full
  resolution (pipelines/full_resolution.py);
- a mask export fills each record's own mask, and with `--masks DIR` each photo's holes wherever its
  mask file (pipelines/mask_files.py) marks them, at full resolution, one context window per hole
  (pipelines/hole_windows.py). A photo's K windows travel as one element; the model handler batches
  windows across photos and splits the outputs back.
Only hole pixels change; every other pixel is the input's (PNG output).

With --masks, the inputs are the photos and the mask files that match no photo: a photo without a
mask, a mask that is unreadable, of another size, empty or all hole, a hole too large for any
window in the photo, and a mask without a photo are each one reject, with the reason.

Stages: list the files (fusion broken), read and validate each element on its own (a bad photo or
record is rejected here, never inside a batch), run the model through RunInference on fixed-size
batches (a failing batch is rejected whole, with the error), then paste back and write. Output
folder:
    images/NAME-HASH.png                    --write png (or the photo's format with --image-format input)
    inpainted-SSSSS-of-NNNNN.tfrecord.gz    --write tfrecord: the records with `image/inpainted/encoded`
    metrics.jsonl                           per-record hole metrics where records carry ground truth
    rejects.jsonl                           one line per rejected input or batch member, with the reason
    summary.json                            counts (inputs == inpainted + rejects), rejects by reason,
                                            holes and windows inpainted, the metrics' mean
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import dataclasses
import glob
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference
from PIL import Image

from model.exported import export_hole_layout, load_geometry, require_export
from model.metrics import NAMES as METRIC_NAMES, inpainting_metrics, masked_metrics
from pipelines import full_resolution, hole_windows, images, mask_files, model_handler, png
from pipelines.model_handler import OUTPUTS, KeyedInpainterModelHandler
from common.logs import command_logging
from pipelines.options import check_options, pipeline_options, runs_in_this_process
from common.paths import check_filesystem, check_outside, is_image_name, make_output, matched_files
from pipelines.preprocess import file_pattern
from common.progress import Progress
from common.usage import CommandParser, UsageError, option_strings
from tfrecords import Record, masks, shards
from tfrecords.geometry import Geometry
from tfrecords.writer import compress_record

NAMESPACE = "inpaint"
COMMAND = "inpaint"
INPUT_FORMATS = ("tfrecord", "images")
WRITES = ("png", "tfrecord")
ENGINES = ("keyed", "tfx-bsl")
IMAGE_FORMATS = ("png", "input")
IMAGES_DIR = "images"
RECORDS_PREFIX = "inpainted"
METRICS = "metrics.jsonl"
REJECTS = "rejects.jsonl"
SUMMARY = "summary.json"
EXAMPLES_SIGNATURE = "serve_examples"

# Reject reasons beyond the photo decoding ones (pipelines/images.py).
CORRUPT_FILE = "corrupt_file"
INVALID_RECORD = "invalid_record"
GEOMETRY_MISMATCH = "geometry_mismatch"
HOLE_LAYOUT_MISMATCH = "hole_layout_mismatch"
INFERENCE_FAILED = "inference_failed"
WRITE_FAILED = "write_failed"

_REJECT, _RECORDS, _METRICS = "reject", "records", "metrics"
METRIC_REGIONS = ("hole", "patch")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What Pillow saves losslessly or well enough to keep the photo's own format with --image-format input.
# PNG is written by pipelines/png.py (ISA-L deflate: 9x faster than Pillow's zlib level 1 on a full-size
# photo); the options here are Pillow's.
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True}, "BMP": {},
                 "TIFF": {"compression": "tiff_lzw"}}
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


@dataclasses.dataclass(frozen=True)
class Settings:
    model: str
    input: str
    output: str
    geometry: Geometry
    input_format: str
    writes: tuple[str, ...] = ("png",)
    batch_size: int = 64
    engine: str = "keyed"
    image_format: str = "png"
    layout: str = "center"  # the export's hole layout
    masks: str | None = None  # the folder (or glob) of the photos' mask files
    model_copies: int | None = None  # copies per machine shared by its SDK processes; None: one per process


@dataclasses.dataclass
class Item:
    """One validated input on its way through the model: the model's input (an image; for a mask
    model, an image and its mask, or a photo's stack of windows) and what the output needs (the
    record it came from, or the full-size photo and where its holes are)."""

    id: str
    source: str
    model_input: np.ndarray | model_handler.Windows
    record: Record | None = None
    serialized: bytes | None = None
    photo: Image.Image | None = None
    placement: full_resolution.Placement | None = None
    windows: list[hole_windows.Window] | None = None

    def holes(self) -> tuple[int, int]:
        """(connected hole regions, model windows) this input fills."""
        if self.windows is not None:
            return sum(w.regions for w in self.windows), len(self.windows)
        if self.record is not None:
            return (1 if self.record.kind == masks.CENTER else hole_windows.count_regions(self.record.mask)), 1
        return 1, 1

    def example(self, geometry: Geometry) -> bytes:
        """The serialized record the `serve_examples` signature takes (built for photos)."""
        if self.serialized is None:
            self.serialized = Record(_filled(self.model_input, geometry), geometry, self.id, self.source).serialize()
        return self.serialized


def reject(source: str, item_id: str, stage: str, reason: str, detail: str) -> dict[str, str]:
    return {"source": source, "id": item_id, "stage": stage, "reason": reason, "detail": detail[:500]}


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


class ReadRecords(beam.DoFn):
    """TFRecord file -> one Item per valid record; invalid records and unreadable files -> rejects.
    A mask model takes each record with its own mask; a centre-hole model rejects records whose
    hole is not the centre box."""

    def __init__(self, geometry: Geometry, layout: str) -> None:
        self._geometry = geometry
        self._layout = layout
        self._inputs = Metrics.counter(NAMESPACE, "inputs")

    def setup(self) -> None:
        self._centre = masks.centre_mask(self._geometry)

    def process(self, path: str) -> Iterator[Any]:
        count = 0
        try:
            handle = shards.open_shard(path)
        except Exception as e:
            self._inputs.inc()
            yield beam.pvalue.TaggedOutput(_REJECT, reject(path, "", "read", images.UNREADABLE, str(e)))
            return
        with handle:
            while True:
                try:
                    data = _TFRecordUtil.read_record(handle)
                except Exception as e:  # bad CRC, truncated gzip: the rest of the file is lost
                    self._inputs.inc()
                    yield beam.pvalue.TaggedOutput(_REJECT, reject(
                        path, f"#{count}", "read", CORRUPT_FILE, f"unreadable after {count} records: {e}"))
                    return
                if data is None:
                    return
                self._inputs.inc()
                yield self._validated(path, count, data)
                count += 1

    def _validated(self, path: str, index: int, data: bytes) -> Any:
        try:
            record = Record.parse(data)
        except Exception as e:
            return beam.pvalue.TaggedOutput(_REJECT, reject(path, f"#{index}", "validate", INVALID_RECORD, str(e)))
        source = record.source_uri or f"{path}#{index}"
        if record.geometry != self._geometry:
            return beam.pvalue.TaggedOutput(_REJECT, reject(
                record.source_uri or path, record.record_id, "validate", GEOMETRY_MISMATCH,
                f"record {record.geometry.to_dict()} vs model {self._geometry.to_dict()}"))
        if self._layout == "anywhere":
            return Item(record.record_id, source, (record.masked, record.mask), record=record, serialized=data)
        if not np.array_equal(record.mask, self._centre):
            return beam.pvalue.TaggedOutput(_REJECT, reject(
                record.source_uri or path, record.record_id, "validate", HOLE_LAYOUT_MISMATCH,
                f"the record's hole ({record.kind}) is not the centre box, the only hole this centre-hole "
                "model fills: inpaint it with a mask model's export"))
        return Item(record.record_id, source, record.masked, record=record, serialized=data)


class _Reject(Exception):
    """An input that goes to the rejects, raised where its reject is known."""

    def __init__(self, row: dict[str, str]) -> None:
        super().__init__(row["reason"])
        self.row = row


def _attempt(step, source: str, item_id: str, stage: str, otherwise: str | None) -> Any:
    """`step()`, or `_Reject` for the `images.Rejected` it raises and, where `otherwise` names a
    reason, for any other exception (whatever a hostile file makes Pillow raise)."""
    try:
        return step()
    except images.Rejected as e:
        raise _Reject(reject(source, item_id, stage, e.reason, e.detail)) from e
    except Exception as e:
        if otherwise is None:
            raise
        raise _Reject(reject(source, item_id, stage, otherwise, repr(e))) from e


def _read_file(path: str, item_id: str, stage: str, reason: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            return f.read()
    except Exception as e:
        raise _Reject(reject(path, item_id, stage, reason, str(e))) from e


class ReadPhoto(beam.DoFn):
    """Photo path -> Item with its full-size pixels and the model's input; bad photos -> rejects."""

    def __init__(self, geometry: Geometry) -> None:
        self._geometry = geometry
        self._inputs = Metrics.counter(NAMESPACE, "inputs")

    def process(self, path: str) -> Iterator[Any]:
        self._inputs.inc()
        try:
            yield self._item(path)
        except _Reject as e:
            yield beam.pvalue.TaggedOutput(_REJECT, e.row)

    def _item(self, path: str) -> Item:
        key, photo = _open_photo(path)

        def centre_input() -> tuple[full_resolution.Placement, np.ndarray]:
            placement = full_resolution.place(photo.height, photo.width, self._geometry)
            return placement, full_resolution.model_input(photo, placement, self._geometry)

        placement, model_input = _attempt(centre_input, path, key, "decode", images.CORRUPT)
        return Item(key, path, model_input, photo=photo, placement=placement)


class ReadPhotoWithMask(beam.DoFn):
    """(stem, {"photos": paths, "masks": paths}) -> an Item per photo with a valid mask, holding the
    photo and its windows' model inputs; photos without a mask, bad photos or masks, holes too
    large, and masks without a photo -> rejects (each an input)."""

    def __init__(self, geometry: Geometry, photo_root: str, mask_root: str) -> None:
        self._geometry = geometry
        self._roots = photo_root, mask_root
        self._inputs = Metrics.counter(NAMESPACE, "inputs")

    def process(self, element: tuple[str, dict[str, list[str]]]) -> Iterator[Any]:
        _, found = element
        pairs, photos_alone, masks_alone = mask_files.pair_by_stem(
            list(found["photos"]), self._roots[0], list(found["masks"]), self._roots[1])
        for photo in photos_alone:
            self._inputs.inc()
            yield beam.pvalue.TaggedOutput(_REJECT, reject(
                photo, "", "match", mask_files.NO_MASK, f"no mask file of this stem under {self._roots[1]}"))
        for mask in masks_alone:
            self._inputs.inc()
            yield beam.pvalue.TaggedOutput(_REJECT, reject(
                mask, "", "match", mask_files.MASK_WITHOUT_PHOTO, f"no photo of this stem under {self._roots[0]}"))
        for photo, mask in sorted(pairs.items()):
            self._inputs.inc()
            try:
                yield self._item(photo, mask)
            except _Reject as e:
                yield beam.pvalue.TaggedOutput(_REJECT, e.row)

    def _item(self, path: str, mask_path: str) -> Item:
        key, photo = _open_photo(path)
        data = _read_file(mask_path, key, "mask", mask_files.UNREADABLE_MASK)
        mask = _attempt(lambda: mask_files.read_mask(data, photo.width, photo.height), path, key, "mask",
                        mask_files.UNREADABLE_MASK)
        g = self._geometry
        windows = _attempt(lambda: hole_windows.plan(mask, g.image_size), path, key, "windows", None)
        model_input = hole_windows.model_inputs(photo, mask, windows, g.image_size, g.fill_rgb)
        return Item(key, path, model_input, photo=photo, windows=windows)


def _open_photo(path: str) -> tuple[str, Image.Image]:
    """(the content's hash, the photo upright at full resolution), or `_Reject`."""
    data = _read_file(path, "", "read", images.UNREADABLE)
    key = hashlib.sha256(data).hexdigest()
    return key, _attempt(lambda: full_resolution.open_upright(data), path, key, "decode", images.CORRUPT)


class InpaintWithKeyedHandler(beam.PTransform):
    """Items -> (item, the model's outputs: {"inpainted", "patch"}, or a mask model's {"inpainted",
    "prediction"}, per window for a photo's windows) through Beam's RunInference; a failing batch's
    members -> rejects, with the error."""

    def __init__(self, model: str, batch_size: int, layout: str = "center", model_copies: int | None = None) -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size
        self._layout = layout
        self._model_copies = model_copies

    def expand(self, items: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        handler = KeyedInpainterModelHandler(self._model, self._batch_size, self._layout, self._model_copies)
        results, failed = (
            items
            | "PairWithModelInput" >> beam.Map(lambda item: (item, item.model_input))
            | "RunInference" >> RunInference(handler).with_exception_handling())
        outputs = results | "Outputs" >> beam.MapTuple(lambda item, prediction: (item, prediction.inference))
        rejects = failed.failed_inferences | "RejectFailedBatches" >> beam.FlatMap(_failed_batch)
        return outputs, rejects


class InpaintWithTfxBsl(beam.PTransform):
    """Items -> (item, the model's outputs) through tfx-bsl's RunInference on the model's
    `serve_examples` signature (PredictionLog protos). tfx-bsl offers no dead-letter output: a
    failing batch fails the job."""

    def __init__(self, model: str, batch_size: int, geometry: Geometry, layout: str = "center") -> None:
        super().__init__()
        self._model = model
        self._batch_size = batch_size
        self._geometry = geometry
        self._outputs = OUTPUTS[layout]

    def expand(self, items: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        from tfx_bsl.public.beam import RunInference as TfxRunInference
        from tfx_bsl.public.proto import model_spec_pb2

        spec = model_spec_pb2.InferenceSpecType(
            saved_model_spec=model_spec_pb2.SavedModelSpec(model_path=self._model,
                                                           signature_name=[EXAMPLES_SIGNATURE]),
            batch_parameters=model_spec_pb2.BatchParameters(min_batch_size=self._batch_size,
                                                            max_batch_size=self._batch_size))
        geometry, names = self._geometry, self._outputs
        outputs = (items
                   | "PairWithExample" >> beam.Map(lambda item: (item, item.example(geometry)))
                   | "RunInference" >> TfxRunInference(spec)
                   | "Outputs" >> beam.MapTuple(lambda item, log: (item, _prediction_outputs(log, names))))
        rejects = items.pipeline | "NoFailedBatches" >> beam.Create([])
        return outputs, rejects


class WriteOutputs(beam.DoFn):
    """(item, model outputs) -> written image (and the record, the metrics as tagged outputs)."""

    def __init__(self, settings: Settings, progress: Progress = Progress(COMMAND, "inputs", enabled=False)) -> None:
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
            yield beam.pvalue.TaggedOutput(_REJECT, reject(item.source, item.id, "write", WRITE_FAILED, repr(e)))
            return
        self._inpainted.inc()
        self._progress.tick()
        self._done += 1
        if self._done % 1000 == 0:
            logging.info("This worker has inpainted %d inputs", self._done)
        for record in records:
            yield beam.pvalue.TaggedOutput(_RECORDS, record)
        if metrics is not None:
            yield beam.pvalue.TaggedOutput(_METRICS, {"id": item.id, "source": item.source, **metrics})
        holes, windows = item.holes()
        yield {"id": item.id, "source": item.source, "written": written, "holes": holes, "windows": windows}

    def _metrics(self, item: Item, inpainted: np.ndarray) -> dict[str, Any] | None:
        """The hole metrics of a record with ground truth (the centre hole's and its patch's; a mask
        model's on the record's mask)."""
        if item.record is None or not item.record.has_truth:
            return None
        if self._settings.layout == "anywhere":
            return {"hole": masked_metrics(inpainted, item.record.original(), item.record.mask)}
        return inpainting_metrics(inpainted, item.record.original(), self._settings.geometry)

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
            records = [Record(_filled(item.model_input, g), g, item.id, item.source, inpainted=inpainted)]
        return [compress_record(record.serialize()) for record in records]


class SumTallies(beam.CombineFn):
    """Dicts of numbers -> one dict of their sums per key: every count the summary needs, in one
    combine (a combine per count cost the local runner two stages each)."""

    def create_accumulator(self) -> dict[str, float]:
        return {}

    def add_input(self, accumulator: dict[str, float], tally: dict[str, float]) -> dict[str, float]:
        for key, value in tally.items():
            accumulator[key] = accumulator.get(key, 0) + value
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[str, float]]) -> dict[str, float]:
        total: dict[str, float] = {}
        for accumulator in accumulators:
            self.add_input(total, accumulator)
        return total

    def extract_output(self, accumulator: dict[str, float]) -> dict[str, float]:
        return accumulator


def _metric_tally(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row's values to sum, and one row counted."""
    tally = {f"metric/{region}/{name}": row[region][name]
             for region in METRIC_REGIONS if region in row for name in METRIC_NAMES}
    tally["metric_rows"] = 1
    return tally


def _mean_metrics(totals: dict[str, float]) -> dict[str, Any] | None:
    """`model.metrics.mean_metrics` of the summed metric rows: a run's rows all have the same
    regions, the hole and the patch, or (a mask model's) the hole."""
    count = int(totals.get("metric_rows", 0))
    if not count:
        return None
    out: dict[str, Any] = {region: {name: totals[f"metric/{region}/{name}"] / count for name in METRIC_NAMES}
                           for region in METRIC_REGIONS if f"metric/{region}/{METRIC_NAMES[0]}" in totals}
    out["count"] = count
    return out


def build(pipeline: beam.Pipeline, settings: Settings,
          progress: Progress = Progress(COMMAND, "inputs", enabled=False)) -> None:
    """Adds the inpaint stages to `pipeline`; `progress` ticks once per input written or rejected
    (a mask without a photo is no input of its own there: the count is of photos or records)."""
    s = settings
    if s.masks:
        items, read_rejects = pipeline | "ReadAndValidate" >> ReadPhotosWithTheirMasks(s.input, s.masks, s.geometry)
    else:
        paths = (pipeline
                 | "MatchFiles" >> ListFiles(s.input)
                 # The listing is one bundle: break fusion so reading spreads over workers.
                 | "BreakFusion" >> beam.Reshuffle())
        reader = ReadRecords(s.geometry, s.layout) if s.input_format == "tfrecord" else ReadPhoto(s.geometry)
        read = paths | "ReadAndValidate" >> beam.ParDo(reader).with_outputs(_REJECT, main="items")
        items, read_rejects = read.items, read[_REJECT]
    engine = (InpaintWithKeyedHandler(s.model, s.batch_size, s.layout, s.model_copies) if s.engine == "keyed"
              else InpaintWithTfxBsl(s.model, s.batch_size, s.geometry, s.layout))
    outputs, failed = items | "Inpaint" >> engine
    written = outputs | "WriteOutputs" >> beam.ParDo(WriteOutputs(s, progress)).with_outputs(
        _REJECT, _RECORDS, _METRICS, main="done")

    if "tfrecord" in s.writes:
        _ = written[_RECORDS] | "WriteRecords" >> fileio.WriteToFiles(
            s.output, file_naming=fileio.default_file_naming(RECORDS_PREFIX, ".tfrecord.gz"),
            sink=lambda _: _GzipMembersSink())
    metrics = written[_METRICS]
    _ = (metrics
         | "MetricsToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True))
         | "WriteMetrics" >> _WriteJsonLines(s.output, METRICS))
    rejects = (read_rejects, failed, written[_REJECT]) | "AllRejects" >> beam.Flatten()
    _ = (rejects
         | "CountRejects" >> beam.Map(_count_reject, progress)
         | "WriteRejects" >> _WriteJsonLines(s.output, REJECTS))

    tallies = (
        (items | "TallyItems" >> beam.Map(lambda _: {"items": 1})),
        (read_rejects | "TallyReadRejects" >> beam.Map(lambda _: {"read_rejects": 1})),
        (written.done | "TallyInpainted" >> beam.Map(
            lambda done: {"inpainted": 1, "holes": done["holes"], "windows": done["windows"]})),
        (rejects | "TallyRejects" >> beam.Map(lambda r: {f"reason/{r['reason']}": 1, f"stage/{r['stage']}": 1})),
        (metrics | "TallyMetrics" >> beam.Map(_metric_tally)))
    totals = tallies | "AllTallies" >> beam.Flatten() | "SumTallies" >> beam.CombineGlobally(SumTallies())
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteSummary" >> beam.Map(write_summary, settings=s, totals=beam.pvalue.AsSingleton(totals)))


def write_summary(_, settings: Settings, totals: dict[str, float]) -> dict[str, Any]:
    """Writes summary.json from the run's tallies; fails the job if any input is unaccounted for."""
    count = {key: int(value) for key, value in totals.items() if not key.startswith("metric/")}
    rejects_by = {key: value for key, value in count.items() if key.startswith(("reason/", "stage/"))}
    items, read_rejects, inpainted = count.get("items", 0), count.get("read_rejects", 0), count.get("inpainted", 0)
    rejects = sum(v for k, v in rejects_by.items() if k.startswith("stage/"))
    summary = {
        "model": settings.model,
        "input": settings.input,
        "masks": settings.masks,
        "hole_layout": settings.layout,
        "input_format": settings.input_format,
        "engine": settings.engine,
        "batch_size": settings.batch_size,
        "model_copies": settings.model_copies,
        "writes": list(settings.writes),
        "geometry": settings.geometry.to_dict(),
        "inputs": items + read_rejects,
        "inpainted": inpainted,
        # Connected hole regions filled, and the model inputs they took (one per record or centre
        # hole; a photo's close holes share one window).
        "holes_inpainted": count.get("holes", 0),
        "windows_inpainted": count.get("windows", 0),
        "rejects": rejects,
        "rejects_by_reason": {k.split("/", 1)[1]: v for k, v in sorted(rejects_by.items()) if k.startswith("reason/")},
        "rejects_by_stage": {k.split("/", 1)[1]: v for k, v in sorted(rejects_by.items()) if k.startswith("stage/")},
        "metrics": _mean_metrics(totals),
    }
    with FileSystems.create(FileSystems.join(settings.output, SUMMARY), mime_type="application/json") as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")
    if summary["inputs"] != inpainted + rejects:
        raise RuntimeError(f"accounting: {summary['inputs']} inputs != {inpainted} inpainted + {rejects} rejects")
    return summary


class ListFiles(beam.PTransform):
    """A glob, or a folder (its image files at any depth) -> the paths of the files it names."""

    def __init__(self, pattern: str, empty: str = fileio.EmptyMatchTreatment.DISALLOW) -> None:
        super().__init__()
        self._pattern = pattern
        self._empty = empty

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        pattern, images_only = file_pattern(self._pattern)
        return (begin
                | "Match" >> fileio.MatchFiles(pattern, self._empty)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "ImageNamesOnly" >> beam.Filter(lambda path: not images_only or is_image_name(path)))


class ReadPhotosWithTheirMasks(beam.PTransform):
    """Photos and mask files -> (Items, rejects): each photo is read with the mask file of its
    relative path and stem (`mask_files`), joined by stem. No mask file at all is no error: every
    photo is then a reject without a mask."""

    def __init__(self, photos: str, mask_source: str, geometry: Geometry) -> None:
        super().__init__()
        self._sources = {"photos": photos, "masks": mask_source}
        self._geometry = geometry

    def expand(self, begin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        roots = {name: mask_files.match_root(file_pattern(source)[0]) for name, source in self._sources.items()}
        empty = {"photos": fileio.EmptyMatchTreatment.DISALLOW, "masks": fileio.EmptyMatchTreatment.ALLOW}
        keyed = {name: (begin
                        | f"Match{name.title()}" >> ListFiles(source, empty[name])
                        | f"Key{name.title()}ByStem" >> beam.Map(
                            lambda path, root: (mask_files.relative_stem(path, root), path), root=roots[name]))
                 for name, source in self._sources.items()}
        read = (keyed
                | "JoinByStem" >> beam.CoGroupByKey()
                | "Read" >> beam.ParDo(ReadPhotoWithMask(self._geometry, roots["photos"], roots["masks"]))
                .with_outputs(_REJECT, main="items"))
        return read.items, read[_REJECT]


class _GzipMembersSink(fileio.FileSink):
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


class _WriteJsonLines(beam.PTransform):
    """Lines to one file `name` in `directory` (written even when empty)."""

    def __init__(self, directory: str, name: str) -> None:
        super().__init__()
        self._path = FileSystems.join(directory, name)

    def expand(self, lines: beam.PCollection) -> beam.pvalue.PDone:
        return lines | beam.io.WriteToText(self._path, num_shards=1, shard_name_template="")


def _remove_empty_temp_folders(output: str) -> None:
    """Beam's WriteToFiles moves its files out of a `.temp<uuid>` folder in the output, and leaves the
    emptied folder behind where folders exist (on local disks; object stores have none)."""
    if "://" in output:
        return
    for folder in glob.glob(os.path.join(output, ".temp*")):
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def _count_reject(row: dict[str, str], progress: Progress) -> str:
    Metrics.counter(NAMESPACE, "rejects").inc()
    if row["reason"] != mask_files.MASK_WITHOUT_PHOTO:
        progress.tick()
    return json.dumps(row, sort_keys=True)


def _failed_batch(failure: tuple[list[tuple[Item, np.ndarray]], tuple]) -> list[dict[str, str]]:
    batch, (_, error, _) = failure
    detail = f"batch of {len(batch)} failed: {error}"
    return [reject(item.source, item.id, "inference", INFERENCE_FAILED, detail) for item, _ in batch]


def _prediction_outputs(log, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    outputs = log.predict_log.response.outputs
    return {name: tf.make_ndarray(outputs[name])[0] for name in names}


def _filled(model_input: np.ndarray, geometry: Geometry) -> np.ndarray:
    masked = model_input.copy()
    top, left, bottom, right = geometry.hole_box
    masked[top:bottom, left:right] = geometry.fill_rgb
    return masked


def input_format_of(pattern: str) -> str:
    return "tfrecord" if ".tfrecord" in pattern.lower() else "images"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    return _parser().parse_known_args(argv)


def _parser() -> CommandParser:
    parser = CommandParser(
        COMMAND, prog="python -m pipelines.inpaint", description=__doc__.split("\n\n")[0],
        epilog="Any other argument is a Beam pipeline option (--runner, --project, --temp_location, ...).")
    parser.add_argument("--model", required=True, help="the exported SavedModel directory (local or gs://)")
    parser.add_argument("--input", required=True,
                        help="glob of TFRecord shards or photos, or a directory of photos (local or gs://)")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--masks", default=None,
                        help="folder of the photos' hole masks, one image per photo at the same relative path "
                             "and stem (hole where grey >= 128); needs a mask model's export")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default=None,
                        help="default: tfrecord if the glob names .tfrecord files, else images")
    parser.add_argument("--write", default="png",
                        help=f"comma-separated outputs among {','.join(WRITES)} (default: png)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call")
    parser.add_argument("--engine", choices=ENGINES, default="keyed",
                        help="Beam's RunInference with this project's handler, or tfx-bsl's on tf.Examples")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS, default="png",
                        help="png (lossless: pixels outside the hole stay exact), or the photo's own format")
    parser.add_argument("--model-copies", type=int, default=None,
                        help="copies of the model per worker machine, each in a process of its own that every "
                             "SDK process there calls (for GPU workers with one SDK process per vCPU); default: "
                             "one copy in each SDK process, shared by its threads")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    writes = tuple(w.strip() for w in args.write.split(",") if w.strip())
    if not writes or set(writes) - set(WRITES):
        raise UsageError(COMMAND, f"--write {args.write!r} names no output or an unknown one",
                         f"choose among {','.join(WRITES)}")
    if args.batch_size < 1:
        raise UsageError(COMMAND, f"--batch-size {args.batch_size} is below 1", "give 1 or more")
    if args.model_copies is not None and args.model_copies < 1:
        raise UsageError(COMMAND, f"--model-copies {args.model_copies} is below 1", "give 1 or more, or leave it out")
    if args.model_copies is not None and args.engine != "keyed":
        raise UsageError(COMMAND, "--model-copies is for the keyed engine",
                         "drop --engine tfx-bsl, or --model-copies")
    require_export(COMMAND, "--model", args.model)
    input_format = args.input_format or input_format_of(args.input)
    layout = export_hole_layout(args.model)
    if args.masks and layout != "anywhere":
        raise UsageError(COMMAND, f"{args.model} fills the centre hole only",
                         "--masks needs a mask model's export (inpainting.json \"holes\": \"anywhere\")")
    if args.masks and input_format != "images":
        raise UsageError(COMMAND, "--masks is for photos", "drop it: records carry their own masks")
    if layout == "anywhere" and input_format == "images" and not args.masks:
        raise UsageError(COMMAND, f"{args.model} is a mask model", "give the photos' masks with --masks DIR")
    if args.masks and args.engine != "keyed":
        raise UsageError(COMMAND, "--masks runs on the keyed engine only",
                         "drop --engine tfx-bsl: it takes one record per photo")
    return Settings(model=args.model, input=args.input, output=args.output, geometry=load_geometry(args.model),
                    input_format=input_format, writes=writes, batch_size=args.batch_size, engine=args.engine,
                    image_format=args.image_format, layout=layout, masks=args.masks,
                    model_copies=args.model_copies)


def checked_inputs(settings: Settings) -> list[str]:
    """The files the input matches (`UsageError` for none), with the output checked to lie outside
    the input and mask folders."""
    pattern, images_only = file_pattern(settings.input)
    inputs = matched_files(COMMAND, "--input", settings.input, pattern, images_only)
    check_outside(COMMAND, settings.output, "--input", mask_files.match_root(pattern))
    if settings.masks:
        check_filesystem(COMMAND, settings.masks)
        check_outside(COMMAND, settings.output, "--masks", mask_files.match_root(file_pattern(settings.masks)[0]))
    return inputs


def run_progress(settings: Settings, inputs: list[str], runs_here: bool) -> Progress:
    """The run's progress: of the photos matched, or of the records the manifest beside the shards lists."""
    if settings.input_format == "tfrecord":
        return Progress(COMMAND, "records", manifest_records(inputs), runs_here)
    return Progress(COMMAND, "photos", len(inputs), runs_here)


def manifest_records(shard_paths: list[str]) -> int | None:
    """The records in these shards, from the manifest.json beside them; None where there is none or
    it does not list every one of them."""
    folders = {posixpath.dirname(path) for path in shard_paths}
    if len(folders) != 1:
        return None
    try:
        manifest = shards.read_manifest(folders.pop())
    except FileNotFoundError:
        return None
    per_shard = {name: count for split in manifest.get("splits", {}).values()
                 for name, count in zip(split.get("shards", []), split.get("records_per_shard", []))}
    names = [posixpath.basename(path) for path in shard_paths]
    return sum(per_shard[name] for name in names) if all(name in per_shard for name in names) else None


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    settings = settings_from(args)
    inputs = checked_inputs(settings)
    check_options(beam_args, option_strings(parser), COMMAND)
    make_output(COMMAND, settings.output)
    options = pipeline_options(beam_args)
    progress = run_progress(settings, inputs, runs_in_this_process(options))
    progress.start()
    start = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, settings, progress)
    result = pipeline.run()
    result.wait_until_finish()
    _remove_empty_temp_folders(settings.output)
    with FileSystems.open(FileSystems.join(settings.output, SUMMARY)) as f:
        summary = json.loads(f.read())
    summary["counters"] = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespaces([NAMESPACE, model_handler.NAMESPACE]))["counters"]}
    summary["seconds"] = round(time.perf_counter() - start, 2)
    metrics = summary["metrics"]
    line = (f"inpaint: {summary['inputs']} inputs -> {summary['inpainted']} inpainted + {summary['rejects']} "
            f"rejects {summary['rejects_by_reason'] or ''}"
            + (f"; {summary['holes_inpainted']} holes in {summary['windows_inpainted']} windows" if settings.masks else "")
            + (f"; hole PSNR {metrics['hole']['psnr']:.2f} dB, L1 {metrics['hole']['l1']:.4f}" if metrics else "")
            + f"; {summary['seconds']:.1f}s -> {settings.output}")
    logging.info(line)
    print(line, flush=True)
    return summary


if __name__ == "__main__":
    command_logging()
    # Run the importable module, not __main__: Items cross Beam's coders by pickle, which must find
    # their class as pipelines.inpaint.Item in the worker processes.
    from pipelines import inpaint

    inpaint.run()
