"""Raw photos to masked TFRecords: the preprocess pipeline.

    python -m pipelines.preprocess --input data/raw --output data/tfrecords [--crops-per-image 8]
    python -m pipelines.preprocess --input data/raw --output data/tfrecords --holes mixed
    python -m pipelines.preprocess --input data/raw --output data/tfrecords --masks data/masks
    python -m pipelines.preprocess --input 'gs://bucket/photos/**.jpg' --output gs://bucket/tfrecords \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp --setup_file ./setup.py

Stages: list the files, then (fusion broken) read, hash, decode, crop and mask each photo, and turn
its crops into records, each compressed as a gzip member and keyed by its shard (the number of shards
per split is set from the files the command matched, so records go straight to their shard); exact
duplicates (same sha256) are kept once, at their lexicographically first path (first held-out one,
if any is, so that a held-out photo stays out of train and eval), and the others' records are left
out as each shard's records are sorted by id and written as one gzip TFRecord file. Every matched
file ends as records, a duplicate or a reject (rejects.jsonl, with its reason), and manifest.json
states the accounting: files_matched == images + duplicates + rejects (of photos), and every record
made is in a shard.

The train/eval/test split (pipelines/splits.py) hashes a *split group*: the photo's content hash,
or, for a file whose name matches --split-group-pattern, its directory plus the name with the match
removed, so `rocks2+l.png` and `rocks2+r.png` (a stereo pair) land on the same side; files whose
path matches --test-source all go to test. The embedded sample data is named so.

Holes: by default every record's hole is the geometry's centre box (layout `center`, the paper's
benchmark). `--holes boxes|strokes|mixed` gives each record a mask generated from its record id
(pipelines/holes.py); `--masks DIR` takes the users' own masks, one file per photo matched by
relative path and stem (pipelines/mask_files.py), and cuts each photo and its mask with the same
boxes, each crop placed over the hole. Both keep the whole true crop in each record (layout
`anywhere`). With masks, photos without a mask, masks without a photo and unusable masks are
rejects too (a rejected mask file is a row of its own), so the accounting extends to the mask files
(manifest.json `masks`); a duplicate photo's mask goes unused, named in duplicates.jsonl. Each crop
of a photo with a mask covers a hole pixel; one left all hole is redrawn, and dropped after
`mask_files.CROP_ATTEMPTS` draws (`masks.crops_dropped`; a photo left without any crop is a reject,
no_context_in_crops). manifest.json `holes` gives the hole kind, the layout, the hole's share of the
crop over the records and the records of each kind.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import hashlib
import json
import logging
import math
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from PIL import Image

from pipelines import holes, images, mask_files
from common.logs import command_logging
from pipelines.options import check_options, pipeline_options, runs_in_this_process
from common.paths import check_outside, is_image_name, make_output, matched_files
from common.progress import Progress
from common.usage import CommandParser, UsageError, option_strings
from pipelines.splits import DEFAULT_GROUP_PATTERN, SplitSpec
from tfrecords import SCHEMA_VERSION, Geometry, Record
from tfrecords import masks, shards
from tfrecords.writer import compress_record, write_shard

NAMESPACE = "preprocess"
COMMAND = "preprocess"
REJECTS = "rejects.jsonl"
DUPLICATES = "duplicates.jsonl"
_REJECT, _DUPLICATE = "reject", "duplicate"
HOLE = "hole"  # an event key's tag: (HOLE, record kind, hole pixels) counts records
_GLOB = re.compile(r"[*?\[]")


class Source(NamedTuple):
    """A photo to preprocess and the user's mask file for it ("" where holes are generated)."""

    path: str
    mask: str = ""


