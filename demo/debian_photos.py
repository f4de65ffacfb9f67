"""Gathers the real photos that twelve Debian packages ship into the data directory, beside the pip ones.

    python -m demo.debian_photos --output data/raw [--cache data/debian]

`apt-get download` fetches the packages into the cache and `dpkg -x` unpacks them there (nothing is
installed); where apt-get or dpkg is missing or every download fails (macOS, no root, no network) one
line says so and the demo goes on with the pip photos, and a package this machine's apt sources lack
is named in the summary and in SOURCES.md and left out. Once the cache holds the archives nothing is
downloaded again. gcompris keeps its photos as WebP inside Qt resource files: every RIFF/WEBP chunk of
each `.rcc` is a candidate, named after its path in the resource file's name table. scratch
contributes its background photos; opencv-doc a reviewed allow-list of the real photos among its
sample data; endless-sky-data its 273 landscape photos (images/land); krank the underwater photos
behind its levels; lxqt-themes its wallpapers, tuxpaint-data its template and starter backgrounds,
gnome-control-center-data its 512 px user pictures, libelementary-data its test images,
palapeli-data its puzzle photos, darknet its detection samples and libjs-jquery-backstretch its
example photos. Looked at and left out, as they hold no real photo: lomiri-wallpapers (two rendered
gradients) and labelme (icons), named in LEFT_OUT.

Every candidate then passes the same rules, in this order, and the first that fails names the reason
it is dropped: `undecodable`; `alpha` (any pixel not fully opaque: puzzle pieces, cut-outs, cartoons);
`small` (shorter side under 160 px); `greyscale` and `drawing` (demo/photo_rules.py);
`listed` (a reviewed per-package list: paintings, drawings and renders the heuristic lets through); and
`near-duplicate` (perceptual hash within photo_rules.DUPLICATE_DISTANCE bits of a photo kept earlier in this
run or already in the output directory, e.g. the pip photos; candidates are taken in a fixed order:
packages as declared, files and chunks by path). Kept photos are copied byte for byte, named
`PREFIX-NAME.ext` (`PREFIX-GROUP+MEMBER.ext` for the declared groups of one scene), and listed with
package, version, path inside the package and licence in a delimited section of SOURCES.md that a
rerun replaces. The licence comes from the package's DEP-5 copyright file (the last paragraph whose
Files: pattern matches, as DEP-5 says, and an earlier named paragraph that says otherwise); from a
checked statement where the file is not machine-readable (krank); and, where a sidecar file beside
the photo names an author and licence (palapeli's `.desktop` files), from that too.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from common.logs import command_logging
from demo.debian_packages import fetch
from demo.dep5_licences import copyright_paragraphs, licence_of, package_statement
from demo.photo_rules import decode, first_failed_rule, near_duplicate, photo_hash, seed_hashes
from demo.qt_resources import rcc_names, webp_chunks

SOURCES = "SOURCES.md"
BEGIN = "<!-- begin demo.debian_photos -->"
END = "<!-- end demo.debian_photos -->"
REASONS = ("undecodable", "alpha", "small", "greyscale", "drawing", "listed", "near-duplicate")
# Candidate packages looked at and left out, as they ship no real photo.
LEFT_OUT = (("lomiri-wallpapers", "two rendered gradients"), ("labelme", "icons only"))


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
    # Where the copyright file is not machine-readable: (regex it must match, the licence it states for
    # these files); where it no longer matches, the package's own statement is recorded instead.
    statement: tuple[str, str] = ()
    sidecar: str = ""  # a `.desktop` file beside each photo naming its author and licence (KDE puzzles)


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
    DebianCollection(
        package="endless-sky-data", prefix="endlesssky", folder="usr/share/games/endless-sky/images/land",
        upstream="images/land", photos=("*.jpg",),
        skipped="the rest of images/: ships, planets, outfits and the interface (renders and drawings), "
                "and scene/ (17 story images, about a dozen of them photos among renders: not reviewed "
                "one by one); endless-sky-high-dpi, the same landscapes at twice the size"),
    DebianCollection(
        package="krank", prefix="krank", folder="usr/share/games/krank/levels/unera-backgrounds",
        upstream="", photos=("*.jpg",),
        skipped="levels/images/ and unera-icons/ (sprites and icons)",
        statement=(r"images:.*?Author of new images: Slava Anishenko\s+License: Public Domain",
                   "Public Domain (images by Slava Anishenko, as the package's copyright file, not "
                   "machine-readable, states)")),
    DebianCollection(
        package="lxqt-themes", prefix="lxqt", folder="usr/share/lxqt/wallpapers", upstream="wallpapers",
        photos=("*.jpg", "*.png"),
        listed=((r"/(lxqt-)?origami-|/plasma_arch\.|/simple_blue_widescreen\.|/waves-",
                 "renders: gradients and logos"),),
        skipped="themes/ (icons, and silver/beam.png, a copy of wallpapers/beam.png)"),
    DebianCollection(
        package="tuxpaint-data", prefix="tuxpaint", folder="usr/share/tuxpaint", upstream="",
        photos=("templates/*.jpg", "starters/*-back.*"),
        skipped="the other starters (drawings), stamps and brushes (cut-outs), images/ (interface art) "
                "and the documentation's screenshots (the program's window around a drawing)"),
    DebianCollection(
        package="gnome-control-center-data", prefix="gnome", folder="usr/share/pixmaps/faces", upstream="",
        photos=("*.jpg",), skipped="faces/legacy/ and the PNG faces (96 px icons)"),
    DebianCollection(
        package="libelementary-data", prefix="elementary", folder="usr/share/elementary/images",
        upstream="data/elementary/images", photos=("*.jpg", "*.png", "*.webp"),
        listed=((r"/earth_normal\.", "a normal map"), (r"/pol_", "photos inside a drawn frame")),
        skipped="the GIFs, animated WebP, SVG and EET files"),
    DebianCollection(
        package="palapeli-data", prefix="palapeli", folder="usr/share/palapeli/collection", upstream="",
        photos=("*.jpg",), sidecar=".desktop",
        skipped="backgrounds/ (generated textures) and the manual's screenshots"),
    DebianCollection(
        package="darknet", prefix="darknet", folder="usr/share/darknet/data", upstream="data",
        photos=("*.jpg",), listed=((r"/scream\.", "a painting (Munch)"),),
        skipped="labels/ (rendered glyphs)"),
    DebianCollection(
        package="libjs-jquery-backstretch", prefix="backstretch",
        folder="usr/share/doc/libjs-jquery-backstretch/examples", upstream="examples", photos=("*.jpg",)),
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


def listed(candidate: Candidate) -> str | None:
    """"listed" where the candidate's collection lists it after review (a painting, a drawing), else None."""
    if any(re.search(pattern, "/" + candidate.relative) for pattern, _ in candidate.collection.listed):
        return "listed"
    return None


