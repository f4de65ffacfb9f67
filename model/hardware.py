"""What a training run executes on: the distribution strategy, the Keras dtype policy and XLA, chosen
from the devices present and the config, and recorded in run.json."""
from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from common.cpu import cpu_has_amx_bfloat16
from model.config import TrainConfig


@dataclasses.dataclass
class Hardware:
    """What the run executes on, chosen from the devices present (and recorded in run.json)."""

    strategy: tf.distribute.Strategy
    policy: str  # the Keras dtype policy: float32, mixed_float16 or mixed_bfloat16
    jit_compile: bool
    gpus: int

    @property
    def loss_scaling(self) -> bool:
        """float16 gradients underflow without dynamic loss scaling; bfloat16 has float32's range."""
        return self.policy == "mixed_float16"

    def describe(self) -> dict[str, Any]:
        return {"strategy": type(self.strategy).__name__, "replicas": self.strategy.num_replicas_in_sync,
                "gpus": self.gpus, "precision": self.policy, "jit_compile": self.jit_compile}


def choose_hardware(config: TrainConfig) -> Hardware:
    """MirroredStrategy over several GPUs, else the default; mixed precision and XLA on GPU ("auto")."""
    gpus = len(tf.config.list_logical_devices("GPU"))
    if config.strategy == "mirrored" or (config.strategy == "auto" and gpus > 1):
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    # On a small CPU, XLA sped the paper network's step up but slowed the demo's narrower one
    # (bench/RESULTS.md): GPU only by default, --jit-compile on where it pays.
    if config.mixed_precision == "auto":
        policy = "mixed_float16" if gpus else "mixed_bfloat16" if cpu_has_amx_bfloat16() else "float32"
    else:
        policy = {"on": "mixed_float16", "bfloat16": "mixed_bfloat16", "off": "float32"}[config.mixed_precision]
    jit = {"on": True, "off": False, "auto": gpus > 0}[config.jit_compile]
    return Hardware(strategy, policy, jit, gpus)
