"""The preprocess pipeline against a plain single-process loop doing the same work.

    python -m bench.preprocess [--images 600] [--workers 2] [--rounds 3]
        [--modes in_memory,multi_threading,multi_processing] [--baseline REV]

Makes realistic JPEGs (500-1500 px crops of the embedded real photos, resized, with sensor-like
noise, so they compress like photos), then times on the same files:
- the loop: read, sha256, decode (JPEG draft), crop, mask, serialize, gzip-TFRecord write
  (the project's writer, as the pipeline);
- the decode+crop cost alone (the floor any implementation pays per image);
- the ceiling for `--workers` cores: the loop on a share of the files in each of that many threads,
  or processes, at once, with nothing shared;
- the pipeline on the local runner with `--workers` workers in each of `--modes` (threads calling
  the DoFns directly, threads behind an in-process gRPC data plane, or processes), end to end, and
  its fixed cost (pipeline construction and worker start-up, measured on a handful of images) so
  the steady rate is reported too;
- with `--baseline REV`, the same for the pipeline of `pipelines/preprocess.py` as it was at the git
  revision REV (the rest of the tree as it is now: the modules it imports, such as its DoFns in
  `pipelines/photo_records.py`, are today's), in the in-process modes: before and after a change to
  the job's wiring, measured side by side.
Each figure is the median of `--rounds` rounds, the variants alternating within each round; the
steady share of the thread ceiling is also given within each round (its median is robust to a
machine that speeds up or slows down during the run).
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import hashlib
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from demo import sample_data
from pipelines import images, preprocess
from pipelines.splits import SplitSpec
from tfrecords import Geometry, Record, shards
from tfrecords.writer import compress_record

SOURCES = [("skimage", "data/astronaut.png"), ("skimage", "data/coffee.png"), ("skimage", "data/chelsea.png"),
           ("skimage", "data/rocket.jpg"), ("skimage", "data/hubble_deep_field.jpg"),
           ("skimage", "data/retina.jpg"), ("sklearn.datasets", "images/china.jpg"),
           ("sklearn.datasets", "images/flower.jpg"), ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
           ("mvtbdata", "images/parks.png"), ("mvtbdata", "images/walls-l.png"), ("mvtbdata", "images/roof.png"),
           ("mvtbdata", "images/lab-scene.png"), ("mvtbdata", "images/church.png"),
           ("mvtbdata", "images/mosaic/aerialphoto.png")]
DEFAULT_SPLITS = SplitSpec()


def make_jpegs(directory: Path, count: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    photos = []
    for package, relative in SOURCES:
        root = sample_data.package_dir(package)
        if root is not None and (root / relative).exists():
            photos.append(Image.open(root / relative).convert("RGB"))
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        long_side = int(rng.integers(500, 1501))
        scale = long_side / max(cw, ch)
        size = (max(200, round(cw * scale)), max(200, round(ch * scale)))
        image = photo.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BILINEAR)
        noisy = np.asarray(image, np.int16) + rng.normal(0, 3, (size[1], size[0], 1)).astype(np.int16)
        path = directory / f"photo-{i:04d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=int(rng.integers(85, 96)))
        paths.append(path)
    return paths


def loop(paths: list[Path], output: Path, geometry: Geometry, spec: images.CropSpec) -> int:
    """The pipeline's work in one process: dedup by hash, records, one gzip TFRecord file per split."""
    seen, kept = set(), 0
    files = {s: open(output / f"{s}.tfrecord.gz", "wb") for s in shards.SPLITS}
    for path in sorted(paths):
        data = path.read_bytes()
        key = hashlib.sha256(data).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        try:
            crops = images.decode_crops(data, spec, seed=key)
        except images.Rejected:
            continue
        split = DEFAULT_SPLITS.split(str(path), key)
        for index, crop in enumerate(crops):
            record = Record.from_image(crop, geometry, key=key, source_uri=str(path), crop_index=index)
            files[split].write(compress_record(record.serialize()))
        kept += 1
    for f in files.values():
        f.close()
    return kept


def decode_and_crop_only(paths: list[Path], spec: images.CropSpec) -> None:
    for path in paths:
        images.decode_crops(path.read_bytes(), spec, seed="0" * 64)


def loops_side_by_side(pool: Executor, workers: int, paths: list[Path], output: Path, geometry: Geometry,
                       spec: images.CropSpec) -> None:
    """The ceiling for `workers` cores: the loop on 1/workers of the files in each worker at once,
    with no coordination between them (each its own files, no dedup across them)."""
    outputs = [output / f"part-{i}" for i in range(workers)]
    for o in outputs:
        o.mkdir(parents=True, exist_ok=True)
    list(pool.map(loop, [paths[i::workers] for i in range(workers)], outputs, [geometry] * workers,
                  [spec] * workers))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_pipeline(input_glob: str, output: str, workers: int, mode: str, module: ModuleType = preprocess) -> None:
    module.run(["--input", input_glob, "--output", output, "--direct_num_workers", str(workers),
                "--direct_running_mode", mode])


