"""Classical inpainting baselines that any user can run, on the same masked uint8 images as the model.

Each baseline takes a masked (H,W,3) uint8 image and its (H,W) hole mask (non-zero = hole, any
shape: the centre box of `tfrecords.masks.centre_mask`, boxes, strokes, a user's mask) and returns
the whole inpainted uint8 image; only the hole differs from the input.

- `mean_fill`: the hole painted with the mean colour of the image's own visible context. The
  geometry's fill colour (the training set's mean, what the network sees in the hole) is a constant
  that ignores the image, so as a baseline it only measures how far photos are from one purple-grey;
  the per-image mean is the best a constant fill can do without the truth, hence the fairer lower
  bar (it scores well above the fill colour on photos).
- `telea`, `navier_stokes`: OpenCV's `cv2.inpaint` (Telea's fast marching method; Bertalmio's
  Navier-Stokes method). The neighbourhood radius defaults to 5 px: a wider one gains little for
  several times the time, a narrower one loses more.
- `biharmonic`: scikit-image's `inpaint_biharmonic`, the smoothest (biharmonic) surface through the
  context, per channel: a sparse linear solve.
- `harmonic`: this project's smooth fill (model/harmonic_fill.py, a mask-weighted pyramid and Jacobi
  sweeps: each hole pixel the mean of its neighbours), what the harmonic-start generators refine;
  beside the model it shows what the network adds to its start.
- `fsr`: OpenCV contrib's Frequency Selective Reconstruction (`cv2.xphoto.inpaint`, Seiler et al.
  2015, Genser et al. 2018): each 16 px block modelled as a sparse sum of Fourier basis functions
  fitted to its known pixels. FSR_FAST: FSR_BEST gains a little hole PSNR and LPIPS at some 35x the
  time, hours for a thousand crops. FSR is the best of these baselines on photos but follows a
  smooth surface across the hole no better than Telea; there biharmonic is near exact.
"""
from __future__ import annotations

import cv2
import numpy as np
import tensorflow as tf
from skimage.restoration import inpaint_biharmonic

from model.harmonic_fill import harmonic_fill

DEFAULT_RADIUS = 5

# Display order: the simplest first.
LABELS = {
    "mean_fill": "Mean colour fill",
    "telea": "OpenCV Telea",
    "navier_stokes": "OpenCV Navier-Stokes",
    "biharmonic": "scikit-image biharmonic",
    "harmonic": "Harmonic fill",
    "fsr": "OpenCV FSR (fast)",
}


def mean_fill(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hole painted with the mean colour of the visible pixels."""
    hole = _check(masked, mask)
    colour = np.round(masked[~hole].mean(axis=0)).astype(np.uint8)
    out = masked.copy()
    out[hole] = colour
    return out


def telea(masked: np.ndarray, mask: np.ndarray, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """OpenCV's fast marching inpainting (Telea 2004)."""
    return _opencv(masked, mask, radius, cv2.INPAINT_TELEA)


def navier_stokes(masked: np.ndarray, mask: np.ndarray, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """OpenCV's fluid-dynamics inpainting (Bertalmio, Bertozzi, Sapiro 2001)."""
    return _opencv(masked, mask, radius, cv2.INPAINT_NS)


def biharmonic(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The biharmonic function that continues the context into the hole, per channel."""
    hole = _check(masked, mask)
    painted = inpaint_biharmonic(masked, hole, channel_axis=-1)  # float in [0, 1]
    return _paste(masked, np.clip(np.round(painted * 255.0), 0, 255).astype(np.uint8), hole)


def harmonic(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each hole pixel the mean of its neighbours, solved coarse to fine (model/harmonic_fill.py)."""
    hole = _check(masked, mask)
    painted = _harmonic_fill(masked[None].astype(np.float32), hole[None, :, :, None].astype(np.float32))
    return _paste(masked, np.clip(np.round(painted.numpy()[0]), 0, 255).astype(np.uint8), hole)


# One graph per image size (the pyramid's depth follows it): run eagerly, the fill's few hundred small ops
# cost more than the work in them.
_harmonic_fill = tf.function(harmonic_fill)


def fsr(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's Frequency Selective Reconstruction, fast profile."""
    hole = _check(masked, mask)
    # xphoto's mask is the opposite of cv2.inpaint's: non-zero marks a known pixel. FSR models
    # luma and chroma apart after a BGR -> YCrCb conversion, so it wants BGR.
    known = np.where(hole, 0, 255).astype(np.uint8)
    bgr = np.ascontiguousarray(masked[..., ::-1])
    painted = np.zeros_like(bgr)
    cv2.xphoto.inpaint(bgr, known, painted, cv2.xphoto.INPAINT_FSR_FAST)
    return _paste(masked, painted[..., ::-1], hole)


def run_baselines(masked: np.ndarray, mask: np.ndarray, radius: int = DEFAULT_RADIUS,
                  names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Each baseline's inpainted image (all, or those in `names`), keyed like `LABELS`."""
    methods = {
        "mean_fill": lambda: mean_fill(masked, mask),
        "telea": lambda: telea(masked, mask, radius),
        "navier_stokes": lambda: navier_stokes(masked, mask, radius),
        "biharmonic": lambda: biharmonic(masked, mask),
        "harmonic": lambda: harmonic(masked, mask),
        "fsr": lambda: fsr(masked, mask),
    }
    return {name: fill() for name, fill in methods.items() if names is None or name in names}


def _opencv(masked: np.ndarray, mask: np.ndarray, radius: int, method: int) -> np.ndarray:
    hole = _check(masked, mask)
    if radius < 1:
        raise ValueError(f"inpainting radius must be >= 1 px, got {radius}")
    # The channel order does not matter to cv2.inpaint: it treats the three channels alike.
    painted = cv2.inpaint(np.ascontiguousarray(masked), hole.astype(np.uint8) * 255, float(radius), method)
    return _paste(masked, painted, hole)


def _paste(masked: np.ndarray, painted: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`masked` with the hole's pixels from `painted`: the methods may touch the context (FSR's colour
    round trip moves it by up to 1 grey level), the baselines must not."""
    out = masked.copy()
    out[hole] = painted[hole]
    return out


def _check(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hole as a boolean (H,W) array, after checking the image and the mask agree."""
    if masked.ndim != 3 or masked.shape[2] != 3 or masked.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {masked.dtype} {masked.shape}")
    if mask.shape != masked.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image's {masked.shape[:2]}")
    hole = mask > 0
    if not hole.any() or hole.all():
        raise ValueError("the mask has no hole" if not hole.any() else "the mask is all hole: no context to fill from")
    return hole