class PairWithMasks(beam.PTransform):
    """Photo paths -> (sources: each photo with its mask, rejects: photos without a mask and masks
    without a photo, the mask files' paths), matched by relative path and stem (mask_files.py)."""

    def __init__(self, photo_root: str, masks_dir: str, progress: Progress) -> None:
        super().__init__()
        self._photo_root = photo_root
        self._mask_root = masks_dir.rstrip("/")
        self._progress = progress

    def expand(self, photos: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        mask_paths = photos.pipeline | "MatchMasks" >> ListImageFiles(FileSystems.join(self._mask_root, "**"), True)
        paired = ({"photos": photos | "PhotoStems" >> beam.Map(_keyed_by_stem, self._photo_root),
                   "masks": mask_paths | "MaskStems" >> beam.Map(_keyed_by_stem, self._mask_root)}
                  | "GroupByStem" >> beam.CoGroupByKey()
                  | "PairByStem" >> beam.FlatMap(_pair_by_stem, self._photo_root, self._mask_root,
                                                self._progress).with_outputs(_REJECT, main="sources"))
        return paired.sources, paired[_REJECT], mask_paths


def _keyed_by_stem(path: str, root: str) -> tuple[str, str]:
    return mask_files.relative_stem(path, root), path


def _pair_by_stem(element: tuple[str, dict[str, Iterable[str]]], photo_root: str, mask_root: str,
                  progress: Progress) -> Iterator[Any]:
    stem, found = element
    pairs, lonely, spare = mask_files.pair_by_stem(list(found["photos"]), photo_root, list(found["masks"]), mask_root)
    for photo, mask in sorted(pairs.items()):
        yield Source(photo, mask)
    for photo in lonely:
        Metrics.counter(NAMESPACE, f"rejects_{mask_files.NO_MASK}").inc()
        progress.tick()
        yield beam.pvalue.TaggedOutput(_REJECT, _reject(photo, mask_files.NO_MASK, f"no {stem}.* under {mask_root}"))
    for mask in spare:
        Metrics.counter(NAMESPACE, f"rejects_{mask_files.MASK_WITHOUT_PHOTO}").inc()
        detail = (f"{next(iter(pairs.values()))} has the same stem and is used" if pairs
                  else f"no {stem}.* under {photo_root}")
        yield beam.pvalue.TaggedOutput(_REJECT, _reject(mask, mask_files.MASK_WITHOUT_PHOTO, detail, mask))


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
            data = _read(source.path)
        except (OSError, IOError) as e:
            Metrics.counter(NAMESPACE, f"rejects_{images.UNREADABLE}").inc()
            yield beam.pvalue.TaggedOutput(_REJECT, _reject(source.path, images.UNREADABLE, str(e), source.mask))
            return
        finally:
            self._progress.tick()  # its records, reject or duplicate row follow
        key = hashlib.sha256(data).hexdigest()
        try:
            crops, dropped = self._crops(key, source, data)
        except images.Rejected as e:
            yield key, (source, _reject(source.path, e.reason, e.detail, source.mask))
            return
        except (OSError, IOError) as e:
            yield key, (source, _reject(source.path, images.UNREADABLE, str(e), source.mask))
            return
        split = self._splits.split(source.path, key)
        holes_of_records = []
        for crop in crops:
            record = Record.from_image(crop.pixels, self._geometry, key=key, source_uri=source.path,
                                       crop_index=crop.index, mask=crop.mask, kind=crop.kind)
            holes_of_records.append((record.kind, int(np.count_nonzero(record.mask))))
            shard = _shard_of(record.record_id, self._shard_counts[split])
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
            data = _read(source.mask)
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
            yield beam.pvalue.TaggedOutput(_DUPLICATE, {**duplicate, "mask": other.mask} if other.mask else duplicate)
        if not isinstance(outcome, ImageSummary):
            Metrics.counter(NAMESPACE, f"rejects_{outcome['reason']}").inc()
            yield beam.pvalue.TaggedOutput(_REJECT, outcome)
            return
        Metrics.counter(NAMESPACE, f"images_{outcome.split}").inc()
        Metrics.counter(NAMESPACE, f"records_{outcome.split}").inc(outcome.records)
        yield outcome


class WriteShard(beam.DoFn):
    """((split, shard index), records) -> one gzip TFRecord file, records sorted by id so reruns are
    identical; the records of duplicates that were not kept are left out."""

    def __init__(self, output: str, shard_counts: dict[str, int]) -> None:
        self._output = output
        self._shard_counts = shard_counts

    def process(self, element: tuple[tuple[str, int], Iterable[tuple[str, str, bytes]]],
                duplicates: list[dict]) -> Iterator[dict]:
        (split, index), records = element
        not_kept = {d["path"] for d in duplicates}
        kept = sorted((record_id, member) for record_id, path, member in records if path not in not_kept)
        yield _write_shard(self._output, split, index, self._shard_counts[split], kept)


class WriteShards(beam.PTransform):
    """((split, shard index), (record id, path, gzip member)) -> shards `SPLIT-iiiii-of-nnnnn.tfrecord.gz`
    that drew records (`write_outputs` writes the others, empty), without the records of `duplicates`."""

    def __init__(self, output: str, shard_counts: dict[str, int], duplicates: beam.PCollection) -> None:
        super().__init__()
        self._output = output
        self._shard_counts = shard_counts
        self._duplicates = duplicates

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (records
                | "GroupByShard" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(WriteShard(self._output, self._shard_counts),
                                        duplicates=beam.pvalue.AsList(self._duplicates)))


def _shard_path(output: str, split: str, index: int, count: int) -> str:
    return FileSystems.join(output, shards.shard_name(split, index, count))


def _write_shard(output: str, split: str, index: int, count: int, records: list[tuple[str, bytes]]) -> dict:
    path = _shard_path(output, split, index, count)
    temporary = FileSystems.join(output, f".tmp-{posixpath.basename(path)}")
    write_shard(temporary, (member for _, member in records))
    FileSystems.rename([temporary], [path])
    Metrics.counter(NAMESPACE, f"shards_{split}").inc()
    return {"split": split, "path": path, "records": len(records)}


def _write_empty_shards(shard_counts: dict[str, int], output: str, written: list[dict]) -> Iterator[dict]:
    done = {w["path"] for w in written}
    for split, count in shard_counts.items():
        for index in range(count):
            if _shard_path(output, split, index, count) not in done:
                yield _write_shard(output, split, index, count, [])


def shards_per_split(files_matched: int, held_out: int, crops_per_image: int, splits: SplitSpec,
                     fixed: int = 0) -> dict[str, int]:
    """Shards per split: `fixed`, else one per `shards.RECORDS_PER_SHARD` records that the matched
    files (`held_out` of them the test source's) would give. Known from the command's own listing
    before the job starts, so records go straight from the decoder to their shard."""
    expected = splits.expected_images(files_matched, held_out)
    return {split: fixed or shards.num_shards_for(math.ceil(expected[split] * crops_per_image))
            for split in shards.SPLITS}


def _shard_of(record_id: str, num_shards: int) -> int:
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "big") % num_shards


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def _reject(path: str, reason: str, detail: str, mask: str = "") -> dict[str, str]:
    """A rejects.jsonl row; `mask`: the mask file that goes unused with it (the row's own file for a
    mask without a photo)."""
    row = {"path": path, "reason": reason, "detail": detail[:500]}
    return {**row, "mask": mask} if mask else row


