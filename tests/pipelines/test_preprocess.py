"""The preprocess pipeline on a generated corpus (good files of every kind and broken ones) and on
the embedded real photos: accounting, rejects, duplicates, splits, shards, manifest, tf.data, and
generated holes (--holes). Users' own masks (--masks): tests/pipelines/test_mask_files.py."""
import hashlib
import io
import json
from collections import Counter
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from PIL import Image

from demo import sample_data
from pipelines import holes, images, manifest as manifests, preprocess
from pipelines.shard_files import shards_per_split
from pipelines.options import pipeline_options
from pipelines.splits import SplitSpec
from tfrecords import Geometry, Record, SCHEMA_VERSION
from tfrecords.schema import FEATURE_SPEC, parse_examples
from tfrecords import masks, shards
from tests.builders import LIGHT, png_header_only, read_all, read_split, real_photo, same_shards, save, serialized_records

pytestmark = pytest.mark.slow  # runs the preprocess job

REJECTED = {"corrupt.png": images.CORRUPT, "truncated.jpg": images.TRUNCATED, "empty.jpg": images.EMPTY,
            "notes.jpg": images.NOT_AN_IMAGE, "bomb.png": images.DECOMPRESSION_BOMB,
            "tiny.png": images.TOO_SMALL}


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


@pytest.fixture(scope="module")
def few_photos(tmp_path_factory) -> Path:
    """Four real photo crops, PNG."""
    root = tmp_path_factory.mktemp("few_photos")
    photo = real_photo()
    for i, (x, y) in enumerate(((0, 0), (200, 0), (0, 250), (212, 252))):
        save(photo.crop((x, y, x + 300, y + 260)), root / f"p{i}.png", "PNG")
    return root


def run(input_path, output, *extra) -> dict:
    return preprocess.run(["--input", str(input_path), "--output", str(output), *LIGHT, *extra])


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".txt")


def test_corpus_accounting_rejects_duplicates_and_records(corpus, tmp_path):
    manifest = run(corpus, tmp_path)
    files = image_files(corpus)
    assert manifest["files_matched"] == len(files)
    assert manifest["files_matched"] == manifest["images"] + manifest["duplicates"] + manifest["rejects"]
    assert manifest["rejects_by_reason"] == {reason: 1 for reason in REJECTED.values()}
    rejects = [json.loads(line) for line in (tmp_path / manifests.REJECTS).read_text().splitlines()]
    assert {Path(r["path"]).name: r["reason"] for r in rejects} == REJECTED
    duplicates = [json.loads(line) for line in (tmp_path / manifests.DUPLICATES).read_text().splitlines()]
    assert [(Path(d["path"]).name, Path(d["duplicate_of"]).name) for d in duplicates] == [("a-copy.jpg", "a.jpg")]
    assert manifest["images"] == len(files) - len(REJECTED) - 1 == manifest["records"]
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["geometry"] == Geometry().to_dict() and manifest["fill_rgb"] == list(Geometry().fill_rgb)
    for split in shards.SPLITS:
        assert manifest["splits"][split]["shards"] == [shards.shard_name(split, 0, 1)]
        assert (tmp_path / shards.shard_name(split, 0, 1)).exists()

    by_split = read_all(tmp_path)
    records = [r for split in shards.SPLITS for r in by_split[split]]
    assert len(records) == manifest["records"]
    for split in shards.SPLITS:
        assert len(by_split[split]) == manifest["splits"][split]["records"] == manifest["splits"][split]["images"]
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
    args = ["--crops-per-image", "3", "--num-shards", "3", "--crop-scale", "0.6,0.9"]
    first = run(f"{corpus}/*", tmp_path / "one", *args)
    # The rerun takes the local default (a worker thread per core): the shards must not depend on it.
    again = preprocess.run(["--input", f"{corpus}/*", "--output", str(tmp_path / "two"), *args])
    assert again["settings"] == first["settings"]
    # A glob matches exactly what it says: README.txt is matched, and rejected; sub/ is not.
    assert first["files_matched"] == len([p for p in corpus.iterdir() if p.is_file()])
    assert first["rejects_by_reason"][images.NOT_AN_IMAGE] == 2
    assert first["files_matched"] == first["images"] + first["duplicates"] + first["rejects"]
    assert first["records"] == 3 * first["images"]  # K crops means K crops
    assert first["settings"]["crop"] == "random" and first["settings"]["crop_scale"] == [0.6, 0.9]
    for split in shards.SPLITS:
        names = first["splits"][split]["shards"]
        assert names == [shards.shard_name(split, i, 3) for i in range(3)]
        for name in names:
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    records = [r for rs in read_all(tmp_path / "one").values() for r in rs]
    assert len({r.record_id for r in records}) == len(records) == first["records"]
    crops = {}
    for r in records:
        crops.setdefault(r.key, []).append(r.crop_index)
    assert all(sorted(v) == [0, 1, 2] for v in crops.values())


