"""Where a photo's CPU goes in bulk inpainting with masks (issue 26), against the floor.

    python -m bench.scale_split [--corpus DIR] [--photos 60] [--model EXPORT]

bench.scale calls this in its runs; standalone it measures the two loops below on the first
--photos photos of a bench.scale corpus (made there if missing) and prints the table without Beam's
row, which needs a pipeline run (bench.scale adds it, for each N).

- The floor: a bare loop of the same decode and encode with Pillow, on one core: read the photo,
  decode it, take its pixels out of Pillow (`np.asarray`, one repacking copy; a conversion only for
  a photo that is not RGB), read and decode its mask the same way, and encode the photo as PNG with
  the writer's encoder (`pipelines/png.py`, ISA-L level 1, the same settings). No model.
- The pipeline's work, done directly: the calls the inpaint job's reader (`ReadPhoto` with --masks),
  model handler and writer (`WriteOutputs`, PNG) make for a photo, in their order, each timed on its
  own: read, hash, decode, EXIF/ICC (orientation, mode, what the photo carries), mask read and
  decode, the windows' plan, the pixels out of Pillow, the windows cut and scaled down, the model
  (`MaskInpainterModelHandler.run_inference` on the windows of --photos-in-flight photos at a time,
  in calls of --batch-size windows, as the handler batches them), the photo copied into the PNG
  canvas with the prediction scaled up and pasted into its holes, the metadata written back (EXIF,
  ICC), the PNG encode (the canvas filtered in place and deflated), and the write under a temporary
  name and the rename. (The floor's encode copies its pixels into a canvas too: `png.encode`.)

Both loops run on the same photos, a group of --photos-in-flight at a time, the floor's and the
pipeline's in turn (which goes first alternates), so that the load of a shared machine, and the
cost of reading a photo first, fall on both alike. Both run with glibc's malloc keeping the memory it frees
(no trimming, no mmap for large blocks, `keep_freed_memory`): a bare loop frees each photo's 13 MB
buffers and malloc hands them back to the kernel, so every photo faults its memory in afresh, which
on the 2-core VM of bench/RESULTS.md cost the floor about 15 of its 74 ms a photo (np.asarray 15 ms
instead of 5); the job holds --photos-in-flight photos a worker and keeps its heap, and its CPU a
photo was the same with and without these settings (150-156 ms at N = 250, both ways). So the floor
is the work, not the page faults. CPU is the process's
(`time.process_time`): the model's calls count the CPU of every thread TensorFlow runs them on.
"Beam and the rest" (bench.scale) is the pipeline's net CPU a photo, from its run, less the sum of
the direct parts: Beam's per-element work, batching and coders, the DoFns' bookkeeping (counters,
the check for a finished photo, the items), the progress line, and what the direct loop does not
reproduce.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import ctypes
import ctypes.util
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# (key, what it is); the floor does the parts marked True.
PARTS = (
    ("read", "read the photo's bytes", True),
    ("hash", "sha256 of the bytes (the photo's id)", False),
    ("decode", "decode (Pillow)", True),
    ("exif", "EXIF/ICC: orientation, mode, what it carries", False),
    ("mask_read", "read the mask's bytes", True),
    ("mask_decode", "decode the mask, its hole", True),
    ("plan", "windows: connected holes, merged", False),
    ("pixels", "pixels out of Pillow (np.asarray)", True),
    ("cut", "windows cut, filled, scaled down", False),
    ("model", "model (CPU)", False),
    ("paste", "photo and prediction (scaled up) into the PNG canvas", False),
    ("metadata", "EXIF/ICC written back", False),
    ("encode", "PNG encode (ISA-L level 1)", True),
    ("write", "write under a temporary name, rename", False),
)
LABELS = {key: label for key, label, _ in PARTS}


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's largest on 64-bit systems


def keep_freed_memory() -> bool:
    """Has glibc's malloc keep what the process frees for its next allocations (see the module's
    docstring); False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX))
    except (OSError, AttributeError):
        return False


