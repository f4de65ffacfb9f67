"""The files a job reads, shared by both jobs: what `--input` (and `--masks`) name, the transform
that lists them, and the one that pairs each photo with its mask file (`mask_files`)."""
from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from common.paths import is_image_name
from pipelines import mask_files
from pipelines.rejects import REJECT, reject

_GLOB = re.compile(r"[*?\[]")
MATCH = "match"  # the rejects' stage of photos and mask files left unpaired


class Source(NamedTuple):
    """A photo and the user's mask file for it ("" where there is none), and any more mask files
    whose holes add to its own (numbered beside-photo masks, `mask_naming`)."""

    path: str
    mask: str = ""
    more_masks: tuple[str, ...] = ()


def file_pattern(given: str) -> tuple[str, bool]:
    """(pattern to match, whether to keep image file names only): a directory means every image
    file under it; a glob means exactly the files it matches."""
    if _GLOB.search(given):
        return given, False
    if given.endswith("/") or os.path.isdir(given):
        return FileSystems.join(given.rstrip("/"), "**"), True
    return given, False


def photo_root(pattern: str) -> str:
    """The folder the photos `pattern` matches are relative to, for pairing them with mask files."""
    return mask_files.match_root(pattern) if _GLOB.search(pattern) else posixpath.dirname(pattern)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


class ListImageFiles(beam.PTransform):
    """A glob, or a folder (its image files at any depth) -> the paths of the files it names."""

    def __init__(self, given: str, empty: str = fileio.EmptyMatchTreatment.DISALLOW) -> None:
        super().__init__()
        self._given = given
        self._empty = empty

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        pattern, images_only = file_pattern(self._given)
        return (begin
                | "Match" >> fileio.MatchFiles(pattern, self._empty)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "ImageNamesOnly" >> beam.Filter(lambda path: not images_only or is_image_name(path)))


class PairPhotosWithMasks(beam.PTransform):
    """Photo paths -> (sources: each photo with its mask file, rejects: photos without a mask and
    mask files without a photo, the mask files' paths). The mask files are those `masks` names (a
    folder or a glob), matched by relative path and stem (`mask_files.pair_by_stem`). No mask file
    at all is no error: every photo is then a reject without a mask."""

    def __init__(self, photos_root: str, masks: str) -> None:
        super().__init__()
        self._photos_root = photos_root
        self._masks = masks

    def expand(self, photos: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        masks_root = mask_files.match_root(file_pattern(self._masks)[0])
        mask_paths = photos.pipeline | "MatchMasks" >> ListImageFiles(self._masks, fileio.EmptyMatchTreatment.ALLOW)
        paired = ({"photos": photos | "PhotoStems" >> beam.Map(_keyed_by_stem, self._photos_root),
                   "masks": mask_paths | "MaskStems" >> beam.Map(_keyed_by_stem, masks_root)}
                  | "GroupByStem" >> beam.CoGroupByKey()
                  | "PairByStem" >> beam.FlatMap(_pair_by_stem, self._photos_root, masks_root)
                  .with_outputs(REJECT, main="sources"))
        return paired.sources, paired[REJECT], mask_paths


def _keyed_by_stem(path: str, root: str) -> tuple[str, str]:
    return mask_files.relative_stem(path, root), path


def _pair_by_stem(element: tuple[str, dict[str, Iterable[str]]], photos_root: str,
                  masks_root: str) -> Iterator[Any]:
    stem, found = element
    pairs, lonely, spare = mask_files.pair_by_stem(list(found["photos"]), photos_root, list(found["masks"]),
                                                   masks_root)
    for photo, mask in sorted(pairs.items()):
        yield Source(photo, mask)
    for photo in lonely:
        yield beam.pvalue.TaggedOutput(REJECT, reject(photo, mask_files.NO_MASK, f"no {stem}.* under {masks_root}",
                                                      stage=MATCH))
    for mask in spare:
        detail = (f"{next(iter(pairs.values()))} has the same stem and is used" if pairs
                  else f"no {stem}.* under {photos_root}")
        yield beam.pvalue.TaggedOutput(REJECT, reject(mask, mask_files.MASK_WITHOUT_PHOTO, detail, stage=MATCH,
                                                      mask=mask))
