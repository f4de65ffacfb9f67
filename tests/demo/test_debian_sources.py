"""The Debian photo sources beyond the first three (endless-sky-data, krank and the smaller ones): a
package this machine's apt sources lack, licences from layered DEP-5 files, from a copyright file that
is not machine-readable and from sidecar files, and each collection's folder, globs and review list.
All on fabricated package trees and a fake apt-get: no apt, no network."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from demo import debian_packages, debian_photos
from demo.debian_photos import COLLECTIONS, SOURCES, Candidate
from demo.dep5_licences import copyright_paragraphs, licence_of, package_statement

BY_PACKAGE = {c.package: c for c in COLLECTIONS}
NEW = ("endless-sky-data", "krank", "lxqt-themes", "tuxpaint-data", "palapeli-data", "libjs-jquery-backstretch")

# The layering of endless-sky-data's copyright file: a folder default, author tags, then name prefixes
# that also catch some tagged files (mountain1* takes mountain10-sfiera).
ENDLESS_SKY = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2014 Michael Zahniser
License: GPL-3+

Files: images/land/*
Copyright: Various
License: public-domain
 Taken from morgue-file.com, a collection of photographs that have been donated
 and placed in the public domain. (Exceptions noted below.)

Files: images/land/*-sfiera*
Copyright: Chris Pickel (sfiera.net)
License: CC-BY-SA-4.0

Files:
 images/land/beach0*
 images/land/mountain1*
Copyright: Various
License: public-domain
 Taken from unsplash.com, a collection of photographs that have been donated and
 placed in the public domain.
"""
MORGUE = ("public-domain: Taken from morgue-file.com, a collection of photographs that have been donated "
          "and placed in the public domain.")
UNSPLASH = ("public-domain: Taken from unsplash.com, a collection of photographs that have been donated and "
            "placed in the public domain.")
KRANK = """This package was debianized by someone.

License:
 source code:
	Public Domain

 images:
	All images with unknown license were replaced.
	Author of new images: Slava Anishenko
	License: Public Domain
"""
PLAIN = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2012 Someone
License: GPL-2+
"""
PUZZLE = """[Desktop Entry]
Name=Castle of Maintenon
X-KDE-PluginInfo-Author=Eric Pouhier
X-KDE-PluginInfo-Website=http://commons.wikimedia.org/wiki/Image:EPO_2432_wiki.jpg
X-KDE-PluginInfo-License=FDL
"""


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _photos() -> list[Image.Image]:
    """Distinct real photos (scikit-image's, mirrored so that none is a near-duplicate of the pip copy)."""
    arrays = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.stereo_motorcycle()[0]]
    return [ImageOps.mirror(Image.fromarray(array)) for array in arrays]


def _render() -> Image.Image:
    """A smooth purple-to-orange gradient, as the rendered wallpapers are: the heuristic lets it through."""
    t = np.linspace(0.0, 1.0, 480)[None, :, None].repeat(270, 0)
    return Image.fromarray(((1 - t) * (110, 40, 120) + t * (230, 110, 40)).astype(np.uint8))


def _tree(cache: Path, package: str, version: str, copyright_text: str,
          files: dict[str, bytes | str]) -> tuple[str, Path]:
    root = cache / f"{package}_{version}_all"
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    folder = root / BY_PACKAGE[package].folder
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            (folder / relative).write_text(content)
        else:
            (folder / relative).write_bytes(content)
    return version, root