def test_split_groups_and_split_fractions():
    splits = SplitSpec()
    left = splits.group("gs://b/raw/rocks2+l.png", "aa")
    assert left == splits.group("gs://b/raw/rocks2+r.png", "bb") == "name:gs://b/raw/rocks2"
    assert SplitSpec(group_pattern="").group("/raw/rocks2+l.png", "aa") == "sha256:aa"
    assert splits.group("/raw/plain.png", "aa") == "sha256:aa"
    assert splits.group("/other/rocks2+l.png", "aa") != left
    groups = [f"sha256:{i}" for i in range(3000)]
    sides = [splits.split_of_group(g) for g in groups]
    assert 0.08 < sides.count("eval") / len(sides) < 0.12 and 0.08 < sides.count("test") / len(sides) < 0.12
    # The test side depends on the test fraction only: more eval takes from train, never from test.
    wider = [SplitSpec(eval_fraction=0.3).split_of_group(g) for g in groups]
    assert [side == "test" for side in wider] == [side == "test" for side in sides]
    assert all(w == "eval" for s, w in zip(sides, wider) if s == "eval")
    assert "test" not in {SplitSpec(test_fraction=0.0).split_of_group(g) for g in groups}
    assert SplitSpec(0.0, 0.0).split_of_group("x") == "train" and SplitSpec(1.0, 0.0).split_of_group("x") == "eval"
    with pytest.raises(ValueError):
        SplitSpec(eval_fraction=0.6, test_fraction=0.5)


def test_the_test_source_is_held_out_whatever_the_hash():
    splits = SplitSpec(eval_fraction=0.5, test_fraction=0.0, test_source="/opencv-")
    paths = [f"/raw/{source}-photo{i}.jpg" for source in ("opencv", "mvtb", "skimage") for i in range(200)]
    sides = {path: splits.split(path, hashlib.sha256(path.encode()).hexdigest()) for path in paths}
    assert {side for path, side in sides.items() if "/opencv-" in path} == {"test"}
    assert {side for path, side in sides.items() if "/opencv-" not in path} == {"train", "eval"}
    assert splits.expected_images(600, 200) == {"train": 200.0, "eval": 200.0, "test": 200.0}


def test_shard_counts_come_from_the_files_matched():
    splits = SplitSpec(eval_fraction=0.1, test_fraction=0.1)
    # 4,000, 500 and 500 records at most
    assert shards_per_split(5000, 0, 1, splits) == {"train": 2, "eval": 1, "test": 1}
    assert shards_per_split(1000, 0, 8, SplitSpec(0.25, 0.0)) == {"train": 3, "eval": 1, "test": 1}
    assert shards_per_split(0, 0, 1, splits) == {"train": 1, "eval": 1, "test": 1}
    assert shards_per_split(5000, 0, 1, splits, fixed=7) == {"train": 7, "eval": 7, "test": 7}
    # 1,000 held-out photos x 8 crops + 10% of the other 4,000's: 11,200 test records
    assert shards_per_split(5000, 1000, 8, splits) == {"train": 13, "eval": 2, "test": 6}


