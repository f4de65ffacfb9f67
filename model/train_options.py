"""The command line of `python -m model.train`: one flag per TrainConfig field, the recipe, and how
the flags become the config's overrides (model/run_files.py applies them to a resumed run's config)."""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from common.usage import CommandParser
from model.config import PAPER_RECIPE, RECIPES, TrainConfig

COMMAND = "model.train"

HELP = {
    "generator": "unet (gated U-Net: skips, dilated middle, harmonic start) | context-encoder (the paper's)",
    "discriminator": "the joint phase's: dcgan (the paper's, one logit per image) | patch (spectral-normalised, one logit per ~70-px window)",
    "bottleneck": "channels of the 1x1 bottleneck (paper 4000; smaller makes CPU runs practical)",
    "width": "base width of both networks (paper 64)",
    "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "lambda_rec": "weight of the structural loss in phase 2 (CE 0.999, TF reimplementation 1)",
    "lambda_adv": "weight of the adversarial loss in phase 2 (CE 0.001, TF reimplementation 0.1)",
    "lambda_feat": "weight of the VGG16 feature loss inside the structural loss",
    "lambda_style": "weight of the style term (the hole's VGG16 Gram matrices against the truth's); 0: none; auto: 0.25 for the centre hole, 0.15 for holes anywhere",
    "overlap_weight": "pixel-loss weight of the overlap ring",
    "pixel_loss": "mse (the structural loss's squared error) | l1 (absolute error)",
    "vgg_weights": "imagenet | random | PATH (.npz, Keras notop .h5, Caffe vgg16.npy)",
    "eval_images": "most eval-split records the periodic evaluation scores (spread over the split when it has more)",
    "mixed_precision": "auto (float16 on GPUs, bfloat16 on CPUs with AMX) | on (float16) | bfloat16 | off", "jit_compile": "XLA: auto (GPU only) | on | off",
    "upsampling": "decoder upsampling: resize (nearest x2 + conv 3x3) | bilinear (bilinear x2 + conv 3x3) | transpose (the paper's)",
    "color_jitter": "brightness/contrast/saturation jitter: factors in [1-j, 1+j]; 0 turns it off",
    "grayscale_fraction": "fraction of training crops turned grey",
    "strategy": "auto (MirroredStrategy with >1 GPU) | default | mirrored",
    "ema_momentum": "momentum of the generator's weight average that is evaluated and exported; 0: raw weights",
    "lr_schedule": "constant | cosine (each network's learning rate falls to 0 over its updates)",
    "select_by": "the eval-split hole metric the best checkpoint is chosen by: l1 (lowest) | psnr (highest)",
    "coarse_fill": "what the encoder sees in the hole: harmonic (a smooth fill from the context, which the decoder refines) | none (the fill colour) | auto (harmonic for holes anywhere, none for the centre hole)",
}


def parser(description: str) -> argparse.ArgumentParser:
    parser = CommandParser(COMMAND, prog="python -m model.train", description=description)
    parser.add_argument("--data", required=True, help="directory of the preprocess stage (shards + manifest)")
    parser.add_argument("--model-dir", required=True, help="run directory (checkpoints, logs, export)")
    parser.add_argument("--recipe", choices=RECIPES, default="measured",
                        help="measured: the defaults chosen on held-out photos (bench/RESULTS.md); paper: "
                             f"the paper's ({', '.join(f'{k}={v}' for k, v in PAPER_RECIPE.items())}, "
                             "50/60 of --steps structural); explicit options override either")
    parser.add_argument("--steps", type=int,
                        help="total steps: all structural (measured recipe) or 50/60 structural (paper)")
    parser.add_argument("--phase-steps", help="STRUCT,JOINT: steps of phase 1 (structural) and 2 (joint)")
    parser.add_argument("--no-flip", dest="flip", action="store_false", default=None, help="no horizontal flips")
    parser.add_argument("--quarter-turns", action=argparse.BooleanOptionalAction, default=None,
                        help="turn each training crop by a random multiple of 90 degrees "
                             f"(default {TrainConfig.quarter_turns})")
    parser.add_argument("--fresh-views", action=argparse.BooleanOptionalAction, default=None,
                        help="each step takes every crop at a random scale and place within its record and, "
                             "holes anywhere, another record's hole (default "
                             f"{TrainConfig.fresh_views})")
    parser.add_argument("--no-select-best", dest="select_best", action="store_false", default=None,
                        help="export the last checkpoint, not the one the periodic evaluation selected")
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("phase_steps", "flip", "quarter_turns", "fresh_views", "select_best"):
            continue
        default = field.default
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(default), default=None,
                            help=f"{HELP.get(field.name, field.name.replace('_', ' '))} (default {default})")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"phase_steps"}
    recipe = getattr(args, "recipe", "measured")
    values = dict(PAPER_RECIPE) if recipe == "paper" else {}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    if args.phase_steps:
        try:
            phases = tuple(int(s) for s in args.phase_steps.split(","))
        except ValueError:
            phases = ()
        if len(phases) != 2:
            raise ValueError(f"--phase-steps {args.phase_steps!r} must be STRUCT,JOINT (two integers)")
        if args.steps is not None and sum(phases) != args.steps:
            raise ValueError(f"--steps {args.steps} disagrees with --phase-steps {args.phase_steps}")
        values["phase_steps"] = phases
    elif args.steps is not None:
        values["phase_steps"] = TrainConfig.split_steps(args.steps, recipe)
    return values
