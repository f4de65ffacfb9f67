"""Bulk inpainting throughput: the whole local pipeline vs the loaded model called directly.

    python -m bench.inpaint [--images 1536] [--batch-size 64] [--bottleneck 4000 --width 64] [--self-ensemble none]
        [--write png|tfrecord|png,tfrecord] [--runs 1:in_memory,2:in_memory,...] [--rounds 3]
    python -m bench.inpaint --masks [--photos 64 --photo-size 1024x768 --holes 3] [...]

Both sides inpaint the same records (random 128x128 crops of the embedded scikit-image photos, with
ground truth, in gzip shards) with the real generator at the default config (untrained: speed does
not depend on the weights). "direct" times `serving_default` on in-memory batches of the same size,
after one warm-up call. "pipeline" is `python -m pipelines.inpaint` end to end (read, validate,
RunInference, the `--write` outputs, hole metrics, summary) on FnApiRunner, timed from the pipeline's start
including worker start-up and model loads; its fixed cost is measured with a run on one batch, and
"steady" is the throughput net of it. The device is whatever TensorFlow picks (a GPU if it sees one).

With --masks, both sides fill users' holes at full resolution with the mask generator: full-size
JPEG photos (the scikit-image photos resized) each with a PNG mask file of `--holes` boxes or
brush strokes (pipelines/holes.py, drawn at 96-256 pixels, one per cell of a grid so they stay
apart). "direct" times `serving_default` on batches of the photos' context windows (the same
windows the pipeline cuts, made beforehand, `pipelines/hole_windows.py`); the pipeline is
`pipelines.inpaint --masks` end to end (pair the files, decode the photo and mask, cut the windows,
RunInference, paste back, full-size PNG writes). Both rates count windows per second.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import functools
import itertools
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np

from model.config import AUTO_COARSE_FILL, GENERATOR_COARSE_FILLS
from model.self_ensemble import SELF_ENSEMBLES
from tfrecords import Record

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")  # scikit-image's


def make_records(directory: str, count: int, shards: int) -> None:
    import tensorflow as tf
    from skimage import data

    from tfrecords.geometry import Geometry
    from tfrecords.shards import shard_name

    photos = [getattr(data, name)() for name in PHOTOS]
    rng = np.random.default_rng(0)
    writers = [tf.io.TFRecordWriter(os.path.join(directory, shard_name("eval", i, shards)), options="GZIP")
               for i in range(shards)]
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = (int(rng.integers(0, s - 128)) for s in photo.shape[:2])
        crop = np.ascontiguousarray(photo[top:top + 128, left:left + 128, :3])
        writers[i % shards].write(Record.from_image(crop, Geometry(), f"bench{i}", f"bench/{i}.png").serialize())
    for w in writers:
        w.close()


def read_records(directory: str) -> Iterator[Record]:
    """The Records of every gzip shard in `directory`, shard by shard."""
    import tensorflow as tf

    for name in sorted(os.listdir(directory)):
        for serialized in tf.data.TFRecordDataset(os.path.join(directory, name), "GZIP").as_numpy_iterator():
            yield Record.parse(serialized)


def direct(model: str, directory: str, batch_size: int) -> tuple[Callable[[], float], int, str]:
    """(a measurement of the loaded signature's images/s on the records' masked images, batch by
    batch; how many images; the device)."""
    from pipelines.model_handler import InpainterModelHandler

    masked = [record.masked for record in read_records(directory)]
    model_fn = InpainterModelHandler(model, batch_size).load_model()
    batches = [(np.stack(masked[i:i + batch_size]),) for i in range(0, len(masked), batch_size)]
    model_fn(*batches[0])  # warm-up: the first call initialises the kernels
    return functools.partial(_rate, model_fn, batches, len(masked)), len(masked), model_fn.device


def _rate(model_fn, batches: list[tuple[np.ndarray, ...]], count: int) -> float:
    """Inputs/s of `model_fn` called on each batch in turn."""
    start = time.perf_counter()
    for batch in batches:
        model_fn(*batch)
    return count / (time.perf_counter() - start)


def png_writes(images: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """{encoder: (ms per image, KiB per image)}: pipelines/png.py's (the pipeline's) and Pillow's PNG
    encoder at zlib levels 1 and 6, on RGB images."""
    import io

    from PIL import Image

    from pipelines import png

    def pillow(level: int):
        def encode(pixels: np.ndarray) -> bytes:
            encoded = io.BytesIO()
            Image.fromarray(pixels).save(encoded, format="PNG", compress_level=level)
            return encoded.getvalue()
        return encode

    results = {}
    for name, encode in (("ISA-L", lambda pixels: png.encode(pixels, "RGB")), ("Pillow 1", pillow(1)),
                         ("Pillow 6", pillow(6))):
        size, start = 0, time.perf_counter()
        for pixels in images:
            size += len(encode(pixels))
        results[name] = (1000 * (time.perf_counter() - start) / len(images), size / len(images) / 1024)
    return results


def print_png_writes(images: list[np.ndarray], what: str) -> None:
    line = ", ".join(f"{name} {ms:.2f} ms {kib:.1f} KiB" for name, (ms, kib) in png_writes(images).items())
    print(f"PNG writes of {what}: {line}", flush=True)


def make_masked_photos(directory: str, count: int, width: int, height: int, holes: int) -> tuple[str, str]:
    """Writes `count` photos (photos/NAME.jpg) and their mask files (masks/NAME.png); returns both folders."""
    from PIL import Image
    from skimage import data

    from pipelines import holes as generated
    from tfrecords import masks
    from tfrecords.geometry import Geometry

    photos = [Image.fromarray(getattr(data, name)()).convert("RGB").resize((width, height)) for name in PHOTOS]
    folders = os.path.join(directory, "photos"), os.path.join(directory, "masks")
    for folder in folders:
        os.makedirs(folder)
    columns = math.ceil(math.sqrt(holes))
    rows = math.ceil(holes / columns)
    cell_h, cell_w = height // rows, width // columns
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        photo.save(os.path.join(folders[0], f"photo{i:04d}.jpg"), quality=95)
        mask = np.zeros((height, width), np.uint8)
        for h in range(holes):
            side = int(rng.choice(range(96, min(257, cell_h, cell_w) + 1, 32)))
            kind = (masks.BOXES, masks.STROKES)[h % 2]
            hole, _ = generated.generate(kind, f"bench{i}-{h}", Geometry(image_size=side))
            top = (h // columns) * cell_h + int(rng.integers(0, cell_h - side + 1))
            left = (h % columns) * cell_w + int(rng.integers(0, cell_w - side + 1))
            mask[top:top + side, left:left + side] = hole
        Image.fromarray(mask).save(os.path.join(folders[1], f"photo{i:04d}.png"))
    return folders


def direct_windows(model: str, photos: str, masks_dir: str, batch_size: int) -> tuple[Callable[[], float], int, str]:
    """(a measurement of the loaded mask model's windows/s on the photos' context windows, batch by
    batch; how many windows; the device)."""
    from model.exported import load_geometry
    from pipelines import full_resolution, hole_windows, mask_files
    from pipelines.model_handler import MaskInpainterModelHandler

    model_fn = MaskInpainterModelHandler(model, batch_size).load_model()
    geometry = load_geometry(model)
    stacks = []
    for name in sorted(os.listdir(photos)):
        with open(os.path.join(photos, name), "rb") as f:
            photo = full_resolution.Photo.of(full_resolution.open_upright(f.read()))
        with open(os.path.join(masks_dir, os.path.splitext(name)[0] + ".png"), "rb") as f:
            mask = mask_files.read_mask(f.read(), photo.width, photo.height)
        windows = hole_windows.plan(mask, geometry.image_size)
        stacks.append(hole_windows.model_inputs(photo, mask, windows, geometry.image_size, geometry.fill_rgb))
    images = np.concatenate([images for images, _ in stacks])
    masks = np.concatenate([masks for _, masks in stacks])
    batches = [(images[i:i + batch_size], masks[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    model_fn(*batches[0])  # warm-up: the first call initialises the kernels
    return functools.partial(_rate, model_fn, batches, len(images)), len(images), model_fn.device


def pipeline(model: str, pattern: str, output: str, batch_size: int, beam_args: list[str]) -> tuple[float, dict]:
    from pipelines import inpaint

    start = time.perf_counter()
    summary = inpaint.run(["--model", model, "--input", pattern, "--output", output,
                           "--batch-size", str(batch_size), *beam_args])
    return time.perf_counter() - start, summary


def compare(model: str, small: tuple[str, list[str]], large: tuple[str, list[str]], count: int,
            direct_rate: Callable[[], float], unit: str, args: argparse.Namespace, tmp: str) -> None:
    """Prints each --runs configuration's pipeline rate on `large` (input, extra arguments) against
    the direct rate, measured before and after each round (a round's reference is their mean, so a
    machine that speeds up or slows down during the round moves both sides alike); its fixed cost is
    a run on `small` (about one batch), and "steady" is the rate net of it. `count` is how many model
    inputs (images or windows) `large` holds. With several --rounds, the last lines are the medians
    of the rounds' ratios."""
    ratios: dict[str, list[tuple[float, float]]] = {}
    before = direct_rate()
    for round_ in range(1, args.rounds + 1):
        runs = []
        for workers, mode in (run.split(":") for run in args.runs.split(",")):
            beam_args = ["--write", args.write, "--runner", "FnApiRunner", "--direct_num_workers", str(workers),
                         "--direct_running_mode", mode]
            name = f"{workers}{mode}"
            fixed, once = pipeline(model, small[0], os.path.join(tmp, f"s{name}{round_}"), args.batch_size,
                                   small[1] + beam_args)
            seconds, summary = pipeline(model, large[0], os.path.join(tmp, f"o{name}{round_}"), args.batch_size,
                                        large[1] + beam_args)
            assert summary["windows_inpainted"] == count and summary["rejects"] == 0, summary
            runs.append((workers, mode, fixed, seconds, once["windows_inpainted"]))
        after = direct_rate()
        rate = (before + after) / 2
        print(f"round {round_}: direct {rate:8.1f} {unit}/s ({before:.1f} before the round, {after:.1f} after)",
              flush=True)
        for workers, mode, fixed, seconds, fixed_count in runs:
            end_to_end = count / seconds
            steady = (count - fixed_count) / (seconds - fixed) if seconds > fixed else None
            net = (f"steady {steady:.1f} {unit}/s, ratio {steady / rate:.2f}" if steady
                   else "no steady rate: the run took no longer than the fixed cost")
            print(f"pipeline: {end_to_end:8.1f} {unit}/s end to end ({workers} {mode} worker(s), {seconds:.1f}s), "
                  f"ratio {end_to_end / rate:.2f}; fixed cost {fixed:.1f}s, {net}", flush=True)
            ratios.setdefault(f"{workers} {mode} worker(s)", []).append(
                (end_to_end / rate, steady / rate if steady else float("nan")))
        before = after
    if args.rounds > 1:
        for name, values in ratios.items():
            ends, steadies = zip(*values)
            print(f"median of {args.rounds} rounds, {name}: ratio {statistics.median(ends):.2f} end to end, "
                  f"{statistics.median(steadies):.2f} steady", flush=True)


