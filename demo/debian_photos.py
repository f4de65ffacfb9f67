"""Gathers the real photos that three Debian packages ship into the data directory, beside the pip ones.

    python -m demo.debian_photos --output data/raw [--cache data/debian]

`apt-get download` fetches gcompris-qt-data, scratch and opencv-doc into the cache and `dpkg -x`
unpacks them there (nothing is installed); where apt-get or dpkg is missing or the download fails
(macOS, no root, no network) one line says so and the demo goes on with the pip photos. gcompris
keeps its photos as WebP inside Qt resource files: every RIFF/WEBP chunk of each `.rcc` is a
candidate, named after its path in the resource file's name table. scratch contributes its
background photos; opencv-doc a reviewed allow-list of the real photos among its sample data.

Every candidate then passes the same rules, in this order, and the first that fails names the reason
it is dropped: `undecodable`; `alpha` (any pixel not fully opaque: puzzle pieces, cut-outs, cartoons);
`small` (shorter side under 160 px); `greyscale` (see `is_greyscale`); `drawing` (see `is_drawing`);
`listed` (a reviewed per-package list: paintings and drawings the heuristic lets through); and
`near-duplicate` (perceptual hash within `DUPLICATE_DISTANCE` bits of a photo kept earlier in this
run or already in the output directory, e.g. the pip photos; candidates are taken in a fixed order:
packages as declared, files and chunks by path). Kept photos are copied byte for byte, named
`PREFIX-NAME.ext` (`PREFIX-GROUP+MEMBER.ext` for the declared groups of one scene), and listed with
package, version, path inside the package and licence (from the package's DEP-5 copyright file, the
last paragraph whose Files: pattern matches, as DEP-5 says) in a delimited section of SOURCES.md
that a rerun replaces.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import fnmatch
import io
import logging
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import imagehash
import numpy as np
from PIL import Image

from common.logs import command_logging

SOURCES = "SOURCES.md"
BEGIN = "<!-- begin demo.debian_photos -->"
END = "<!-- end demo.debian_photos -->"
MIN_SIDE = 160
DUPLICATE_DISTANCE = 10  # of phash's 64 bits: two shots of one castle were 10 apart, unrelated photos 14 or more
REASONS = ("undecodable", "alpha", "small", "greyscale", "drawing", "listed", "near-duplicate")


@dataclasses.dataclass(frozen=True)
class DebianCollection:
    package: str
    prefix: str
    folder: str  # inside the unpacked package
    upstream: str  # what `folder` is called in the copyright file's Files: patterns
    photos: tuple[str, ...]  # globs under folder; a `.rcc` file stands for the WebP chunks inside it
    groups: tuple[tuple[str, str], ...] = ()  # (regex on the relative path, group), as in sample_data
    listed: tuple[tuple[str, str], ...] = ()  # (regex on the relative path, why), reviewed by eye
    skipped: str = ""


COLLECTIONS = (
    DebianCollection(
        package="gcompris-qt-data", prefix="gcompris", folder="usr/share/gcompris-qt/rcc", upstream="",
        photos=("*.rcc",),
        listed=((r"/activities/paintings/", "details of paintings"),
                (r"/details/resource/image/(PortraitOfPereTanguy|VincentVanGogh|Van_Gogh|Gogh4|Eglise_dAuvers)",
                 "Van Gogh paintings"),
                (r"/babyshapes/resource/(?!dog\d)", "paintings with shapes cut out, and a drawing"),
                (r"/digital_electricity/resource/texture", "flat texture"),
                (r"/louis-braille/resource/(chart|night_printing)\.", "charts")),
        skipped="everything in the resource files that is not WebP (SVG drawings, sounds, QML)"),
    DebianCollection(
        package="scratch", prefix="scratch", folder="usr/share/scratch/Media/Backgrounds",
        upstream="Media/Backgrounds", photos=("*/*.jpg", "*/*.gif", "*/*.png"),
        groups=((r"basketball-court1-[ab]\.jpg$", "basketball-court1"),
                (r"city-with-water2?\.jpg$", "city-with-water")),
        listed=((r"/(room[1-3]|spotlight-stage|woods-and-bench|brick-wall1)\.jpg$", "drawings"),
                (r"/(desert|woods)\.gif$", "drawings")),
        skipped="xy-grid.gif (a grid) and the scratchthumbs.db thumbnail caches; costumes (cut-outs)"),
    DebianCollection(
        package="opencv-doc", prefix="opencv", folder="usr/share/doc/opencv-doc/examples/data",
        upstream="samples/data",
        photos=("aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg",
                "basketball1.png", "basketball2.png", "board.jpg", "box.png", "box_in_scene.png",
                "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg",
                "graf1.png", "graf3.png", "home.jpg", "left.jpg", "right.jpg", "leuvenA.jpg",
                "leuvenB.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png",
                "rubberwhale2.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png"),
        groups=((r"^aero\d\.jpg$", "aero"), (r"^aloe[LR]\.jpg$", "aloe"), (r"^graf\d\.png$", "graf"),
                (r"^(left|right)\.jpg$", "books"), (r"^leuven[AB]\.jpg$", "leuven"),
                (r"^rubberwhale\d\.png$", "rubberwhale"), (r"^basketball\d\.png$", "basketball"),
                (r"^box(_in_scene)?\.png$", "box")),
        skipped="renders (Blender_Suzanne*, blox, cards), logos, drawings (HappyFish, ml), charts, "
                "synthetic test images (pic*, chessboard, gradient, digits, ellipses, detect_blob, mask, "
                "templ, tmpl, imageText*, notes, aloeGT), greyscale calibration boards (left0*, right0*), "
                "starry_night (a painting), ela_modified (a doctored ela_original), smarties (a cut-out "
                "on white), licenseplate_motion, text_defocus, text_motion (synthetically blurred), "
                "videos and data files"),
)


@dataclasses.dataclass
class Candidate:
    collection: DebianCollection
    relative: str  # under folder; for a WebP chunk the rcc file plus its member path or chunk index
    upstream: str  # path matched against the copyright file
    data: bytes
    suffix: str

    @property
    def origin(self) -> str:
        return f"{self.collection.folder}/{self.relative}"


# ---- fetching ---------------------------------------------------------------------------------

def fetch(cache: Path, packages: list[str], apt_get: str = "apt-get", dpkg: str = "dpkg"
          ) -> dict[str, tuple[str, Path]] | str:
    """{package: (version, unpacked root)}, downloading and unpacking what the cache lacks; or the
    one-line reason it cannot (no apt-get or dpkg, or a failed download)."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not _debs(cache, p)]
    try:
        if missing:
            logging.info("apt-get download %s into %s", " ".join(missing), cache)
            done = subprocess.run([apt_get, "download", *missing], cwd=cache, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
                return f"apt-get download failed ({tail})"
        fetched = {}
        for package in packages:
            debs = _debs(cache, package)
            if not debs:
                return f"apt-get download left no {package}_*.deb in {cache}"
            deb = max(debs, key=lambda d: d.stat().st_mtime)
            root = cache / deb.stem
            if not root.is_dir():
                logging.info("dpkg -x %s", deb.name)
                partial = cache / f".{deb.stem}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                subprocess.run([dpkg, "-x", str(deb), str(partial)], check=True, capture_output=True)
                partial.rename(root)
            fetched[package] = (deb_version(deb.name), root)
        return fetched
    except FileNotFoundError as e:
        return f"{Path(e.filename or apt_get).name} not available ({e.strerror})"
    except subprocess.CalledProcessError as e:
        return f"{Path(str(e.cmd[0])).name} failed ({(e.stderr or b'').decode(errors='replace').strip()[-200:]})"


def _debs(cache: Path, package: str) -> list[Path]:
    return sorted(cache.glob(f"{package}_*.deb"))


def deb_version(file_name: str) -> str:
    """The version in a Debian archive's name `NAME_VERSION_ARCH.deb` (an epoch's ':' is `%3a`)."""
    return unquote(file_name.split("_")[1])


# ---- candidates -------------------------------------------------------------------------------

def webp_chunks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of every RIFF/WEBP chunk: b"RIFF", a little-endian uint32 length L, b"WEBP";
    the chunk is data[i:i+8+L]."""
    start = data.find(b"RIFF")
    while start >= 0:
        if data[start + 8:start + 12] == b"WEBP" and start + 8 <= len(data):
            (length,) = struct.unpack_from("<I", data, start + 4)
            if start + 8 + length <= len(data):
                yield start, data[start:start + 8 + length]
        start = data.find(b"RIFF", start + 1)


def rcc_names(data: bytes) -> dict[int, str]:
    """{offset of a file's bytes: its path} from a Qt resource file's tree and name table, or {} for
    anything that is not one (the chunks are then named by their index)."""
    try:
        magic, version, tree, payload, names = struct.unpack_from(">4sIIII", data)
        if magic != b"qres":
            return {}
        node_size = 22 if version >= 2 else 14  # version 2 added a last-modified time to each node
        paths: dict[int, str] = {}
        pending = [(0, "")]
        while pending:
            index, parent = pending.pop()
            name_offset, flags = struct.unpack_from(">IH", data, tree + index * node_size)
            if index:
                (length,) = struct.unpack_from(">H", data, names + name_offset)
                start = names + name_offset + 6  # the uint16 length, then a uint32 hash
                parent = f"{parent}/{data[start:start + 2 * length].decode('utf-16-be')}"
            if flags & 2:  # a directory: child count, first child index
                count, first = struct.unpack_from(">II", data, tree + index * node_size + 6)
                pending += [(child, parent) for child in range(first, first + count)]
            else:  # a file: country, language, offset of a uint32 size then the bytes
                (offset,) = struct.unpack_from(">I", data, tree + index * node_size + 10)
                paths[payload + offset + 4] = parent
        return paths
    except (struct.error, UnicodeDecodeError):
        return {}


def candidates(collection: DebianCollection, root: Path) -> Iterator[Candidate]:
    folder = root / collection.folder
    sources = sorted({p for pattern in collection.photos for p in folder.glob(pattern) if p.is_file()})
    for source in sources:
        relative = source.relative_to(folder).as_posix()
        if source.suffix != ".rcc":
            yield Candidate(collection, relative, _join(collection.upstream, relative), source.read_bytes(),
                            source.suffix.lower())
            continue
        data = source.read_bytes()
        names = rcc_names(data)
        for index, (offset, chunk) in enumerate(webp_chunks(data)):
            # Qt's resource paths are the source tree's under a top folder (`/gcompris/src/...`).
            member = names.get(offset)
            upstream = member.split("/", 2)[2] if member and member.count("/") >= 2 else ""
            yield Candidate(collection, f"{relative}:{member or f'#{index:04d}'}", upstream, chunk, ".webp")


def _join(folder: str, relative: str) -> str:
    return f"{folder}/{relative}" if folder else relative


def target_name(candidate: Candidate) -> str:
    """`PREFIX-NAME.ext`, or `PREFIX-GROUP+MEMBER.ext` for a declared group; a WebP chunk's NAME is
    its rcc file's stem and the member path after `resource/` (or the chunk index)."""
    collection = candidate.collection
    relative = candidate.relative
    for pattern, group in collection.groups:
        match = re.search(pattern, relative)
        if match:
            return f"{collection.prefix}-{match.expand(group)}+{Path(relative).stem}{candidate.suffix}"
    if ":" in relative:
        rcc, member = relative.split(":", 1)
        member = member.rsplit("/resource/", 1)[-1].lstrip("/#")
        stem = f"{Path(rcc).stem}-{Path(member).with_suffix('').as_posix()}"
    else:
        stem = Path(relative).with_suffix("").as_posix()
    return f"{collection.prefix}-{re.sub(r'[^A-Za-z0-9_.+-]+', '-', stem)}{candidate.suffix}"


# ---- the rules --------------------------------------------------------------------------------

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


def has_alpha(image: Image.Image) -> bool:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" not in image.getbands():
        return False
    return image.getchannel("A").getextrema()[0] < 255


def first_failed_rule(candidate: Candidate, image: Image.Image) -> str | None:
    if has_alpha(image):
        return "alpha"
    if min(image.size) < MIN_SIDE:
        return "small"
    if is_greyscale(image):
        return "greyscale"
    if is_drawing(image):
        return "drawing"
    if any(re.search(pattern, "/" + candidate.relative) for pattern, _ in candidate.collection.listed):
        return "listed"
    return None


def _open(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # any decoder failure is one reason: undecodable
        return None


def photo_hash(image: Image.Image) -> imagehash.ImageHash:
    return imagehash.phash(image.convert("RGB"))


def seed_hashes(output: Path, prefixes: set[str]) -> list[tuple[str, imagehash.ImageHash]]:
    """Hashes of the photos already in `output` that this module did not write (the pip photos)."""
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


# ---- licences ---------------------------------------------------------------------------------

def copyright_paragraphs(text: str) -> list[dict[str, str]]:
    """The paragraphs of a DEP-5 (machine-readable) copyright file as {field: value}."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def licence_of(paragraphs: list[dict[str, str]], upstream: str, package_statement: str) -> str:
    """Licence, copyright holder and source address of the last Files: paragraph that matches
    `upstream` (gcompris converted its images to WebP: a pattern's own extension matches too)."""
    stem = upstream[:-len(Path(upstream).suffix)] if Path(upstream).suffix else upstream
    found = None
    for paragraph in paragraphs:
        for pattern in paragraph.get("Files", "").split():
            if fnmatch.fnmatchcase(upstream, pattern) or fnmatch.fnmatchcase(stem + Path(pattern).suffix, pattern):
                found = paragraph
    if found is None:
        return package_statement
    licence = found.get("License", "").split("\n")[0]
    if found["Files"].split() == ["*"]:
        return f"{licence} (the package-wide `Files: *` paragraph; the file has none of its own)"
    source = found.get("Comment", "").split("\n")[0]
    details = "; ".join(part for part in (found.get("Copyright", "").split("\n")[0],
                                          source if source.startswith("http") else "") if part)
    return f"{licence} ({details})" if details else licence


def _package_statement(text: str, package: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.startswith("License:")), "")
    return f"as the package states: {first}" if first else f"see /usr/share/doc/{package}/copyright"


# ---- gathering --------------------------------------------------------------------------------

def gather(output: Path, packages: dict[str, tuple[str, Path]],
           collections_: tuple[DebianCollection, ...] = COLLECTIONS) -> dict:
    """Applies the rules to every candidate, copies the kept ones into `output`, rewrites the section of
    SOURCES.md, and returns {"kept": [...], "dropped": [...], "chunks": int}."""
    output.mkdir(parents=True, exist_ok=True)
    prefixes = {c.prefix for c in collections_}
    hashes = seed_hashes(output, prefixes)
    kept, dropped, chunks = [], [], 0
    started = time.monotonic()
    for collection in collections_:
        version, root = packages[collection.package]
        copyright_text = (root / f"usr/share/doc/{collection.package}/copyright").read_text(errors="replace")
        paragraphs = copyright_paragraphs(copyright_text)
        statement = _package_statement(copyright_text, collection.package)
        seen = 0
        for candidate in candidates(collection, root):
            seen += 1
            if seen % 200 == 0:
                logging.info("%s: %d candidates checked, %d kept in all (%.0f s)", collection.package, seen,
                             len(kept), time.monotonic() - started)
            chunks += candidate.suffix == ".webp" and ":" in candidate.relative
            entry = {"package": collection.package, "version": version, "origin": candidate.origin}
            image = _open(candidate.data)
            reason = "undecodable" if image is None else first_failed_rule(candidate, image)
            if reason is None:
                digest = photo_hash(image)
                twin = next((name for name, other in hashes if digest - other <= DUPLICATE_DISTANCE), None)
                if twin is not None:
                    reason, entry["twin"] = "near-duplicate", twin
            if reason is not None:
                dropped.append({**entry, "reason": reason})
                continue
            name = target_name(candidate)
            if any(k["name"] == name for k in kept):
                raise SystemExit(f"debian_photos: two photos would be named {name}")
            hashes.append((name, digest))
            (output / name).write_bytes(candidate.data)
            kept.append({**entry, "name": name,
                         "licence": licence_of(paragraphs, candidate.upstream, statement)})
        logging.info("%s %s: %d candidates", collection.package, version, seen)
    names = {k["name"] for k in kept}
    for stale in sorted(output.iterdir()):  # photos an earlier run kept that this one does not
        if stale.name.split("-", 1)[0] in prefixes and stale.name not in names:
            stale.unlink()
    write_sources(output, kept, dropped, collections_)
    return {"kept": kept, "dropped": dropped, "chunks": chunks}


def write_sources(output: Path, kept: list[dict], dropped: list[dict],
                  collections_: tuple[DebianCollection, ...] = COLLECTIONS) -> None:
    """Replaces (or appends) this module's delimited section of SOURCES.md; the rest is left as it is."""
    lines = [BEGIN, "# Debian package photos", "",
             "Real photos from Debian packages, fetched with `apt-get download` and unpacked with",
             "`dpkg -x` by `python -m demo.debian_photos` (rules in its docstring). Each line: file",
             "<- package version: path inside the package — licence from the package's copyright file.", ""]
    for collection in collections_:
        mine = [k for k in kept if k["package"] == collection.package]
        gone = [d for d in dropped if d["package"] == collection.package]
        counts = collections.Counter(d["reason"] for d in gone)
        lines += [f"## {collection.prefix} (`{collection.package}`, `{collection.folder}/`)", "",
                  f"Kept {len(mine)} of {len(mine) + len(gone)}; dropped: "
                  + (", ".join(f"{r} {counts[r]}" for r in REASONS if counts[r]) or "none") + ".", ""]
        if collection.skipped:
            lines += [f"Not considered: {collection.skipped}.", ""]
        if collection.listed:
            lines += ["Listed after review: " + "; ".join(f"`{p}` ({why})" for p, why in collection.listed)
                      + ".", ""]
        lines += [f"- `{k['name']}` <- {k['package']} {k['version']}: `{k['origin']}` — {k['licence']}"
                  for k in mine]
        judged = [d for d in gone if d["reason"] in ("greyscale", "drawing", "listed", "near-duplicate")]
        if judged:
            lines += ["", "Dropped by judgement (the others: alpha, small, undecodable):"]
            lines += [f"  - {d['reason']}: `{d['origin']}`" + (f" (like `{d['twin']}`)" if "twin" in d else "")
                      for d in judged]
        lines.append("")
    lines.append(END)
    section = "\n".join(lines) + "\n"
    path = output / SOURCES
    text = path.read_text() if path.exists() else ""
    block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if block.search(text):
        text = block.sub(lambda _: section, text)
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text)


def summary(result: dict, packages: dict[str, tuple[str, Path]]) -> str:
    counts = collections.Counter(d["reason"] for d in result["dropped"])
    per_package = ", ".join(f"{sum(k['package'] == p for k in result['kept'])} {p} {v}"
                            for p, (v, _) in packages.items())
    reasons = ", ".join(f"{r} {counts[r]}" for r in REASONS if counts[r])
    return (f"debian_photos: kept {len(result['kept'])} photos ({per_package}) from "
            f"{result['chunks']} WebP chunks and the listed files; dropped {len(result['dropped'])} ({reasons})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.debian_photos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="data/raw", help="directory to copy the photos into")
    parser.add_argument("--cache", default="data/debian", help="where the .deb files are downloaded and unpacked")
    parser.add_argument("--apt-get", default="apt-get", help="the apt-get executable")
    parser.add_argument("--dpkg", default="dpkg", help="the dpkg executable")
    args = parser.parse_args(argv)
    started = time.monotonic()
    packages = fetch(Path(args.cache), [c.package for c in COLLECTIONS], args.apt_get, args.dpkg)
    if isinstance(packages, str):
        print(f"debian_photos: {packages}: the demo runs on the pip photos only")
        return
    result = gather(Path(args.output), packages)
    print(f"{summary(result, packages)} -> {args.output} in {time.monotonic() - started:.0f} s "
          f"(sources and licences in {SOURCES})")


if __name__ == "__main__":
    command_logging()
    main()