def licences(collection: DebianCollection, root: Path) -> Callable[[Candidate], str]:
    """The licence of each of the collection's candidates: from its copyright file (DEP-5, or the
    collection's checked statement), with the author and licence a sidecar file names where it has one."""
    copyright_text = (root / f"usr/share/doc/{collection.package}/copyright").read_text(errors="replace")
    paragraphs = copyright_paragraphs(copyright_text)
    fallback = package_statement(copyright_text, collection.package)
    stated = ""
    if collection.statement:
        if re.search(collection.statement[0], copyright_text, re.S):
            stated = collection.statement[1]
        else:
            logging.warning("%s: the copyright file no longer states what was read from it; recording the "
                            "package's own statement", collection.package)

    def licence(candidate: Candidate) -> str:
        text = stated or licence_of(paragraphs, candidate.upstream, fallback)
        if collection.sidecar:
            sidecar = (root / collection.folder / candidate.relative).with_suffix(collection.sidecar)
            fields = dict(line.split("=", 1) for line in (sidecar.read_text(errors="replace").splitlines()
                                                          if sidecar.is_file() else []) if "=" in line)
            named = fields.get("X-KDE-PluginInfo-License", "").strip()
            if named:
                who = "; ".join(v for v in (fields.get("X-KDE-PluginInfo-Author", "").strip(),
                                            fields.get("X-KDE-PluginInfo-Website", "").strip()) if v)
                text = (f"{named}{f' ({who})' if who else ''}, as `{sidecar.name}` beside it states; "
                        f"the copyright file: {text}")
        return text

    return licence


