"""A command's input and output paths, checked before anything is written (local or any Beam
filesystem): the input matches files, the output lies outside the input's folder and can be
written, the path's filesystem is installed. Each failure is one `UsageError` line."""
from __future__ import annotations

import os
import posixpath
import shutil
import uuid

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from common.usage import UsageError

# Beam's extras that bring each object store's filesystem.
EXTRAS = {"gs": "gcp", "s3": "aws", "azfs": "azure"}


def is_image_name(path: str) -> bool:
    """A file name Pillow knows the extension of, not hidden."""
    name = posixpath.basename(path)
    return not name.startswith(".") and posixpath.splitext(name)[1].lower() in Image.registered_extensions()


def check_filesystem(command: str, path: str) -> None:
    """UsageError where no installed Beam filesystem takes `path` (gs:// without apache-beam[gcp])."""
    try:
        FileSystems.get_filesystem(path)
    except ValueError:  # Beam's "Unable to get filesystem from specified path"
        scheme = path.split("://", 1)[0]
        extra = EXTRAS.get(scheme)
        if extra is None:
            raise UsageError(command, f"no filesystem reads {path}", "give a local path or gs://") from None
        raise UsageError(command, f"{scheme}:// needs Beam's {extra.upper()} extras, which are not installed",
                         f"pip install 'apache-beam[{extra}]'") from None


def matched_files(command: str, flag: str, given: str, pattern: str, images_only: bool) -> list[str]:
    """The files `pattern` (what the user gave as `flag` `given`) matches, with `images_only` those
    named as images; UsageError for none."""
    check_filesystem(command, pattern)
    found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    found = [path for path in found if not images_only or is_image_name(path)]
    if not found:
        what = "image files" if images_only else "files"
        raise UsageError(command, f"{flag} {given} matches no {what}",
                         "give a folder or a glob that matches some")
    return found


def check_outside(command: str, output: str, flag: str, folder: str) -> None:
    """UsageError where `output` is the input `folder` or inside it: the next run would read it."""
    out, inside = _absolute(output), _absolute(folder)
    if out == inside or out.startswith(inside.rstrip("/") + "/"):
        raise UsageError(command, f"--output {output} is inside the {flag} folder {folder}",
                         "write the output to a folder outside it")


def make_output(command: str, output: str) -> None:
    """Creates the output folder where missing and writes (and deletes) a probe file in it; where
    that fails, removes the folders it created and raises UsageError."""
    check_filesystem(command, output)
    if "://" not in output and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(command, f"--output {output} is a file", "give a folder (new or existing)")
    created = _first_missing(output)
    probe = FileSystems.join(output, f".write-probe-{uuid.uuid4().hex}")
    try:
        if created is not None:
            FileSystems.mkdirs(output)
        with FileSystems.create(probe):
            pass
        FileSystems.delete([probe])
    except (OSError, BeamIOError) as e:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise UsageError(command, f"cannot write to --output {output} ({_reason(e)})",
                         "give a folder you can write to") from None


def _first_missing(output: str) -> str | None:
    """The top-most folder of a local `output` that does not exist yet (what creating it makes);
    None where it exists or is on an object store (which has no folders)."""
    if "://" in output:
        return None
    path, missing = os.path.abspath(output), None
    while not os.path.lexists(path):
        path, missing = os.path.dirname(path), path
    return missing


def _absolute(path: str) -> str:
    if "://" in path:
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath(rest)}"
    return os.path.realpath(path or ".")


def _reason(error: Exception) -> str:
    """The filesystem's own words: Beam wraps them in a BeamIOError per path."""
    details = getattr(error, "exception_details", None)
    if details:
        error = next(iter(details.values()))
    return getattr(error, "strerror", None) or str(error)
