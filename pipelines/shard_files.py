"""The preprocess job's shards: how many per split, and writing each as one gzip TFRecord file."""
from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

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
        yield write_one_shard(self._output, split, index, self._shard_counts[split], kept)


class WriteShards(beam.PTransform):
    """((split, shard index), (record id, path, gzip member)) -> shards `SPLIT-iiiii-of-nnnnn.tfrecord.gz`
    that drew records (`write_empty_shards` writes the others), without the records of `duplicates`."""

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
