"""PNG files of 8-bit images, deflated by Intel ISA-L: the inpaint pipeline's lossless output.

Pillow's PNG encoder deflates with zlib, and at its fastest level a full-size photo's write cost
about as much CPU as the mask model's inference of its holes (bench.inpaint --masks). Here every row
is "Up"-filtered (its difference from the row above, one numpy subtraction) and the whole is
deflated by ISA-L at level 1 (`isal`, as tfrecords/writer.py does): 8 ms instead of 70-80 ms for a
1024x768 photo, for a file about 6% larger. Any PNG reader decodes it to the same pixels.

A `Canvas` is the filtered rows' buffer with the image's pixels as a view into it: the inpaint
writer pastes a photo and its fills straight into it, and `Canvas.encode` filters the rows in place,
so an inpainted photo is copied once on its way to the file (as a bare `encode` copies its pixels
once), not once to paste into and once more to filter.
"""
from __future__ import annotations

import struct

import numpy as np
from isal import isal_zlib

LEVEL = 1
SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types of the modes the pipeline writes.
COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
CHANNELS = {"L": 1, "RGB": 3, "LA": 2, "RGBA": 4}
_UP = 2  # the filter type byte of a row filtered against the row above


BLOCK_ROWS = 64  # rows filtered at a time, bottom block first (a block's row above is still unfiltered)


class Canvas:
    """A `height` x `width` image of `mode` (one of `COLOUR_TYPES`) in the making: `pixels` ((H,W)
    for L, (H,W,C) otherwise, uint8) is a view into the rows `encode` filters and deflates."""

    def __init__(self, height: int, width: int, mode: str) -> None:
        if mode not in COLOUR_TYPES:
            raise ValueError(f"mode {mode!r} is not one of {tuple(COLOUR_TYPES)}")
        self.mode = mode
        self._rows = np.empty((height, width * CHANNELS[mode] + 1), np.uint8)
        self._rows[:, 0] = _UP
        inner = self._rows[:, 1:]
        self.pixels = inner if mode == "L" else inner.reshape(height, width, CHANNELS[mode])
        assert np.shares_memory(self.pixels, self._rows)  # a view, never a copy
        self._spent = False

    def encode(self, icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
        """The PNG file of `pixels`, with the ICC profile and EXIF block as `encode`'s. The rows are
        filtered in place: the canvas is spent (its pixels are no longer the image's)."""
        if self._spent:
            raise ValueError("this canvas has been encoded already")
        self._spent = True
        rows = self._rows
        height, width = self.pixels.shape[:2]
        for bottom in range(height, 1, -BLOCK_ROWS):
            top = max(bottom - BLOCK_ROWS, 1)
            # Each row less the row above, modulo 256 (PNG's Up filter); numpy reads the overlapping
            # rows above through a buffer of its own, as if they were apart.
            rows[top:bottom, 1:] -= rows[top - 1:bottom - 1, 1:]
        chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[self.mode], 0, 0, 0))]
        if icc_profile:
            chunks.append(_chunk(b"iCCP", b"ICC Profile\0\0" + isal_zlib.compress(icc_profile, LEVEL)))
        if exif:
            chunks.append(_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
        chunks.append(_chunk(b"IDAT", isal_zlib.compress(rows, LEVEL)))
        chunks.append(_chunk(b"IEND", b""))
        return SIGNATURE + b"".join(chunks)


def encode(pixels: np.ndarray, mode: str, icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """The PNG file of uint8 `pixels` ((H,W) for L, (H,W,C) otherwise) in `mode`, one of
    `COLOUR_TYPES`, with the ICC profile and the EXIF block (an eXIf chunk; Pillow's
    `Exif.tobytes()`, its "Exif" header dropped) where given."""
    if mode not in COLOUR_TYPES:
        raise ValueError(f"mode {mode!r} is not one of {tuple(COLOUR_TYPES)}")
    height, width = pixels.shape[:2]
    if pixels.dtype != np.uint8 or pixels.reshape(height, width, -1).shape[2] != CHANNELS[mode]:
        raise ValueError(f"expected uint8 pixels of {CHANNELS[mode]} channel(s) for {mode}, got "
                         f"{pixels.dtype} {pixels.shape}")
    canvas = Canvas(height, width, mode)
    canvas.pixels[...] = pixels.reshape(canvas.pixels.shape)
    return canvas.encode(icc_profile, exif)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind)))
