"""The preprocess job's accounting: manifest.json, rejects.jsonl and duplicates.jsonl, written once
every shard is, and the command's one-line summary."""
from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines import holes, mask_files
from pipelines.photo_records import ImageSummary
from pipelines.shard_files import remove_spill_folder, write_empty_shards
from tfrecords import SCHEMA_VERSION, masks, shards

REJECTS = "rejects.jsonl"
DUPLICATES = "duplicates.jsonl"
HOLE = "hole"  # an event key's tag: (HOLE, record kind, hole pixels) counts records


def image_events(image: ImageSummary) -> Iterator[tuple[Any, int]]:
    """A kept image's tallies: the image and its records in its split, its crops dropped, and a
    record per (HOLE, record kind, hole pixels)."""
    yield f"images/{image.split}", 1
    yield f"records/{image.split}", image.records
    yield "crops_dropped", image.dropped
    for kind, pixels in image.holes:
        yield (HOLE, kind, pixels), 1


def summary(manifest: dict[str, Any], output: str, seconds: float) -> str:
    s = [manifest["splits"][split] for split in shards.SPLITS]
    images_per_split = " / ".join(f"{x['images']} {split}" for x, split in zip(s, shards.SPLITS))
    records_per_split = " / ".join(str(x["records"]) for x in s)
    reasons = ", ".join(f"{k} {v}" for k, v in manifest["rejects_by_reason"].items())
    hole = manifest["holes"]
    kinds = ", ".join(f"{k} {v}" for k, v in hole["by_kind"].items())
    holes_said = "" if hole["kind"] == masks.CENTER else f" with {hole['kind']} holes ({kinds})"
    return (f"preprocess: {manifest['files_matched']} files matched -> {manifest['images']} images "
            f"({images_per_split}) -> {manifest['records']} records ({records_per_split}){holes_said} in "
            f"{'+'.join(str(len(x['shards'])) for x in s)} shards, {manifest['duplicates']} duplicates, "
            f"{manifest['rejects']} rejects{f' ({reasons})' if reasons else ''}; {seconds:.1f}s -> {output}")


def write_outputs(_, output: str, counts: dict[Any, int], rejects: list[dict], duplicates: list[dict],
                  written: list[dict], settings: dict[str, Any], shard_counts: dict[str, int]) -> dict[str, Any]:
    """Writes the shards that drew no record (empty), rejects.jsonl, duplicates.jsonl and
    manifest.json; fails if any file, mask file or crop is unaccounted. `counts`: the events' tallies,
    and records per `(HOLE, record kind, hole pixels)`."""
    written = [*written, *write_empty_shards(shard_counts, output, written)]
    rejects = sorted(rejects, key=lambda r: r["path"])
    duplicates = sorted(duplicates, key=lambda d: d["path"])
    for name, rows in ((REJECTS, rejects), (DUPLICATES, duplicates)):
        with FileSystems.create(FileSystems.join(output, name)) as f:
            f.write(b"".join(json.dumps(row, sort_keys=True).encode() + b"\n" for row in rows))
    rejects_by_reason: dict[str, int] = {}
    for r in rejects:
        rejects_by_reason[r["reason"]] = rejects_by_reason.get(r["reason"], 0) + 1
    splits = {}
    for split in shards.SPLITS:
        files = sorted((w for w in written if w["split"] == split), key=lambda w: w["path"])
        splits[split] = {
            "images": counts.get(f"images/{split}", 0),
            "records": sum(w["records"] for w in files),
            "shards": [posixpath.basename(w["path"]) for w in files],
            "records_per_shard": [w["records"] for w in files],
        }
    images_total = sum(s["images"] for s in splits.values())
    without_photo = rejects_by_reason.get(mask_files.MASK_WITHOUT_PHOTO, 0)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "geometry": settings["geometry"],
        "fill_rgb": settings["geometry"]["fill_rgb"],
        "files_matched": counts.get("files_matched", 0),
        "images": images_total,
        "records": sum(s["records"] for s in splits.values()),
        "duplicates": len(duplicates),
        "rejects": len(rejects),
        "rejects_by_reason": dict(sorted(rejects_by_reason.items())),
        "splits": splits,
        "settings": {k: v for k, v in settings.items() if k != "geometry"},
        "holes": _holes_summary(settings["holes"], counts, settings["geometry"]["image_size"]),
        "accounting": "files_matched == images + duplicates + rejects; records = crops of the images",
    }
    dropped = counts.get("crops_dropped", 0)
    if settings["masks"]:
        manifest["masks"] = {
            "matched": counts.get("masks_matched", 0),
            "used": images_total,
            "rejected": sum(1 for r in rejects if "mask" in r),
            "of_duplicates": sum(1 for d in duplicates if "mask" in d),
            "without_photo": without_photo,
            "crops_dropped": dropped,
        }
        manifest["accounting"] = (
            "files_matched == images + duplicates + rejects - masks.without_photo (rows of mask files); "
            "masks.matched == masks.used + masks.rejected (reject rows naming the mask: its photo's or its own) "
            "+ masks.of_duplicates; records == images x crops_per_image - masks.crops_dropped (crops still all "
            f"hole after {mask_files.CROP_ATTEMPTS} draws)")
        m = manifest["masks"]
        if m["matched"] != m["used"] + m["rejected"] + m["of_duplicates"]:
            raise RuntimeError(f"mask files unaccounted for: {manifest}")
    if manifest["files_matched"] != images_total + len(duplicates) + len(rejects) - without_photo:
        raise RuntimeError(f"files unaccounted for: {manifest}")
    for split, s in splits.items():
        if s["records"] != counts.get(f"records/{split}", 0):
            raise RuntimeError(f"{split}: {counts.get(f'records/{split}', 0)} records made, {s['records']} in the "
                               f"shards: {manifest}")
    if manifest["records"] != images_total * settings["crops_per_image"] - dropped:
        raise RuntimeError(f"crops unaccounted for: {manifest}")
    _remove_stale_shards(output, {w["path"] for w in written})
    remove_spill_folder(output)
    shards.write_manifest(output, manifest)
    return manifest


def _holes_summary(kind: str, counts: dict[Any, int], size: int) -> dict[str, Any]:
    """The manifest's `holes`: the data set's hole kind and layout, the hole's share of the crop over
    all records, and the records of each record kind, from the `(HOLE, record kind, hole pixels)`
    tallies in `counts`."""
    by_kind: dict[str, int] = {}
    by_pixels: dict[int, int] = {}
    for key, records in counts.items():
        if isinstance(key, tuple) and key[0] == HOLE:
            _, record_kind, pixels = key
            by_kind[record_kind] = by_kind.get(record_kind, 0) + records
            by_pixels[pixels] = by_pixels.get(pixels, 0) + records
    return {"kind": kind, "layout": masks.layout_of(kind), "area": holes.area_summary(by_pixels, size),
            "by_kind": dict(sorted(by_kind.items()))}


def _remove_stale_shards(output: str, current: set[str]) -> None:
    """Deletes shards of an earlier run with another shard count, which the split glob would pick up."""
    stale = [m.path for split in shards.SPLITS
             for m in FileSystems.match([shards.shard_pattern(output, split)])[0].metadata_list
             if m.path not in current]
    if stale:
        logging.info("Removing %d shard(s) of an earlier run", len(stale))
        FileSystems.delete(stale)