class Clock:
    """CPU seconds by part, summed over calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, part: str, step: Callable[..., Any], *args: Any) -> Any:
        start = time.process_time()
        value = step(*args)
        self.seconds[part] = self.seconds.get(part, 0.0) + time.process_time() - start
        return value

    def per_photo(self, photos: int) -> dict[str, float]:
        return {part: seconds / photos for part, seconds in self.seconds.items()}


def _floor_photo(clock: Clock, photo: Path, mask: Path) -> None:
    """The floor for one photo: decode photo and mask, encode the photo as PNG."""
    from pipelines import png

    data = clock.time("read", photo.read_bytes)
    image = clock.time("decode", lambda: _loaded(Image.open(io.BytesIO(data))))
    pixels = clock.time("pixels", lambda: np.asarray(image if image.mode == "RGB" else image.convert("RGB")))
    mask_data = clock.time("mask_read", mask.read_bytes)

    def mask_pixels() -> np.ndarray:
        grey = Image.open(io.BytesIO(mask_data))
        return np.asarray(grey if grey.mode == "L" else grey.convert("L"))

    clock.time("mask_decode", mask_pixels)
    clock.time("encode", png.encode, pixels, "RGB")


def _loaded(image: Image.Image) -> Image.Image:
    image.load()
    return image


class Direct:
    """The inpaint job's per-photo calls, made directly (see the module's docstring)."""

    def __init__(self, model: str, batch_size: int, output: str) -> None:
        from model.exported import load_geometry
        from pipelines.model_handler import MaskInpainterModelHandler

        self._handler = MaskInpainterModelHandler(model, batch_size)
        self._model = self._handler.load_model()
        self._geometry = load_geometry(model)
        self._output = output
        self.windows = 0
        self.written = 0

    def warm_up(self) -> None:
        s = self._geometry.image_size
        mask = np.zeros((1, s, s), np.uint8)
        mask[:, : s // 4, : s // 4] = 255
        self._handler.run_inference([(np.zeros((1, s, s, 3), np.uint8), mask)], self._model)

    def group(self, clock: Clock, photos: list[Path], masks: Path) -> None:
        """The photos through the reader, the model in one batch, and the writer."""
        read = [self._read(clock, photo, masks / (photo.stem + ".png")) for photo in photos]
        results = clock.time("model", self._handler.run_inference, [inputs for _, _, inputs in read], self._model)
        for (photo, windows, _), result in zip(read, results, strict=True):
            self._write(clock, photo, windows, result.inference["prediction"])

    def _read(self, clock: Clock, path: Path, mask_path: Path) -> tuple[Any, list[Any], Any]:
        """`ReadPhoto._with_mask`'s calls: the photo, its windows, the model's inputs."""
        from pipelines import full_resolution, hole_windows, mask_fitting
        from pipelines.files import read_bytes

        g = self._geometry
        data = clock.time("read", read_bytes, str(path))
        clock.time("hash", lambda: hashlib.sha256(data).hexdigest())
        image = clock.time("decode", full_resolution.decoded, data)
        image = clock.time("exif", full_resolution.upright, image)
        mask_data = clock.time("mask_read", read_bytes, str(mask_path))
        mask = clock.time("mask_decode", mask_fitting.photo_hole, [mask_data], image.width, image.height, 0)
        windows = clock.time("plan", hole_windows.plan, mask, g.image_size)
        photo = clock.time("pixels", full_resolution.Photo.of, image)
        inputs = clock.time("cut", hole_windows.model_inputs, photo, mask, windows, g.image_size, g.fill_rgb)
        self.windows += len(windows)
        return photo, windows, inputs

    def _write(self, clock: Clock, photo: Any, windows: list[Any], prediction: np.ndarray) -> None:
        """`WriteOutputs`' calls for a PNG: paste, metadata, encode, write whole."""
        from apache_beam.io.filesystems import FileSystems

        from pipelines import hole_windows, photo_metadata, png, writers

        def paste() -> png.Canvas:
            canvas = png.Canvas(photo.height, photo.width, photo.mode)
            hole_windows.paste(photo, windows, prediction, canvas.pixels)
            return canvas

        canvas = clock.time("paste", paste)

        def metadata() -> tuple[bytes | None, bytes | None]:
            return photo_metadata.icc_out(photo.info, photo.mode), photo_metadata.exif_out(photo.info, False)

        icc, exif = clock.time("metadata", metadata)
        data = clock.time("encode", canvas.encode, icc, exif)
        self.written += 1
        path = FileSystems.join(self._output, writers.output_name(f"photo{self.written}", "png"))
        # Kept until the end, as the job keeps its images: writing into a page cache that fills
        # costs the kernel more than rewriting the pages of a file just deleted.
        clock.time("write", writers.write_whole, path, data, "image/png")


