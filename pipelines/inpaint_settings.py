"""What one inpaint run does: the settings its transforms share (`pipelines/inpaint.py` makes them
from the command line)."""
from __future__ import annotations

import dataclasses

from tfrecords.geometry import Geometry

KEYED, TFX_BSL = "keyed", "tfx-bsl"
ENGINES = (KEYED, TFX_BSL)
# The export's hole layouts (inpainting.json "holes"): the centre box, or a mask per input.
CENTER_LAYOUT, MASK_LAYOUT = "center", "anywhere"


@dataclasses.dataclass(frozen=True)
class Settings:
    model: str
    input: str
    output: str
    geometry: Geometry
    input_format: str  # "tfrecord" or "images"
    writes: tuple[str, ...] = ("png",)
    batch_size: int = 64
    engine: str = KEYED
    image_format: str = "png"
    layout: str = CENTER_LAYOUT  # the export's hole layout
    masks: str | None = None  # the folder (or glob) of the photos' mask files
    model_copies: int | None = None  # copies per machine shared by its SDK processes; None: one per process

    @property
    def serves_masks(self) -> bool:
        """Whether the export fills each input's own mask (else the centre box of each)."""
        return self.layout == MASK_LAYOUT
