"""Inpainting quality of the trained model against the baselines of evaluation.baselines, on the held-out split.

    python -m evaluation.evaluate --model runs/default/export --data data/tfrecords --output runs/default/eval
        [--split test --max-images N --batch-size 32 --samples 8 --radius 5 --vgg-weights imagenet]

For every record: the exported SavedModel (`serving_default`, loaded once) and the baselines of
`evaluation.baselines` inpaint the masked image; `model.metrics` scores each against the original, and
two perceptual metrics, batched:
- `lpips`: LPIPS(VGG) (`evaluation.lpips`) of the whole inpainted 128x128 image against the original;
- `vgg_feature`: the structural loss's VGG term (`model.losses.feature_loss`, conv1_1/2_1/3_1,
  each layer normalised by the truth's mean square), image by image. It needs the ImageNet VGG16
  weights (`--vgg-weights`, as for training); where none can be had the evaluation warns, leaves it
  null and says why in metrics.json.
Both are distances: lower is better. The data set's hole layout (manifest.json `holes.layout`,
tfrecords/masks.py) decides the rest, and the export must serve the same one (inpainting.json
`holes`) or be a mask model, which is given the centre box as its mask; else a one-line error:
- `center`: the hole is the 56x56 centre box; PSNR, SSIM, L1, L2 on the hole and on the 64x64
  patch, the VGG feature distance on the patch;
- `anywhere`: each record's own mask (boxes, strokes, a user's) goes to the mask model's `masks`
  input and to every baseline; PSNR, SSIM, L1, L2 over the mask's pixels (`masked_metrics`), the
  VGG feature distance on the whole image (the fill composited into the context); every mean
  overall and per hole kind.
Writes to `--output`:
- `metrics.json`: mean metrics per method (`methods[name]` holds `hole`, `patch` (centre holes) and
  `perceptual`), for holes anywhere the same per hole kind (`by_kind[kind][name]`) and each kind's
  image count and mean hole area (`kinds[kind]`), for centre holes the published context-encoder
  figures beside the patch figures, the settings, and the sample list for the report;
- `per_image.jsonl`: every image's hole kind and metrics per method;
- `samples/`: PNGs (masked input, for holes anywhere the mask, each method, truth) of the first
  crop of `--samples` distinct source photos, in turns over the hole kinds (evaluation/samples.py),
  for the report's grid.

Plain Python over tf.data rather than a Beam job: an eval split is hundreds to a few thousand
128x128 crops, which one process scores in minutes on a CPU (OpenCV FSR and LPIPS take most of
it, bench/RESULTS.md), while a Beam job would load the networks once per worker and add pipeline
start-up for no gain. Inpainting millions of images, with per-image hole metrics where there is ground
truth, is the Beam job `pipelines.inpaint`.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import concurrent.futures
import json
import logging
import os
import time
from typing import Any, Iterator, NamedTuple

import numpy as np
import tensorflow as tf

from common.logs import command_logging
from common.paths import check_filesystem, make_output
from common.usage import CommandParser, UsageError
from evaluation.baselines import DEFAULT_RADIUS, LABELS as BASELINE_LABELS, run_baselines
from evaluation.perceptual import PERCEPTUAL, PerceptualMetrics
from evaluation.samples import Sample, SampleChooser
from model.data_checks import DataMismatch, check_geometry, check_schema
from model.exported import export_hole_layout, load_geometry, load_inpainter, read_metadata, require_export
from model.hole_layouts import HoleLayout, hole_layout
from model.metrics import mean_metrics
from tfrecords import shards
from tfrecords.geometry import Geometry
from tfrecords.masks import RECORD_KINDS, hole_area
from tfrecords.schema import parse_examples
from tfrecords.shards import read_manifest, split_files

COMMAND = "evaluation.evaluate"
METRICS = "metrics.json"
PER_IMAGE = "per_image.jsonl"

# Column order of tables and of the report's grid.
LABELS = {**BASELINE_LABELS, "model": "Model (structural inpainting)"}

# docs/DESIGN.md: Pathak et al., CVPR 2016, Table 2 (Paris StreetView, held-out images, centre region).
PUBLISHED = {
    "note": ("Published on Paris StreetView (Pathak et al., Context Encoders, CVPR 2016, Table 2), "
             "a different dataset with a far longer training run: a reference point, not a like-for-like "
             "comparison."),
    "methods": {
        "NN-inpainting (HOG features)": {"l1": 0.1992, "l2": 0.0692, "psnr": 12.79},
        "Context encoder (L2 + adversarial)": {"l1": 0.0937, "l2": 0.0196, "psnr": 18.58},
    },
}


class EvalBatch(NamedTuple):
    masked: np.ndarray  # (N,S,S,3) uint8, the hole painted with the fill colour
    originals: np.ndarray  # (N,S,S,3) uint8
    masks: np.ndarray  # (N,S,S) uint8, 255 in the hole
    keys: list[str]
    kinds: list[str]  # each record's hole kind (tfrecords/masks.py)


def read_eval_images(data_dir: str, split: str, geometry: Geometry, batch_size: int, max_images: int | None,
                     holes: HoleLayout) -> Iterator[EvalBatch]:
    """Yields the records of `split` in file order, in batches, for a data set of `holes`."""
    files = split_files(data_dir, split)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if max_images is not None:
        dataset = dataset.take(max_images)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    for serialized in dataset:
        parsed = parse_examples(serialized, geometry, with_truth=True, layout=holes.name)
        yield EvalBatch(parsed["masked"].numpy(), holes.truth(parsed, geometry).numpy(),
                        holes.hole_masks(parsed, geometry), [k.decode() for k in parsed["key"].numpy()],
                        [k.decode() for k in parsed["kind"].numpy()])


class LayoutMismatch(ValueError):
    """The export fills one hole layout and the data set holds the other."""


def data_manifest(data_dir: str) -> dict[str, Any]:
    """The data set's manifest.json; empty where there is none (shards written without one)."""
    try:
        return read_manifest(data_dir)
    except FileNotFoundError:
        return {}


