"""How long each stage of `make demo` should take on this machine, and how long it took.

    python -m demo.timing plan --raw data/raw --crops 16 --steps 1000 --batch 32 [--test-fraction 0.045] \
        --log runs/default/demo_timing.tsv
    python -m demo.timing took preprocess START_EPOCH_SECONDS --log ...   (after a stage)
    python -m demo.timing summary --log ...

The expectation is each stage's per-unit cost as `make demo` measured it on a 2-core CPU with AMX
(bench/RESULTS.md, "Demo timing"), scaled by this machine's cores and, for training, by its precision
(bfloat16 on AMX, else float32 at a third of the images/s, as bench.train measured). A GPU, another
network or much slower disks make it wrong: it says what to expect, it is not a promise.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from common.cpu import cores, cpu_has_amx_bfloat16

# The per-unit costs `make demo` measured on a 2-core CPU with AMX, recorded in bench/RESULTS.md under
# "Demo timing": seconds of a fixed start-up and per unit (photo, image trained, crop). Other machines
# scale them by their cores.
MEASURED_CORES = 2
PREPROCESS_START, PREPROCESS_PER_PHOTO = 5.0, 0.009
TRAIN_START = 20.0
# Images trained a second with the periodic evaluations, per generator, as `make demo` measured them on
# a quiet machine (bench/RESULTS.md "Demo timing"); the U-Net's float32 rate from its step time against
# the context encoder's.
# The U-Net trains with the style term (`--lambda-style auto`), whose Gram matrices make a step 1.16x
# slower than those rates were measured without it (bench/RESULTS.md, "The generator").
STYLE_TERM_SLOWDOWN = 1.16
TRAIN_IMAGES_PER_SECOND = {"unet": {"bfloat16": 30.0 / STYLE_TERM_SLOWDOWN, "float32": 10.6 / STYLE_TERM_SLOWDOWN},
                           "context-encoder": {"bfloat16": 87.0, "float32": 37.0}}
# Holes anywhere: the generator predicts the whole crop and VGG16 sees it whole. The context encoder
# (with its harmonic start) trained 2.8x slower than on the centre hole, the U-Net 1.3x (the same runs
# on mixed holes): its own cost is the same for both layouts, so only the VGG16 loss's share grows.
ANYWHERE_TRAIN_SLOWDOWN = {"unet": 1.3, "context-encoder": 2.8}
INPAINT_START, INPAINT_PER_CROP = 10.0, 0.008
EVALUATE_START, EVALUATE_PER_CROP = 15.0, 0.54  # FSR and LPIPS are most of it
# With holes anywhere every method fills and is scored over the whole crop's mask, not the centre box:
# measured in the same runs, evaluation takes this many times longer.
ANYWHERE_EVALUATE_SLOWDOWN = 1.4
REPORT_SECONDS = 10.0
TEST_FRACTION = 0.1  # the preprocess's own default; the Makefile passes its TEST_FRACTION
STAGES = ("preprocess", "train", "inpaint", "evaluate", "report")


@dataclasses.dataclass(frozen=True)
class DemoSize:
    photos: int
    crops: int
    steps: int
    batch: int
    holes: str = "center"
    test_fraction: float = TEST_FRACTION
    generator: str = "unet"


def expected_seconds(size: DemoSize, n_cores: int, bfloat16: bool) -> dict[str, float]:
    """Each stage's expected wall time on a machine with `n_cores` cores."""
    scale = MEASURED_CORES / max(n_cores, 1)
    test_crops = size.photos * size.test_fraction * size.crops
    rate = TRAIN_IMAGES_PER_SECOND[size.generator]["bfloat16" if bfloat16 else "float32"] / scale
    if size.holes != "center":
        rate /= ANYWHERE_TRAIN_SLOWDOWN[size.generator]
    return {
        "preprocess": PREPROCESS_START + size.photos * PREPROCESS_PER_PHOTO * scale,
        "train": TRAIN_START + size.steps * size.batch / rate,
        "inpaint": INPAINT_START + test_crops * INPAINT_PER_CROP * scale,
        "evaluate": EVALUATE_START + test_crops * EVALUATE_PER_CROP * scale
        * (ANYWHERE_EVALUATE_SLOWDOWN if size.holes != "center" else 1.0),
        "report": REPORT_SECONDS,
    }


def count_photos(raw: str) -> int:
    from PIL import Image

    extensions = set(Image.registered_extensions())
    return sum(1 for _, _, files in os.walk(raw) for name in files
               if not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def plan(size: DemoSize, log: str) -> list[str]:
    bfloat16, n = cpu_has_amx_bfloat16(), cores()
    expected = expected_seconds(size, n, bfloat16)
    os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
    with open(log, "w") as f:
        f.writelines(f"expected\t{stage}\t{seconds:.1f}\n" for stage, seconds in expected.items())
    precision = "bfloat16 on AMX" if bfloat16 else "float32 (no AMX)"
    return [f"==> expected on this machine ({n} cores, training in {precision}; {size.photos} photos, {size.crops} "
            f"crops each, {size.steps} steps of {size.batch} ({size.generator}), {size.holes} holes): "
            + ", ".join(f"{stage} {minutes(s)}" for stage, s in expected.items())
            + f"; about {minutes(sum(expected.values()))} in all"]


def took(stage: str, started: float, log: str) -> None:
    with open(log, "a") as f:
        f.write(f"took\t{stage}\t{time.time() - started:.1f}\n")


def summary(log: str) -> list[str]:
    rows: dict[str, dict[str, float]] = {"expected": {}, "took": {}}
    with open(log) as f:
        for line in f:
            kind, stage, seconds = line.rstrip("\n").split("\t")
            rows[kind][stage] = float(seconds)
    lines = ["==> wall time per stage (expected -> took):"]
    for stage in STAGES:
        if stage in rows["took"]:
            lines.append(f"    {stage:10s} {minutes(rows['expected'].get(stage, 0)):>9s} -> {minutes(rows['took'][stage])}")
    expected = sum(rows["expected"].get(stage, 0) for stage in rows["took"])
    lines.append(f"    {'all':10s} {minutes(expected):>9s} -> {minutes(sum(rows['took'].values()))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.timing", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    planned = commands.add_parser("plan", help="print and record each stage's expected time")
    planned.add_argument("--raw", required=True)
    planned.add_argument("--crops", type=int, required=True)
    planned.add_argument("--steps", type=int, required=True)
    planned.add_argument("--batch", type=int, required=True)
    planned.add_argument("--holes", default="center")
    planned.add_argument("--generator", default="unet", choices=tuple(TRAIN_IMAGES_PER_SECOND),
                         help="the generator the run trains (model.train --generator)")
    planned.add_argument("--test-fraction", type=float, default=TEST_FRACTION,
                         help="the preprocess's --test-fraction (the test split's share of the photos)")
    done = commands.add_parser("took", help="record a stage's wall time")
    done.add_argument("stage", choices=STAGES)
    done.add_argument("started", type=float, help="the stage's start, in seconds since the epoch")
    shown = commands.add_parser("summary", help="print each stage's expected and actual wall time")
    for command in (planned, done, shown):
        command.add_argument("--log", required=True, help="the timing file of this demo run")
    args = parser.parse_args(argv)
    if args.command == "plan":
        size = DemoSize(count_photos(args.raw), args.crops, args.steps, args.batch, args.holes, args.test_fraction,
                        args.generator)
        print("\n".join(plan(size, args.log)))
    elif args.command == "took":
        took(args.stage, args.started, args.log)
    else:
        print("\n".join(summary(args.log)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
