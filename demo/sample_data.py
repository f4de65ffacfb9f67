"""Gathers the real photos that installed pip packages ship into one directory: the default data.

    python -m demo.sample_data --output data/raw

Copies are named `PACKAGE-NAME.ext`; photos of one scene (stereo pairs, near-duplicates, frames of
one sequence) are named `PACKAGE-GROUP+MEMBER.ext`, which the preprocess pipeline's default
--split-group-pattern keeps on one side of the train/eval split. SOURCES.md, written beside them,
lists every file with its origin and licence, and what was left out and why.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import re
import shutil
from pathlib import Path

from common.logs import command_logging

SOURCES = "SOURCES.md"


@dataclasses.dataclass(frozen=True)
class Collection:
    package: str  # importable module whose directory holds the files
    folder: str
    prefix: str
    licence: str
    photos: tuple[str, ...]  # globs under folder
    groups: tuple[tuple[str, str], ...] = ()  # (regex on the relative path, group; \1 etc. allowed)
    skipped: str = ""


MVTB_GROUPS = (
    (r"^rocks2-([lr])\.png$", "rocks2"), (r"^walls-([lr])\.png$", "walls"),
    (r"^eiffel-(\d)\.png$", "eiffel"), (r"^building2-(\d)\.png$", "building2"),
    (r"^castle2?\.png$", "castle"), (r"^church\.(jpg|png)$", "church"),
    (r"^tomato_\d+\.png$", "tomato"), (r"^seq/im\.\d+\.png$", "seq"),
    (r"^mosaic/aerial-\d+\.png$", "aerial"), (r"^mosaic/aerial2-\d+\.png$", "aerial2"),
    # Overlapping views of one campus walk: neighbouring frame numbers share a group.
    (r"^campus/(?:holdout/)?P107(\d{3})\d\.png$", r"campus\1"),
)

COLLECTIONS = (
    Collection(
        package="mvtbdata", folder="images", prefix="mvtb",
        licence="MIT (PyPI mvtb-data 1.6.1, Peter Corke, Machine Vision Toolbox data)",
        photos=("58060.png", "arucoboard.png", "building2-*.png", "butterfly.jpg", "campus/P*.png",
                "campus/holdout/P*.png", "castle.png", "castle2.png", "church.jpg", "church.png",
                "eiffel-*.png", "flowers*.png", "greenscreen.png", "image3.jpg", "lab-scene.png",
                "mosaic/aerial*.png", "notre-dame.png", "parks.png", "penguins.png", "road.png",
                "rocks2-*.png", "roof.png", "seq/im.*.png", "street.png", "tags.png", "tomato_*.png",
                "walls-*.png", "yellowtargets.png"),
        groups=MVTB_GROUPS,
        skipped="calibration/left*.jpg and fisheye_target.png (chessboard calibration targets), "
                "apriltag12.png, multiblobs*.png, shark*.png, sharks.png, segmentation.png, 5points.png, "
                "eg-morph*.png, scale-space.png (synthetic or binary), adelson.png (rendered illusion), "
                "monalisa.png (painting), wally.png and wheres-wally.png (drawings), lena.png (a "
                "withdrawn test image without a clear licence)"),
    Collection(
        package="skimage", folder="data", prefix="skimage",
        licence="per file, from skimage.data's docstrings: astronaut, hubble_deep_field, rocket: public "
                "domain (NASA, SpaceX); camera, coffee, chelsea, retina: CC0; brick, grass, gravel: CC0 "
                "(CC0Textures); ihc: no known copyright restrictions; motorcycle: Middlebury stereo "
                "dataset (Scharstein et al., GCPR 2014); moon: unstated. scikit-image is BSD-3-Clause.",
        photos=("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png",
                "moon.png", "brick.png", "grass.png", "gravel.png"),
        groups=((r"^motorcycle_(left|right)\.png$", "motorcycle"),),
        skipped="chessboard_*.png, coins, cell, clock_motion, color, horse, logo, microaneurysms, page, "
                "phantom, text, the tiny tif/gif files (synthetic, scans or too small)"),
    Collection(
        package="sklearn.datasets", folder="images", prefix="sklearn",
        licence="CC BY 2.0 (Flickr: danielbuechele, vultilion; see sklearn/datasets/images/README.txt)",
        photos=("china.jpg", "flower.jpg")),
    Collection(
        package="matplotlib", folder="mpl-data/sample_data", prefix="matplotlib",
        licence="public domain (US Navy photograph of Grace Hopper), shipped by matplotlib",
        photos=("grace_hopper.jpg",)),
)


def target_name(collection: Collection, relative: str) -> str:
    """`PREFIX-GROUP+MEMBER.ext` for a grouped photo, `PREFIX-NAME.ext` otherwise."""
    path = Path(relative)
    for pattern, group in collection.groups:
        match = re.match(pattern, relative)
        if match:
            return f"{collection.prefix}-{match.expand(group)}+{path.stem}{path.suffix}"
    return f"{collection.prefix}-{relative.replace('/', '-')}"


def package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def gather(output: Path) -> list[dict[str, str]]:
    """Copies every listed photo into `output`; returns what was copied. A missing package is an error."""
    output.mkdir(parents=True, exist_ok=True)
    copied = []
    for collection in COLLECTIONS:
        root = package_dir(collection.package)
        if root is None:
            raise SystemExit(f"package {collection.package} is not installed: run `make bootstrap`")
        folder = root / collection.folder
        for pattern in collection.photos:
            found = sorted(folder.glob(pattern))
            if not found:
                raise SystemExit(f"{collection.package}: no {pattern} in {folder}")
            for source in found:
                relative = source.relative_to(folder).as_posix()
                name = target_name(collection, relative)
                shutil.copyfile(source, output / name)
                copied.append({"name": name, "source": f"{collection.package}:{collection.folder}/{relative}",
                               "licence": collection.licence})
    _write_sources(output, copied)
    logging.info("Gathered %d photos into %s", len(copied), output)
    return copied


def _write_sources(output: Path, copied: list[dict[str, str]]) -> None:
    lines = ["# Sample photos", "",
             "Real photos shipped by pip packages that the project installs, gathered by",
             "`python -m demo.sample_data`. `GROUP+MEMBER` names mark photos of one scene (stereo",
             "pairs, near-duplicates, sequence frames), kept on one side of the train/eval split.", ""]
    for collection in COLLECTIONS:
        lines += [f"## {collection.prefix} (`{collection.package}`, `{collection.folder}/`)", "",
                  f"Licence: {collection.licence}", ""]
        if collection.skipped:
            lines += [f"Left out: {collection.skipped}.", ""]
        lines += [f"- `{c['name']}` <- `{c['source']}`" for c in copied if c["name"].startswith(collection.prefix + "-")]
        lines.append("")
    path = output / SOURCES
    # Sections that other gatherers (demo/debian_photos.py) keep between their own markers stay.
    added = re.findall(r"^<!-- begin .*?^<!-- end [^\n]*-->\n", path.read_text(), re.S | re.M) if path.exists() else []
    path.write_text("\n".join(lines + added))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.sample_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="data/raw", help="directory to copy the photos into")
    args = parser.parse_args(argv)
    copied = gather(Path(args.output))
    print(f"sample_data: {len(copied)} photos -> {args.output} (sources and licences in {SOURCES})")


if __name__ == "__main__":
    command_logging()
    main()
