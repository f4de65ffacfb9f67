"""The preprocess job's shards: how many per split, and writing each as one gzip TFRecord file."""
from __future__ import annotations

import math
import posixpath
import struct
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.photo_records import NAMESPACE
from pipelines.splits import SplitSpec
from tfrecords import shards
from tfrecords.writer import write_shard


def shards_per_split(files_matched: int, held_out: int, crops_per_image: int, splits: SplitSpec,
                     fixed: int = 0) -> dict[str, int]:
    """Shards per split: `fixed`, else one per `shards.RECORDS_PER_SHARD` records that the matched
    files (`held_out` of them the test source's) would give. Known from the command's own listing
    before the job starts, so records go straight from the decoder to their shard."""
    expected = splits.expected_images(files_matched, held_out)
    return {split: fixed or shards.num_shards_for(math.ceil(expected[split] * crops_per_image))
            for split in shards.SPLITS}


def shard_path(output: str, split: str, index: int, count: int) -> str:
    return FileSystems.join(output, shards.shard_name(split, index, count))


def write_one_shard(output: str, split: str, index: int, count: int, records: list[tuple[str, bytes]]) -> dict:
    """Writes (record id, gzip member) pairs as a shard, under a temporary name until it is whole;
    returns what the manifest lists of it."""
    path = shard_path(output, split, index, count)
    temporary = FileSystems.join(output, f".tmp-{posixpath.basename(path)}")
    write_shard(temporary, (member for _, member in records))
    FileSystems.rename([temporary], [path])
    Metrics.counter(NAMESPACE, f"shards_{split}").inc()
    return {"split": split, "path": path, "records": len(records)}


def write_empty_shards(shard_counts: dict[str, int], output: str, written: list[dict]) -> Iterator[dict]:
    """The shards that drew no record, written empty so every split has its full set."""
    done = {w["path"] for w in written}
    for split, count in shard_counts.items():
        for index in range(count):
            if shard_path(output, split, index, count) not in done:
                yield write_one_shard(output, split, index, count, [])


# Spill files: each bundle of the decode stage appends its records to one file per shard it draws,
# under the output's `.tmp-records/`, as the records stream (what Beam's own file sinks do); a
# shard is then made from its spill files alone, so no step holds more than one shard's records.
SPILL_FOLDER = ".tmp-records"
_LENGTH = struct.Struct(">I")


def spill_folder(output: str) -> str:
    return FileSystems.join(output, SPILL_FOLDER)


def write_frames(handle: BinaryIO, record_id: str, path: str, member: bytes) -> None:
    """Appends one record to a spill file: its id, its photo's path and its gzip member, each
    preceded by its length."""
    for part in (record_id.encode(), path.encode(), member):
        handle.write(_LENGTH.pack(len(part)))
        handle.write(part)


def read_frames(handle: BinaryIO) -> Iterator[tuple[str, str, bytes]]:
    """The (record id, path, gzip member) triples of a spill file, in the order they were written."""
    while True:
        parts = []
        for _ in range(3):
            header = handle.read(_LENGTH.size)
            if not header:
                if parts:
                    raise ValueError("spill file ends inside a record")
                return
            (length,) = _LENGTH.unpack(header)
            parts.append(handle.read(length))
        yield parts[0].decode(), parts[1].decode(), parts[2]


class SpillRecords(beam.DoFn):
    """((split, shard index), (record id, path, gzip member)) -> records appended to this bundle's
    spill file for their shard; at the bundle's end, ((split, shard index), spill file) per file."""

    def __init__(self, output: str) -> None:
        self._output = output

    def start_bundle(self) -> None:
        self._bundle = uuid.uuid4().hex
        self._open: dict[tuple[str, int], tuple[str, BinaryIO]] = {}

    def process(self, element: tuple[tuple[str, int], tuple[str, str, bytes]]) -> None:
        shard, (record_id, path, member) = element
        if shard not in self._open:
            split, index = shard
            name = FileSystems.join(spill_folder(self._output), f"{self._bundle}-{split}-{index:05d}")
            self._open[shard] = name, FileSystems.create(name, compression_type=CompressionTypes.UNCOMPRESSED)
        write_frames(self._open[shard][1], record_id, path, member)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for shard, (name, handle) in sorted(self._open.items()):
            handle.close()
            yield GlobalWindows.windowed_value((shard, name))
        self._open = {}


class WriteShard(beam.DoFn):
    """((split, shard index), its spill files) -> one gzip TFRecord file, records sorted by id so
    reruns are identical; the records of duplicates that were not kept are left out. Holds one
    shard's records (at most about `shards.RECORDS_PER_SHARD`), whatever the data set's size."""

    def __init__(self, output: str, shard_counts: dict[str, int]) -> None:
        self._output = output
        self._shard_counts = shard_counts

    def process(self, element: tuple[tuple[str, int], Iterable[str]], duplicates: list[dict]) -> Iterator[dict]:
        (split, index), spills = element
        spills = sorted(spills)
        not_kept = {d["path"] for d in duplicates}
        records = []
        for name in spills:
            with FileSystems.open(name, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                records.extend((record_id, member) for record_id, path, member in read_frames(f)
                               if path not in not_kept)
        records.sort()
        written = write_one_shard(self._output, split, index, self._shard_counts[split], records)
        FileSystems.delete(spills)
        yield written


class WriteShards(beam.PTransform):
    """((split, shard index), (record id, path, gzip member)) -> shards `SPLIT-iiiii-of-nnnnn.tfrecord.gz`
    that drew records (`write_empty_shards` writes the others), without the records of `duplicates`.
    The records stream to spill files as they are made; only the spill files' names are grouped by
    shard, so the job's memory does not grow with the data set."""

    def __init__(self, output: str, shard_counts: dict[str, int], duplicates: beam.PCollection) -> None:
        super().__init__()
        self._output = output
        self._shard_counts = shard_counts
        self._duplicates = duplicates

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (records
                | "SpillRecords" >> beam.ParDo(SpillRecords(self._output))
                | "GroupSpillsByShard" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(WriteShard(self._output, self._shard_counts),
                                        duplicates=beam.pvalue.AsList(self._duplicates)))


def remove_spill_folder(output: str) -> None:
    """Deletes what is left under the spill folder (nothing, after a whole run; a failed run's files)."""
    folder = spill_folder(output)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])
