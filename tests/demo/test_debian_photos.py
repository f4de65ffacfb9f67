"""demo/debian_photos.py and the modules it draws on, on fabricated package trees: no apt, no network."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from skimage import data

from demo import debian_packages, debian_photos, qt_resources, sample_data
from demo.debian_photos import COLLECTIONS, SOURCES

GCOMPRIS, SCRATCH = COLLECTIONS[0], COLLECTIONS[1]
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-3+

Files: Media/*
Copyright: 2011 Massachusetts Institute of Technology
License: CC-BY-SA-3.0
Comment: https://scratch.mit.edu
"""


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _cartoon() -> Image.Image:
    image = Image.new("RGB", (320, 240), (250, 200, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 150, 320, 240), fill=(40, 160, 60), outline=(0, 0, 0), width=3)
    draw.rectangle((40, 60, 140, 150), fill=(200, 30, 30), outline=(0, 0, 0), width=3)
    draw.ellipse((200, 20, 280, 100), fill=(30, 60, 220), outline=(0, 0, 0), width=3)
    for x in range(0, 320, 16):
        draw.line((x, 150, x + 8, 240), fill=(0, 0, 0), width=2)
    return image


def _photo(name: str) -> Image.Image:
    """A scikit-image photo, mirrored so that it is no near-duplicate of the pip photo itself."""
    return ImageOps.mirror(Image.fromarray(getattr(data, name)()))


def _webps() -> dict[str, bytes]:
    astronaut = _photo("astronaut")
    with_alpha = Image.fromarray(data.chelsea()).convert("RGBA")
    with_alpha.putalpha(Image.fromarray(np.where(np.arange(with_alpha.width) < 100, 0, 255).astype(np.uint8)[None]
                                        .repeat(with_alpha.height, 0)))
    return {
        "photo": _encode(astronaut, "WEBP", quality=90),
        "alpha": _encode(with_alpha, "WEBP", quality=90),
        "tiny": _encode(Image.fromarray(data.coffee()).resize((150, 100)), "WEBP"),
        "twin": _encode(astronaut.resize((400, 400)), "WEBP", quality=60),
        "grey": _encode(Image.fromarray(data.camera()).convert("RGB"), "WEBP"),
        "cartoon": _encode(_cartoon(), "WEBP", lossless=True),
        "coffee": _encode(_photo("coffee"), "WEBP", quality=85),
    }


def _rcc(chunks: list[bytes]) -> bytes:
    """Arbitrary bytes with the chunks between them, and RIFF look-alikes that are no WebP."""
    rng = np.random.default_rng(0)
    parts = [b"qrez" + rng.bytes(50), b"RIFF" + struct.pack("<I", 4) + b"WAVEdata"]
    for chunk in chunks:
        parts += [chunk, rng.bytes(int(rng.integers(1, 40)))]
    parts.append(b"RIFF\xff\xff\xff\x7fWEBP")  # a length past the end of the file
    return b"".join(parts)


def _package(root: Path, package: str) -> Path:
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return root


@pytest.fixture()
def packages(tmp_path: Path) -> dict[str, tuple[str, Path]]:
    webps = _webps()
    gcompris = _package(tmp_path / "cache/gcompris-qt-data_3.1-2_all", "gcompris-qt-data")
    rcc = gcompris / GCOMPRIS.folder
    rcc.mkdir(parents=True)
    (rcc / "erase.rcc").write_bytes(_rcc([webps[k] for k in ("photo", "alpha", "tiny", "twin", "grey", "cartoon")]))
    (rcc / "zoo.rcc").write_bytes(_rcc([webps["coffee"]]))
    scratch = _package(tmp_path / "cache/scratch_1.4_all", "scratch")
    backgrounds = scratch / SCRATCH.folder
    (backgrounds / "Indoors").mkdir(parents=True)
    (backgrounds / "Indoors/kitchen.jpg").write_bytes(_encode(_photo("chelsea"), "JPEG"))
    (backgrounds / "Indoors/room2.jpg").write_bytes(_encode(Image.fromarray(data.rocket()), "JPEG"))
    return {"gcompris-qt-data": ("3.1-2", gcompris), "scratch": ("1.4", scratch)}


def test_chunk_scanning_finds_exactly_the_embedded_webps():
    chunks = list(_webps().values())
    found = list(qt_resources.webp_chunks(_rcc(chunks)))
    assert [chunk for _, chunk in found] == chunks


