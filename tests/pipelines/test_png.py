"""The ISA-L PNG writer: what Pillow and OpenCV decode is the pixels written, in every mode."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms
from skimage import data

from pipelines import png


def _photo(mode: str, height: int, width: int) -> np.ndarray:
    image = Image.fromarray(data.astronaut()).resize((width, height))
    if mode in ("LA", "RGBA"):
        image.putalpha(Image.fromarray(np.tile(np.arange(width, dtype=np.uint8), (height, 1))))
        return np.asarray(image if mode == "RGBA" else image.convert("LA"))
    return np.asarray(image.convert(mode))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("height,width", [(1, 1), (5, 7), (300, 257)])
def test_pillow_reads_back_the_same_pixels_and_mode(mode, height, width):
    pixels = _photo(mode, height, width)
    decoded = Image.open(io.BytesIO(png.encode(pixels, mode)))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", mode, (width, height))
    assert np.array_equal(np.asarray(decoded), pixels)


def test_another_decoder_reads_the_same_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), np.uint8)  # every byte value, wrapping
    decoded = cv2.imdecode(np.frombuffer(png.encode(pixels, "RGB"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded[..., ::-1], pixels)


def test_the_icc_profile_is_kept():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    decoded = Image.open(io.BytesIO(png.encode(_photo("RGB", 10, 10), "RGB", icc_profile=profile)))
    assert decoded.info["icc_profile"] == profile


def test_pixels_that_are_not_the_mode_are_refused():
    with pytest.raises(ValueError, match="3 channel"):
        png.encode(np.zeros((4, 4), np.uint8), "RGB")
    with pytest.raises(ValueError, match="mode"):
        png.encode(np.zeros((4, 4), np.uint8), "P")
