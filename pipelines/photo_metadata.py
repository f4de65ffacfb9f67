"""What a photo carries besides its pixels, kept in its inpainted image.

Read once from the file as decoded, before the EXIF rotation (`remember`), and kept in the upright
photo's `info` (which, unlike `Image.format`, survives Beam's pickling), under keys of this module:
- the format (for `--image-format input`);
- the EXIF block (camera, lens, date, GPS, ...), written back with its orientation tag set to 1, as
  the output's pixels are already upright; the stale thumbnail (IFD1) is not written back. With
  `--strip-metadata` no EXIF is written at all;
- the ICC profile, kept where its colour space is the output's (a CMYK photo's profile is dropped,
  as its pixels become RGB);
- a JPEG's quantization tables and chroma subsampling. A JPEG output reuses them as they are
  (Pillow's `qtables=`): the same quantization as the source, including a camera's own tables that no
  IJG quality reproduces, where estimating a quality and re-scaling the standard tables would only
  approximate them. `estimate_quality` gives the IJG quality the tables are closest to (for the
  summary and the tests). JPEG output is lossy: every pixel outside the hole is re-quantized.
"""
from __future__ import annotations

from typing import Any

from PIL import Image, JpegImagePlugin

FORMAT, EXIF, QTABLES, SUBSAMPLING = "inpaint/format", "inpaint/exif", "inpaint/qtables", "inpaint/subsampling"
ORIENTATION = 0x0112
FALLBACK_JPEG = {"quality": 95, "subsampling": 0}  # a JPEG output whose source was no JPEG
_ICC_SPACES = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY"}
# The IJG (libjpeg) base tables that `quality` scales, in natural order (sums are order-free anyway).
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_IJG_CHROMA = (17, 18, 24, 47, *(99,) * 4, 18, 21, 26, 66, *(99,) * 4, 24, 26, 56, *(99,) * 5, 47, 66,
               *(99,) * 38)


def remember(source: Image.Image) -> dict[str, Any]:
    """What `source`, a photo as opened (before any rotation or mode change), carries."""
    carried: dict[str, Any] = {FORMAT: source.format}
    try:
        exif = source.getexif()
        if len(exif):
            carried[EXIF] = exif.tobytes()
    except Exception:  # a broken EXIF block is no reason to lose the photo
        pass
    if source.format == "JPEG" and getattr(source, "quantization", None):
        carried[QTABLES] = {k: list(v) for k, v in source.quantization.items()}
        carried[SUBSAMPLING] = JpegImagePlugin.get_sampling(source)
    return carried


def source_format(photo: Any) -> str | None:
    """The format a photo was read in: a Pillow image's, or a `full_resolution.Photo`'s."""
    return photo.info.get(FORMAT) or getattr(photo, "format", None)


def exif_out(info: dict[str, Any], strip: bool) -> bytes | None:
    """The EXIF block to write: the photo's, orientation 1; None where it had none or `strip`."""
    if strip or not info.get(EXIF):
        return None
    exif = Image.Exif()
    exif.load(info[EXIF])
    exif[ORIENTATION] = 1
    return exif.tobytes()


def icc_out(info: dict[str, Any], mode: str) -> bytes | None:
    """The photo's ICC profile where its colour space (header bytes 16-20) is that of `mode`."""
    profile = info.get("icc_profile")
    return profile if profile and profile[16:20] == _ICC_SPACES.get(mode) else None


def jpeg_options(info: dict[str, Any]) -> dict[str, Any]:
    """Pillow's JPEG save options: the source's tables and subsampling, or `FALLBACK_JPEG`."""
    if not info.get(QTABLES):
        return dict(FALLBACK_JPEG)
    subsampling = info.get(SUBSAMPLING, -1)
    return {"qtables": {int(k): v for k, v in info[QTABLES].items()},
            "subsampling": subsampling if subsampling >= 0 else 0}


def _ijg_table(base: tuple[int, ...], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (value * scale + 50) // 100)) for value in base]


def estimate_quality(qtables: dict[int, list[int]]) -> int:
    """The IJG quality (1-100) whose scaled standard tables are closest to these (by their sums)."""
    luma = sum(qtables[0])
    chroma = sum(qtables[1]) if 1 in qtables else None

    def distance(quality: int) -> float:
        gap = abs(sum(_ijg_table(_IJG_LUMA, quality)) - luma)
        return gap + (abs(sum(_ijg_table(_IJG_CHROMA, quality)) - chroma) if chroma is not None else 0)

    return min(range(1, 101), key=distance)
