"""Bulk inpainting throughput: the whole local pipeline vs the loaded model called directly.

    python -m bench.inpaint [--images 1536] [--batch-size 64] [--bottleneck 4000 --width 64]
        [--write png|tfrecord|png,tfrecord] [--runs 1:in_memory,2:in_memory,...]

Both sides inpaint the same records (random 128x128 crops of the embedded scikit-image photos, with
ground truth, in gzip shards) with the real generator at the default config (untrained: speed does
not depend on the weights). "direct" times `serving_default` on in-memory batches of the same size,
after one warm-up call. "pipeline" is `python -m pipelines.inpaint` end to end (read, validate,
RunInference, the `--write` outputs, hole metrics, summary) on FnApiRunner, timed from the pipeline's start
including worker start-up and model loads; its fixed cost is measured with a run on one batch, and
"steady" is the throughput net of it. The device is whatever TensorFlow picks (a GPU if it sees one).
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import tempfile
import time
from collections.abc import Iterator

import numpy as np

from tfrecords import Record


def make_records(directory: str, count: int, shards: int) -> None:
    import tensorflow as tf
    from skimage import data

    from tfrecords.geometry import Geometry
    from tfrecords.shards import shard_name

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")
    photos = [getattr(data, name)() for name in names]
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


def direct(model: str, directory: str, batch_size: int) -> tuple[float, int, str]:
    """Images/s of the loaded signature on the records' masked images, batch by batch."""
    from pipelines.model_handler import InpainterModelHandler

    masked = [record.masked for record in read_records(directory)]
    model_fn = InpainterModelHandler(model, batch_size).load_model()
    batches = [np.stack(masked[i:i + batch_size]) for i in range(0, len(masked), batch_size)]
    model_fn(batches[0])  # warm-up: the first call initialises the kernels
    start = time.perf_counter()
    for batch in batches:
        model_fn(batch)
    return len(masked) / (time.perf_counter() - start), len(masked), model_fn.device


def png_levels(directory: str, levels: tuple[int, ...] = (1, 6)) -> dict[int, tuple[float, float]]:
    """{zlib level: (ms per image, KiB per image)} of Pillow's PNG encoder on the records' crops."""
    import io

    from PIL import Image

    originals = [record.original() for record in itertools.islice(read_records(directory), 400)]
    results = {}
    for level in levels:
        size, start = 0, time.perf_counter()
        for pixels in originals:
            encoded = io.BytesIO()
            Image.fromarray(pixels).save(encoded, format="PNG", compress_level=level)
            size += encoded.tell()
        results[level] = (1000 * (time.perf_counter() - start) / len(originals), size / len(originals) / 1024)
    return results


def pipeline(model: str, pattern: str, output: str, batch_size: int, beam_args: list[str]) -> tuple[float, dict]:
    from pipelines import inpaint

    start = time.perf_counter()
    summary = inpaint.run(["--model", model, "--input", pattern, "--output", output,
                           "--batch-size", str(batch_size), *beam_args])
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1536)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bottleneck", type=int, default=4000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--write", default="png", help="the pipeline's --write: png, tfrecord or both")
    parser.add_argument("--runs", default="1:in_memory,2:in_memory,2:multi_threading,2:multi_processing",
                        help="FnApiRunner WORKERS:MODE pairs to measure, comma-separated")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import keras

    from model.export import export_saved_model
    from model.networks import build_generator
    from tfrecords.geometry import Geometry

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "export")
        keras.utils.set_random_seed(0)
        generator = build_generator(Geometry(), bottleneck=args.bottleneck, width=args.width)
        export_saved_model(generator, Geometry(), model, {"note": "untrained, for the benchmark"})
        records, small = os.path.join(tmp, "records"), os.path.join(tmp, "small")
        os.makedirs(records)
        os.makedirs(small)
        make_records(records, args.images, shards=4)
        make_records(small, args.batch_size, shards=1)

        levels = png_levels(records)
        (fast_ms, fast_kib), (default_ms, default_kib) = levels[1], levels[6]
        print(f"PNG writes of 128x128 outputs: level 1 {fast_ms:.2f} ms, {fast_kib:.1f} KiB; Pillow's default 6 "
              f"{default_ms:.2f} ms, {default_kib:.1f} KiB -> level 1 is {default_ms / fast_ms:.1f}x faster, "
              f"{100 * (fast_kib / default_kib - 1):+.0f}% size", flush=True)
        rate, count, device = direct(model, records, args.batch_size)
        print(f"generator: bottleneck {args.bottleneck}, width {args.width}, {generator.count_params():,} "
              f"parameters; batch {args.batch_size}; {count} images; device {device}", flush=True)
        print(f"direct:   {rate:8.1f} images/s (serving_default on in-memory batches)", flush=True)
        for workers, mode in (run.split(":") for run in args.runs.split(",")):
            beam_args = ["--write", args.write, "--runner", "FnApiRunner", "--direct_num_workers", str(workers),
                         "--direct_running_mode", mode]
            fixed, _ = pipeline(model, os.path.join(small, "*.tfrecord.gz"), os.path.join(tmp, f"s{workers}{mode}"),
                                args.batch_size, beam_args)
            seconds, summary = pipeline(model, os.path.join(records, "*.tfrecord.gz"), os.path.join(tmp, f"o{workers}{mode}"),
                                        args.batch_size, beam_args)
            assert summary["inpainted"] == count, summary
            end_to_end = count / seconds
            steady = (count - args.batch_size) / max(seconds - fixed, 1e-9)
            print(f"pipeline: {end_to_end:8.1f} images/s end to end ({workers} {mode} worker(s), {seconds:.1f}s), "
                  f"ratio {end_to_end / rate:.2f}; fixed cost {fixed:.1f}s, steady {steady:.1f} images/s, "
                  f"ratio {steady / rate:.2f}", flush=True)


if __name__ == "__main__":
    main()