def test_test_fraction_and_test_source_send_their_photos_to_test(corpus, tmp_path):
    # sub/a-copy.jpg is a.jpg's exact duplicate: held out, it is the copy kept, so a.jpg's content is test only.
    manifest = run(corpus, tmp_path, "--crops-per-image", "2", "--test-source", r"/sub/|/pair\+",
                   "--test-fraction", "0", "--eval-fraction", "0.5")
    assert manifest["settings"]["test_source"] == r"/sub/|/pair\+" and manifest["settings"]["test_fraction"] == 0
    assert manifest["files_matched"] == manifest["images"] + manifest["duplicates"] + manifest["rejects"]
    duplicates = [json.loads(line) for line in (tmp_path / manifests.DUPLICATES).read_text().splitlines()]
    assert [(Path(d["path"]).name, Path(d["duplicate_of"]).name) for d in duplicates] == [("a.jpg", "a-copy.jpg")]
    names = {split: {Path(r.source_uri).name for r in records} for split, records in read_all(tmp_path).items()}
    assert names["test"] == {"a-copy.jpg", "pair+l.png", "pair+r.png"}
    assert names["train"] and names["eval"] and not (names["train"] & names["eval"])
    # a.jpg was decoded too (duplicates are known only after decoding): its records are left out.
    assert "a.jpg" not in names["train"] | names["eval"]
    assert manifest["splits"]["test"]["images"] == 3 and manifest["splits"]["test"]["records"] == 6
    assert sum(s["records"] for s in manifest["splits"].values()) == manifest["records"] == 2 * manifest["images"]


def test_the_manifest_refuses_records_missing_from_the_shards(tmp_path):
    written = [{"split": "train", "path": str(tmp_path / shards.shard_name("train", 0, 1)), "records": 2},
               {"split": "eval", "path": str(tmp_path / shards.shard_name("eval", 0, 1)), "records": 0}]
    counts = {"files_matched": 1, "images/train": 1, "records/train": 3}
    settings = {"geometry": Geometry().to_dict(), "holes": "center", "masks": "", "crops_per_image": 3}
    with pytest.raises(RuntimeError, match="train: 3 records made, 2 in the shards"):
        manifests.write_outputs(None, str(tmp_path), {**counts, (manifests.HOLE, "center", 3136): 3}, [], [],
                                 written, settings, {"train": 1, "eval": 1, "test": 1})
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
    out = capsys.readouterr().out
    assert "--crops-per-image" in out and "--crop-scale" in out and "--test-source" in out
    assert "--holes" in out and "--masks" in out
    with pytest.raises(SystemExit):
        preprocess.parse_args(["--input", "x", "--output", "y", "--holes", "triangles"])
    with pytest.raises(SystemExit):
        preprocess.parse_args(["--input", "x", "--output", "y", "--crop-scale", "0.5"])
    args, beam_args = preprocess.parse_args(["--input", "x", "--output", "y", "--runner", "DataflowRunner"])
    assert (args.image_size, args.patch_size, args.overlap) == (128, 64, 4)
    assert (args.crop_scale, args.eval_fraction, args.test_fraction, args.test_source) == ((0.5, 1.0), 0.1, 0.1, "")
    assert (args.holes, args.masks) == (None, "")
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
                               "--eval-fraction", "0.3", "--test-fraction", "0.2", "--test-source", "/skimage-"])
    assert manifest["files_matched"] == len(keep)  # SOURCES.md is not an image file
    assert manifest["rejects"] == 0 and manifest["duplicates"] == 0
    assert manifest["images"] == len(keep) and manifest["records"] == 2 * len(keep)
    sides = {}
    for split in shards.SPLITS:
        for r in read_split(tmp_path / "out", split):
            sides.setdefault(Path(r.source_uri).name.split("+")[0], set()).add(split)
    assert all(len(s) == 1 for s in sides.values())
    assert sides["mvtb-rocks2"] and sides["mvtb-church"] and sides["skimage-motorcycle"] == {"test"}
    assert all(s == {"test"} for group, s in sides.items() if group.startswith("skimage-"))
    assert {side for group, s in sides.items() if not group.startswith("skimage-") for side in s} >= {"train", "eval"}


