"""The preprocess pipeline against a plain single-process loop doing the same work.

    python -m bench.preprocess [--images 300] [--workers 2] [--modes multi_processing,multi_threading]

Makes realistic JPEGs (500-1500 px crops of the embedded real photos, resized, with sensor-like
noise, so they compress like photos), then times on the same files:
- the loop: read, sha256, decode (JPEG draft), crop, mask, serialize, gzip-TFRecord write;
- the decode+crop cost alone (the floor any implementation pays per image);
- the pipeline on the local runner with `--workers` workers in each of `--modes` (processes, or
  threads of one process), end to end, and its fixed cost (pipeline construction and worker
  start-up, measured on a handful of images) so the steady rate is reported too.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil
from PIL import Image

from pipelines import images, preprocess, sample_data
from tfrecords import Geometry, Record

SOURCES = [("skimage", "data/astronaut.png"), ("skimage", "data/coffee.png"), ("skimage", "data/chelsea.png"),
           ("skimage", "data/rocket.jpg"), ("skimage", "data/hubble_deep_field.jpg"),
           ("skimage", "data/retina.jpg"), ("sklearn.datasets", "images/china.jpg"),
           ("sklearn.datasets", "images/flower.jpg"), ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
           ("mvtbdata", "images/parks.png"), ("mvtbdata", "images/walls-l.png"), ("mvtbdata", "images/roof.png"),
           ("mvtbdata", "images/lab-scene.png"), ("mvtbdata", "images/church.png"),
           ("mvtbdata", "images/mosaic/aerialphoto.png")]


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
    files = {s: FileSystems.create(str(output / f"{s}.tfrecord.gz"), compression_type=CompressionTypes.GZIP)
             for s in ("train", "eval")}
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
        split = preprocess.split_of(f"sha256:{key}", 0.1)
        for index, crop in enumerate(crops):
            record = Record.from_image(crop, geometry, key=key, source_uri=str(path), crop_index=index)
            _TFRecordUtil.write_record(files[split], record.serialize())
        kept += 1
    for f in files.values():
        f.close()
    return kept


def decode_and_crop_only(paths: list[Path], spec: images.CropSpec) -> None:
    for path in paths:
        images.decode_crops(path.read_bytes(), spec, seed="0" * 64)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_pipeline(input_glob: str, output: str, workers: int, mode: str) -> None:
    preprocess.run(["--input", input_glob, "--output", output, "--direct_num_workers", str(workers),
                    "--direct_running_mode", mode])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.preprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--modes", default="multi_processing,multi_threading",
                        help="FnApiRunner running modes to measure, comma-separated")
    args = parser.parse_args(argv)
    geometry = Geometry()
    spec = images.CropSpec(size=geometry.image_size, resize_to=geometry.image_size, min_size=geometry.image_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "photos").mkdir()
        (tmp / "few").mkdir()
        paths = make_jpegs(tmp / "photos", args.images)
        few = paths[: 2 * args.workers]
        for p in few:
            (tmp / "few" / p.name).write_bytes(p.read_bytes())
        megapixels = sum(np.prod(Image.open(p).size) for p in paths) / 1e6 / len(paths)
        print(f"{len(paths)} JPEGs, mean {megapixels:.2f} MP, {sum(p.stat().st_size for p in paths) / 2**20:.0f} MiB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        decode_and_crop_only(paths[:10], spec)  # warm the page cache and Pillow
        crop_s = timed(decode_and_crop_only, paths, spec)
        (tmp / "loop").mkdir()
        loop_s = timed(loop, paths, tmp / "loop", geometry, spec)
        pipeline_s = {}
        for mode in args.modes.split(","):
            fixed_s = timed(run_pipeline, str(tmp / "few" / "*.jpg"), str(tmp / f"few-{mode}"), args.workers, mode)
            full_s = timed(run_pipeline, str(tmp / "photos" / "*.jpg"), str(tmp / f"out-{mode}"), args.workers, mode)
            pipeline_s[mode] = fixed_s, full_s
        load = os.getloadavg()[0]

    n = len(paths)
    loop_rate, crop_rate = n / loop_s, n / crop_s
    print(f"decode+crop only (1 process):   {crop_rate:7.1f} images/s  ({1000 / crop_rate:.1f} ms/image)")
    print(f"loop (1 process, same work):    {loop_rate:7.1f} images/s  ({1000 / loop_rate:.1f} ms/image)")
    for mode, (fixed_s, full_s) in pipeline_s.items():
        pipe_rate = n / full_s
        steady_rate = (n - len(few)) / max(full_s - fixed_s, 1e-9)
        print(f"pipeline, {args.workers} {mode} workers: end to end {pipe_rate:7.1f} images/s -> "
              f"{pipe_rate / loop_rate:.2f}x the loop; fixed cost ({len(few)} images) {fixed_s:.1f}s; steady "
              f"{steady_rate:.1f} images/s -> {steady_rate / loop_rate:.2f}x the loop; per core "
              f"{1000 * args.workers / steady_rate:.1f} ms/image = {crop_rate * args.workers / steady_rate:.2f}x "
              f"decode+crop")
    print(f"load average at the end {load:.1f} (>{os.cpu_count()} means other jobs shared the CPU)")


if __name__ == "__main__":
    main()
