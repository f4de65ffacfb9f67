"""The inpaint job's readers: TFRecord shards, photos, and photos with their mask files, each to
validated `Item`s; a bad input is rejected here, with its reason, never inside a model batch."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.metrics import Metrics
from PIL import Image

from pipelines import full_resolution, hole_windows, images, mask_files, mask_fitting
from pipelines.files import ListImageFiles, PairPhotosWithMasks, Source, file_pattern, photo_root, read_bytes
from pipelines.inpaint_settings import Settings
from pipelines.items import Item
from pipelines.mask_naming import PairPhotosWithBesideMasks
from pipelines.rejects import REJECT, reject
from tfrecords import Record, masks, shards
from tfrecords.geometry import Geometry

NAMESPACE = "inpaint"
SKIPPED = "skipped"  # the tag of the photos an earlier run finished (pipelines/resume.py)
# Reject reasons beyond the photo decoding ones (pipelines/images.py) and the masks' (mask_files.py).
CORRUPT_FILE = "corrupt_file"
INVALID_RECORD = "invalid_record"
GEOMETRY_MISMATCH = "geometry_mismatch"
HOLE_LAYOUT_MISMATCH = "hole_layout_mismatch"


def count_input() -> None:
    Metrics.counter(NAMESPACE, "inputs").inc()


class ReadRecords(beam.DoFn):
    """TFRecord file -> one Item per valid record; invalid records and unreadable files -> rejects.
    A mask model takes each record with its own mask; a centre-hole model rejects records whose
    hole is not the centre box."""

    def __init__(self, geometry: Geometry, serves_masks: bool) -> None:
        self._geometry = geometry
        self._serves_masks = serves_masks

    def setup(self) -> None:
        self._centre = masks.centre_mask(self._geometry)

    def process(self, path: str) -> Iterator[Any]:
        count = 0
        try:
            handle = shards.open_shard(path)
        except Exception as e:
            count_input()
            yield beam.pvalue.TaggedOutput(REJECT, reject(path, images.UNREADABLE, str(e), stage="read"))
            return
        with handle:
            while True:
                try:
                    data = _TFRecordUtil.read_record(handle)
                except Exception as e:  # bad CRC, truncated gzip: the rest of the file is lost
                    count_input()
                    yield beam.pvalue.TaggedOutput(REJECT, reject(
                        path, CORRUPT_FILE, f"unreadable after {count} records: {e}", stage="read",
                        item_id=f"#{count}"))
                    return
                if data is None:
                    return
                count_input()
                yield self._validated(path, count, data)
                count += 1

    def _validated(self, path: str, index: int, data: bytes) -> Any:
        try:
            record = Record.parse(data)
        except Exception as e:
            return beam.pvalue.TaggedOutput(REJECT, reject(path, INVALID_RECORD, str(e), stage="validate",
                                                           item_id=f"#{index}"))
        source = record.source_uri or f"{path}#{index}"
        if record.geometry != self._geometry:
            return beam.pvalue.TaggedOutput(REJECT, reject(
                path, GEOMETRY_MISMATCH, f"record {record.geometry.to_dict()} vs model {self._geometry.to_dict()}",
                stage="validate", source=record.source_uri, item_id=record.record_id))
        if self._serves_masks:
            return Item(record.record_id, source, (record.masked, record.mask), record=record, serialized=data,
                        path=path)
        if not np.array_equal(record.mask, self._centre):
            return beam.pvalue.TaggedOutput(REJECT, reject(
                path, HOLE_LAYOUT_MISMATCH, f"the record's hole ({record.kind}) is not the centre box, the only "
                "hole this centre-hole model fills: inpaint it with a mask model's export",
                stage="validate", source=record.source_uri, item_id=record.record_id))
        return Item(record.record_id, source, record.masked, record=record, serialized=data, path=path)


class _Reject(Exception):
    """An input that goes to the rejects, raised where its reject is known."""

    def __init__(self, row: dict[str, str]) -> None:
        super().__init__(row["reason"])
        self.row = row


def _attempt(step: Callable[[], Any], source: Source, item_id: str, stage: str, otherwise: str | None) -> Any:
    """`step()`, or `_Reject` for the `images.Rejected` it raises and, where `otherwise` names a
    reason, for any other exception (whatever a hostile file makes Pillow raise)."""
    try:
        return step()
    except images.Rejected as e:
        raise _Reject(reject(source.path, e.reason, e.detail, stage=stage, item_id=item_id, mask=source.mask)) from e
    except Exception as e:
        if otherwise is None:
            raise
        raise _Reject(reject(source.path, otherwise, repr(e), stage=stage, item_id=item_id, mask=source.mask)) from e


def _read(path: str, source: Source, item_id: str, stage: str, reason: str) -> bytes:
    try:
        return read_bytes(path)
    except Exception as e:
        raise _Reject(reject(source.path, reason, str(e), stage=stage, item_id=item_id, mask=source.mask)) from e


def _open_photo(source: Source) -> tuple[str, Image.Image]:
    """(the content's hash, the photo upright at full resolution), or `_Reject`."""
    data = _read(source.path, source, "", "read", images.UNREADABLE)
    key = hashlib.sha256(data).hexdigest()
    return key, _attempt(lambda: full_resolution.open_upright(data), source, key, "decode", images.CORRUPT)


class ReadPhoto(beam.DoFn):
    """Source -> Item with its full-size pixels and the model's input: the centre hole's, or with
    the source's mask files each hole's window; bad photos and masks, holes too large -> rejects.
    `shared_mask` is the one mask file for every photo (read once per worker, fitted to each photo);
    every hole grows by `dilate` pixels (`mask_fitting`)."""

    def __init__(self, geometry: Geometry, finished: Callable[[str], bool] | None = None, *,
                 shared_mask: str | None = None, dilate: int = 0) -> None:
        self._geometry = geometry
        self._finished = finished  # whether a photo's output exists: then it is skipped, never read
        self._shared_mask = shared_mask
        self._dilate = dilate
        self._shared_hole: np.ndarray | None = None

    def process(self, source: Source) -> Iterator[Any]:
        count_input()
        if self._finished is not None and self._finished(source.path):
            yield beam.pvalue.TaggedOutput(SKIPPED, source.path)
            return
        try:
            yield self._with_mask(source) if source.mask else self._centre(source)
        except _Reject as e:
            yield beam.pvalue.TaggedOutput(REJECT, e.row)

    def _centre(self, source: Source) -> Item:
        key, image = _open_photo(source)

        def centre_input() -> tuple[full_resolution.Placement, np.ndarray]:
            placement = full_resolution.place(image.height, image.width, self._geometry)
            return placement, full_resolution.model_input(image, placement, self._geometry)

        placement, model_input = _attempt(centre_input, source, key, "decode", images.CORRUPT)
        return Item(key, source.path, model_input, photo=full_resolution.Photo.of(image), placement=placement)

    def _with_mask(self, source: Source) -> Item:
        key, image = _open_photo(source)
        mask = self._mask(source, key, image.width, image.height)
        g = self._geometry
        windows = _attempt(lambda: hole_windows.plan(mask, g.image_size), source, key, "windows", None)
        photo = full_resolution.Photo.of(image)
        model_input = hole_windows.model_inputs(photo, mask, windows, g.image_size, g.fill_rgb)
        return Item(key, source.path, model_input, photo=photo, windows=windows)

    def _mask(self, source: Source, key: str, width: int, height: int) -> np.ndarray:
        """The photo's bool hole: its own mask files' union, or the one for every photo."""
        def attempt(step: Callable[[], Any]) -> Any:
            return _attempt(step, source, key, "mask", mask_files.UNREADABLE_MASK)

        if source.mask != self._shared_mask:
            data = [_read(path, source, key, "mask", mask_files.UNREADABLE_MASK)
                    for path in (source.mask, *source.more_masks)]
            return attempt(lambda: mask_fitting.photo_hole(data, width, height, self._dilate))
        if self._shared_hole is None:
            data = _read(source.mask, source, key, "mask", mask_files.UNREADABLE_MASK)
            self._shared_hole = attempt(lambda: mask_files.read_hole(data))
            self._shared_hole.setflags(write=False)  # every photo of its size gets this very array
        return attempt(lambda: mask_fitting.shared_hole(self._shared_hole, width, height, self._dilate))


class ReadAndValidate(beam.PTransform):
    """The run's inputs -> (Items, rejects, skipped): the records of TFRecord shards, the photos, or
    the photos each with their mask files: of the same relative path and stem under --masks, beside
    the photo, or the one --mask (`inpaint_masks`; a mask file without a photo, and a photo without
    one, are each a reject and an input); `finished` tells the photos an earlier run finished, which
    are skipped (their paths), never read."""

    def __init__(self, settings: Settings, finished: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._finished = finished

    def expand(self, begin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        s = self._settings
        paths = begin | "MatchFiles" >> ListImageFiles(s.input)
        unpaired = []
        if s.masks:
            pairing = PairPhotosWithMasks(photo_root(file_pattern(s.input)[0]), s.masks)
            sources, without_partner, _ = paths | "PairPhotosWithMasks" >> pairing
            unpaired.append(without_partner | "CountUnpaired" >> beam.Map(_counted))
        elif s.beside_masks:
            pairing = PairPhotosWithBesideMasks(file_pattern(s.input)[0])
            sources, without_partner = paths | "PairPhotosWithBesideMasks" >> pairing
            unpaired.append(without_partner | "CountUnpaired" >> beam.Map(_counted))
        else:
            # The listing is one bundle: break fusion so reading spreads over workers.
            sources = paths | "BreakFusion" >> beam.Reshuffle()
        if s.input_format == "tfrecord":
            reader = ReadRecords(s.geometry, s.layout.serves_masks)
        else:
            sources = sources if s.masks or s.beside_masks else sources | "Sources" >> beam.Map(Source, s.mask or "")
            reader = ReadPhoto(s.geometry, self._finished, shared_mask=s.mask, dilate=s.dilate)
        # Typed, so the items' PCollection takes ItemCoder (pipelines/items.py).
        read = sources | "Read" >> beam.ParDo(reader).with_output_types(Item).with_outputs(
            REJECT, SKIPPED, main="items")
        rejects = [read[REJECT], *unpaired] | "ReadRejects" >> beam.Flatten()
        return read.items, rejects, read[SKIPPED]


def _counted(row: dict[str, str]) -> dict[str, str]:
    count_input()
    return row
