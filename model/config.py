"""Every knob of a training run, in one dataclass (docs/DESIGN.md section 1 gives the defaults)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

# The TF reimplementation trained the structural loss alone for 50 of its 60 epochs.
PAPER_STRUCTURAL_FRACTION = 50 / 60
# Fields that fix the networks' shapes, what a checkpoint holds or how the best one is chosen: a resumed
# run must keep them.
ARCHITECTURE_FIELDS = ("generator", "discriminator", "bottleneck", "width", "upsampling", "coarse_fill", "ema_momentum", "select_by")
UPSAMPLING = ("resize", "bilinear", "transpose")
# The generator network: the paper's context encoder (model/networks.py) or the gated U-Net
# (model/unet.py), which sees the context at every resolution.
GENERATORS = ("context-encoder", "unet")
# The adversarial phase's discriminator: the paper's DCGAN one (one logit per image, batch norm;
# model/networks.py) or a spectral-normalised patch discriminator (one logit per ~70-px window;
# model/patch_discriminator.py).
DISCRIMINATORS = ("dcgan", "patch")
# What the hole holds when the encoder sees it (model/networks.py): the fill colour ("none", the
# paper's) or its harmonic fill from the context ("harmonic"); and what "auto" picks per hole layout:
# the harmonic start for holes anywhere, where it was measured (bench/RESULTS.md), the paper's fill
# colour for the centre hole.
GENERATOR_COARSE_FILLS = ("none", "harmonic")
COARSE_FILLS = ("auto", *GENERATOR_COARSE_FILLS)
AUTO_COARSE_FILL = {"anywhere": "harmonic", "center": "none"}
# The style term's weight that "auto" picks per hole layout, each measured on two seeds (bench/RESULTS.md,
# "The generator"): 0.25 for the centre hole, where it gave better LPIPS at the same PSNR, L1 and SSIM;
# 0.15 for holes anywhere, where the term weighs more against the feature term (docs/DESIGN.md, "Losses")
# and 0.25 cost 0.5 dB and 0.03 SSIM.
AUTO_LAMBDA_STYLE = {"anywhere": 0.15, "center": 0.25}
LR_SCHEDULES = ("constant", "cosine")
PIXEL_LOSSES = ("mse", "l1")
# What checkpoint selection can rank by, and how it names it: hole L1 (lower is better) or PSNR (higher).
SELECTION_METRICS = {"l1": "eval-split hole L1", "psnr": "eval-split hole PSNR"}
# The paper's recipe (docs/DESIGN.md section 1): `python -m model.train --recipe paper`. The dataclass defaults
# are the recipe chosen by measurement on held-out photos (bench/RESULTS.md, bench.quality).
PAPER_RECIPE = {"generator": "context-encoder", "upsampling": "transpose", "color_jitter": 0.0, "grayscale_fraction": 0.0, "batch_size": 64,
                "lambda_feat": 1.0, "lambda_style": 0.0, "lambda_adv": 0.001, "phase_steps": (5000, 1000), "ema_momentum": 0.0,
                "lr_g": 2e-4, "lr_schedule": "constant", "pixel_loss": "mse", "quarter_turns": False}
RECIPES = ("measured", "paper")


@dataclasses.dataclass
class TrainConfig:
    # The generator: the gated U-Net (model/unet.py), which beat the context encoder on held-out photos
    # (bench/RESULTS.md), or the paper's "context-encoder" (model/networks.py; the options bottleneck,
    # upsampling and coarse_fill are its own).
    generator: str = "unet"
    # Networks: the context encoder's bottleneck channels and its base width (64 in the paper);
    # the decoder doubles its side with nearest-neighbour upsampling + 3x3 convolution ("resize": no
    # checkerboard pattern) or, as in the paper, with 4x4 stride-2 transposed convolutions ("transpose").
    bottleneck: int = 4000
    width: int = 64
    # The discriminator of the joint phase (DISCRIMINATORS); it is built, and checkpointed, either way.
    discriminator: str = "dcgan"
    upsampling: str = "resize"
    # "harmonic": the hole reaches the encoder painted smoothly from its context (model/harmonic_fill.py)
    # and the decoder's output is added to that fill; "none": the fill colour, and a tanh output (the
    # paper's). "auto" is resolved by the hole layout (AUTO_COARSE_FILL) when training starts.
    coarse_fill: str = "auto"
    # Optimisation: Adam with beta1 0.5. The context encoder ran G at 2e-4, 10x D's rate; the U-Net
    # reached at 1e-3 in 400 steps what 2e-4 reached in 1,000 (bench/RESULTS.md).
    batch_size: int = 64
    lr_g: float = 1e-3
    lr_d: float = 2e-5
    beta1: float = 0.5
    # "constant", or "cosine": each network's rate falls along a half cosine to 0 over its updates
    # (G over all steps, D over the joint phase's).
    lr_schedule: str = "constant"
    # Losses: G = lambda_rec * (pixel + lambda_feat * feature + lambda_style * style) + lambda_adv * adversarial.
    # 0.999 / 0.001 is the context encoder's; the TF reimplementation used 1 / 0.1.
    lambda_rec: float = 0.999
    lambda_adv: float = 0.001
    lambda_feat: float = 1.0
    # Weight of the style term (model/losses.py style_loss: the hole's VGG Gram matrices against the
    # truth's), added to the structural loss; 0 leaves it out, "auto" is resolved by the hole layout
    # (AUTO_LAMBDA_STYLE) when training starts. At 1 every fill gets a stock texture (bench/RESULTS.md).
    lambda_style: float | str = "auto"
    overlap_weight: float = 10.0
    # The pixel term's error: squared ("mse", the structural loss's) or absolute ("l1").
    pixel_loss: str = "mse"
    # Schedule: (structural-only steps, joint adversarial steps).
    phase_steps: tuple[int, int] = (6000, 0)
    # VGG16 weights for the feature loss: "imagenet", "random", or a path (.npz, Keras .h5, Caffe .npy).
    vgg_weights: str = "imagenet"
    # Input pipeline: horizontal flips, random quarter turns (with the flips: the square's 8
    # symmetries), and colour jitter, the same on the input and its truth:
    # brightness, contrast and saturation each scaled by a factor in [1 - j, 1 + j], and a
    # `grayscale_fraction` of the crops turned grey.
    shuffle_buffer: int = 2048
    flip: bool = True
    quarter_turns: bool = True
    color_jitter: float = 0.2
    grayscale_fraction: float = 0.1
    # Fresh views: every step takes each crop at a random scale and place within its record and, where
    # holes are anywhere, gives it another record's hole (model/data.py fresh_views).
    fresh_views: bool = False
    # Export the checkpoint with the best eval-split score (kept under checkpoints/best/), not the last:
    # by hole L1, which follows a run's trend closest against the noise between evaluations
    # (bench/RESULTS.md); "psnr" ranks by hole PSNR.
    select_best: bool = True
    select_by: str = "l1"
    # Momentum of the moving average of the generator's weights that is evaluated, kept and exported
    # (model/averaging.py); 0 uses the raw weights, as the paper did.
    ema_momentum: float = 0.99
    # Intervals in steps. eval_images caps the eval-split records the periodic evaluation (and so the
    # checkpoint selection) scores; the demo's 800 (50 photos) all fit under it.
    log_every: int = 10
    image_every: int = 100
    eval_every: int = 100
    checkpoint_every: int = 200
    eval_images: int = 1024
    keep_checkpoints: int = 3
    # Hardware: "auto" picks float16 mixed precision and XLA on GPUs, bfloat16 mixed precision on CPUs
    # with AMX (bench/RESULTS.md), MirroredStrategy with >1 GPU.
    mixed_precision: str = "auto"  # auto | on (float16) | bfloat16 | off
    jit_compile: str = "auto"  # auto | on | off
    strategy: str = "auto"  # auto | default | mirrored
    seed: int = 0

    def __post_init__(self) -> None:
        self.phase_steps = tuple(int(s) for s in self.phase_steps)
        if self.lambda_style != "auto":
            try:
                self.lambda_style = float(self.lambda_style)  # the command line gives a string
            except (TypeError, ValueError):
                raise ValueError(f"lambda_style must be a weight >= 0 or 'auto', got {self.lambda_style!r}") from None
            if self.lambda_style < 0:
                raise ValueError(f"lambda_style must be a weight >= 0 or 'auto', got {self.lambda_style}")
        if len(self.phase_steps) != 2 or min(self.phase_steps) < 0 or self.steps < 1:
            raise ValueError(f"phase_steps {self.phase_steps} must be two non-negative step counts, not both 0")
        for name in ("bottleneck", "width", "batch_size", "log_every", "image_every", "eval_every",
                     "checkpoint_every", "eval_images", "keep_checkpoints", "shuffle_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ValueError(f"ema_momentum {self.ema_momentum} must be in [0, 1): 0 turns the weight average off")
        if not 0.0 <= self.color_jitter < 1.0 or not 0.0 <= self.grayscale_fraction <= 1.0:
            raise ValueError(f"color_jitter {self.color_jitter} must be in [0, 1) and grayscale_fraction "
                             f"{self.grayscale_fraction} in [0, 1]")
        for name, allowed in (("mixed_precision", ("auto", "on", "bfloat16", "off")), ("jit_compile", ("auto", "on", "off")),
                              ("strategy", ("auto", "default", "mirrored")), ("upsampling", UPSAMPLING),
                              ("generator", GENERATORS), ("discriminator", DISCRIMINATORS),
                              ("coarse_fill", COARSE_FILLS),
                              ("lr_schedule", LR_SCHEDULES), ("pixel_loss", PIXEL_LOSSES),
                              ("select_by", tuple(SELECTION_METRICS))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def steps(self) -> int:
        return sum(self.phase_steps)

    @staticmethod
    def split_steps(steps: int, recipe: str = "measured") -> tuple[int, int]:
        """A recipe's schedule for a step budget: the paper's trains the last 1/6 of the steps with the
        adversarial loss (the TF reimplementation's 50/60 structural); the measured recipe trains the
        structural loss alone, as the adversarial phase at the context encoder's weight did not improve a
        held-out score (bench/RESULTS.md)."""
        if recipe not in RECIPES:
            raise ValueError(f"recipe {recipe!r} is not one of {RECIPES}")
        structural = steps if recipe == "measured" else math.ceil(steps * PAPER_STRUCTURAL_FRACTION)
        return structural, steps - structural

    def for_layout(self, holes: str) -> "TrainConfig":
        """This config with its "auto" coarse fill and style weight resolved for the data's hole layout."""
        resolved = {name: choices[holes] for name, choices in (("coarse_fill", AUTO_COARSE_FILL),
                                                                 ("lambda_style", AUTO_LAMBDA_STYLE))
                    if getattr(self, name) == "auto"}
        return dataclasses.replace(self, **resolved)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["phase_steps"] = list(self.phase_steps)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        # A run written before the generator was a choice trained the context encoder: its checkpoints
        # hold that network, whatever today's default is. One written before the style term trained
        # without it, and resumes so.
        return cls(**{"generator": "context-encoder", "lambda_style": 0.0, **values})


# The run directory: what the trainer writes and `python -m model.export` reads back.
CONFIG_FILE = "config.json"  # this TrainConfig
RUN_FILE = "run.json"  # geometry, VGG weights used, hardware, data
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = "checkpoints/best"  # the generator at the best periodic evaluation, and best.json
LOGS = "logs"
EXPORT = "export"
EVAL_LOG = "eval.jsonl"