@pytest.fixture()
def packages(tmp_path: Path) -> dict[str, tuple[str, Path]]:
    astronaut, coffee, chelsea, rocket, motorcycle = (_jpeg(p) for p in _photos())
    cache = tmp_path / "cache"
    return {
        "endless-sky-data": _tree(cache, "endless-sky-data", "0.9.8-1.2", ENDLESS_SKY, {
            "beach1.jpg": astronaut, "mountain10-sfiera.jpg": coffee}),
        "krank": _tree(cache, "krank", "0.7+dfsg2-4", KRANK, {
            "bonus-01.jpg": chelsea, "menu-scores1.jpg": chelsea}),  # the game ships one photo twice
        "lxqt-themes": _tree(cache, "lxqt-themes", "1.2.0-1", PLAIN, {
            "fog.jpg": rocket, "origami-dark.png": _jpeg(_render())}),
        "tuxpaint-data": _tree(cache, "tuxpaint-data", "1:0.9.28", PLAIN, {
            "templates/rocks.jpg": motorcycle,
            "starters/reef.png": b"a starter's drawing: not a background, never read",
            "images/title.png": b"interface art, never read"}),
        "palapeli-data": _tree(cache, "palapeli-data", "4:22.12.3-1", PLAIN, {
            "castle-maintenon.jpg": _jpeg(_photos()[0].rotate(90, expand=True)),
            "castle-maintenon.desktop": PUZZLE}),
        "libjs-jquery-backstretch": _tree(cache, "libjs-jquery-backstretch", "2.1.17-4", PLAIN, {
            # One photo at two sizes, named so that the larger comes first.
            "sample1_1280.jpg": _jpeg(_photos()[1].rotate(90, expand=True)),
            "sample1_480.jpg": _jpeg(_photos()[1].rotate(90, expand=True).resize((200, 256)))}),
    }


def _fake(path: Path, source: str) -> str:
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755)
    return str(path)


@pytest.fixture()
def apt_get(tmp_path: Path) -> tuple[str, Path]:
    """An apt-get that knows two packages and, like the real one, names every unknown package and then
    downloads nothing; with `offline` beside it, it cannot reach the archive. Each call is logged."""
    calls = tmp_path / "apt-calls.txt"
    return _fake(tmp_path / "apt-get", f"""
import pathlib, sys
known = {{"alpha": "1.0-1", "beta": "2:3.1-2"}}
asked = sys.argv[2:]
with open({str(calls)!r}, "a") as log:
    log.write(" ".join(asked) + "\\n")
if pathlib.Path({str(tmp_path / "offline")!r}).exists():
    sys.exit("W: Some index files failed to download.\\nE: Failed to fetch http://deb.debian.org/x.deb  "
             "Temporary failure resolving 'deb.debian.org'")
unknown = [p for p in asked if p not in known]
for package in unknown:
    print(f"E: Unable to locate package {{package}}", file=sys.stderr)
if unknown:
    sys.exit(100)
for package in asked:
    pathlib.Path(f"{{package}}_{{known[package].replace(':', '%3a')}}_all.deb").write_bytes(b"!<arch>")
"""), calls


@pytest.fixture()
def dpkg(tmp_path: Path) -> str:
    return _fake(tmp_path / "dpkg", "import pathlib, sys\npathlib.Path(sys.argv[3], 'usr').mkdir(parents=True)\n")


def test_a_package_the_apt_sources_lack_is_left_out_and_the_others_are_fetched(tmp_path: Path, apt_get, dpkg):
    program, calls = apt_get
    cache = tmp_path / "cache"
    fetched, missing = debian_packages.fetch(cache, ["alpha", "ghost", "beta", "phantom"], program, dpkg)
    assert fetched == {"alpha": ("1.0-1", cache / "alpha_1.0-1_all"), "beta": ("2:3.1-2", cache / "beta_2%3a3.1-2_all")}
    assert missing == {"ghost": "E: Unable to locate package ghost", "phantom": "E: Unable to locate package phantom"}
    assert (cache / "beta_2%3a3.1-2_all/usr").is_dir()
    # All at once; apt-get names the unknown ones and fetches nothing, so the others go again together.
    assert calls.read_text().splitlines() == ["alpha ghost beta phantom", "alpha beta"]
    # A rerun asks only for what the cache lacks; with everything cached apt-get is never run (offline).
    assert debian_packages.fetch(cache, ["alpha", "ghost", "beta"], program, dpkg)[1] == {"ghost": missing["ghost"]}
    assert calls.read_text().splitlines()[2:] == ["ghost"]
    assert debian_packages.fetch(cache, ["alpha", "beta"], str(tmp_path / "no-apt-get"), dpkg) == (fetched, {})


