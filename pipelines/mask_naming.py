"""The inpaint job's masks beside their photos, named as other inpainting tools name them.

Without `--masks DIR` or `--mask FILE`, a mask model reads each photo's masks from the photo's own
folder: `cat.jpg` takes `cat_mask.png`, and numbered masks `cat_mask001.png`, `cat_mask002.png`, ...
(any of `mask_files.MASK_EXTENSIONS`): every such file of the photo, its holes' union. Those files
are never photos to inpaint themselves (`is_beside_mask` leaves them out of the listing). They are
looked for in the folders the input names: the folder given and those under it, or a glob's own
folder(s) (`photos/*.jpg` finds `photos/cat_mask.png`). A mask whose photo is no file at all is
`mask_without_photo`; one whose photo the input leaves out (another glob) is left alone. Where photos
share a stem (`cat.jpg`, `cat.png`), the first in sorted order takes the masks, as with `--masks DIR`.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from pipelines import mask_files
from pipelines.files import MATCH, Source
from pipelines.rejects import REJECT, reject

_BESIDE = re.compile(r"^(?P<stem>.+)_mask\d*(?P<extension>\.[^./]+)$")


def photo_stem(path: str) -> str | None:
    """The path without extension of the photo a beside-photo mask file belongs to
    (`a/cat_mask002.png` -> `a/cat`); None for any other file."""
    folder, name = posixpath.split(path.replace("\\", "/"))
    found = _BESIDE.match(name)
    if not found or found["extension"].lower() not in mask_files.MASK_EXTENSIONS:
        return None
    return posixpath.join(folder, found["stem"])


def is_beside_mask(path: str) -> bool:
    return photo_stem(path) is not None


def _without_extension(path: str) -> str:
    """A photo's path without its extension: the stem its beside-photo masks name (`photo_stem`)."""
    return posixpath.splitext(path.replace("\\", "/"))[0]


def beside_pattern(pattern: str) -> str:
    """The files among which the photos of an input `pattern` (`files.file_pattern`'s) have their
    masks: every file of the folders the pattern names."""
    head, tail = posixpath.split(pattern)
    return pattern if tail == "**" else posixpath.join(head, "*")


def listed(pattern: str) -> list[str]:
    """The files `pattern` matches (none is no error)."""
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def photos_with_masks(photos: Iterable[str], files: Iterable[str]) -> int:
    """How many of `photos` have a beside-photo mask among `files` (the launch's check)."""
    stems = {photo_stem(path) for path in files} - {None}
    return sum(_without_extension(path) in stems for path in photos)


def choose(stem: str, photos: list[str], masks: list[str], present: bool) -> tuple[list[Source], list[dict]]:
    """(the sources, the rejects) of one stem: its photos (the inputs), its beside-photo mask files,
    and whether any other file has the stem (a photo the input leaves out)."""
    photos, masks = sorted(photos), sorted(masks)
    if photos and masks:
        sources = [Source(photos[0], masks[0], tuple(masks[1:]))]
        return sources, [reject(photo, mask_files.NO_MASK, f"{photos[0]} has the same stem and takes {stem}_mask*",
                                stage=MATCH) for photo in photos[1:]]
    if photos:
        name = posixpath.basename(stem)
        return [], [reject(photo, mask_files.NO_MASK, f"no {name}_mask.* or {name}_maskNNN.* beside it", stage=MATCH)
                    for photo in photos]
    if present:
        return [], []
    return [], [reject(mask, mask_files.MASK_WITHOUT_PHOTO, f"no {posixpath.basename(stem)}.* beside it",
                       stage=MATCH, mask=mask) for mask in masks]


class PairPhotosWithBesideMasks(beam.PTransform):
    """Listed input paths -> (sources: each photo with its beside-photo mask files, rejects: photos
    without one and masks without a photo). The masks are listed from `beside_pattern`."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._pattern = pattern

    def expand(self, paths: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        folder_files = (paths.pipeline
                        | "MatchBesideMasks" >> fileio.MatchFiles(beside_pattern(self._pattern),
                                                                   fileio.EmptyMatchTreatment.ALLOW)
                        | "FolderPaths" >> beam.Map(lambda metadata: metadata.path))
        paired = ({"photos": paths | "Photos" >> beam.FlatMap(_photo_keyed),
                   "masks": folder_files | "Masks" >> beam.FlatMap(_mask_keyed),
                   "present": folder_files | "Present" >> beam.FlatMap(_photo_keyed)}
                  | "GroupByStem" >> beam.CoGroupByKey()
                  | "Choose" >> beam.FlatMap(_chosen).with_outputs(REJECT, main="sources"))
        return paired.sources, paired[REJECT]


def _photo_keyed(path: str) -> Iterator[tuple[str, str]]:
    if not is_beside_mask(path):
        yield _without_extension(path), path


def _mask_keyed(path: str) -> Iterator[tuple[str, str]]:
    stem = photo_stem(path)
    if stem is not None:
        yield stem, path


def _chosen(element: tuple[str, dict[str, Iterable[str]]]) -> Iterator[Any]:
    stem, found = element
    sources, rejects = choose(stem, list(found["photos"]), list(found["masks"]), bool(list(found["present"])))
    yield from sources
    for row in rejects:
        yield beam.pvalue.TaggedOutput(REJECT, row)
