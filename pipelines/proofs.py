"""Proofs, for a person to check a large job at a glance (`--proofs`): a small before/after image
of each inpainted input with its hole outlined, and a contact sheet of the first few.

    proofs/NAME-HASH.jpg        the input and its output side by side, each at most `PANEL` pixels
                                on its longer side, the hole's outline drawn on both
    proofs/contact-sheet.jpg    the proofs of the first `SHEET_COUNT` inputs (by source path), in a
                                grid, each captioned with its file name
"""
from __future__ import annotations

import io
import posixpath

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PANEL = 256  # a panel's longer side, in pixels
GAP = 4
SHEET_COUNT = 24
SHEET_COLUMNS = 4
SHEET_NAME = "contact-sheet.jpg"
OUTLINE_RGB = (255, 0, 255)  # magenta: rare in photos, seen on any background
BACKGROUND_RGB = (32, 32, 32)
QUALITY = 85


def _panel(pixels: np.ndarray, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(pixels).convert("RGB").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def outline(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The (h,w) bool outline, about 2 px wide, of the (H,W) bool `hole` scaled to `size` (w,h):
    a hole of any shape, thin strokes included (a small pixel covered at all counts)."""
    small = Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX).point(lambda v: 255 * (v > 0))
    edge = np.asarray(small, bool) & ~np.asarray(small.filter(ImageFilter.MinFilter(3)), bool)
    return np.asarray(Image.fromarray(edge.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3)), bool)


def proof(before: np.ndarray, after: np.ndarray, hole: np.ndarray) -> Image.Image:
    """Before and after side by side (uint8 pixels of one shape, (H,W) grey or (H,W,C)), the (H,W)
    bool `hole` outlined on both."""
    height, width = hole.shape
    scale = min(1.0, PANEL / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    line = outline(hole, size)
    sheet = Image.new("RGB", (2 * size[0] + GAP, size[1]), BACKGROUND_RGB)
    for k, pixels in enumerate((before, after)):
        panel = np.array(_panel(pixels, size))
        panel[line] = OUTLINE_RGB
        sheet.paste(Image.fromarray(panel), (k * (size[0] + GAP), 0))
    return sheet


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def contact_sheet(proofs: list[tuple[str, bytes]]) -> Image.Image:
    """The (source, proof JPEG) pairs in a grid of `SHEET_COLUMNS`, each captioned with its file name."""
    font = ImageFont.load_default()
    caption = 14
    cell_w, cell_h = 2 * PANEL + GAP, PANEL + caption
    rows = (len(proofs) + SHEET_COLUMNS - 1) // SHEET_COLUMNS
    columns = min(len(proofs), SHEET_COLUMNS)
    sheet = Image.new("RGB", (columns * (cell_w + GAP) + GAP, rows * (cell_h + GAP) + GAP), BACKGROUND_RGB)
    draw = ImageDraw.Draw(sheet)
    for index, (source, data) in enumerate(proofs):
        left = GAP + (index % SHEET_COLUMNS) * (cell_w + GAP)
        top = GAP + (index // SHEET_COLUMNS) * (cell_h + GAP)
        sheet.paste(Image.open(io.BytesIO(data)).convert("RGB"), (left, top))
        draw.text((left, top + PANEL + 1), posixpath.basename(source)[:60], fill=(230, 230, 230), font=font)
    return sheet
