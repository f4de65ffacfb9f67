"""Inpainting quality on the hole (and the whole centre patch), as docs/DESIGN.md defines it.

PSNR uses a peak of 255; L1 and L2 are the mean absolute and mean squared error with pixels scaled
to [0, 1], so they read as fractions of the range (the context encoder paper's "mean L1/L2 loss").
SSIM is scikit-image's definition (7x7 uniform windows, sample covariance, per channel, averaged),
computed for all channels at once: `structural_similarity` loops over channels in Python, which on a
56x56 hole cost more than the rest of an image's metrics and PNG write together (bench.inpaint).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
from scipy.ndimage import uniform_filter

from tfrecords.geometry import Box, Geometry, crop

# Identical regions have infinite PSNR, which JSON cannot hold.
MAX_PSNR_DB = 100.0
NAMES = ("psnr", "ssim", "l1", "l2")
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(mse: float) -> float:
    """PSNR in dB (peak 255) of a mean squared error on [0, 1] pixels, capped at `MAX_PSNR_DB`."""
    return MAX_PSNR_DB if mse == 0 else float(min(MAX_PSNR_DB, 10.0 * np.log10(1.0 / mse)))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """The (H,W) SSIM map of two float (H,W,C) images, averaged over channels."""
    window = (SSIM_WINDOW, SSIM_WINDOW, 1)
    count = SSIM_WINDOW**2
    cov_norm = count / (count - 1)  # sample covariance
    ux, uy = uniform_filter(a, window), uniform_filter(b, window)
    vx = cov_norm * (uniform_filter(a * a, window) - ux * ux)
    vy = cov_norm * (uniform_filter(b * b, window) - uy * uy)
    vxy = cov_norm * (uniform_filter(a * b, window) - ux * uy)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=-1)


def inpainting_metrics(predicted: np.ndarray, truth: np.ndarray, geometry: Geometry) -> dict[str, dict[str, float]]:
    """Metrics on the hole (what is judged) and on the whole patch (comparable to published CE figures).

    The SSIM map is computed once, over the patch: an SSIM window inside the hole sees the same
    pixels in the patch's map as in the hole's own, so the hole's SSIM is the mean of that part."""
    if predicted.shape != truth.shape:
        raise ValueError(f"shapes differ: {predicted.shape} vs {truth.shape}")
    a = crop(predicted, geometry.patch_box).astype(np.float64)
    b = crop(truth, geometry.patch_box).astype(np.float64)
    similarity = ssim_map(a, b)
    return {"hole": _box_metrics(a, b, similarity, geometry.hole_in_patch()),
            "patch": _box_metrics(a, b, similarity, (0, 0, geometry.patch_size, geometry.patch_size))}


def _box_metrics(a: np.ndarray, b: np.ndarray, similarity: np.ndarray, box: Box) -> dict[str, float]:
    """PSNR, SSIM, L1, L2 inside `box` of float (H,W,3) images whose SSIM map is `similarity`; SSIM
    windows reaching past the box are left out, as scikit-image does at an image's border."""
    top, left, bottom, right = box
    diff = (a[top:bottom, left:right] - b[top:bottom, left:right]) / 255.0
    mse = float(np.mean(diff**2))
    pad = (SSIM_WINDOW - 1) // 2
    inside = similarity[top + pad:bottom - pad, left + pad:right - pad]
    return {"psnr": psnr(mse), "ssim": float(inside.mean(dtype=np.float64)),
            "l1": float(np.mean(np.abs(diff))), "l2": mse}


def mean_metrics(per_image: Iterable[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Averages `inpainting_metrics` results over images; adds the image count."""
    rows = list(per_image)
    if not rows:
        raise ValueError("no images to average")
    out: dict[str, dict[str, float]] = {}
    for region in rows[0]:
        out[region] = {name: float(np.mean([r[region][name] for r in rows])) for name in NAMES}
    out["count"] = len(rows)  # type: ignore[assignment]
    return out


def masked_metrics(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """PSNR, L1, L2 over the hole pixels of an (H,W) mask (non-zero = hole) and SSIM averaged over
    the hole pixels of the SSIM map (windows reaching past the image border left out, as scikit-image
    does), for uint8 (H,W,3) images: the hole metrics of holes of any shape."""
    if predicted.shape != truth.shape or mask.shape != truth.shape[:2]:
        raise ValueError(f"shapes differ: {predicted.shape}, {truth.shape}, mask {mask.shape}")
    hole = mask > 0
    if not hole.any():
        raise ValueError("the mask has no hole pixel")
    a, b = predicted.astype(np.float64), truth.astype(np.float64)
    diff = (a[hole] - b[hole]) / 255.0
    mse = float(np.mean(diff**2))
    pad = (SSIM_WINDOW - 1) // 2
    inner = np.zeros_like(hole)
    inner[pad:-pad, pad:-pad] = True
    where = hole & inner if (hole & inner).any() else hole
    return {"psnr": psnr(mse), "ssim": float(ssim_map(a, b)[where].mean(dtype=np.float64)),
            "l1": float(np.mean(np.abs(diff))), "l2": mse}