def test_rcc_name_table_names_a_chunk():
    payload = _webps()["coffee"]
    names, offsets = b"", []
    for name in ("gcompris", "src", "activities", "erase", "resource", "coffee.webp"):
        offsets.append(len(names))
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    nodes = struct.pack(">IHII", 0, 2, 1, 1) + bytes(8)  # the root directory
    for i, offset in enumerate(offsets[:-1]):
        nodes += struct.pack(">IHII", offset, 2, 1, i + 2) + bytes(8)
    nodes += struct.pack(">IHHHI", offsets[-1], 0, 0, 0, 0) + bytes(8)
    header = 24
    blob = struct.pack(">I", len(payload)) + payload
    rcc = (b"qres" + struct.pack(">IIIII", 3, header + len(blob) + len(names), header, header + len(blob), 0)
           + blob + names + nodes)
    assert qt_resources.rcc_names(rcc) == {header + 4: "/gcompris/src/activities/erase/resource/coffee.webp"}
    [(offset, chunk)] = qt_resources.webp_chunks(rcc)
    assert (offset, chunk) == (header + 4, payload)


def test_each_rule_drops_its_own_and_the_rest_are_kept(tmp_path: Path, packages):
    output = tmp_path / "raw"
    result = debian_photos.gather(output, packages, COLLECTIONS[:2])
    reasons = {d["origin"].rsplit("/", 1)[-1]: d["reason"] for d in result["dropped"]}
    assert reasons == {"erase.rcc:#0001": "alpha", "erase.rcc:#0002": "small", "erase.rcc:#0003": "near-duplicate",
                       "erase.rcc:#0004": "greyscale", "erase.rcc:#0005": "drawing", "room2.jpg": "listed"}
    assert [d["twin"] for d in result["dropped"] if d["reason"] == "near-duplicate"] == ["gcompris-erase-0000.webp"]
    assert result["chunks"] == 7
    names = sorted(k["name"] for k in result["kept"])
    assert names == ["gcompris-erase-0000.webp", "gcompris-zoo-0000.webp", "scratch-Indoors-kitchen.jpg"]
    webps = _webps()
    assert (output / "gcompris-erase-0000.webp").read_bytes() == webps["photo"]
    assert (output / "gcompris-zoo-0000.webp").read_bytes() == webps["coffee"]
    assert (output / "scratch-Indoors-kitchen.jpg").read_bytes() == (
        packages["scratch"][1] / SCRATCH.folder / "Indoors/kitchen.jpg").read_bytes()


def test_sources_list_package_version_licence_and_survive_reruns(tmp_path: Path, packages):
    output = tmp_path / "raw"
    sample_data.gather(output)
    debian_photos.gather(output, packages, COLLECTIONS[:2])
    text = (output / SOURCES).read_text()
    assert text.startswith("# Sample photos")
    assert ("- `gcompris-erase-0000.webp` <- gcompris-qt-data 3.1-2: "
            "`usr/share/gcompris-qt/rcc/erase.rcc:#0000` — GPL-3+ (the package-wide `Files: *` paragraph; "
            "the file has none of its own)") in text
    assert ("- `scratch-Indoors-kitchen.jpg` <- scratch 1.4: `usr/share/scratch/Media/Backgrounds/Indoors/"
            "kitchen.jpg` — CC-BY-SA-3.0 (2011 Massachusetts Institute of Technology; https://scratch.mit.edu)") in text
    assert "Kept 2 of 7; dropped: alpha 1, small 1, greyscale 1, drawing 1, near-duplicate 1." in text
    debian_photos.gather(output, packages, COLLECTIONS[:2])
    assert (output / SOURCES).read_text() == text
    sample_data.gather(output)
    assert (output / SOURCES).read_text() == text
    assert text.count(debian_photos.BEGIN) == 1


def test_a_rerun_removes_photos_it_no_longer_keeps(tmp_path: Path, packages):
    output = tmp_path / "raw"
    output.mkdir()
    (output / "gcompris-gone-0000.webp").write_bytes(b"from an earlier run")
    debian_photos.gather(output, packages, COLLECTIONS[:2])
    assert not (output / "gcompris-gone-0000.webp").exists()


def test_a_photo_already_in_the_output_is_not_gathered_twice(tmp_path: Path, packages):
    output = tmp_path / "raw"
    output.mkdir()
    (output / "skimage-coffee.png").write_bytes(_encode(_photo("coffee"), "PNG"))
    result = debian_photos.gather(output, packages, COLLECTIONS[:2])
    assert {"origin": "usr/share/gcompris-qt/rcc/zoo.rcc:#0000", "twin": "skimage-coffee.png"}.items() <= next(
        d for d in result["dropped"] if d["origin"].endswith("zoo.rcc:#0000")).items()


def test_missing_apt_get_prints_one_line_and_returns(tmp_path: Path, capsys):
    debian_photos.main(["--output", str(tmp_path / "raw"), "--cache", str(tmp_path / "cache"),
                        "--apt-get", str(tmp_path / "no-such-apt-get")])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["debian_photos: no-such-apt-get not available (No such file or directory): "
                     "the demo runs on the pip photos only"]
    assert not (tmp_path / "raw").exists()


def test_deb_version_reads_the_file_name():
    assert debian_packages.deb_version("scratch_1.4.0.6~dfsg1-6.1_all.deb") == "1.4.0.6~dfsg1-6.1"
    assert debian_packages.deb_version("foo_2%3a1.0-1_amd64.deb") == "2:1.0-1"