def test_without_the_network_the_cached_packages_are_used_and_the_rest_named(tmp_path: Path, apt_get, dpkg):
    program, _ = apt_get
    cache = tmp_path / "cache"
    debian_packages.fetch(cache, ["alpha"], program, dpkg)
    (tmp_path / "offline").touch()
    fetched, missing = debian_packages.fetch(cache, ["alpha", "beta"], program, dpkg)
    assert list(fetched) == ["alpha"]
    assert missing == {"beta": "E: Failed to fetch http://deb.debian.org/x.deb  Temporary failure resolving "
                               "'deb.debian.org'"}


def test_nothing_fetchable_is_one_line(tmp_path: Path, apt_get, dpkg):
    program, _ = apt_get
    assert debian_packages.fetch(tmp_path / "cache", ["ghost"], program, dpkg) == (
        "apt-get download failed (E: Unable to locate package ghost)")
    (tmp_path / "offline").touch()
    assert debian_packages.fetch(tmp_path / "cache", ["alpha"], program, dpkg).startswith(
        "apt-get download failed (E: Failed to fetch http://deb.debian.org/x.deb")


def test_layered_dep5_licences_say_why_and_name_a_contradiction():
    paragraphs = copyright_paragraphs(ENDLESS_SKY)
    fallback = package_statement(ENDLESS_SKY, "endless-sky-data")
    assert licence_of(paragraphs, "images/land/beach1.jpg", fallback) == f"{MORGUE} (Various)"
    assert licence_of(paragraphs, "images/land/beach0.jpg", fallback) == f"{UNSPLASH} (Various)"
    assert licence_of(paragraphs, "images/land/beach7-sfiera.jpg", fallback) == (
        "CC-BY-SA-4.0 (Chris Pickel (sfiera.net))")
    # The folder-wide paragraph is overridden as DEP-5 means it to be; a named one is not forgotten.
    assert licence_of(paragraphs, "images/land/mountain10-sfiera.jpg", fallback) == (
        f"{UNSPLASH} (Various); but the earlier `images/land/*-sfiera*` paragraph says CC-BY-SA-4.0 "
        "(Chris Pickel (sfiera.net))")
    assert licence_of(paragraphs, "sounds/x.wav", fallback) == (
        "GPL-3+ (the package-wide `Files: *` paragraph; the file has none of its own)")


def test_a_copyright_file_that_is_not_machine_readable_falls_back_to_pointing_at_it():
    assert package_statement(KRANK, "krank") == "see /usr/share/doc/krank/copyright"
    assert package_statement(PLAIN, "x") == "as the package states: License: GPL-2+"


