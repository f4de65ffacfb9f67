"""`Item`: one validated input of the inpaint job on its way through the model.

Items cross Beam's coders by pickle, which finds their class by its module's name: they live in a
module of their own, never in the job's `__main__`."""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from pipelines import full_resolution, hole_windows, model_handler
from tfrecords import Record, masks
from tfrecords.geometry import Geometry


@dataclasses.dataclass
class Item:
    """The model's input (an image; for a mask model, an image and its mask, or a photo's stack of
    windows) and what the output needs (the record it came from, or the full-size photo and where
    its holes are). `path`: the file it was read from, where that is not `source` (a record's shard)."""

    id: str
    source: str
    model_input: np.ndarray | model_handler.Windows
    record: Record | None = None
    serialized: bytes | None = None
    photo: Image.Image | None = None
    placement: full_resolution.Placement | None = None
    windows: list[hole_windows.Window] | None = None
    path: str = ""

    @property
    def file(self) -> str:
        """The file the item was read from."""
        return self.path or self.source

    def holes(self) -> tuple[int, int]:
        """(connected hole regions, model windows) this input fills."""
        if self.windows is not None:
            return sum(w.regions for w in self.windows), len(self.windows)
        if self.record is not None:
            return (1 if self.record.kind == masks.CENTER else hole_windows.count_regions(self.record.mask)), 1
        return 1, 1

    def hole_mask(self) -> np.ndarray:
        """(H,W) bool, True on the pixels this input has filled, at the output's size."""
        if self.record is not None:
            return self.record.mask == masks.HOLE
        mask = np.zeros((self.photo.height, self.photo.width), bool)
        for window in self.windows or []:
            top, left, bottom, right = window.region
            mask[top:bottom, left:right] |= window.hole
        if self.windows is None:
            top, left, bottom, right = self.placement.hole
            mask[top:bottom, left:right] = True
        return mask

    def example(self, geometry: Geometry) -> bytes:
        """The serialized record the `serve_examples` signature takes (built for photos)."""
        if self.serialized is None:
            self.serialized = Record(filled(self.model_input, geometry), geometry, self.id, self.source).serialize()
        return self.serialized


def filled(model_input: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A centre model's input with its hole painted the fill colour."""
    masked = model_input.copy()
    top, left, bottom, right = geometry.hole_box
    masked[top:bottom, left:right] = geometry.fill_rgb
    return masked