def file_pattern(input_path: str) -> tuple[str, bool]:
    """(pattern to match, whether to keep image extensions only): a directory means every image
    file under it; a glob means exactly the files it matches."""
    if _GLOB.search(input_path):
        return input_path, False
    if input_path.endswith("/") or os.path.isdir(input_path):
        return FileSystems.join(input_path.rstrip("/"), "**"), True
    return input_path, False


def write_outputs(_, output: str, counts: dict[Any, int], rejects: list[dict], duplicates: list[dict],
                  written: list[dict], settings: dict[str, Any], shard_counts: dict[str, int]) -> dict[str, Any]:
    """Writes the shards that drew no record (empty), rejects.jsonl, duplicates.jsonl and
    manifest.json; fails if any file, mask file or crop is unaccounted. `counts`: the events' tallies,
    and records per `(HOLE, record kind, hole pixels)`."""
    written = [*written, *_write_empty_shards(shard_counts, output, written)]
    rejects = sorted(rejects, key=lambda r: r["path"])
    duplicates = sorted(duplicates, key=lambda d: d["path"])
    for name, rows in ((REJECTS, rejects), (DUPLICATES, duplicates)):
        with FileSystems.create(FileSystems.join(output, name)) as f:
            f.write(b"".join(json.dumps(row, sort_keys=True).encode() + b"\n" for row in rows))
    rejects_by_reason: dict[str, int] = {}
    for r in rejects:
        rejects_by_reason[r["reason"]] = rejects_by_reason.get(r["reason"], 0) + 1
    splits = {}
    for split in shards.SPLITS:
        files = sorted((w for w in written if w["split"] == split), key=lambda w: w["path"])
        splits[split] = {
            "images": counts.get(f"images/{split}", 0),
            "records": sum(w["records"] for w in files),
            "shards": [posixpath.basename(w["path"]) for w in files],
            "records_per_shard": [w["records"] for w in files],
        }
    images_total = sum(s["images"] for s in splits.values())
    without_photo = rejects_by_reason.get(mask_files.MASK_WITHOUT_PHOTO, 0)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "geometry": settings["geometry"],
        "fill_rgb": settings["geometry"]["fill_rgb"],
        "files_matched": counts.get("files_matched", 0),
        "images": images_total,
        "records": sum(s["records"] for s in splits.values()),
        "duplicates": len(duplicates),
        "rejects": len(rejects),
        "rejects_by_reason": dict(sorted(rejects_by_reason.items())),
        "splits": splits,
        "settings": {k: v for k, v in settings.items() if k != "geometry"},
        "holes": _holes_summary(settings["holes"], counts, settings["geometry"]["image_size"]),
        "accounting": "files_matched == images + duplicates + rejects; records = crops of the images",
    }
    dropped = counts.get("crops_dropped", 0)
    if settings["masks"]:
        manifest["masks"] = {
            "matched": counts.get("masks_matched", 0),
            "used": images_total,
            "rejected": sum(1 for r in rejects if "mask" in r),
            "of_duplicates": sum(1 for d in duplicates if "mask" in d),
            "without_photo": without_photo,
            "crops_dropped": dropped,
        }
        manifest["accounting"] = (
            "files_matched == images + duplicates + rejects - masks.without_photo (rows of mask files); "
            "masks.matched == masks.used + masks.rejected (reject rows naming the mask: its photo's or its own) "
            "+ masks.of_duplicates; records == images x crops_per_image - masks.crops_dropped (crops still all "
            f"hole after {mask_files.CROP_ATTEMPTS} draws)")
        m = manifest["masks"]
        if m["matched"] != m["used"] + m["rejected"] + m["of_duplicates"]:
            raise RuntimeError(f"mask files unaccounted for: {manifest}")
    if manifest["files_matched"] != images_total + len(duplicates) + len(rejects) - without_photo:
        raise RuntimeError(f"files unaccounted for: {manifest}")
    for split, s in splits.items():
        if s["records"] != counts.get(f"records/{split}", 0):
            raise RuntimeError(f"{split}: {counts.get(f'records/{split}', 0)} records made, {s['records']} in the "
                               f"shards: {manifest}")
    if manifest["records"] != images_total * settings["crops_per_image"] - dropped:
        raise RuntimeError(f"crops unaccounted for: {manifest}")
    _remove_stale_shards(output, {w["path"] for w in written})
    shards.write_manifest(output, manifest)
    return manifest


