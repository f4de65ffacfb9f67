"""Held-out quality of training recipes, side by side: same data, same steps, two seeds.

    python -m bench.quality --data data/tfrecords [--variants measured,pixel_only --seeds 0,1 --steps 600
        --batch-size 32 --output runs/quality --split test --self-ensemble none --train-data NAME=DIR ...]

Each variant is the demo network (`--bottleneck 1000 --width 32`) trained by `python -m model.train`
with the measured recipe plus the variant's options, seed by seed (variants alternate within a
seed, so a machine that slows down mid-run slows all of them alike). Every run is exported by
`python -m model.export` at `--self-ensemble` (none by default: one pass of the generator) and
scored by `python -m evaluation.evaluate` on a split that neither training nor checkpoint selection saw
(`test`): its best eval-split checkpoint and its last one, so a comparison "at equal steps" is
there too. A run's scores are kept in its `bench.json` (`bench-mirror.json` and so on for another
self-ensemble): a rerun with more variants, seeds or another self-ensemble trains and scores only
what is missing. The classical baselines are scored once on the same
split. The table gives each variant's mean over the seeds and its difference to the first variant,
seed by seed. `fills.png` beside them shows 8 crops of that split filled by each variant's export
(the first seed's), between the masked input and the truth.

A variant `VARIANT@NAME` trains on the records of `--train-data NAME=DIR` instead (another crop
count or scale range of the same photos, preprocessed with the same split fractions so the photos
on each side are the same) and is scored on `--data`'s split like the others.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from model.data import layout_from_manifest
from evaluation.evaluate import read_eval_images
from model.exported import load_geometry, load_inpainter
from model.self_ensemble import SELF_ENSEMBLES


def _with_steps(*options: str):
    return lambda steps: [*options, "--steps", str(steps)]


def _patch_gan(steps: int, weight: float) -> list[str]:
    return ["--phase-steps", f"{steps - steps // 2},{steps // 2}", "--discriminator", "patch",
            "--lambda-adv", str(weight), "--lr-d", "2e-4"]


# name: (what it changes, the model.train options for a step budget)
VARIANTS = {
    "measured": ("the default recipe: the gated U-Net, structural loss, flips, quarter turns, colour "
                 "jitter, weight average", _with_steps()),
    "no_quarter_turns": ("flips but no quarter turns (the measured recipe until quarter turns became a default)",
                         _with_steps("--no-quarter-turns")),
    "raw_weights": ("no weight average (ema_momentum 0): the raw weights are evaluated and exported",
                    _with_steps("--ema-momentum", "0")),
    "pixel_only": ("no VGG feature loss (lambda_feat 0): the pixel loss alone", _with_steps("--lambda-feat", "0")),
    "transpose": ("the paper's transposed-convolution decoder", _with_steps("--upsampling", "transpose")),
    "bilinear": ("bilinear, not nearest, upsampling before each decoder convolution",
                 _with_steps("--upsampling", "bilinear")),
    "cosine": ("learning rates decayed along a half cosine to 0 over the run", _with_steps("--lr-schedule", "cosine")),
    "pixel_l1": ("the pixel term as absolute, not squared, error", _with_steps("--pixel-loss", "l1")),
    "quarter_turns": ("random quarter turns of the training crops besides the flips",
                      _with_steps("--quarter-turns")),
    "turns_l1": ("quarter turns and the L1 pixel term", _with_steps("--quarter-turns", "--pixel-loss", "l1")),
    "no_jitter": ("no colour jitter", _with_steps("--color-jitter", "0", "--grayscale-fraction", "0")),
    "feature_0.1": ("feature-loss weight 0.1", _with_steps("--lambda-feat", "0.1")),
    "feature_4": ("feature-loss weight 4: the VGG term's say against the pixel term's, for texture",
                  _with_steps("--lambda-feat", "4")),
    "adversarial": ("the paper's schedule: the last 1/6 of the steps joint with the adversarial loss "
                    "(weight 0.001, D at lr 2e-5)",
                    lambda steps: ["--phase-steps", f"{steps - steps // 6},{steps // 6}"]),
    "patch_gan_0.01": ("the second half of the steps joint with a spectral-normalised patch discriminator "
                       "(adversarial weight 0.01, D at G's rate 2e-4)", lambda steps: _patch_gan(steps, 0.01)),
    "patch_gan_0.1": ("as patch_gan_0.01 at adversarial weight 0.1", lambda steps: _patch_gan(steps, 0.1)),
    "patch_gan_1": ("as patch_gan_0.01 at adversarial weight 1", lambda steps: _patch_gan(steps, 1.0)),
    "no_style": ("no style term (--lambda-style 0; the centre hole's default is 0.25)", _with_steps("--lambda-style", "0")),
    **{f"style_{w}": (f"the style term (the hole's VGG16 Gram matrices against the truth's) at weight {w}, "
                      "for texture", _with_steps("--lambda-style", w)) for w in ("0.15", "0.25", "1")},
    "lr_2e-4": ("the generator's learning rate at 2e-4, the default until 1e-3 was measured", _with_steps("--lr-g", "2e-4")),
    "paper": ("the paper's recipe (--recipe paper) at the same batch size", _with_steps("--recipe", "paper")),
    "context_encoder": ("the paper's context encoder (1x1 bottleneck, resize-conv decoder) as the generator, at "
                        "the paper's learning rate 2e-4, no style term", _with_steps("--generator", "context-encoder", "--lr-g", "2e-4",
                                                                        "--lambda-style", "0")),
    "unet": ("the gated U-Net generator (model/unet.py) in place of the context encoder",
             _with_steps("--generator", "unet")),
    "unet_views": ("the gated U-Net with fresh views: every step a new scale and place of each crop (and, holes "
                   "anywhere, another record's hole)", _with_steps("--generator", "unet", "--fresh-views")),
}
# (metrics.json region, metric) of each column
COLUMNS = (("hole", "psnr"), ("hole", "l1"), ("hole", "ssim"), ("perceptual", "lpips"),
           ("perceptual", "vgg_feature"))
HEADERS = ("PSNR dB", "L1 %", "SSIM", "LPIPS", "VGG dist")
BASELINE_METHODS = "mean_fill,telea,navier_stokes,biharmonic,harmonic,fsr"


def ensemble_suffix(self_ensemble: str) -> str:
    """What a run's exports and scores under `self_ensemble` add to their names ("" for none, the
    names of runs scored before the option)."""
    return "" if self_ensemble == "none" else f"-{self_ensemble}"


def train_args(variant: str, steps: int, batch_size: int) -> list[str]:
    return [*VARIANTS[variant][1](steps), "--batch-size", str(batch_size)]


def run(command: list[str], log: str) -> float:
    """Runs a module of this project, its output to `log`; returns the wall time."""
    start = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", *command], check=True, stdout=f, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def score(model: str, data: str, split: str, output: str, methods: str) -> dict[str, Any]:
    run(["evaluation.evaluate", "--model", model, "--data", data, "--output", output, "--split", split,
         "--methods", methods, "--samples", "0"], os.path.join(output + ".log"))
    with open(os.path.join(output, "metrics.json")) as f:
        return json.load(f)


def row(methods: dict[str, Any], name: str) -> list[float]:
    return [methods[name][region][metric] for region, metric in COLUMNS]


def formatted(values: list[float]) -> str:
    psnr, l1, ssim, lpips, vgg = values
    return f"{psnr:8.2f} {100 * l1:7.2f} {ssim:6.3f} {lpips:6.3f} {vgg:8.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the preprocess stage's output (train, eval and test splits)")
    parser.add_argument("--variants", default="measured,pixel_only", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--split", default="test", help="the split the runs are scored on")
    parser.add_argument("--output", default="runs/quality")
    parser.add_argument("--train-data", action="append", default=[], metavar="NAME=DIR",
                        help="other training records, for variants named VARIANT@NAME")
    parser.add_argument("--one-seed", default="", help="comma-separated variants to run with the first seed only")
    parser.add_argument("--self-ensemble", default="none", choices=tuple(SELF_ENSEMBLES),
                        help="the exports' self-ensemble (model.export --self-ensemble); none by default: recipes "
                             "compare on one pass of the generator. Runs trained already are exported and "
                             "scored again, not retrained")
    parser.add_argument("--train-args", default="--bottleneck 1000 --width 32",
                        help="options every run gets (the demo network by default)")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    train_data = dict(entry.split("=", 1) for entry in args.train_data)
    unknown = [v for v in variants if v.split("@")[0] not in VARIANTS or ("@" in v and v.split("@")[1] not in train_data)]
    if unknown:
        parser.error(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}, each optionally "
                     f"@NAME of a --train-data NAME=DIR")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.output, exist_ok=True)

    one_seed = set(args.one_seed.split(",")) if args.one_seed else set()
    results: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in variants}
    for seed in seeds:
        for variant in variants:
            if variant in one_seed and seed != seeds[0]:
                continue
            name = f"{variant}-seed{seed}"
            model_dir = os.path.join(args.output, name)
            scored = os.path.join(model_dir, f"bench{ensemble_suffix(args.self_ensemble)}.json")
            if os.path.exists(scored):  # a run an earlier invocation finished and scored
                with open(scored) as f:
                    results[variant][seed] = json.load(f)
                print(f"{name}: reused from {scored}", flush=True)
                continue
            recipe, _, data_name = variant.partition("@")
            scored_before = sorted(glob.glob(os.path.join(model_dir, "bench*.json")))  # at another self-ensemble
            if scored_before:
                with open(scored_before[0]) as f:
                    seconds = json.load(f)["train_seconds"]
            else:
                seconds = run(["model.train", "--data", train_data.get(data_name, args.data), "--model-dir",
                               model_dir, "--seed", str(seed), "--eval-every", str(args.eval_every),
                               *args.train_args.split(), *train_args(recipe, args.steps, args.batch_size)],
                              model_dir + ".train.log")
            scores = {}
            for checkpoint in ("best", "latest"):
                export = os.path.join(model_dir, f"export-{checkpoint}{ensemble_suffix(args.self_ensemble)}")
                if checkpoint == "latest" and scores["best"]["model_metadata"]["step"] == \
                        scores["best"]["model_metadata"]["trained_steps"]:
                    scores[checkpoint] = scores["best"]
                    continue
                run(["model.export", "--model-dir", model_dir, "--output", export, "--checkpoint", checkpoint,
                     "--self-ensemble", args.self_ensemble], f"{export}.log")
                scores[checkpoint] = score(export, args.data, args.split, f"{export}-{args.split}", "model")
            best = scores["best"]
            results[variant][seed] = {
                "train_seconds": seconds, "best_step": best["model_metadata"]["step"],
                "best": row(best["methods"], "model"), "last": row(scores["latest"]["methods"], "model"),
                "count": best["count"], "self_ensemble": args.self_ensemble,
                "export": os.path.join(model_dir, f"export-best{ensemble_suffix(args.self_ensemble)}")}
            with open(scored, "w") as f:
                json.dump(results[variant][seed], f)
            print(f"{name}: trained in {seconds:.0f} s, best eval step {results[variant][seed]['best_step']}; "
                  f"{args.split} best {formatted(results[variant][seed]['best'])}, "
                  f"last {formatted(results[variant][seed]['last'])}", flush=True)
    baselines = os.path.join(args.output, "baselines")
    if os.path.exists(os.path.join(baselines, "metrics.json")):
        with open(os.path.join(baselines, "metrics.json")) as f:
            reference = json.load(f)
    else:
        reference = score(os.path.join(args.output, f"{variants[0]}-seed{seeds[0]}", "export"), args.data,
                          args.split, baselines, BASELINE_METHODS)

    count = reference["count"]
    print(f"\n{args.split} split, {count} crops never used for training or checkpoint selection; "
          f"{args.steps} steps of {args.batch_size}, seeds {seeds}; self-ensemble {args.self_ensemble}")
    print(f"  {'method':34s} {'PSNR dB':>8s} {'L1 %':>7s} {'SSIM':>6s} {'LPIPS':>6s} {'VGG dist':>8s}")
    for name in BASELINE_METHODS.split(","):
        print(f"  {reference['labels'][name]:34s} {formatted(row(reference['methods'], name))}")
    for checkpoint in ("best", "last"):
        print(f"  -- {checkpoint} checkpoint, mean over seeds; [difference to {variants[0]}, per seed]")
        for variant in variants:
            runs = results[variant]
            ran = sorted(runs)
            mean = [statistics.fmean(runs[s][checkpoint][i] for s in ran) for i in range(len(COLUMNS))]
            label = variant if len(ran) == len(seeds) else f"{variant} (seed {ran[0]} only)"
            line = f"  {label:34s} {formatted(mean)}"
            if variant != variants[0]:
                deltas = [[runs[s][checkpoint][i] - results[variants[0]][s][checkpoint][i] for s in ran]
                          for i in range(len(COLUMNS))]
                scale = [100 if metric == "l1" else 1 for _, metric in COLUMNS]  # L1 in % like its column
                line += "   [" + "; ".join(f"{HEADERS[i]} " + "/".join(f"{scale[i] * d:+.3f}" for d in deltas[i])
                                         for i in range(len(COLUMNS))) + "]"
            print(line)
    summary = {"split": args.split, "count": count, "steps": args.steps, "batch_size": args.batch_size,
               "seeds": seeds, "columns": [f"{r}/{m}" for r, m in COLUMNS],
               "variants": {v: {"what": VARIANTS[v.split("@")[0]][0], "train_data": train_data.get(v.partition("@")[2], args.data),
                                "runs": {str(s): r for s, r in results[v].items()}} for v in variants},
               "baselines": {n: row(reference["methods"], n) for n in BASELINE_METHODS.split(",")}}
    with open(os.path.join(args.output, f"quality{ensemble_suffix(args.self_ensemble)}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    picture = os.path.join(args.output, f"fills{ensemble_suffix(args.self_ensemble)}.png")
    # Runs scored before the self-ensemble option have their best export where the trainer wrote it.
    fills_picture({f"{v}, seed {seeds[0]}": results[v][seeds[0]].get(
                       "export", os.path.join(args.output, f"{v}-seed{seeds[0]}", "export"))
                   for v in variants if seeds[0] in results[v]}, args.data, args.split, picture)
    print(f"\nfills of {PICTURE_CROPS} {args.split} crops, one row per variant (seed {seeds[0]}'s export): {picture}")
    return summary


PICTURE_CROPS = 8
PICTURE_POOL = 2048  # the picture's crops are spread over the split's first records


def fills_picture(exports: dict[str, str], data: str, split: str, path: str, crops: int = PICTURE_CROPS) -> None:
    """One PNG: a row of `crops` crops spread over the split (the masked input), then each export's
    fill of them, then the truth; each row labelled."""
    geometry = load_geometry(next(iter(exports.values())))
    layout = layout_from_manifest(data)
    batch = next(read_eval_images(data, split, geometry, PICTURE_POOL, PICTURE_POOL, layout))
    chosen = np.linspace(0, len(batch.keys) - 1, crops).astype(int)
    masked, masks = batch.masked[chosen], batch.masks[chosen]
    rows = {"masked input": masked}
    for label, export in exports.items():
        inpainter, _ = load_inpainter(export)
        rows[label] = inpainter(**layout.serving_feed(masked, masks))["inpainted"].numpy()
    rows["truth"] = batch.originals[chosen]
    side, band = geometry.image_size, 14
    sheet = Image.new("RGB", (crops * side, len(rows) * (side + band)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, images) in enumerate(rows.items()):
        draw.text((2, r * (side + band) + 1), label, fill="black")
        sheet.paste(Image.fromarray(np.concatenate(list(images), axis=1)), (0, r * (side + band) + band))
    sheet.save(path)


if __name__ == "__main__":
    main()
