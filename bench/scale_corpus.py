"""bench.scale's corpus: N distinct phone-size photos (2400x1800 JPEGs) with a mask file each, and
optionally broken files scattered through them.

Each photo is made from one of the project's photos (`data/raw/` after `make bootstrap`, else the
embedded sample data bench.preprocess uses) by a random crop, a flip and per-channel colour gains,
all drawn from the photo's index, so no two photos share a byte and no deduplication shrinks the
corpus. Its mask (same relative path and stem, PNG) holds a few boxes and brush strokes
(pipelines/holes.py) of 96-256 pixels, one per cell of a grid. The photos of a corpus are made once
under ROOT/all/ and hard-linked into ROOT/nN/ for each size N (broken files are written there, in
place of the good file, with --bad).
"""
from __future__ import annotations

import functools
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 2400, 1800
HOLES = 3
# A broken file every BAD_EVERY photos (from the BAD_FROM-th), the kinds in turn.
BAD_EVERY, BAD_FROM = 53, 7
TRUNCATED, ZERO_BYTES, MASK_WRONG_SIZE, BOMB = "truncated_jpeg", "zero_bytes", "mask_wrong_size", "decompression_bomb"
BAD_KINDS = (TRUNCATED, ZERO_BYTES, MASK_WRONG_SIZE, BOMB)
_SOURCES: list[Image.Image] = []


def name_of(index: int) -> str:
    return f"p{index:05d}"


def bad_kind(index: int) -> str | None:
    """The broken file planted at photo `index` of a --bad corpus, or None for a good photo."""
    if index % BAD_EVERY != BAD_FROM:
        return None
    return BAD_KINDS[(index // BAD_EVERY) % len(BAD_KINDS)]


def source_photos() -> list[Image.Image]:
    raw = Path("data/raw")
    paths = sorted(p for p in raw.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if raw.is_dir() else []
    if paths:
        return [Image.open(p).convert("RGB") for p in paths]
    from bench.preprocess import SOURCES
    from demo import sample_data

    photos = []
    for package, relative in SOURCES:
        root = sample_data.package_dir(package)
        if root is not None and (root / relative).exists():
            photos.append(Image.open(root / relative).convert("RGB"))
    return photos


def _make_one(index: int, folder: str) -> None:
    photo_path = Path(folder, "photos", name_of(index) + ".jpg")
    mask_path = Path(folder, "masks", name_of(index) + ".png")
    if photo_path.exists() and mask_path.exists():
        return
    if not _SOURCES:
        _SOURCES.extend(source_photos())
    rng = np.random.default_rng(index)
    source = _SOURCES[index % len(_SOURCES)]
    w, h = source.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = source.crop((x, y, x + cw, y + ch)).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)
    if rng.integers(2):
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gains = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    pixels = np.clip(np.asarray(image, np.float32) * gains + rng.uniform(-8, 8), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(photo_path, "JPEG", quality=90)
    Image.fromarray(_mask(index, rng)).save(mask_path)


def _mask(index: int, rng: np.random.Generator) -> np.ndarray:
    from pipelines import holes
    from tfrecords import masks
    from tfrecords.geometry import Geometry

    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    columns, rows = 2, 2
    cell_h, cell_w = HEIGHT // rows, WIDTH // columns
    for h in range(HOLES):
        side = int(rng.choice(range(96, 257, 32)))
        kind = (masks.BOXES, masks.STROKES)[h % 2]
        hole, _ = holes.generate(kind, f"scale{index}-{h}", Geometry(image_size=side))
        top = (h // columns) * cell_h + int(rng.integers(0, cell_h - side + 1))
        left = (h % columns) * cell_w + int(rng.integers(0, cell_w - side + 1))
        mask[top:top + side, left:left + side] = hole
    return mask


def make_all(root: Path, count: int, workers: int) -> Path:
    """ROOT/all/{photos,masks} with photos 0..count-1 (those already there are kept)."""
    folder = root / "all"
    for sub in ("photos", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    with Pool(workers) as pool:
        pool.map(functools.partial(_make_one, folder=str(folder)), range(count), chunksize=8)
    return folder


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG that declares width x height pixels (900 megapixels) in a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (width + 1) * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def subset(root: Path, count: int, bad: bool) -> tuple[Path, Path, dict[str, int]]:
    """ROOT/nN[-bad]/{photos,masks}: the first `count` photos of ROOT/all, hard-linked, with the
    broken files in place of some with `bad`; returns both folders and the broken files by kind."""
    folder = root / (f"n{count}-bad" if bad else f"n{count}")
    photos, masks = folder / "photos", folder / "masks"
    planted: dict[str, int] = {}
    for sub in (photos, masks):
        sub.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = name_of(index)
        kind = bad_kind(index) if bad else None
        photo, mask = photos / f"{name}.jpg", masks / f"{name}.png"
        for path in (photo, mask):
            if path.exists():
                path.unlink()
        good_photo, good_mask = root / "all" / "photos" / photo.name, root / "all" / "masks" / mask.name
        if kind:
            planted[kind] = planted.get(kind, 0) + 1
        if kind == TRUNCATED:
            data = good_photo.read_bytes()
            photo.write_bytes(data[:len(data) * 3 // 5])
        elif kind == ZERO_BYTES:
            photo.write_bytes(b"")
        elif kind == BOMB:
            photo = photo.with_suffix(".png")
            photo.write_bytes(bomb_png(30000 + index, 30000))  # each its own bytes
        else:
            os.link(good_photo, photo)
        if kind == MASK_WRONG_SIZE:
            Image.open(good_mask).resize((WIDTH // 2, HEIGHT // 2)).save(mask)
        else:
            os.link(good_mask, mask)
    return photos, masks, planted


def make_export(folder: Path, width: int, bottleneck: int) -> Path:
    export = folder / f"export-w{width}-b{bottleneck}"
    if (export / "saved_model.pb").exists():
        return export
    import keras

    from model.config import AUTO_COARSE_FILL
    from model.export import export_saved_model
    from model.networks import build_mask_generator
    from tfrecords.geometry import Geometry

    keras.utils.set_random_seed(0)
    generator = build_mask_generator(Geometry(), bottleneck=bottleneck, width=width,
                                     coarse_fill=AUTO_COARSE_FILL["anywhere"])
    export_saved_model(generator, Geometry(), str(export), {"note": "untrained, for bench.scale"}, "none")
    return export