def _holes_summary(kind: str, counts: dict[Any, int], size: int) -> dict[str, Any]:
    """The manifest's `holes`: the data set's hole kind and layout, the hole's share of the crop over
    all records, and the records of each record kind, from the `(HOLE, record kind, hole pixels)`
    tallies in `counts`."""
    by_kind: dict[str, int] = {}
    by_pixels: dict[int, int] = {}
    for key, records in counts.items():
        if isinstance(key, tuple) and key[0] == HOLE:
            _, record_kind, pixels = key
            by_kind[record_kind] = by_kind.get(record_kind, 0) + records
            by_pixels[pixels] = by_pixels.get(pixels, 0) + records
    return {"kind": kind, "layout": masks.layout_of(kind), "area": holes.area_summary(by_pixels, size),
            "by_kind": dict(sorted(by_kind.items()))}


def _remove_stale_shards(output: str, current: set[str]) -> None:
    """Deletes shards of an earlier run with another shard count, which the split glob would pick up."""
    stale = [m.path for split in shards.SPLITS
             for m in FileSystems.match([shards.shard_pattern(output, split)])[0].metadata_list
             if m.path not in current]
    if stale:
        logging.info("Removing %d shard(s) of an earlier run", len(stale))
        FileSystems.delete(stale)


class ListImageFiles(beam.PTransform):
    """The paths a file pattern matches; with `images_only`, those with an image file's name."""

    def __init__(self, pattern: str, images_only: bool) -> None:
        super().__init__()
        self._pattern = pattern
        self._images_only = images_only

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection:
        images_only = self._images_only
        return (pipeline
                | "Match" >> fileio.MatchFiles(self._pattern, fileio.EmptyMatchTreatment.DISALLOW)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "ImageNamesOnly" >> beam.Filter(lambda path: not images_only or is_image_name(path)))