def gather(output: Path, packages: dict[str, tuple[str, Path]],
           collections_: tuple[DebianCollection, ...] = COLLECTIONS, missing: dict[str, str] | None = None
           ) -> dict:
    """Applies the rules to every candidate of the fetched packages, copies the kept ones into `output`,
    rewrites the section of SOURCES.md (naming the `missing` packages and why), and returns
    {"kept": [...], "dropped": [...], "chunks": int}."""
    output.mkdir(parents=True, exist_ok=True)
    prefixes = {c.prefix for c in collections_}
    hashes = seed_hashes(output, prefixes)
    kept, dropped, chunks = [], [], 0
    started = time.monotonic()
    for collection in collections_:
        if collection.package not in packages:
            continue
        version, root = packages[collection.package]
        licence = licences(collection, root)
        seen = 0
        for candidate in candidates(collection, root):
            seen += 1
            if seen % 200 == 0:
                logging.info("%s: %d candidates checked, %d kept in all (%.0f s)", collection.package, seen,
                             len(kept), time.monotonic() - started)
            chunks += candidate.suffix == ".webp" and ":" in candidate.relative
            entry = {"package": collection.package, "version": version, "origin": candidate.origin}
            image = decode(candidate.data)
            reason = "undecodable" if image is None else first_failed_rule(image) or listed(candidate)
            if reason is None:
                digest = photo_hash(image)
                twin = near_duplicate(digest, hashes)
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
            kept.append({**entry, "name": name, "licence": licence(candidate)})
        logging.info("%s %s: %d candidates", collection.package, version, seen)
    names = {k["name"] for k in kept}
    for stale in sorted(output.iterdir()):  # photos an earlier run kept that this one does not
        if stale.name.split("-", 1)[0] in prefixes and stale.name not in names:
            stale.unlink()
    write_sources(output, kept, dropped, collections_, missing or {})
    return {"kept": kept, "dropped": dropped, "chunks": chunks}


def write_sources(output: Path, kept: list[dict], dropped: list[dict],
                  collections_: tuple[DebianCollection, ...] = COLLECTIONS, missing: dict[str, str] | None = None
                  ) -> None:
    """Replaces (or appends) this module's delimited section of SOURCES.md; the rest is left as it is."""
    lines = [BEGIN, "# Debian package photos", "",
             "Real photos from Debian packages, fetched with `apt-get download` and unpacked with",
             "`dpkg -x` by `python -m demo.debian_photos` (rules in its docstring). Each line: file",
             "<- package version: path inside the package — licence from the package's copyright file",
             "(and from the sidecar file beside the photo where there is one).", "",
             "Looked at and left out, as they ship no real photo: "
             + ", ".join(f"`{package}` ({why})" for package, why in LEFT_OUT) + ".", ""]
    for collection in collections_:
        mine = [k for k in kept if k["package"] == collection.package]
        gone = [d for d in dropped if d["package"] == collection.package]
        counts = collections.Counter(d["reason"] for d in gone)
        lines += [f"## {collection.prefix} (`{collection.package}`, `{collection.folder}/`)", ""]
        if collection.package in (missing or {}):
            lines += [f"Not fetched on this machine: {missing[collection.package]}.", ""]
            continue
        lines += [f"Kept {len(mine)} of {len(mine) + len(gone)}; dropped: "
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


def summary(result: dict, packages: dict[str, tuple[str, Path]], missing: dict[str, str] | None = None) -> str:
    counts = collections.Counter(d["reason"] for d in result["dropped"])
    per_package = ", ".join(f"{sum(k['package'] == p for k in result['kept'])} {p} {v}"
                            for p, (v, _) in packages.items())
    reasons = ", ".join(f"{r} {counts[r]}" for r in REASONS if counts[r])
    absent = f"; not fetched: {', '.join(missing)}" if missing else ""
    return (f"debian_photos: kept {len(result['kept'])} photos ({per_package}) from "
            f"{result['chunks']} WebP chunks and the listed files; dropped {len(result['dropped'])} ({reasons})"
            f"{absent}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.debian_photos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="data/raw", help="directory to copy the photos into")
    parser.add_argument("--cache", default="data/debian", help="where the .deb files are downloaded and unpacked")
    parser.add_argument("--apt-get", default="apt-get", help="the apt-get executable")
    parser.add_argument("--dpkg", default="dpkg", help="the dpkg executable")
    args = parser.parse_args(argv)
    started = time.monotonic()
    fetched = fetch(Path(args.cache), [c.package for c in COLLECTIONS], args.apt_get, args.dpkg)
    if isinstance(fetched, str):
        print(f"debian_photos: {fetched}: the demo runs on the pip photos only")
        return
    packages, missing = fetched
    result = gather(Path(args.output), packages, COLLECTIONS, missing)
    print(f"{summary(result, packages, missing)} -> {args.output} in {time.monotonic() - started:.0f} s "
          f"(sources and licences in {SOURCES})")


if __name__ == "__main__":
    command_logging()
    main()