def preprocess_at(revision: str, directory: Path) -> ModuleType:
    """`pipelines/preprocess.py` as it was at git `revision`, imported under a name of its own (its
    DoFns' classes pickle by that name, so only in this process: the in_memory and multi_threading
    modes)."""
    source = subprocess.run(["git", "show", f"{revision}:pipelines/preprocess.py"], capture_output=True,
                            text=True, check=True).stdout
    name = "preprocess_at_" + re.sub(r"\W", "_", revision)
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.preprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=3, help="each measurement's median over this many rounds")
    parser.add_argument("--modes", default="in_memory,multi_threading,multi_processing",
                        help="FnApiRunner running modes to measure, comma-separated")
    parser.add_argument("--baseline", metavar="REV", default="",
                        help="also measure the pipeline at this git revision (e.g. HEAD, before a change)")
    args = parser.parse_args(argv)
    geometry = Geometry()
    spec = images.CropSpec(size=geometry.image_size, min_size=geometry.image_size)
    modes = args.modes.split(",")
    times: dict[str, list[float]] = {}
    failures: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.workers) as threads, \
            ProcessPoolExecutor(args.workers) as processes:
        tmp = Path(tmp)
        (tmp / "photos").mkdir()
        (tmp / "few").mkdir()
        pipelines_run = {mode: (mode, preprocess) for mode in modes}  # label -> (running mode, module)
        if args.baseline:
            baseline = preprocess_at(args.baseline, tmp)
            pipelines_run.update({f"{mode}@{args.baseline}": (mode, baseline) for mode in modes
                                  if mode != "multi_processing"})
        paths = make_jpegs(tmp / "photos", args.images)
        few = paths[: 2 * args.workers]
        for p in few:
            (tmp / "few" / p.name).write_bytes(p.read_bytes())
        megapixels = sum(np.prod(Image.open(p).size) for p in paths) / 1e6 / len(paths)
        print(f"{len(paths)} JPEGs, mean {megapixels:.2f} MP, {sum(p.stat().st_size for p in paths) / 2**20:.0f} MiB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.rounds} rounds")

        decode_and_crop_only(paths[:10], spec)  # warm the page cache and Pillow
        list(processes.map(decode_and_crop_only, [paths[:2]] * args.workers, [spec] * args.workers))
        for r in range(args.rounds):
            out = tmp / f"round-{r}"
            (out / "loop").mkdir(parents=True)
            measured = {
                "crop": timed(decode_and_crop_only, paths, spec),
                "loop": timed(loop, paths, out / "loop", geometry, spec),
                "threads": timed(loops_side_by_side, threads, args.workers, paths, out / "threads", geometry, spec),
                "processes": timed(loops_side_by_side, processes, args.workers, paths, out / "processes",
                                   geometry, spec),
            }
            for variant, (mode, module) in pipelines_run.items():
                try:
                    measured[f"few-{variant}"] = timed(run_pipeline, str(tmp / "few" / "*.jpg"),
                                                       str(out / f"few-{variant}"), args.workers, mode, module)
                    measured[variant] = timed(run_pipeline, str(tmp / "photos" / "*.jpg"), str(out / variant),
                                              args.workers, mode, module)
                except Exception as e:  # a run that loses data fails its accounting: count it, go on
                    failures.setdefault(variant, []).append(str(e).splitlines()[-1][:200])
            for name, seconds in measured.items():
                times.setdefault(name, []).append(seconds)
        load = os.getloadavg()[0]

    n = len(paths)
    median = {name: statistics.median(values) for name, values in times.items()}
    loop_rate, crop_rate = n / median["loop"], n / median["crop"]
    print(f"decode+crop only (1 process):   {crop_rate:7.1f} images/s  ({1000 / crop_rate:.2f} ms/image)")
    print(f"loop (1 process, same work):    {loop_rate:7.1f} images/s  ({1000 / loop_rate:.2f} ms/image) "
          f"= {crop_rate / loop_rate:.2f}x decode+crop")
    for kind in ("threads", "processes"):
        rate = n / median[kind]
        print(f"ceiling: the loop on 1/{args.workers} of the files in each of {args.workers} {kind}: {rate:7.1f} "
              f"images/s -> {rate / loop_rate:.2f}x the loop")
    thread_ceiling = n / median["threads"]
    for variant in pipelines_run:
        for failure in failures.get(variant, []):
            print(f"pipeline, {args.workers} {variant} workers: a run FAILED: {failure}")
        if variant not in median:
            continue
        full_s, fixed_s = median[variant], median[f"few-{variant}"]
        pipe_rate = n / full_s
        steady_rate = (n - len(few)) / max(full_s - fixed_s, 1e-9)
        per_round = [(n - len(few)) / max(full - fixed, 1e-9) / (n / threads) for full, fixed, threads
                     in zip(times[variant], times[f"few-{variant}"], times["threads"])]
        print(f"pipeline, {args.workers} {variant} workers: end to end {pipe_rate:7.1f} images/s -> "
              f"{pipe_rate / loop_rate:.2f}x the loop; fixed cost ({len(few)} images) {fixed_s:.2f}s; steady "
              f"{steady_rate:.1f} images/s -> {steady_rate / loop_rate:.2f}x the loop "
              f"= {steady_rate / thread_ceiling:.2f} of the thread ceiling; per core "
              f"{1000 * args.workers / steady_rate:.2f} ms/image = {crop_rate * args.workers / steady_rate:.2f}x "
              f"decode+crop")
        if len(per_round) == args.rounds > 1:
            print(f"  steady of the thread ceiling within each round (the machine's drift cancels): median "
                  f"{statistics.median(per_round):.2f}, rounds {', '.join(f'{r:.2f}' for r in per_round)}")
    print(f"load average at the end {load:.1f} (>{os.cpu_count()} means other jobs shared the CPU)")


if __name__ == "__main__":
    main()