def build(pipeline: beam.Pipeline, input_path: str, output: str, geometry: Geometry, spec: images.CropSpec,
          splits: SplitSpec, shard_counts: dict[str, int], holes_kind: str = masks.CENTER, masks_dir: str = "",
          progress: Progress = Progress(COMMAND, "files", enabled=False)) -> None:
    """Adds the preprocess stages to `pipeline`: holes of `holes_kind` (a --holes value), or the
    users' masks under `masks_dir` (then `holes_kind` is `user`), written to `shard_counts` shards per
    split (`shards_per_split`). `progress` ticks once per photo matched: where it is read (or found
    unreadable), or where it is left without a mask."""
    pattern, images_only = file_pattern(input_path)
    paths = pipeline | "MatchFiles" >> ListImageFiles(pattern, images_only)
    events = [paths | "CountMatched" >> beam.Map(lambda _: ("files_matched", 1))]
    unpaired = []
    if masks_dir:
        photo_root = mask_files.match_root(pattern) if _GLOB.search(pattern) else posixpath.dirname(pattern)
        sources, without_partner, mask_paths = paths | "PairWithMasks" >> PairWithMasks(photo_root, masks_dir, progress)
        unpaired.append(without_partner)
        events.append(mask_paths | "CountMasks" >> beam.Map(lambda _: ("masks_matched", 1)))
    else:
        sources = paths | "Sources" >> beam.Map(Source)
    # The listing is one bundle: break fusion so reading and decoding spread over workers.
    decoded = (sources
               | "BreakFusion" >> beam.Reshuffle()
               | "ReadHashAndDecode" >> beam.ParDo(ReadHashAndDecode(
                   geometry, spec, splits, holes_kind, shard_counts, progress)).with_outputs(
                       _REJECT, ReadHashAndDecode.RECORDS, main="hashed"))
    unique = (decoded.hashed
              | "GroupByContent" >> beam.GroupByKey()
              | "KeepFirstOfDuplicates" >> beam.ParDo(KeepFirstOfDuplicates(splits)).with_outputs(
                  _REJECT, _DUPLICATE, main=KeepFirstOfDuplicates.IMAGES))
    written = decoded[ReadHashAndDecode.RECORDS] | "WriteShards" >> WriteShards(output, shard_counts,
                                                                                 unique[_DUPLICATE])
    rejects = [decoded[_REJECT], unique[_REJECT], *unpaired] | "AllRejects" >> beam.Flatten()
    events.append(unique[KeepFirstOfDuplicates.IMAGES]
                  | "CountImagesRecordsAndHoles" >> beam.FlatMap(_image_events))
    events = events | "AllEvents" >> beam.Flatten() | "Counts" >> beam.CombinePerKey(sum)
    settings = {
        "geometry": geometry.to_dict(),
        "input": input_path,
        "holes": holes_kind,
        "masks": masks_dir,
        "crop": spec.mode,
        "crops_per_image": spec.count,
        "crop_scale": list(spec.scale),
        "min_size": spec.min_size,
        "max_pixels": spec.max_pixels,
        "eval_fraction": splits.eval_fraction,
        "test_fraction": splits.test_fraction,
        "test_source": splits.test_source,
        "split_group_pattern": splits.group_pattern,
    }
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteManifest" >> beam.Map(
             write_outputs, output=output, counts=beam.pvalue.AsDict(events),
             rejects=beam.pvalue.AsList(rejects), duplicates=beam.pvalue.AsList(unique[_DUPLICATE]),
             written=beam.pvalue.AsList(written), settings=settings, shard_counts=shard_counts))


