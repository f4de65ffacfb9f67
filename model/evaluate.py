"""Hole quality of the trained model against three classical baselines, on the eval split.

    python -m model.evaluate --model runs/default/export --data data/tfrecords --output runs/default/eval
        [--split eval --max-images N --batch-size 32 --samples 8 --radius 5]

For every eval record: the exported SavedModel (`serving_default`, loaded once) and the baselines of
`model.baselines` inpaint the masked image; `model.metrics` scores each against the original on the
56x56 hole and on the 64x64 patch. Writes to `--output`:
- `metrics.json`: mean metrics per method, the published context-encoder figures beside the patch
  figures, the settings, and the sample list for the report;
- `per_image.jsonl`: every image's metrics per method;
- `samples/`: PNGs (masked input, each method, truth) of the first crop of the first `--samples`
  distinct source photos, for the report's grid.

Plain Python over tf.data rather than a Beam job: an eval split is hundreds to a few thousand
128x128 crops, which one process scores in seconds to minutes (the model batched, OpenCV at ~15 ms an
image), while a Beam job would load the SavedModel once per worker and add pipeline start-up for no
gain. Inpainting millions of images, with per-image hole metrics where there is ground truth, is
the Beam job `pipelines.inpaint`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any, Iterator

import numpy as np
import tensorflow as tf
from PIL import Image

from model.baselines import DEFAULT_RADIUS, LABELS as BASELINE_LABELS, run_baselines
from model.export import load_inpainter, read_metadata
from model.metrics import inpainting_metrics, mean_metrics
from tfrecords.geometry import Geometry, unmask
from tfrecords.schema import parse_examples
from tfrecords.shards import split_files

METRICS = "metrics.json"
PER_IMAGE = "per_image.jsonl"
SAMPLES = "samples"

# Column order of tables and of the report's grid.
LABELS = {**BASELINE_LABELS, "model": "Model (structural inpainting)"}

# DESIGN.md: Pathak et al., CVPR 2016, Table 2 (Paris StreetView, held-out images, centre region).
PUBLISHED = {
    "note": ("Published on Paris StreetView (Pathak et al., Context Encoders, CVPR 2016, Table 2), "
             "a different dataset with a far longer training run: a reference point, not a like-for-like "
             "comparison."),
    "methods": {
        "NN-inpainting (HOG features)": {"l1": 0.1992, "l2": 0.0692, "psnr": 12.79},
        "Context encoder (L2 + adversarial)": {"l1": 0.0937, "l2": 0.0196, "psnr": 18.58},
    },
}


def read_eval_images(data_dir: str, split: str, geometry: Geometry, batch_size: int,
                     max_images: int | None) -> Iterator[tuple[np.ndarray, np.ndarray, list[str]]]:
    """Yields batches of (masked uint8 images, original uint8 images, record ids) in file order."""
    files = split_files(data_dir, split)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if max_images is not None:
        dataset = dataset.take(max_images)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    for serialized in dataset:
        parsed = parse_examples(serialized, geometry, with_truth=True)
        masked, patches = parsed["masked"].numpy(), parsed["patch"].numpy()
        keys = [k.decode() for k in parsed["key"].numpy()]
        originals = np.stack([unmask(m, p, geometry) for m, p in zip(masked, patches)])
        yield masked, originals, keys


def evaluate(model_dir: str, data_dir: str, output_dir: str, split: str = "eval",
             max_images: int | None = None, batch_size: int = 32, num_samples: int = 8,
             radius: int = DEFAULT_RADIUS) -> dict[str, Any]:
    """Scores the model and the baselines; writes metrics.json, per_image.jsonl and samples/."""
    inpainter, geometry = load_inpainter(model_dir)
    os.makedirs(os.path.join(output_dir, SAMPLES), exist_ok=True)
    per_method: dict[str, list[dict]] = {name: [] for name in LABELS}
    samples: list[dict[str, Any]] = []
    sampled_keys: set[str] = set()
    count, started = 0, time.monotonic()
    with open(os.path.join(output_dir, PER_IMAGE), "w") as per_image:
        for masked, originals, keys in read_eval_images(data_dir, split, geometry, batch_size, max_images):
            predicted = inpainter(images=tf.constant(masked))["inpainted"].numpy()
            for i, key in enumerate(keys):
                outputs = {**run_baselines(masked[i], geometry, radius), "model": predicted[i]}
                scores = {name: inpainting_metrics(outputs[name], originals[i], geometry) for name in LABELS}
                for name in LABELS:
                    per_method[name].append(scores[name])
                per_image.write(json.dumps({"index": count, "key": key, "metrics": scores}) + "\n")
                if len(samples) < num_samples and key not in sampled_keys:
                    sampled_keys.add(key)
                    samples.append(_write_sample(output_dir, len(samples), key, masked[i], outputs,
                                                 originals[i], scores))
                count += 1
            logging.info("evaluated %d images (%.1f images/s)", count, count / (time.monotonic() - started))
    if not count:
        raise ValueError(f"no {split} records in {data_dir}")

    results = {
        "split": split,
        "count": count,
        "model": model_dir,
        "data": data_dir,
        "geometry": geometry.to_dict(),
        "model_metadata": read_metadata(model_dir),
        "baseline_settings": {
            "mean_fill": "hole painted with the mean colour of the image's visible pixels",
            "opencv_inpaint_radius": radius,
        },
        "labels": LABELS,
        "methods": {name: mean_metrics(rows) for name, rows in per_method.items()},
        "published": PUBLISHED,
        "samples": samples,
    }
    with open(os.path.join(output_dir, METRICS), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    logging.info("wrote %s for %d %s images in %.0f s", os.path.join(output_dir, METRICS), count, split,
                 time.monotonic() - started)
    return results


def _write_sample(output_dir: str, index: int, key: str, masked: np.ndarray, outputs: dict[str, np.ndarray],
                  original: np.ndarray, scores: dict[str, Any]) -> dict[str, Any]:
    images = {"masked": masked, **outputs, "truth": original}
    paths = {}
    for name, pixels in images.items():
        relative = os.path.join(SAMPLES, f"{index:02d}_{name}.png")
        Image.fromarray(pixels).save(os.path.join(output_dir, relative))
        paths[name] = relative
    return {"key": key, "images": paths, "hole_psnr": {name: scores[name]["hole"]["psnr"] for name in LABELS}}


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A short plain-text table of hole metrics, best PSNR first."""
    methods = results["methods"]
    top, _, bottom, _ = results["geometry"]["hole_box"]
    lines = [f"hole metrics on {results['count']} {results['split']} images ({bottom - top}px square hole):",
             f"  {'method':32s} {'PSNR dB':>8s} {'SSIM':>6s} {'L1 %':>6s} {'L2 %':>6s}"]
    for name in sorted(methods, key=lambda n: -methods[n]["hole"]["psnr"]):
        h = methods[name]["hole"]
        lines.append(f"  {results['labels'][name]:32s} {h['psnr']:8.2f} {h['ssim']:6.3f} "
                     f"{100 * h['l1']:6.2f} {100 * h['l2']:6.2f}")
    return lines


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the exported SavedModel directory")
    parser.add_argument("--data", required=True, help="directory of preprocessed TFRecord shards")
    parser.add_argument("--output", required=True, help="directory for metrics.json and samples")
    parser.add_argument("--split", default="eval")
    parser.add_argument("--max-images", type=int, default=None, help="score only the first N records")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=8, help="images kept for the report's grid")
    parser.add_argument("--radius", type=int, default=DEFAULT_RADIUS, help="cv2.inpaint radius in px")
    args = parser.parse_args(argv)
    results = evaluate(args.model, args.data, args.output, args.split, args.max_images, args.batch_size,
                       args.samples, args.radius)
    print("\n".join(summary_lines(results)))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run()
