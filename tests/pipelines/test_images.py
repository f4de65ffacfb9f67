"""Decoding, mode conversion, EXIF orientation, draft scaling, rejects and crops (pipelines/images.py)."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipelines import images
from tests.builders import encode, png_header_only


def two_colour(width: int = 200, height: int = 100) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2:] = (0, 0, 255)
    return Image.fromarray(pixels)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise to display
    data = encode(two_colour(), "JPEG", quality=95, exif=exif)
    image = images.decode(data)
    assert image.size == (100, 200)
    pixels = np.asarray(image)
    assert pixels[10, 50, 0] > 200 and pixels[10, 50, 2] < 60  # red (stored left) is now on top
    assert pixels[190, 50, 2] > 200 and pixels[190, 50, 0] < 60


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1", "CMYK", "RGB"])
def test_every_mode_becomes_rgb(mode):
    source = two_colour().convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = images.decode(encode(source, fmt))
    assert image.mode == "RGB" and image.size == (200, 100)
    if mode in ("P", "RGBA", "RGB", "CMYK"):
        left, right = np.asarray(image)[50, 20].astype(int), np.asarray(image)[50, 180].astype(int)
        assert left[0] > 200 and left[2] < 60 and right[2] > 200 and right[0] < 60


def test_palette_with_transparency_and_webp():
    palette = two_colour().convert("P")
    image = images.decode(encode(palette, "PNG", transparency=0))
    assert image.mode == "RGB"
    webp = images.decode(encode(two_colour(), "WEBP", lossless=True))
    assert np.array_equal(np.asarray(webp), np.asarray(two_colour()))


def test_sixteen_bit_keeps_the_top_eight_bits():
    values = np.array([[0, 257 * 100, 65535, 257 * 7]], np.uint16).repeat(4, axis=0)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    rgb = np.asarray(images.decode(data))
    assert rgb.shape == (4, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 100, 255, 7]
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_first_frame_of_an_animation():
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    pixels = np.asarray(images.decode(data))
    assert pixels[5, 5, 0] > 200 and pixels[5, 5, 1] < 60


def test_jpeg_draft_decodes_at_reduced_scale_but_never_below_the_target():
    photo = Image.effect_noise((1600, 1200), 60).convert("RGB")
    data = encode(photo, "JPEG", quality=90)
    assert images.decode(data).size == (1600, 1200)
    small = images.decode(data, target_short_side=128)
    assert small.size == (200, 150)  # 1/8 scale: the shorter side stays >= 128
    assert min(images.decode(data, target_short_side=400).size) >= 400


@pytest.mark.parametrize("data, reason", [
    (b"", images.EMPTY),
    (b"just some text, not an image\n" * 10, images.NOT_AN_IMAGE),
    (png_header_only(30000, 30000), images.DECOMPRESSION_BOMB),
])
def test_rejects(data, reason):
    with pytest.raises(images.Rejected) as caught:
        images.decode(data)
    assert caught.value.reason == reason


def test_truncated_and_corrupt_files_are_rejects():
    data = encode(Image.effect_noise((400, 300), 60).convert("RGB"), "JPEG", quality=90)
    with pytest.raises(images.Rejected) as truncated:
        images.decode(data[: len(data) // 2])
    assert truncated.value.reason == images.TRUNCATED
    png = bytearray(encode(Image.effect_noise((400, 300), 60), "PNG"))
    start = png.index(b"IDAT") + 4
    png[start:start + 60] = b"\xff" * 60  # the compressed pixel data's zlib header and first blocks
    with pytest.raises(images.Rejected) as corrupt:
        images.decode(bytes(png))
    assert corrupt.value.reason == images.CORRUPT


def test_our_pixel_limit_and_minimum_size():
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(images.Rejected) as bomb:
        images.decode(data, max_pixels=300 * 200 - 1)
    assert bomb.value.reason == images.DECOMPRESSION_BOMB
    with pytest.raises(images.Rejected) as small:
        images.decode(data, min_size=201)
    assert small.value.reason == images.TOO_SMALL
    assert images.decode(data, min_size=200).size == (300, 200)


def test_centre_crop_covers_the_largest_scale():
    # Horizontal gradient 512x256: the whole shorter side is the middle half; at 0.5, its middle quarter.
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 512).astype(np.uint8)[None, :, None], (256, 1, 3)))
    (crop,) = images.crops(gradient, images.CropSpec(size=128), seed="k")
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    assert abs(int(crop[64, 0, 0]) - 64) <= 3 and abs(int(crop[64, 127, 0]) - 191) <= 3
    assert images.crop_boxes(512, 256, images.CropSpec(size=128, scale=(0.25, 0.5)), "k") == [(192, 64, 320, 192)]


def test_random_crops_are_multi_scale_seeded_and_inside_the_image():
    photo = Image.effect_noise((900, 600), 80).convert("RGB")
    spec = images.CropSpec(size=128, scale=(0.3, 0.9), mode="random", count=8)
    first = images.crops(photo, spec, seed="ab" * 32)
    again = images.crops(photo, spec, seed="ab" * 32)
    other = images.crops(photo, spec, seed="cd" * 32)
    assert len(first) == 8 and all(c.shape == (128, 128, 3) and c.dtype == np.uint8 for c in first)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))
    boxes = images.crop_boxes(900, 600, spec, "ab" * 32)
    sides = [box[2] - box[0] for box in boxes]
    for (left, top, right, bottom), side in zip(boxes, sides):
        assert 0 <= left < right <= 900 and 0 <= top < bottom <= 600
        assert bottom - top == pytest.approx(side) and 0.3 * 600 <= side <= 0.9 * 600
    assert len(set(sides)) == 8 and max(sides) - min(sides) > 0.3 * 600  # spread over the range
    assert len({(round(b[0]), round(b[1])) for b in boxes}) == 8
    # More crops extend the list: crop i depends only on the seed and i.
    more = images.CropSpec(size=128, scale=(0.3, 0.9), mode="random", count=12)
    assert images.crop_boxes(900, 600, more, "ab" * 32)[:8] == boxes


def test_scales_are_drawn_uniformly_over_many_photos():
    spec = images.CropSpec(size=128, mode="random", count=4)
    fractions = np.array([(box[2] - box[0]) / 1000 for i in range(250)
                          for box in images.crop_boxes(1500, 1000, spec, f"photo-{i}")])
    assert fractions.min() >= 0.5 and fractions.max() <= 1.0
    assert np.histogram(fractions, bins=5, range=(0.5, 1.0))[0].min() > 150  # 200 expected per bin


def test_small_photos_give_every_crop_without_upscaling():
    spec = images.CropSpec(size=128, mode="random", count=8)
    boxes = images.crop_boxes(130, 128, spec, "x")
    assert len(boxes) == 8 and all(b[2] - b[0] == pytest.approx(128) == b[3] - b[1] for b in boxes)
    # 200 px shorter side: half of it would be 100 px, so the range starts at 128 source pixels.
    sides = [b[2] - b[0] for b in images.crop_boxes(300, 200, spec, "y")]
    assert all(128 <= side <= 200 for side in sides)
    assert len(images.crops(Image.new("RGB", (130, 128)), spec, seed="x")) == 8


def test_jpeg_draft_keeps_the_smallest_scale_at_full_resolution():
    data = encode(Image.effect_noise((1600, 1200), 60).convert("RGB"), "JPEG", quality=90)
    spec = images.CropSpec(size=128, scale=(0.25, 1.0), mode="random", count=2)
    assert spec.decode_short_side == 512 and images.CropSpec(size=128).decode_short_side == 128
    assert images.CropSpec(size=128, scale=(0.3, 1.0), mode="random").decode_short_side == 427
    image = images.decode(data, target_short_side=spec.decode_short_side)
    assert image.size == (800, 600)  # 1/2 scale; 1/4 would leave the smallest crop 75 px
    assert all(min(b[2] - b[0], b[3] - b[1]) >= 128 for b in images.crop_boxes(*image.size, spec, "k"))


def test_crop_spec_validation():
    with pytest.raises(ValueError):
        images.CropSpec(mode="center", count=4)
    with pytest.raises(ValueError):
        images.CropSpec(size=128, min_size=100)
    with pytest.raises(ValueError):
        images.CropSpec(mode="middle")
    for scale in ((0.6, 0.5), (0.0, 1.0), (0.5, 1.2)):
        with pytest.raises(ValueError):
            images.CropSpec(mode="random", count=2, scale=scale)


@pytest.mark.parametrize("orientation, upright", [(1, (400, 300)), (3, (400, 300)), (4, (400, 300)),
                                                  (5, (300, 400)), (6, (300, 400)), (8, (300, 400))])
def test_decode_upright_gives_the_full_upright_size_beside_a_draft(orientation, upright):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.effect_noise((400, 300), 60).convert("RGB"), "JPEG", quality=90, exif=exif)
    full = images.decode_upright(data)
    assert full.image.size == full.full_size == upright  # what a mask drawn on the photo measures
    draft = images.decode_upright(data, target_short_side=64)
    assert draft.full_size == upright and draft.image.size == (upright[0] // 4, upright[1] // 4)
    assert images.decode(data).size == upright


def test_seeded_generators_and_crop_at():
    first = images.seeded_generator("key", 3).random(4)
    assert np.array_equal(first, images.seeded_generator("key", 3).random(4))
    assert not np.array_equal(first, images.seeded_generator("key", 4).random(4))
    assert not np.array_equal(first, images.seeded_generator("other", 3).random(4))
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 512).astype(np.uint8)[None, :, None], (256, 1, 3)))
    crop = images.crop_at(gradient, (256.0, 0.0, 512.0, 256.0), 64)
    assert crop.shape == (64, 64, 3) and abs(int(crop[32, 0, 0]) - 128) <= 3
    spec = images.CropSpec(size=128, scale=(0.25, 0.75), mode="random", count=2)
    assert images.side_range(1000, 800, spec) == (200.0, 600.0)
    assert images.side_range(300, 200, spec) == (128, 150.0)  # never below 128 source pixels
