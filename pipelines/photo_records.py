"""The preprocess job's per-photo work: read, hash, decode, crop and mask a photo into records, and
keep one photo of each set of exact duplicates."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from PIL import Image

from common.progress import Progress
from pipelines import holes, images, mask_files
from pipelines.files import Source, read_bytes
from pipelines.rejects import REJECT, reject
from pipelines.splits import SplitSpec
from tfrecords import Geometry, Record, masks
from tfrecords.writer import compress_record

NAMESPACE = "preprocess"
DUPLICATE = "duplicate"
# The rejects' stages: the file could not be read, its pixels were refused, or its mask was.
READ, DECODE, MASK = "read", "decode", "mask"
_MASK_REASONS = frozenset(mask_files.REASONS)


class Crop(NamedTuple):
    """A crop of a photo and its hole: `mask` None for the centre box of a `center` data set."""

    index: int
    pixels: np.ndarray
    mask: np.ndarray | None
    kind: str


class ImageSummary(NamedTuple):
    """What a decoded photo gave: its split, its records, its crops dropped for leaving no context,
    and (record kind, hole pixels) of each record."""

    split: str
    records: int
    dropped: int
    holes: list[tuple[str, int]]


def shard_of(record_id: str, num_shards: int) -> int:
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "big") % num_shards


def count_reject(row: dict[str, str]) -> dict[str, str]:
    Metrics.counter(NAMESPACE, f"rejects_{row['reason']}").inc()
    return row


class ReadHashAndDecode(beam.DoFn):
    """Source -> (sha256 of the photo's bytes, (source, its outcome)): the outcome is the image's
    summary, (split, records, crops dropped, (record kind, hole pixels) per record), or its reject
    row. Each crop's record goes out as ((split, shard index), (record id, path, record as a gzip
    member)). Unreadable photos, which have no hash, go straight to the rejects.

    Every photo is decoded before the duplicates are known (exact duplicates are rare): the file is
    read once, and reading, hashing, decoding and compressing spread over the same workers. The
    records of a duplicate that is not kept are dropped where the shards are written."""

    RECORDS = "records"

    def __init__(self, geometry: Geometry, spec: images.CropSpec, splits: SplitSpec, holes_kind: str,
                 shard_counts: dict[str, int], progress: Progress) -> None:
        self._geometry = geometry
        self._spec = spec
        self._splits = splits
        self._holes_kind = holes_kind
        self._shard_counts = shard_counts
        self._progress = progress

    def setup(self) -> None:
        Image.MAX_IMAGE_PIXELS = self._spec.max_pixels

    def process(self, source: Source) -> Iterator[Any]:
        Metrics.counter(NAMESPACE, "files_read").inc()
        try:
            data = read_bytes(source.path)
        except (OSError, IOError) as e:
            yield beam.pvalue.TaggedOutput(REJECT, count_reject(
                reject(source.path, images.UNREADABLE, str(e), stage=READ, mask=source.mask)))
            return
        finally:
            self._progress.tick()  # its records, reject or duplicate row follow
        key = hashlib.sha256(data).hexdigest()
        try:
            crops, dropped = self._crops(key, source, data)
        except images.Rejected as e:
            stage = MASK if e.reason in _MASK_REASONS else DECODE
            yield key, (source, reject(source.path, e.reason, e.detail, stage=stage, item_id=key, mask=source.mask))
            return
        except (OSError, IOError) as e:
            yield key, (source, reject(source.path, images.UNREADABLE, str(e), stage=DECODE, item_id=key,
                                       mask=source.mask))
            return
        split = self._splits.split(source.path, key)
        holes_of_records = []
        for crop in crops:
            record = Record.from_image(crop.pixels, self._geometry, key=key, source_uri=source.path,
                                       crop_index=crop.index, mask=crop.mask, kind=crop.kind)
            holes_of_records.append((record.kind, int(np.count_nonzero(record.mask))))
            shard = shard_of(record.record_id, self._shard_counts[split])
            yield beam.pvalue.TaggedOutput(self.RECORDS, ((split, shard), (record.record_id, source.path,
                                                                            compress_record(record.serialize()))))
        yield key, (source, ImageSummary(split, len(crops), dropped, holes_of_records))

    def _crops(self, key: str, source: Source, data: bytes) -> tuple[list[Crop], int]:
        """(the crops of the photo `data` with their holes, crops dropped for leaving no context), or
        `Rejected`."""
        if not source.mask:
            pixels = images.decode_crops(data, self._spec, seed=key)
            return [Crop(index, crop, *self._generated_hole(f"{key}-{index}")) for index, crop in enumerate(pixels)], 0
        photo = images.decode_upright(data, target_short_side=self._spec.decode_short_side,
                                      min_size=self._spec.min_size, max_pixels=self._spec.max_pixels)
        try:
            data = read_bytes(source.mask)
        except (OSError, IOError) as e:
            raise images.Rejected(mask_files.UNREADABLE_MASK, str(e)) from e
        mask = mask_files.read_mask(data, *photo.full_size)
        crops, dropped = mask_files.masked_crops(photo.image, mask, self._spec, seed=key)
        if not crops:
            raise images.Rejected(mask_files.NO_CONTEXT_IN_CROPS, f"each of the {self._spec.count} crop(s) was all hole "
                                                                  f"in {mask_files.CROP_ATTEMPTS} draws")
        return [Crop(c.index, c.pixels, c.mask, masks.USER) for c in crops], dropped

    def _generated_hole(self, record_id: str) -> tuple[np.ndarray | None, str]:
        """(mask, kind) of the record `record_id` (`Record.record_id`); mask None: the centre box of
        a `center` data set, whose records keep the centre patch as they always have."""
        if self._holes_kind == masks.CENTER:
            return None, masks.CENTER
        return holes.generate(self._holes_kind, record_id, self._geometry)


class KeepFirstOfDuplicates(beam.DoFn):
    """(sha256, [(source, outcome)]) -> the kept source's image summary or reject row: the first
    held-out path if any, else the first path; the other sources are duplicates (with their masks,
    which go unused), and their records are dropped from the shards."""

    IMAGES = "images"

    def __init__(self, splits: SplitSpec) -> None:
        self._splits = splits

    def process(self, element: tuple[str, Iterable[tuple[Source, Any]]]) -> Iterator[Any]:
        key, outcomes = element
        (kept, outcome), *others = sorted(
            outcomes, key=lambda pair: (not self._splits.held_out(pair[0].path), pair[0].path))
        for other, _ in others:
            Metrics.counter(NAMESPACE, "duplicates").inc()
            duplicate = {"path": other.path, "duplicate_of": kept.path, "sha256": key}
            yield beam.pvalue.TaggedOutput(DUPLICATE, {**duplicate, "mask": other.mask} if other.mask else duplicate)
        if not isinstance(outcome, ImageSummary):
            yield beam.pvalue.TaggedOutput(REJECT, count_reject(outcome))
            return
        Metrics.counter(NAMESPACE, f"images_{outcome.split}").inc()
        Metrics.counter(NAMESPACE, f"records_{outcome.split}").inc(outcome.records)
        yield outcome