def test_new_sources_keep_their_photos_with_origin_version_and_licence(tmp_path: Path, packages):
    output = tmp_path / "raw"
    collections_ = tuple(BY_PACKAGE[p] for p in NEW)
    result = debian_photos.gather(output, packages, collections_, {"darknet": "E: Unable to locate package darknet"})
    kept = {k["name"]: k for k in result["kept"]}
    assert sorted(kept) == ["backstretch-sample1_1280.jpg", "endlesssky-beach1.jpg", "endlesssky-mountain10-sfiera.jpg",
                            "krank-bonus-01.jpg", "lxqt-fog.jpg", "palapeli-castle-maintenon.jpg",
                            "tuxpaint-templates-rocks.jpg"]
    assert sorted(p.name for p in output.iterdir()) == sorted([*kept, SOURCES])
    dropped = {d["origin"].rsplit("/", 1)[-1]: (d["reason"], d.get("twin")) for d in result["dropped"]}
    assert dropped == {"menu-scores1.jpg": ("near-duplicate", "krank-bonus-01.jpg"),
                       "origami-dark.png": ("listed", None),
                       "sample1_480.jpg": ("near-duplicate", "backstretch-sample1_1280.jpg")}
    assert kept["endlesssky-beach1.jpg"]["licence"] == f"{MORGUE} (Various)"
    assert kept["krank-bonus-01.jpg"]["licence"] == BY_PACKAGE["krank"].statement[1]
    assert kept["palapeli-castle-maintenon.jpg"]["licence"] == (
        "FDL (Eric Pouhier; http://commons.wikimedia.org/wiki/Image:EPO_2432_wiki.jpg), as "
        "`castle-maintenon.desktop` beside it states; the copyright file: GPL-2+ (the package-wide "
        "`Files: *` paragraph; the file has none of its own)")
    text = (output / SOURCES).read_text()
    assert ("- `tuxpaint-templates-rocks.jpg` <- tuxpaint-data 1:0.9.28: `usr/share/tuxpaint/templates/rocks.jpg` — "
            "GPL-2+ (the package-wide `Files: *` paragraph; the file has none of its own)") in text
    assert "## darknet" not in text  # not among the collections gathered here
    result = debian_photos.gather(output, packages, (*collections_, BY_PACKAGE["darknet"]),
                                  {"darknet": "E: Unable to locate package darknet"})
    text = (output / SOURCES).read_text()
    assert "## darknet (`darknet`, `usr/share/darknet/data/`)\n\nNot fetched on this machine: E: Unable to locate " \
           "package darknet.\n" in text
    assert "not fetched: darknet" in debian_photos.summary(result, packages, {"darknet": "E: ..."})


def test_a_changed_copyright_file_is_not_trusted_for_a_stated_licence(tmp_path: Path, packages):
    version, root = packages["krank"]
    (root / "usr/share/doc/krank/copyright").write_text(KRANK.replace("Public Domain", "Some Other Licence"))
    result = debian_photos.gather(tmp_path / "raw", {"krank": (version, root)}, (BY_PACKAGE["krank"],))
    assert [k["licence"] for k in result["kept"]] == ["see /usr/share/doc/krank/copyright"]


@pytest.mark.parametrize(("package", "relative", "is_listed"), [
    ("lxqt-themes", "origami-dark.png", True), ("lxqt-themes", "lxqt-origami-green.png", True),
    ("lxqt-themes", "waves-purple-logo.jpg", True), ("lxqt-themes", "simple_blue_widescreen.png", True),
    ("lxqt-themes", "plasma_arch.png", True), ("lxqt-themes", "this-is-not-windows.jpg", False),
    ("lxqt-themes", "after-the-rain.jpg", False), ("lxqt-themes", "Butterfly-Kenneth-Wimer.jpg", False),
    ("libelementary-data", "earth_normal.png", True), ("libelementary-data", "pol_sky.png", True),
    ("libelementary-data", "sky_01.jpg", False), ("darknet", "scream.jpg", True), ("darknet", "dog.jpg", False),
])
def test_review_lists_drop_the_renders_and_paintings_and_nothing_else(package, relative, is_listed):
    candidate = Candidate(BY_PACKAGE[package], relative, relative, b"", Path(relative).suffix)
    assert (debian_photos.listed(candidate) == "listed") is is_listed


def test_collections_have_distinct_prefixes_the_stale_photo_sweep_can_read():
    prefixes = [c.prefix for c in COLLECTIONS]
    assert len(set(prefixes)) == len(prefixes) and not any("-" in p for p in prefixes)
    assert len({c.package for c in COLLECTIONS}) == len(COLLECTIONS)
    assert {"endless-sky-data", "krank", "lxqt-themes", "tuxpaint-data", "gnome-control-center-data",
            "libelementary-data", "palapeli-data", "darknet", "libjs-jquery-backstretch"} <= set(BY_PACKAGE)
