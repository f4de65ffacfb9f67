"""`Item`: one validated input of the inpaint job on its way through the model, and its coder.

Items cross Beam's coders by pickle, which finds their class by its module's name: they live in a
module of their own, never in the job's `__main__`.

`ItemCoder` (registered for `Item`, so the job's PCollections typed with Item use it) pickles an
item as Beam's fallback coder would, but estimates its size without pickling it. Beam samples the
elements of every PCollection to count their bytes (the first 10 of each worker's, then about
10 ln(n/10) more of n): through the fallback coder each sample pickled the element, and an item
holds its full-size photo. The read-to-write stage is fused, so the samples were nearly all the
pickling an item ever saw: about 2 pickles a photo at N = 250, of 13 MB each on a phone-size photo
(bench.scale_split).
"""
from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.coders import coder_impl

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
    photo: full_resolution.Photo | None = None
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


class ItemCoder(beam.coders.Coder):
    """Items (or anything else) by pickle; an Item's size is estimated from its arrays and bytes."""

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Any:
        return pickle.loads(encoded)

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value: Any) -> int:
        return estimated_size(value)

    def to_type_hint(self) -> type:
        return Item

    def _create_impl(self) -> coder_impl.CoderImpl:
        return coder_impl.CallbackCoderImpl(self.encode, self.decode, estimated_size)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


def estimated_size(value: Any) -> int:
    """About the bytes an item pickles to: its arrays' and byte strings' (the rest is small)."""
    if not isinstance(value, Item):
        return len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    arrays = value.model_input if isinstance(value.model_input, tuple) else (value.model_input,)
    size = sum(a.nbytes for a in arrays) + len(value.serialized or b"")
    if value.photo is not None:
        size += value.photo.pixels.nbytes + sum(len(v) for v in value.photo.info.values() if isinstance(v, bytes))
    if value.record is not None:
        size += sum(a.nbytes for a in vars(value.record).values() if isinstance(a, np.ndarray))
    return size + 1024


beam.coders.registry.register_coder(Item, ItemCoder)
