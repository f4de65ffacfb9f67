"""What one inpaint run does: the settings its transforms share (`pipelines/inpaint.py` makes them
from the command line)."""
from __future__ import annotations

import dataclasses

from model.hole_layouts import CentreHole, HoleLayout
from tfrecords.geometry import Geometry

KEYED, TFX_BSL = "keyed", "tfx-bsl"
ENGINES = (KEYED, TFX_BSL)


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
    layout: HoleLayout = CentreHole()  # the export's (`model.exported.export_hole_layout`)
    masks: str | None = None  # the folder (or glob) of the photos' mask files
    mask: str | None = None  # the one mask file for every photo (pipelines/mask_fitting.py)
    beside_masks: bool = False  # each photo's masks beside it: NAME_mask*.png (pipelines/mask_naming.py)
    dilate: int = 0  # pixels every hole of a photo's mask grows by, as a disk
    model_copies: int | None = None  # copies per machine shared by its SDK processes; None: one per process
    photos_in_flight: int = 16  # full-size photos a model batch holds at most (photo input)
    overwrite: bool = False  # redo photos whose image is already in the output (pipelines/resume.py)
    strip_metadata: bool = False  # write no EXIF (pipelines/photo_metadata.py)
    proofs: bool = False  # before/after proofs and a contact sheet (pipelines/proofs.py)

    @property
    def photo_masks(self) -> bool:
        """Whether photos are inpainted with the users' masks (by any of the three conventions)."""
        return bool(self.masks or self.mask or self.beside_masks)
