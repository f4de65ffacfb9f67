"""The preprocess pipeline on a generated corpus (good files of every kind and broken ones) and on
the embedded real photos: accounting, rejects, duplicates, splits, shards, manifest, tf.data."""
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from PIL import Image

from pipelines import images, preprocess, sample_data
from pipelines.options import pipeline_options
from tfrecords import Geometry, Record, SCHEMA_VERSION
from tfrecords.schema import FEATURE_SPEC, parse_examples
from tfrecords import shards
from tests.test_images import png_header_only

LIGHT = ["--runner", "FnApiRunner", "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]
REJECTED = {"corrupt.png": images.CORRUPT, "truncated.jpg": images.TRUNCATED, "empty.jpg": images.EMPTY,
            "notes.jpg": images.NOT_AN_IMAGE, "bomb.png": images.DECOMPRESSION_BOMB,
            "tiny.png": images.TOO_SMALL}


def real_photo() -> Image.Image:
    return Image.open(sample_data.package_dir("skimage") / "data" / "astronaut.png").convert("RGB")


def save(image: Image.Image, path: Path, fmt: str, **kwargs) -> None:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    path.write_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Real photo crops in every format and mode, an exact duplicate, a twin pair, and broken files."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "sub").mkdir()
    photo = real_photo()
    views = [photo.crop((x, y, x + 300, y + 260)) for x, y in ((0, 0), (200, 0), (0, 250), (212, 252), (100, 100))]
    save(views[0], root / "a.jpg", "JPEG", quality=90)
    shutil.copyfile(root / "a.jpg", root / "sub" / "a-copy.jpg")
    save(views[1], root / "b.png", "PNG")
    save(views[2], root / "c.webp", "WEBP", quality=85)
    frames = [views[3].convert("P"), views[4].convert("P")]
    save(frames[0], root / "d.gif", "GIF", save_all=True, append_images=frames[1:])
    save(views[4].convert("CMYK"), root / "e-cmyk.jpg", "JPEG", quality=90)
    sixteen = (np.asarray(views[0].convert("L"), np.uint16) * 257)
    save(Image.fromarray(sixteen), root / "f-16bit.png", "PNG")
    save(views[1].convert("P", palette=Image.Palette.ADAPTIVE), root / "g-palette.png", "PNG")
    exif = Image.Exif()
    exif[0x0112] = 8
    save(views[2], root / "h-rotated.jpg", "JPEG", quality=90, exif=exif)
    save(views[3].convert("LA"), root / "i-grey-alpha.png", "PNG")
    save(views[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT), root / "pair+l.png", "PNG")
    save(views[0].transpose(Image.Transpose.FLIP_TOP_BOTTOM), root / "pair+r.png", "PNG")
    good = io.BytesIO()
    views[3].save(good, "JPEG", quality=90)
    (root / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    buffer = io.BytesIO()
    views[4].save(buffer, "PNG")
    png = bytearray(buffer.getvalue())
    start = png.index(b"IDAT") + 4
    png[start:start + 64] = b"\xff" * 64
    (root / "corrupt.png").write_bytes(bytes(png))
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("a text file with an image's name\n")
    (root / "bomb.png").write_bytes(png_header_only(40000, 40000))
    save(photo.resize((64, 64)), root / "tiny.png", "PNG")
    (root / "README.txt").write_text("not an image name: skipped for a directory input, matched by a glob\n")
    return root


def run(input_path, output, *extra) -> dict:
    return preprocess.run(["--input", str(input_path), "--output", str(output), *LIGHT, *extra])


def read_split(output: Path, split: str) -> list[Record]:
    files = shards.split_files(str(output), split)
    return [Record.parse(s.numpy()) for s in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".txt")


def test_corpus_accounting_rejects_duplicates_and_records(corpus, tmp_path):
    manifest = run(corpus, tmp_path)
    files = image_files(corpus)
    assert manifest["files_matched"] == len(files)
    assert manifest["files_matched"] == manifest["images"] + manifest["duplicates"] + manifest["rejects"]
    assert manifest["rejects_by_reason"] == {reason: 1 for reason in REJECTED.values()}
    rejects = [json.loads(line) for line in (tmp_path / preprocess.REJECTS).read_text().splitlines()]
    assert {Path(r["path"]).name: r["reason"] for r in rejects} == REJECTED
    duplicates = [json.loads(line) for line in (tmp_path / preprocess.DUPLICATES).read_text().splitlines()]
    assert [(Path(d["path"]).name, Path(d["duplicate_of"]).name) for d in duplicates] == [("a-copy.jpg", "a.jpg")]
    assert manifest["images"] == len(files) - len(REJECTED) - 1 == manifest["records"]
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["geometry"] == Geometry().to_dict() and manifest["fill_rgb"] == list(Geometry().fill_rgb)
    for split in shards.SPLITS:
        assert manifest["splits"][split]["shards"] == [shards.shard_name(split, 0, 1)]
        assert (tmp_path / shards.shard_name(split, 0, 1)).exists()

    records = read_split(tmp_path, "train") + read_split(tmp_path, "eval")
    assert len(records) == manifest["records"]
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    kept = {p.name for p in files} - set(REJECTED) - {"a-copy.jpg"}
    assert {Path(r.source_uri).name for r in records} == kept
    for r in records:
        assert hashes[Path(r.source_uri).name] == r.key  # the key is the source's content hash
        assert r.original().shape == (128, 128, 3)
    by_name = {Path(r.source_uri).name: r.original() for r in records}
    assert by_name["h-rotated.jpg"].shape == (128, 128, 3)
    grey = by_name["f-16bit.png"]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and grey.std() > 10  # 16-bit scaled, not clipped


def test_plain_tf_data_reads_every_shard_with_the_spec(corpus, tmp_path):
    manifest = run(corpus, tmp_path, "--eval-fraction", "0.5")
    files = sorted(str(tmp_path / name) for s in shards.SPLITS for name in manifest["splits"][s]["shards"])
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    parsed = [tf.io.parse_single_example(s, FEATURE_SPEC) for s in dataset]
    assert len(parsed) == manifest["records"] > 0
    assert {int(p["schema/version"]) for p in parsed} == {SCHEMA_VERSION}
    batch = next(iter(dataset.batch(64).map(lambda s: parse_examples(s, Geometry()))))
    assert batch["masked"].shape[1:] == (128, 128, 3) and batch["patch"].shape[1:] == (64, 64, 3)
    # The twin pair lands on one side, whichever it is.
    sides = {Path(r.source_uri).name: split for split in shards.SPLITS for r in read_split(tmp_path, split)}
    assert sides["pair+l.png"] == sides["pair+r.png"]
    assert manifest["splits"]["eval"]["images"] > 0 and manifest["splits"]["train"]["images"] > 0


def test_several_random_crops_fixed_shards_and_identical_reruns_in_any_local_mode(corpus, tmp_path):
    args = ["--crops-per-image", "3", "--num-shards", "3", "--resize-to", "200"]
    first = run(f"{corpus}/*", tmp_path / "one", *args)
    # The rerun takes the local default (a worker thread per core): the shards must not depend on it.
    again = preprocess.run(["--input", f"{corpus}/*", "--output", str(tmp_path / "two"), *args])
    assert again["settings"] == first["settings"]
    # A glob matches exactly what it says: README.txt is matched, and rejected; sub/ is not.
    assert first["files_matched"] == len([p for p in corpus.iterdir() if p.is_file()])
    assert first["rejects_by_reason"][images.NOT_AN_IMAGE] == 2
    assert first["files_matched"] == first["images"] + first["duplicates"] + first["rejects"]
    assert first["records"] == 3 * first["images"]  # every kept photo here holds 3 crops at 200 px
    assert first["settings"]["crop"] == "random"
    for split in shards.SPLITS:
        names = first["splits"][split]["shards"]
        assert names == [shards.shard_name(split, i, 3) for i in range(3)]
        for name in names:
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    records = read_split(tmp_path / "one", "train") + read_split(tmp_path / "one", "eval")
    assert len({r.record_id for r in records}) == len(records) == first["records"]
    crops = {}
    for r in records:
        crops.setdefault(r.key, []).append(r.crop_index)
    assert all(sorted(v) == [0, 1, 2] for v in crops.values())


def test_split_groups_and_split_fraction():
    pattern = re.compile(preprocess.DEFAULT_SPLIT_GROUP_PATTERN)
    left = preprocess.split_group("gs://b/raw/rocks2+l.png", "aa", pattern)
    assert left == preprocess.split_group("gs://b/raw/rocks2+r.png", "bb", pattern) == "name:gs://b/raw/rocks2"
    assert preprocess.split_group("/raw/rocks2+l.png", "aa", None) == "sha256:aa"
    assert preprocess.split_group("/raw/plain.png", "aa", pattern) == "sha256:aa"
    assert preprocess.split_group("/other/rocks2+l.png", "aa", pattern) != left
    sides = [preprocess.split_of(f"sha256:{i}", 0.1) for i in range(2000)]
    assert 0.07 < sides.count("eval") / len(sides) < 0.13
    assert preprocess.split_of("x", 0.0) == "train" and preprocess.split_of("x", 1.0) == "eval"


def test_shard_counts_come_from_the_files_matched():
    assert preprocess.shard_counts(5000, 1, 0.1) == {"train": 3, "eval": 1}  # 4,500 and 500 records at most
    assert preprocess.shard_counts(1000, 8, 0.25) == {"train": 3, "eval": 1}
    assert preprocess.shard_counts(0, 1, 0.1) == {"train": 1, "eval": 1}
    assert preprocess.shard_counts(5000, 1, 0.1, fixed=7) == {"train": 7, "eval": 7}


def test_the_manifest_refuses_records_missing_from_the_shards(tmp_path):
    written = [{"split": "train", "path": str(tmp_path / shards.shard_name("train", 0, 1)), "records": 2},
               {"split": "eval", "path": str(tmp_path / shards.shard_name("eval", 0, 1)), "records": 0}]
    counts = {"files_matched": 1, "images/train": 1, "records/train": 3}
    with pytest.raises(RuntimeError, match="train: 3 records made, 2 in the shards"):
        preprocess.write_outputs(None, str(tmp_path), counts, [], [], written, {"geometry": Geometry().to_dict()})
    assert not (tmp_path / shards.MANIFEST).exists()


def test_local_runs_default_to_a_worker_thread_per_core_without_grpc():
    options = pipeline_options([])
    direct = options.view_as(DirectOptions)
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("in_memory", os.cpu_count())
    explicit = pipeline_options(["--direct_running_mode", "multi_processing", "--direct_num_workers", "3"])
    assert explicit.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert explicit.view_as(DirectOptions).direct_num_workers == 3


def test_help_and_defaults_from_geometry(capsys):
    with pytest.raises(SystemExit):
        preprocess.parse_args(["--help"])
    assert "--crops-per-image" in capsys.readouterr().out
    args, beam_args = preprocess.parse_args(["--input", "x", "--output", "y", "--runner", "DataflowRunner"])
    assert (args.image_size, args.patch_size, args.overlap) == (128, 64, 4)
    assert beam_args == ["--runner", "DataflowRunner"]


def test_embedded_real_photos_subset(tmp_path):
    """The gathered sample photos (a subset, for time) through the default local runner."""
    raw = tmp_path / "raw"
    copied = sample_data.gather(raw)
    assert (raw / sample_data.SOURCES).exists() and len(copied) >= 75
    subset = tmp_path / "subset"
    subset.mkdir()
    keep = [c["name"] for c in copied if not c["name"].startswith("mvtb-")
            or c["name"].startswith(("mvtb-rocks2+", "mvtb-church+", "mvtb-flowers1", "mvtb-butterfly"))]
    for name in keep:
        shutil.copyfile(raw / name, subset / name)
    shutil.copyfile(raw / sample_data.SOURCES, subset / sample_data.SOURCES)
    manifest = preprocess.run(["--input", str(subset), "--output", str(tmp_path / "out"), "--crops-per-image", "2",
                               "--eval-fraction", "0.3"])
    assert manifest["files_matched"] == len(keep)  # SOURCES.md is not an image file
    assert manifest["rejects"] == 0 and manifest["duplicates"] == 0
    assert manifest["images"] == len(keep) and manifest["records"] == 2 * len(keep)
    sides = {}
    for split in shards.SPLITS:
        for r in read_split(tmp_path / "out", split):
            sides.setdefault(Path(r.source_uri).name.split("+")[0], set()).add(split)
    assert all(len(s) == 1 for s in sides.values())
    assert sides["mvtb-rocks2"] and sides["mvtb-church"] and sides["skimage-motorcycle"]