def test_mixed_holes_records_round_trip_and_the_manifest_has_their_stats(few_photos, tmp_path, capsys):
    geometry = Geometry()
    manifest = run(few_photos, tmp_path / "one", "--holes", "mixed", "--crops-per-image", "4")
    said = capsys.readouterr().out
    assert manifest["settings"]["holes"] == "mixed" and manifest["settings"]["masks"] == ""
    records = [r for rs in read_all(tmp_path / "one").values() for r in rs]
    assert len(records) == manifest["records"] == 16
    spec = images.CropSpec(size=128, mode="random", count=4)
    crops = {p.name: images.decode_crops(p.read_bytes(), spec, hashlib.sha256(p.read_bytes()).hexdigest())
             for p in few_photos.iterdir()}
    for r in records:
        mask, kind = holes.generate(masks.MIXED, r.record_id, geometry)
        assert r.kind == kind and np.array_equal(r.mask, mask)
        assert r.patch is None and np.array_equal(r.truth, crops[Path(r.source_uri).name][r.crop_index])
        assert np.array_equal(r.masked, masks.mask_image(r.truth, mask, geometry.fill_rgb))
        assert np.array_equal(r.original(), r.truth)

    kinds = Counter(r.kind for r in records)
    assert set(kinds) == {masks.CENTER, masks.BOXES, masks.STROKES}
    assert ") with mixed holes (" + ", ".join(f"{k} {kinds[k]}" for k in sorted(kinds)) + ") in " in said
    pixels = Counter(int(np.count_nonzero(r.mask)) for r in records)
    assert manifest["holes"] == {"kind": "mixed", "layout": "anywhere", "by_kind": dict(sorted(kinds.items())),
                                 "area": holes.area_summary(dict(pixels), 128)}
    assert shards.hole_layout(manifest) == "anywhere"
    area = manifest["holes"]["area"]
    assert 0 < area["min"] <= area["p10"] <= area["p50"] <= area["p90"] <= area["max"] < 1

    serialized = serialized_records(tmp_path / "one")
    batch = parse_examples(tf.constant(serialized), geometry, layout="anywhere")
    by_id = {r.record_id: r for r in records}
    for i, raw in enumerate(serialized):
        r = by_id[Record.parse(raw).record_id]
        assert np.array_equal(batch["mask"][i, ..., 0].numpy(), r.mask == masks.HOLE)
        assert np.array_equal(batch["original"][i].numpy(), r.truth)
        assert np.array_equal(batch["masked"][i].numpy(), r.masked)
        assert batch["kind"][i].numpy().decode() == r.kind
    # Reruns write identical bytes, whatever the local mode.
    preprocess.run(["--input", str(few_photos), "--output", str(tmp_path / "two"), "--holes", "mixed",
                    "--crops-per-image", "4"])
    assert same_shards(tmp_path / "one", tmp_path / "two")


def test_center_holes_are_the_centre_records_as_before(few_photos, tmp_path):
    geometry = Geometry()
    default = run(few_photos, tmp_path / "default", "--crops-per-image", "2")
    center = run(few_photos, tmp_path / "center", "--crops-per-image", "2", "--holes", "center")
    assert same_shards(tmp_path / "default", tmp_path / "center")
    assert default["settings"] == center["settings"] and center["settings"]["holes"] == "center"
    share = 56 * 56 / 128 ** 2
    assert center["holes"] == {"kind": "center", "layout": "center", "by_kind": {"center": 8},
                               "area": {k: round(share, 6) for k in ("mean", "min", "p10", "p50", "p90", "max")}}
    serialized = serialized_records(tmp_path / "center")
    for raw in serialized:
        r = Record.parse(raw)
        assert r.kind == masks.CENTER and r.truth is None and r.patch is not None
        assert np.array_equal(r.mask, masks.centre_mask(geometry))
        # Byte for byte the centre record of the crop, as Record.from_image has always made it.
        assert Record.from_image(r.original(), geometry, r.key, r.source_uri, r.crop_index).serialize() == raw
    batch = parse_examples(tf.constant(serialized), geometry, layout="center")
    assert batch["patch"].shape == (8, 64, 64, 3)


def test_holes_and_masks_exclude_each_other(few_photos, tmp_path):
    with pytest.raises(SystemExit, match=r"^preprocess: --holes boxes and --masks .* exclude each other"):
        run(few_photos, tmp_path, "--holes", "boxes", "--masks", str(few_photos))