def held_out_split(manifest: dict[str, Any]) -> str:
    """The split reported numbers come from: `test` (used neither for training nor for checkpoint
    selection) where the data has one, else `eval`."""
    return "test" if manifest.get("splits", {}).get("test", {}).get("records", 0) else "eval"


def check_layouts(model_dir: str, data_dir: str, manifest: dict[str, Any]) -> tuple[HoleLayout, HoleLayout]:
    """The hole layouts of the export and of the data set: the same one, or a mask model (which fills
    any hole it is given, the centre box among them) on centre-hole data; LayoutMismatch otherwise."""
    model, data = hole_layout(export_hole_layout(model_dir)), hole_layout(shards.hole_layout(manifest))
    if model.name != data.name and not (model.serves_masks and data.fixed_hole):
        raise LayoutMismatch(f"the model {model_dir} fills {model.description} but the data {data_dir} holds "
                             f"{data.description}: score it on data with {model.description}, or score a model "
                             "trained on data like this")
    return model, data


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """`methods`, or ValueError for a name that is no method."""
    unknown = sorted(set(methods) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}: choose from {', '.join(LABELS)}")
    return methods


def checked_split(model_dir: str, data_dir: str, split: str | None) -> str:
    """The split the command scores, once the checks that come before anything is written pass (each
    failure a one-line SystemExit): the model is an export, the data's schema, geometry and hole
    layout are the model's, the split has shards."""
    require_export(COMMAND, "--model", model_dir)
    check_filesystem(COMMAND, data_dir)
    manifest = data_manifest(data_dir)
    split = split or held_out_split(manifest)
    try:
        check_schema(manifest, data_dir)
        if "geometry" in manifest:
            check_geometry(Geometry.from_dict(manifest["geometry"]), data_dir, load_geometry(model_dir),
                           f"the model {model_dir}", "score it on records preprocessed at the model's geometry "
                           "(preprocess --image-size, --patch-size, --overlap)")
        check_layouts(model_dir, data_dir, manifest)
    except (DataMismatch, LayoutMismatch) as e:
        raise SystemExit(f"{COMMAND}: {e}") from None
    try:
        split_files(data_dir, split)
    except FileNotFoundError as e:
        raise UsageError(COMMAND, str(e), "give --data the folder the preprocess stage wrote (make preprocess), "
                                          "or another --split") from None
    return split