def bench_masks(args: argparse.Namespace, tmp: str) -> None:
    import keras

    from model.export import export_saved_model
    from model.networks import build_mask_generator
    from tfrecords.geometry import Geometry

    model = os.path.join(tmp, "export")
    keras.utils.set_random_seed(0)
    generator = build_mask_generator(Geometry(), bottleneck=args.bottleneck, width=args.width,
                                     coarse_fill=args.coarse_fill)
    export_saved_model(generator, Geometry(), model, {"note": "untrained, for the benchmark"}, args.self_ensemble)
    width, height = (int(v) for v in args.photo_size.split("x"))
    photos, masks = make_masked_photos(os.path.join(tmp, "large"), args.photos, width, height, args.holes)
    small = make_masked_photos(os.path.join(tmp, "small"), math.ceil(args.batch_size / args.holes), width, height,
                               args.holes)
    from PIL import Image

    print_png_writes([np.asarray(Image.open(os.path.join(photos, name)))
                      for name in sorted(os.listdir(photos))[:12]], f"{width}x{height} photos")
    measure, count, device = direct_windows(model, photos, masks, args.batch_size)
    print(f"mask generator: bottleneck {args.bottleneck}, width {args.width}, {generator.count_params():,} "
          f"parameters; batch {args.batch_size}; {args.photos} photos of {width}x{height} with {args.holes} holes, "
          f"{count} windows; self-ensemble {args.self_ensemble}; device {device}", flush=True)
    print("direct: serving_default on in-memory batches of the windows", flush=True)
    compare(model, (small[0], ["--masks", small[1]]), (photos, ["--masks", masks]), count, measure, "windows", args,
            tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bottleneck", type=int, default=4000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--write", default="png", help="the pipeline's --write: png, tfrecord or both")
    parser.add_argument("--runs", default="1:in_memory,2:in_memory,2:multi_threading,2:multi_processing",
                        help="FnApiRunner WORKERS:MODE pairs to measure, comma-separated")
    parser.add_argument("--masks", action="store_true",
                        help="users' masks on full-size photos with the mask generator, instead of records")
    parser.add_argument("--photos", type=int, default=64, help="with --masks: how many photos")
    parser.add_argument("--photo-size", default="1024x768", help="with --masks: WIDTHxHEIGHT of the photos")
    parser.add_argument("--holes", type=int, default=3, help="with --masks: holes per photo")
    parser.add_argument("--coarse-fill", default=AUTO_COARSE_FILL["anywhere"], choices=GENERATOR_COARSE_FILLS,
                        help="with --masks: what the mask generator sees in the hole (default: what training "
                             "builds for holes anywhere)")
    parser.add_argument("--self-ensemble", default="none", choices=tuple(SELF_ENSEMBLES),
                        help="the export's self-ensemble (model.export --self-ensemble); none by default: the "
                             "generator's own cost, as measured before the option (mirror doubles it)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of direct and every run, one after another; more than one prints the medians")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.masks:
        with tempfile.TemporaryDirectory() as tmp:
            bench_masks(args, tmp)
        return

    import keras

    from model.export import export_saved_model
    from model.networks import build_generator
    from tfrecords.geometry import Geometry

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "export")
        keras.utils.set_random_seed(0)
        generator = build_generator(Geometry(), bottleneck=args.bottleneck, width=args.width)
        export_saved_model(generator, Geometry(), model, {"note": "untrained, for the benchmark"},
                           args.self_ensemble)
        records, small = os.path.join(tmp, "records"), os.path.join(tmp, "small")
        os.makedirs(records)
        os.makedirs(small)
        make_records(records, args.images, shards=4)
        make_records(small, args.batch_size, shards=1)

        print_png_writes([r.original() for r in itertools.islice(read_records(records), 400)], "128x128 outputs")
        measure, count, device = direct(model, records, args.batch_size)
        print(f"generator: bottleneck {args.bottleneck}, width {args.width}, {generator.count_params():,} "
              f"parameters; batch {args.batch_size}; {count} images; self-ensemble {args.self_ensemble}; "
              f"device {device}", flush=True)
        print("direct: serving_default on in-memory batches", flush=True)
        compare(model, (os.path.join(small, "*.tfrecord.gz"), []), (os.path.join(records, "*.tfrecord.gz"), []),
                count, measure, "images", args, tmp)


if __name__ == "__main__":
    main()
