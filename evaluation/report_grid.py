"""The report's picture grid: a row per eval image, a column per method's output."""
from __future__ import annotations

import os
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from PIL import Image  # noqa: E402


class GridLayout(Protocol):
    """What the hole layout adds to the grid."""

    extra_columns: tuple[str, ...]  # image names shown between the masked input and the baselines

    def mark_input(self, ax: Axes, sample: dict[str, Any], eval_dir: str) -> None:
        """Draws on a row's masked-input cell."""


def sample_image(eval_dir: str, sample: dict[str, Any], name: str) -> np.ndarray:
    """One of a sample's images (metrics.json `samples[i].images[name]`) as evaluation.evaluate wrote it."""
    return np.asarray(Image.open(os.path.join(eval_dir, sample["images"][name])))


def plot_grid(results: dict[str, Any], eval_dir: str, path: str, layout: GridLayout) -> None:
    """Rows of eval images; columns masked input, the layout's own, each baseline, the model, the
    truth; each output's hole PSNR (and LPIPS) under it."""
    labels = results["labels"]
    columns = ["masked", *layout.extra_columns, *labels, "truth"]
    titles = {"masked": "Masked input", "mask": "Hole mask", **labels, "truth": "Ground truth"}
    samples = results["samples"]
    cell = 2.3
    fig, axes = plt.subplots(len(samples), len(columns), figsize=(cell * len(columns), cell * len(samples) + 0.6),
                             squeeze=False)
    for r, sample in enumerate(samples):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(sample_image(eval_dir, sample, name), interpolation="nearest", cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[name].replace(" (", "\n("), fontsize=11)
            if name == "masked":
                layout.mark_input(ax, sample, eval_dir)
            if name in sample["hole_psnr"]:
                label = f"hole PSNR {sample['hole_psnr'][name]:.1f} dB"
                if name in sample.get("lpips", {}):
                    label += f"\nLPIPS {sample['lpips'][name]:.3f}"
                ax.set_xlabel(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
