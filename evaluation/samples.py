"""The evaluation's sample images for the report's grid: the first crop of distinct source photos,
one hole kind after another where the data holds several (tfrecords/masks.py RECORD_KINDS).

A `SampleChooser` sees every scored image in file order and keeps, per hole kind, the first crop of
up to `count` distinct photos; `write` takes them in turns over the kinds (a boxes sample, a
strokes sample, a second boxes sample, ...; another photo than those taken where the kind has one),
so each kind has a row where there are enough samples, and saves their PNGs. Data of one kind (the
centre hole) gives the first crop of the first `count` distinct photos.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from PIL import Image

from tfrecords.masks import RECORD_KINDS

SAMPLES = "samples"


@dataclasses.dataclass(frozen=True)
class Sample:
    key: str
    kind: str
    images: dict[str, np.ndarray]  # "masked", each method, "truth" and, for holes anywhere, "mask"
    scores: dict[str, Any]  # per method, as metrics.json's per-image rows hold them


class SampleChooser:
    def __init__(self, count: int):
        self.count = count
        self.candidates: dict[str, list[Sample]] = {}

    def wants(self, key: str, kind: str) -> bool:
        """Whether an image of photo `key` with a hole of `kind` would be kept (ask before building it)."""
        kept = self.candidates.get(kind, [])
        return len(kept) < self.count and all(s.key != key for s in kept)

    def offer(self, sample: Sample) -> None:
        if self.wants(sample.key, sample.kind):
            # Copies: a view would keep the whole batch's arrays alive.
            self.candidates.setdefault(sample.kind, []).append(
                dataclasses.replace(sample, images={n: np.array(p) for n, p in sample.images.items()}))

    def chosen(self) -> list[Sample]:
        """Up to `count` samples in turns over the kinds, each turn the kind's next sample of a photo
        not yet chosen where it has one (else its next sample); grouped by kind."""
        remaining = {kind: list(self.candidates[kind]) for kind in RECORD_KINDS if kind in self.candidates}
        chosen: list[Sample] = []
        while len(chosen) < self.count and any(remaining.values()):
            for left in remaining.values():
                if left and len(chosen) < self.count:
                    taken = {s.key for s in chosen}
                    pick = next((s for s in left if s.key not in taken), left[0])
                    left.remove(pick)
                    chosen.append(pick)
        return sorted(chosen, key=lambda s: RECORD_KINDS.index(s.kind))

    def write(self, output_dir: str) -> list[dict[str, Any]]:
        """Saves the chosen samples' PNGs under `output_dir/samples/`; returns metrics.json's sample list."""
        os.makedirs(os.path.join(output_dir, SAMPLES), exist_ok=True)
        return [_write(output_dir, index, sample) for index, sample in enumerate(self.chosen())]


def _write(output_dir: str, index: int, sample: Sample) -> dict[str, Any]:
    paths = {}
    for name, pixels in sample.images.items():
        relative = os.path.join(SAMPLES, f"{index:02d}_{name}.png")
        Image.fromarray(pixels).save(os.path.join(output_dir, relative))
        paths[name] = relative
    scores = sample.scores
    return {"key": sample.key, "kind": sample.kind, "images": paths,
            "hole_psnr": {name: s["hole"]["psnr"] for name, s in scores.items()},
            "lpips": {name: s["perceptual"]["lpips"] for name, s in scores.items()}}
