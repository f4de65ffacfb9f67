"""The inpaint command's mask options: which of the three ways of giving photos' masks a run reads,
and how much the holes grow, checked before anything runs.

A mask model inpaints photos with exactly one of (chosen by the flags, never mixed):
1. `--masks DIR`: a mirrored tree, one mask per photo at the same relative path and stem
   (`pipelines/mask_files.py`); files named `*_mask*` among the photos are photos like any other;
2. `--mask FILE` (or `--masks FILE`): one mask for every photo, scaled to each photo's size
   (`pipelines/mask_fitting.py`);
3. neither: each photo's masks beside it, `NAME_mask.png` and numbered `NAME_mask001.png`, ... whose
   holes add up (`pipelines/mask_naming.py`); these files are left out of the photos.
`--dilate PIXELS` grows every hole by a disk of that radius, whichever way the masks came.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from apache_beam.io.filesystems import FileSystems

from common.paths import check_filesystem, check_outside
from common.usage import UsageError
from model.hole_layouts import HoleLayout
from pipelines import mask_files, mask_naming
from pipelines.files import file_pattern, read_bytes
from pipelines.images import Rejected
from pipelines.inpaint_settings import KEYED, Settings

COMMAND = "inpaint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--masks", default=None,
                        help="folder of the photos' hole masks, one image per photo at the same relative path "
                             "and stem (hole where grey >= 128, or transparent where the mask's alpha has both); "
                             "a file: the same as --mask. Without --masks or --mask, a mask model reads each "
                             "photo's masks beside it: NAME_mask.png, NAME_mask001.png, ... (their holes' union; "
                             "those files are not inpainted). Needs a mask model's export")
    parser.add_argument("--mask", default=None,
                        help="one mask file for every photo (a watermark, a timestamp, a dust spot), scaled to "
                             "each photo's size (the hole keeps its place in the frame); a photo whose aspect "
                             "ratio differs from the mask's by more than 1%% is a reject (mask_aspect_mismatch)")
    parser.add_argument("--dilate", type=int, default=0, metavar="PIXELS",
                        help="grow every hole by a disk of this radius before inpainting (tight hand-drawn or "
                             "detector masks); default 0")


def _is_file(given: str) -> bool:
    """Whether `--masks` names one file rather than a folder or a glob."""
    pattern, _ = file_pattern(given)
    return pattern == given and not os.path.isdir(given) and FileSystems.exists(given)


def mask_fields(args: argparse.Namespace, layout: HoleLayout, input_format: str) -> dict[str, Any]:
    """The settings' mask fields (`masks`, `mask`, `beside_masks`, `dilate`), or `UsageError` where
    they do not go with the model, the input or the engine."""
    masks, mask = args.masks, args.mask
    if masks and mask:
        raise UsageError(COMMAND, "--masks and --mask both given",
                         "give a folder with --masks, or one file with --mask")
    if masks and _is_file(masks):
        masks, mask = None, masks
    given = "--masks" if masks else "--mask" if mask else ""
    if given and not layout.serves_masks:
        raise UsageError(COMMAND, f"{args.model} fills the centre hole only",
                         f"{given} needs a mask model's export (inpainting.json \"holes\": \"anywhere\")")
    if given and input_format != "images":
        raise UsageError(COMMAND, f"{given} is for photos", "drop it: records carry their own masks")
    photo_masks = layout.serves_masks and input_format == "images"
    if photo_masks and args.engine != KEYED:
        raise UsageError(COMMAND, "masks of photos run on the keyed engine only",
                         "drop --engine tfx-bsl: it takes one record per photo")
    if args.dilate < 0:
        raise UsageError(COMMAND, f"--dilate {args.dilate} is below 0", "give 0 or more pixels")
    if args.dilate and not photo_masks:
        raise UsageError(COMMAND, "--dilate grows the holes of photos' masks",
                         "drop it: this model and input take no masks of photos")
    return {"masks": masks, "mask": mask, "beside_masks": bool(photo_masks and not given), "dilate": args.dilate}


def checked_photos(settings: Settings, inputs: list[str]) -> list[str]:
    """The photos among the matched `inputs` (beside-photo masks left out), with the mask options
    checked: the masks folder outside the output, the one mask readable with a hole and context,
    some photo with a mask beside it; or `UsageError`."""
    if settings.masks:
        check_filesystem(COMMAND, settings.masks)
        check_outside(COMMAND, settings.output, "--masks", mask_files.match_root(file_pattern(settings.masks)[0]))
    if settings.mask:
        check_filesystem(COMMAND, settings.mask)
        try:
            mask_files.check_hole(mask_files.read_hole(read_bytes(settings.mask)))
        except Rejected as e:
            raise UsageError(COMMAND, f"the mask {settings.mask} is {e.reason}: {e.detail}",
                             "give a mask with a hole (white, or transparent) and some context") from e
        except OSError as e:
            raise UsageError(COMMAND, f"the mask {settings.mask} cannot be read: {e}", "give a mask file") from e
    if not settings.beside_masks:
        return inputs
    photos = [path for path in inputs if not mask_naming.is_beside_mask(path)]
    folder_files = mask_naming.listed(mask_naming.beside_pattern(file_pattern(settings.input)[0]))
    if not mask_naming.photos_with_masks(photos, folder_files):
        raise UsageError(COMMAND, f"{settings.model} is a mask model and no photo has a NAME_mask.png beside it",
                         "give the photos' masks with --masks DIR (a mirrored tree) or --mask FILE (one for "
                         "every photo), or save each photo's mask beside it as NAME_mask.png")
    return photos