def evaluate(model_dir: str, data_dir: str, output_dir: str, split: str | None = None,
             max_images: int | None = None, batch_size: int = 32, num_samples: int = 8,
             radius: int = DEFAULT_RADIUS, vgg_weights: str = "imagenet",
             methods: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Scores the model and the baselines (all, or those in `methods`) on `split` (default: the
    held-out one); writes metrics.json, per_image.jsonl and samples/."""
    manifest = data_manifest(data_dir)
    split = split or held_out_split(manifest)
    labels = {name: label for name, label in LABELS.items() if methods is None or name in methods}
    check_methods(methods or ())
    baselines = tuple(name for name in labels if name in BASELINE_LABELS)
    inpainter, geometry = load_inpainter(model_dir)
    model_holes, holes = check_layouts(model_dir, data_dir, manifest)
    perceptual = PerceptualMetrics(holes.perceptual_box(geometry), vgg_weights)
    os.makedirs(output_dir, exist_ok=True)
    per_kind: dict[str, list[dict[str, Any]]] = {}  # kind -> each image's {"scores", "hole_area"}
    samples = SampleChooser(num_samples)
    count, started = 0, time.monotonic()
    with open(os.path.join(output_dir, PER_IMAGE), "w") as per_image, \
            concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        for batch in read_eval_images(data_dir, split, geometry, batch_size, max_images, holes):
            # OpenCV and scikit-image release the GIL: the baselines of a batch fill on every core.
            filled = list(pool.map(lambda m: run_baselines(*m, radius, baselines), zip(batch.masked, batch.masks)))
            outputs = {name: np.stack([f[name] for f in filled]) for name in baselines}
            if "model" in labels:
                outputs["model"] = inpainter(**model_holes.serving_feed(batch.masked, batch.masks))["inpainted"].numpy()
            scored = perceptual(outputs, batch.originals)
            for i, (key, kind) in enumerate(zip(batch.keys, batch.kinds)):
                original, mask = batch.originals[i], batch.masks[i]
                scores = {name: {**holes.hole_scores(outputs[name][i], original, mask, geometry),
                                 "perceptual": scored[name][i]} for name in labels}
                per_kind.setdefault(kind, []).append({"scores": scores, "hole_area": hole_area(mask)})
                per_image.write(json.dumps({"index": count, "key": key, "kind": kind, "metrics": scores}) + "\n")
                if samples.wants(key, kind):
                    images = {"masked": batch.masked[i], **({"mask": mask} if holes.serves_masks else {}),
                              **{name: outputs[name][i] for name in labels}, "truth": original}
                    samples.offer(Sample(key, kind, images, scores))
                count += 1
            logging.info("evaluated %d images (%.1f images/s)", count, count / (time.monotonic() - started))
    if not count:
        raise ValueError(f"no {split} records in {data_dir}")

    results = {
        "split": split,
        "count": count,
        "model": model_dir,
        "data": data_dir,
        "holes": holes.name,
        "geometry": geometry.to_dict(),
        "model_metadata": read_metadata(model_dir),
        "baseline_settings": {
            "mean_fill": "hole painted with the mean colour of the image's visible pixels",
            "opencv_inpaint_radius": radius,
            "fsr": "cv2.xphoto.inpaint, INPAINT_FSR_FAST",
        },
        "perceptual_settings": perceptual.settings,
        "labels": labels,
        "methods": _method_means([row for rows in per_kind.values() for row in rows], labels),
        "samples": samples.write(output_dir),
    }
    if holes.fixed_hole:  # the published figures are of the centre hole
        results["published"] = PUBLISHED
    else:
        kinds = [kind for kind in RECORD_KINDS if kind in per_kind]
        results["kinds"] = {kind: {"count": len(per_kind[kind]),
                                   "hole_area": float(np.mean([r["hole_area"] for r in per_kind[kind]]))}
                            for kind in kinds}
        results["by_kind"] = {kind: _method_means(per_kind[kind], labels) for kind in kinds}
    with open(os.path.join(output_dir, METRICS), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    logging.info("wrote %s for %d %s images in %.0f s", os.path.join(output_dir, METRICS), count, split,
                 time.monotonic() - started)
    return results


def _method_means(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    return {name: _mean_scores([r["scores"][name] for r in rows]) for name in labels}


def _mean_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    means = mean_metrics({k: v for k, v in r.items() if k != "perceptual"} for r in rows)
    means["perceptual"] = {}
    for name in PERCEPTUAL:
        values = [r["perceptual"][name] for r in rows]
        means["perceptual"][name] = None if None in values else float(np.mean(values))
    return means


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A short plain-text table of hole metrics and the perceptual distances, best PSNR first; for
    holes anywhere, one more table per hole kind."""
    header = f"  {'method':32s} {'PSNR dB':>8s} {'SSIM':>6s} {'L1 %':>6s} {'L2 %':>6s} {'LPIPS':>6s} {'VGG':>6s}"
    if hole_layout(results["holes"]).fixed_hole:
        top, _, bottom, _ = results["geometry"]["hole_box"]
        return [f"hole metrics on {results['count']} {results['split']} images ({bottom - top}px square hole); "
                f"LPIPS of the whole image, VGG feature distance of the patch (lower is better):",
                header, *_method_lines(results["methods"], results["labels"])]
    kinds = results["kinds"]
    counts = ", ".join(f"{kind} {k['count']}" for kind, k in kinds.items())
    lines = [f"hole metrics on {results['count']} {results['split']} images, holes anywhere "
             f"({counts}); LPIPS and VGG feature distance "
             f"of the whole image (lower is better):", header, *_method_lines(results["methods"], results["labels"])]
    for kind, k in kinds.items():
        lines += [f"{kind}: {k['count']} images, holes {100 * k['hole_area']:.0f}% of the image on average",
                  *_method_lines(results["by_kind"][kind], results["labels"])]
    return lines


def _method_lines(methods: dict[str, Any], labels: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(methods, key=lambda n: -methods[n]["hole"]["psnr"]):
        h = methods[name]["hole"]
        # "-": not computed (no VGG weights).
        lpips, vgg = ("-" if v is None else f"{v:.3f}" for v in (methods[name]["perceptual"][k] for k in PERCEPTUAL))
        lines.append(f"  {labels[name]:32s} {h['psnr']:8.2f} {h['ssim']:6.3f} "
                     f"{100 * h['l1']:6.2f} {100 * h['l2']:6.2f} {lpips:>6s} {vgg:>6s}")
    return lines


def _methods(text: str) -> tuple[str, ...]:
    try:
        return check_methods(tuple(text.split(",")))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = CommandParser(COMMAND, prog="python -m evaluation.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the exported SavedModel directory")
    parser.add_argument("--data", required=True, help="directory of preprocessed TFRecord shards")
    parser.add_argument("--output", required=True, help="directory for metrics.json and samples")
    parser.add_argument("--split", default=None,
                        help="which shards to score (default: test, the photos neither training nor checkpoint "
                             "selection saw, where the data has a test split; else eval)")
    parser.add_argument("--methods", type=_methods, default=None,
                        help=f"comma-separated subset of {','.join(LABELS)} (default: all)")
    parser.add_argument("--max-images", type=int, default=None, help="score only the first N records")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=8, help="images kept for the report's grid")
    parser.add_argument("--radius", type=int, default=DEFAULT_RADIUS, help="cv2.inpaint radius in px")
    parser.add_argument("--vgg-weights", default="imagenet",
                        help="VGG16 weights of the feature distance: imagenet | PATH, as model.train takes")
    args = parser.parse_args(argv)
    split = checked_split(args.model, args.data, args.split)
    make_output(COMMAND, args.output)
    results = evaluate(args.model, args.data, args.output, split, args.max_images, args.batch_size,
                       args.samples, args.radius, args.vgg_weights, args.methods)
    print("\n".join(summary_lines(results)))
    return results


if __name__ == "__main__":
    command_logging()
    run()