def _image_events(image: ImageSummary) -> Iterator[tuple[Any, int]]:
    """A kept image's tallies: the image and its records in its split, its crops dropped, and a
    record per (HOLE, record kind, hole pixels)."""
    yield f"images/{image.split}", 1
    yield f"records/{image.split}", image.records
    yield "crops_dropped", image.dropped
    for kind, pixels in image.holes:
        yield (HOLE, kind, pixels), 1


def summary(manifest: dict[str, Any], output: str, seconds: float) -> str:
    s = [manifest["splits"][split] for split in shards.SPLITS]
    images_per_split = " / ".join(f"{x['images']} {split}" for x, split in zip(s, shards.SPLITS))
    records_per_split = " / ".join(str(x["records"]) for x in s)
    reasons = ", ".join(f"{k} {v}" for k, v in manifest["rejects_by_reason"].items())
    hole = manifest["holes"]
    kinds = ", ".join(f"{k} {v}" for k, v in hole["by_kind"].items())
    holes_said = "" if hole["kind"] == masks.CENTER else f" with {hole['kind']} holes ({kinds})"
    return (f"preprocess: {manifest['files_matched']} files matched -> {manifest['images']} images "
            f"({images_per_split}) -> {manifest['records']} records ({records_per_split}){holes_said} in "
            f"{'+'.join(str(len(x['shards'])) for x in s)} shards, {manifest['duplicates']} duplicates, "
            f"{manifest['rejects']} rejects{f' ({reasons})' if reasons else ''}; {seconds:.1f}s -> {output}")


def _scale_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX") from e
    return low, high


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    return _parser().parse_known_args(argv)


