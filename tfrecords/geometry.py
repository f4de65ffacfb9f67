"""The centre-hole geometry shared by every stage: image, predicted patch, hole, fill colour."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive

# Context encoder's fill colour: the mean colour of its training set (Pathak et al.).
CONTEXT_ENCODER_FILL_RGB = (117, 104, 123)


@dataclasses.dataclass(frozen=True)
class Geometry:
    """A square image whose centre `patch_size` square is predicted.

    The hole, filled with `fill_rgb` before the generator sees the image, is the patch shrunk by
    `overlap` on each side: the prediction overlaps the visible context by that ring.
    """

    image_size: int = 128
    patch_size: int = 64
    overlap: int = 4
    fill_rgb: tuple[int, int, int] = CONTEXT_ENCODER_FILL_RGB

    def __post_init__(self) -> None:
        object.__setattr__(self, "fill_rgb", tuple(int(c) for c in self.fill_rgb))
        if not 0 < self.patch_size < self.image_size:
            raise ValueError(f"patch_size {self.patch_size} must be in (0, image_size {self.image_size})")
        if (self.image_size - self.patch_size) % 2:
            raise ValueError("image_size - patch_size must be even so the patch is centred")
        if not 0 <= 2 * self.overlap < self.patch_size:
            raise ValueError(f"overlap {self.overlap} leaves no hole in a {self.patch_size} patch")
        if len(self.fill_rgb) != 3 or not all(0 <= c <= 255 for c in self.fill_rgb):
            raise ValueError(f"fill_rgb {self.fill_rgb} must be three values in [0, 255]")

    @property
    def patch_box(self) -> Box:
        start = (self.image_size - self.patch_size) // 2
        end = start + self.patch_size
        return (start, start, end, end)

    @property
    def hole_box(self) -> Box:
        top, left, bottom, right = self.patch_box
        o = self.overlap
        return (top + o, left + o, bottom - o, right - o)

    @property
    def hole_size(self) -> int:
        return self.patch_size - 2 * self.overlap

    def hole_in_patch(self) -> Box:
        """The hole box in the patch's own coordinates."""
        o = self.overlap
        return (o, o, self.patch_size - o, self.patch_size - o)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "overlap": self.overlap,
            "fill_rgb": list(self.fill_rgb),
            "patch_box": list(self.patch_box),
            "hole_box": list(self.hole_box),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Geometry":
        return cls(
            image_size=int(values["image_size"]),
            patch_size=int(values["patch_size"]),
            overlap=int(values["overlap"]),
            fill_rgb=tuple(values["fill_rgb"]),
        )


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    top, left, bottom, right = box
    return image[top:bottom, left:right]


def mask_centre(image: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Splits a square uint8 image into (masked image, true centre patch).

    Together they rebuild the image exactly: see `unmask`.
    """
    expected = (geometry.image_size, geometry.image_size, 3)
    if image.shape != expected or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image of shape {expected}, got {image.dtype} {image.shape}")
    patch = crop(image, geometry.patch_box).copy()
    masked = image.copy()
    top, left, bottom, right = geometry.hole_box
    masked[top:bottom, left:right] = geometry.fill_rgb
    return masked, patch


def unmask(masked: np.ndarray, patch: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Rebuilds the original image from `mask_centre`'s two halves."""
    image = masked.copy()
    top, left, bottom, right = geometry.patch_box
    image[top:bottom, left:right] = patch
    return image


def paste_hole(masked: np.ndarray, predicted_patch: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Pastes the hole part of a predicted patch into the image; every other pixel is kept."""
    image = masked.copy()
    top, left, bottom, right = geometry.hole_box
    image[top:bottom, left:right] = crop(predicted_patch, geometry.hole_in_patch())
    return image