def measure(photos: list[Path], masks: Path, model: str, batch_size: int = 64,
            in_flight: int = 16) -> tuple[dict[str, float], dict[str, float], float]:
    """(the floor's CPU seconds a photo by part, the pipeline's direct calls', their windows a
    photo), the two loops taking turns by groups of `in_flight` photos."""
    floor, direct = Clock(), Clock()
    keep_freed_memory()
    with tempfile.TemporaryDirectory(prefix="bench-split-") as output:
        pipeline = Direct(model, batch_size, output)
        pipeline.warm_up()
        for turn, start in enumerate(range(0, len(photos), in_flight)):
            group = photos[start:start + in_flight]

            def floor_group() -> None:
                for photo in group:
                    _floor_photo(floor, photo, masks / (photo.stem + ".png"))

            steps = [floor_group, lambda: pipeline.group(direct, group, masks)]
            for step in steps if turn % 2 == 0 else steps[::-1]:
                step()
    return floor.per_photo(len(photos)), direct.per_photo(len(photos)), pipeline.windows / len(photos)


def table(floor: dict[str, float], direct: dict[str, float], pipeline_net: float | None = None) -> str:
    """The split as a Markdown table: ms a photo, the floor's and the pipeline's, and the pipeline's
    parts as a share of its total (with Beam's row where the pipeline's net CPU a photo is given)."""
    direct_total = sum(direct.values())
    total = pipeline_net if pipeline_net is not None else direct_total
    lines = ["| part | floor ms | pipeline ms | share |", "|---|---|---|---|"]
    for key, label, in_floor in PARTS:
        f = f"{1000 * floor.get(key, 0):.1f}" if in_floor else ""
        lines.append(f"| {label} | {f} | {1000 * direct.get(key, 0):.1f} | {direct.get(key, 0) / total:.0%} |")
    floor_total = sum(floor.values())
    lines.append(f"| **direct calls, all** | **{1000 * floor_total:.1f}** | **{1000 * direct_total:.1f}** | "
                 f"{direct_total / total:.0%} |")
    if pipeline_net is not None:
        rest = pipeline_net - direct_total
        lines.append(f"| Beam and the rest (pipeline net - direct) | | {1000 * rest:.1f} | {rest / total:.0%} |")
        lines.append(f"| **pipeline, net CPU a photo** | | **{1000 * pipeline_net:.1f}** | 100% |")
    return "\n".join(lines)


def ratios(floor: dict[str, float], direct: dict[str, float], pipeline_net: float | None = None) -> str:
    """The ratios to the floor: with the model's CPU, and without it (a GPU worker's CPU)."""
    f, model, total = sum(floor.values()), direct.get("model", 0.0), sum(direct.values())
    line = (f"direct calls {total / f:.2f}x the floor ({(total - model) / f:.2f}x without the model's "
            f"{1000 * model:.1f} ms)")
    if pipeline_net is not None:
        line = (f"pipeline {pipeline_net / f:.2f}x the floor, {(pipeline_net - model) / f:.2f}x without the "
                f"model's CPU share; " + line)
    return line


def main(argv: list[str] | None = None) -> None:
    from bench import scale_corpus

    parser = argparse.ArgumentParser(prog="python -m bench.scale_split", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="/tmp/scale-corpus", help="a bench.scale corpus (made there if missing)")
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--model", default="", help="a mask model's export (default: bench.scale's tiny one)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--photos-in-flight", type=int, default=16)
    args = parser.parse_args(argv)
    root = Path(args.corpus)
    scale_corpus.make_all(root, args.photos, os.cpu_count() or 2)
    model = args.model or str(scale_corpus.make_export(root, 16, 256))
    photos = sorted((root / "all" / "photos").glob("*.jpg"))[:args.photos]
    floor, direct, windows = measure(photos, root / "all" / "masks", model, args.batch_size, args.photos_in_flight)
    print(f"{len(photos)} photos, {windows:.2f} windows a photo; CPU ms a photo:")
    print(table(floor, direct))
    print(ratios(floor, direct))


if __name__ == "__main__":
    main()