def _parser() -> CommandParser:
    defaults = Geometry()
    parser = CommandParser(
        COMMAND, prog="python -m pipelines.preprocess", description=__doc__.split("\n\n")[0],
        epilog="Any other argument is a Beam pipeline option (--runner, --project, --temp_location, ...).")
    parser.add_argument("--input", required=True,
                        help="a directory (every image file under it) or a glob, local or gs://")
    parser.add_argument("--output", required=True, help="directory for shards, manifest.json, rejects.jsonl")
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--overlap", type=int, default=defaults.overlap)
    parser.add_argument("--eval-fraction", type=float, default=0.1,
                        help="share of the split groups for eval (the trainer's checkpoint selection)")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of the split groups for test (the reported numbers)")
    parser.add_argument("--test-source", default="",
                        help="regex on the file path: matching files go to test only, e.g. '/opencv-' "
                             "(a held-out source)")
    parser.add_argument("--crop", choices=images.CROP_MODES, default=None,
                        help="centre crop, or random crops seeded by the image's hash "
                             "(default: center for one crop per image, random for several)")
    parser.add_argument("--crops-per-image", type=int, default=1, help="random crops per photo")
    parser.add_argument("--crop-scale", type=_scale_range, default=(0.5, 1.0), metavar="MIN,MAX",
                        help="fractions of the photo's shorter side a crop's side covers: a random crop "
                             "draws it in [MIN, MAX], the centre crop takes MAX (default: 0.5,1.0)")
    parser.add_argument("--min-size", type=int, default=None,
                        help="reject photos whose shorter side is below this (default: image size)")
    parser.add_argument("--max-pixels", type=int, default=images.MAX_IMAGE_PIXELS,
                        help="reject larger images as decompression bombs")
    parser.add_argument("--holes", choices=masks.GENERATED_KINDS, default=None,
                        help="each record's hole: the geometry's centre box (default), 1-3 boxes, "
                             "free-form strokes, or one of the three per record, drawn from the record id")
    parser.add_argument("--masks", default="",
                        help="a directory (local or gs://) of the users' own masks instead, one image file per "
                             "photo at the photo's relative path and stem (white = hole); each crop is placed "
                             "over the hole")
    parser.add_argument("--num-shards", type=int, default=0,
                        help=f"shards per split (default: one per {shards.RECORDS_PER_SHARD} records)")
    parser.add_argument("--split-group-pattern", default=DEFAULT_GROUP_PATTERN,
                        help="regex on the file name (without extension): files whose names are equal "
                             "once the match is removed share a split side; '' to split by content only")
    return parser


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    geometry = Geometry(image_size=args.image_size, patch_size=args.patch_size, overlap=args.overlap)
    count = args.crops_per_image
    try:
        spec = images.CropSpec(
            size=geometry.image_size,
            scale=args.crop_scale,
            mode=args.crop or ("center" if count == 1 else "random"),
            count=count,
            min_size=args.min_size or geometry.image_size,
            max_pixels=args.max_pixels,
        )
        splits = SplitSpec(args.eval_fraction, args.test_fraction, args.split_group_pattern, args.test_source)
    except (ValueError, re.error) as e:
        raise UsageError(COMMAND, str(e), "see --help") from None
    if args.holes and args.masks:
        raise UsageError(COMMAND, f"--holes {args.holes} and --masks {args.masks} exclude each other",
                         "the holes are generated or the users' masks, not both")
    holes_kind = masks.USER if args.masks else args.holes or masks.CENTER
    pattern, images_only = file_pattern(args.input)
    photos = matched_files(COMMAND, "--input", args.input, pattern, images_only)
    check_outside(COMMAND, args.output, "--input", mask_files.match_root(pattern))
    if args.masks:
        matched_files(COMMAND, "--masks", args.masks, FileSystems.join(args.masks.rstrip("/"), "**"), True)
        check_outside(COMMAND, args.output, "--masks", args.masks)
    check_options(beam_args, option_strings(parser), COMMAND)
    make_output(COMMAND, args.output)
    counts = shards_per_split(len(photos), sum(map(splits.held_out, photos)), spec.count, splits, args.num_shards)
    options = pipeline_options(beam_args)
    progress = Progress(COMMAND, "files", len(photos), runs_in_this_process(options))
    progress.start()
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, args.input, args.output, geometry, spec, splits, counts, holes_kind, args.masks, progress)
    manifest = shards.read_manifest(args.output)
    line = summary(manifest, args.output, time.perf_counter() - start)
    logging.info(line)
    print(line, flush=True)
    return manifest


if __name__ == "__main__":
    command_logging()
    run()
