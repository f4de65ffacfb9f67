"""Reruns that resume: a photo whose image is already in the output folder is skipped before it
is read, and no output file is ever half written.

Each image (and proof) is written to a hidden temporary name in its own folder and then renamed to
its final name (`writers.write_whole`; `FileSystems.rename` is a rename on local disks, a copy and delete on
gs://, where an object appears whole). A file under its final name is therefore a finished photo: a
run killed halfway and started again with the same arguments redoes the photos without one and
counts the others as skipped; `--overwrite` redoes them all. What a killed run left under a
temporary name is deleted when the next run starts (`remove_partial_files`).

Skipping applies to photos written as images only: `--write tfrecord` writes its shards whole at the
end of a run, so a run that writes records redoes every input.
"""
from __future__ import annotations

import dataclasses
import logging
import posixpath

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from PIL import Image

from common.progress import Progress
from pipelines.inpaint_settings import Settings
from pipelines.readers import NAMESPACE
from pipelines.writers import EXTENSIONS, IMAGES_DIR, PARTIAL, PROOFS_DIR, output_name


def remove_partial_files(output: str) -> int:
    """Deletes the temporary files a killed run left in the output's image and proof folders."""
    found = []
    for folder in (IMAGES_DIR, PROOFS_DIR):
        try:
            for match in FileSystems.match([FileSystems.join(output, folder, f".*{PARTIAL}")]):
                found.extend(m.path for m in match.metadata_list)
        except Exception:  # no such folder yet
            continue
    if found:
        FileSystems.delete(found)
        logging.info("Deleted %d partial files an earlier run left", len(found))
    return len(found)


@dataclasses.dataclass(frozen=True)
class Finished:
    """Whether a photo's image is already in the output folder (it pickles: the photo reader calls
    it on the workers, before reading the photo)."""

    output: str
    image_format: str

    def __call__(self, photo: str) -> bool:
        return any(FileSystems.exists(FileSystems.join(self.output, IMAGES_DIR, output_name(photo, extension)))
                   for extension in self.extensions(photo))

    def extensions(self, photo: str) -> list[str]:
        """The extensions a photo's image may have: PNG, or with --image-format input its own format's
        (told by its file name; a photo with alpha in a format without it is written as PNG)."""
        if self.image_format != "input":
            return [EXTENSIONS["PNG"]]
        own_format = Image.registered_extensions().get(posixpath.splitext(photo)[1].lower())
        own = EXTENSIONS.get(own_format, EXTENSIONS["PNG"])
        return list(dict.fromkeys([own, EXTENSIONS["PNG"]]))


def finished_check(settings: Settings) -> Finished | None:
    """The check that skips finished photos; None where every input is redone (--overwrite, records
    in, or records written)."""
    if settings.overwrite or settings.input_format != "images" or settings.writes != ("png",):
        return None
    return Finished(settings.output, settings.image_format)


def count_skipped(photo: str, progress: Progress) -> dict[str, int]:
    Metrics.counter(NAMESPACE, "skipped").inc()
    progress.tick()
    return {"skipped": 1}
