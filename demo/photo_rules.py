"""The rules that tell a photo from what is not one (a cut-out, a scan, a drawing, a tiny icon) and
one photo from a near-duplicate of another, for the gathered demo photos."""
from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

MIN_SIDE = 160
DUPLICATE_DISTANCE = 10  # of phash's 64 bits: two shots of one castle were 10 apart, unrelated photos 14 or more


def decode(data: bytes) -> Image.Image | None:
    """The decoded image, or None where it does not decode."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # any decoder failure is one reason: undecodable
        return None


def first_failed_rule(image: Image.Image) -> str | None:
    """The first of `alpha`, `small`, `greyscale`, `drawing` that the image fails, or None."""
    if has_alpha(image):
        return "alpha"
    if min(image.size) < MIN_SIDE:
        return "small"
    if is_greyscale(image):
        return "greyscale"
    if is_drawing(image):
        return "drawing"
    return None


def has_alpha(image: Image.Image) -> bool:
    """Whether any pixel is not fully opaque (puzzle pieces, cut-outs, cartoons)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" not in image.getbands():
        return False
    return image.getchannel("A").getextrema()[0] < 255


def _thumbnail(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((128, 128), Image.Resampling.BOX)
    return np.asarray(small).astype(np.int16)


def is_greyscale(image: Image.Image) -> bool:
    """A single-channel mode, or an RGB image whose 99th-percentile chroma (max - min over R, G, B, in
    a 128 px thumbnail) is under 16 of 255: grey scans and black-and-white photos stored as RGB
    (castleClinton in gcompris, braille)."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    pixels = _thumbnail(image)
    return float(np.percentile(pixels.max(-1) - pixels.min(-1), 99)) < 16


def is_drawing(image: Image.Image) -> bool:
    """Large flat areas bounded by hard edges, the look of a cartoon or a render.

    In a 128 px box-filtered thumbnail, `flat` is the share of pixels whose right and lower neighbours
    differ by at most 1 in every channel, `hard` the share that differ by more than 48. Photos have
    one or the other: product shots on white and clear skies are flat (up to 0.69 flat) but their
    edges are soft (mostly under 0.1 hard); detailed photos have hard edges but little flatness. The
    scratch backgrounds' drawings have both (flat 0.41-0.77 with hard 0.10-0.27); the nearest photo in
    the three packages is gcompris windmill9 (0.39 flat, 0.11 hard). Flatter JPEG drawings with
    softer edges (scratch room2, woods-and-bench) escape it and are listed by name instead.
    """
    pixels = _thumbnail(image)
    step = np.maximum(np.abs(np.diff(pixels, axis=0))[:, :-1].max(-1),
                      np.abs(np.diff(pixels, axis=1))[:-1].max(-1))
    return float((step <= 1).mean()) >= 0.40 and float((step > 48).mean()) >= 0.10


def photo_hash(image: Image.Image) -> imagehash.ImageHash:
    return imagehash.phash(image.convert("RGB"))


def seed_hashes(output: Path, prefixes: set[str]) -> list[tuple[str, imagehash.ImageHash]]:
    """Hashes of the photos already in `output` whose names start with none of `prefixes` (the pip
    photos, beside the ones a gatherer writes itself)."""
    seeds = []
    for path in sorted(output.iterdir()):
        if path.name.startswith(".") or path.name.split("-", 1)[0] in prefixes:
            continue
        if path.suffix.lower() not in Image.registered_extensions():
            continue
        with Image.open(path) as image:
            image.draft("RGB", (256, 256))  # JPEGs decode at a fraction of their size; phash uses 32x32
            seeds.append((path.name, photo_hash(image)))
    return seeds


def near_duplicate(digest: imagehash.ImageHash, hashes: list[tuple[str, imagehash.ImageHash]]) -> str | None:
    """The name of the first photo of `hashes` within DUPLICATE_DISTANCE bits of `digest`, or None."""
    return next((name for name, other in hashes if digest - other <= DUPLICATE_DISTANCE), None)
