"""Full-resolution inpainting geometry: placement, decoding, and exact paste-back."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from pipelines import full_resolution as fr
from pipelines import images
from tfrecords.geometry import Geometry

G = Geometry()
PATCH_RGB = (250, 10, 30)


def _png(image: Image.Image, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **kwargs)
    return out.getvalue()


def test_placement_at_the_trained_size_is_the_trained_geometry():
    placement = fr.place(128, 128, G)
    assert placement.window == (0, 0, 128, 128)
    assert placement.hole == G.hole_box


@pytest.mark.parametrize("height,width", [(512, 512), (426, 640), (640, 426), (9, 1000), (3000, 7), (3, 3)])
def test_placement_scales_the_hole_into_the_centred_square_window(height, width):
    p = fr.place(height, width, G)
    side = min(height, width)
    top, left, bottom, right = p.window
    assert (bottom - top, right - left) == (side, side)
    assert abs((top + bottom) - height) <= 1 and abs((left + right) - width) <= 1
    h_top, h_left, h_bottom, h_right = p.hole
    assert top < h_top < h_bottom < bottom and left < h_left < h_right < right
    # The hole keeps the trained ratio to the window, to within a pixel of rounding.
    assert abs((h_bottom - h_top) - side * G.hole_size / G.image_size) <= 1


@pytest.mark.parametrize("height,width", [(1, 1), (2, 500), (800, 2)])
def test_photos_too_small_for_a_hole_are_rejected(height, width):
    with pytest.raises(images.Rejected) as e:
        fr.place(height, width, G)
    assert e.value.reason == images.TOO_SMALL


def _photo(mode: str, height: int, width: int) -> Image.Image:
    rgb = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BILINEAR)
    if mode == "RGBA":
        alpha = Image.fromarray(np.tile(np.arange(width, dtype=np.uint8), (height, 1)))
        rgb.putalpha(alpha)
        return rgb
    return rgb.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA"])
@pytest.mark.parametrize("height,width", [(5, 7), (129, 257), (4, 600), (700, 9), (1500, 1100)])
def test_paste_back_changes_the_hole_only(mode, height, width):
    photo = _photo(mode, height, width)
    placement = fr.place(height, width, G)
    patch = np.empty((G.patch_size, G.patch_size, 3), np.uint8)
    patch[:] = PATCH_RGB
    out = fr.paste_back(fr.Photo.of(photo), placement, patch, G)
    original = np.asarray(photo)
    assert out.shape == original.shape and out.dtype == np.uint8

    top, left, bottom, right = placement.hole
    outside = np.ones((height, width), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(out[outside], original[outside])
    hole = out[top:bottom, left:right]
    if mode in ("RGB", "RGBA"):
        assert (hole[..., :3] == PATCH_RGB).all()
    else:
        grey = np.asarray(Image.new("RGB", (1, 1), PATCH_RGB).convert("L"))[0, 0]
        assert ((hole if mode == "L" else hole[..., 0]) == grey).all()
    if mode in ("LA", "RGBA"):
        assert np.array_equal(out[..., -1], original[..., -1])


def test_paste_back_resamples_the_patch_onto_the_hole():
    """At 4x the trained size, the hole shows the patch's hole part magnified, not the whole patch."""
    photo = Image.fromarray(np.zeros((512, 512, 3), np.uint8))
    patch = np.zeros((G.patch_size, G.patch_size, 3), np.uint8)
    o = G.overlap
    patch[o:-o, o:-o] = 200  # the overlap ring is 0, the hole part 200
    out = fr.paste_back(fr.Photo.of(photo), fr.place(512, 512, G), patch, G)
    top, left, bottom, right = fr.place(512, 512, G).hole
    # Bicubic's support reaches 2 patch pixels (8 photo pixels) into the hole from the ring; past
    # that, the hole is the patch's hole part exactly.
    assert (out[top + 8:bottom - 8, left + 8:right - 8] == 200).all()
    assert out[top:bottom, left:right].min() > 50  # the ring itself (0) is never pasted


def test_model_input_is_the_window_at_the_model_size():
    photo = _photo("L", 300, 900)
    x = fr.model_input(photo, fr.place(300, 900, G), G)
    assert x.shape == (G.image_size, G.image_size, 3) and x.dtype == np.uint8
    assert (x[..., 0] == x[..., 1]).all()  # grey stays grey


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA"])
def test_a_photo_holds_the_images_pixels_and_its_rgb_is_pillows(mode):
    image = _photo(mode, 30, 40)
    image.info["icc_profile"] = b"profile"
    photo = fr.Photo.of(image)
    assert (photo.height, photo.width, photo.mode) == (30, 40, mode)
    assert np.array_equal(photo.pixels, np.asarray(image)) and photo.info["icc_profile"] == b"profile"
    box = (5, 7, 25, 33)
    expected = np.asarray(image.convert("RGB"))[5:25, 7:33]
    assert photo.rgb(box).shape == expected.shape and np.array_equal(photo.rgb(box), expected)


def test_open_upright_keeps_size_and_mode_and_applies_exif_orientation():
    photo = _photo("RGB", 40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    opened = fr.open_upright(_png(photo, exif=exif))
    assert opened.size == (40, 60) and opened.mode == "RGB" and opened.format == "PNG"
    assert np.array_equal(np.asarray(opened), np.asarray(photo.transpose(Image.Transpose.ROTATE_270)))

    for mode in ("L", "LA", "RGBA"):
        assert fr.open_upright(_png(_photo(mode, 20, 30))).mode == mode
    palette = _photo("RGB", 20, 30).convert("P")
    assert fr.open_upright(_png(palette)).mode == "RGB"
    sixteen = Image.fromarray(np.full((10, 12), 65535, np.uint16))
    opened16 = fr.open_upright(_png(sixteen))
    assert opened16.mode == "RGB" and (np.asarray(opened16) == 255).all()


@pytest.mark.parametrize("payload,reason", [(b"", images.EMPTY), (b"hello, not an image", images.NOT_AN_IMAGE)])
def test_open_upright_rejects_with_a_reason(payload, reason):
    with pytest.raises(images.Rejected) as e:
        fr.open_upright(payload)
    assert e.value.reason == reason


def test_open_upright_rejects_a_truncated_photo():
    encoded = _png(_photo("RGB", 200, 200))
    with pytest.raises(images.Rejected) as e:
        fr.open_upright(encoded[: len(encoded) // 2])
    assert e.value.reason in (images.TRUNCATED, images.CORRUPT)
