"""Raw photos to masked TFRecords: the preprocess pipeline.

    python -m pipelines.preprocess --input data/raw --output data/tfrecords [--crops-per-image 8]
    python -m pipelines.preprocess --input data/raw --output data/tfrecords --holes mixed
    python -m pipelines.preprocess --input data/raw --output data/tfrecords --masks data/masks
    python -m pipelines.preprocess --input 'gs://bucket/photos/**.jpg' --output gs://bucket/tfrecords \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp --setup_file ./setup.py

Stages: list the files, then (fusion broken) read, hash, decode, crop and mask each photo, and turn
its crops into records, each compressed as a gzip member and keyed by its shard (the number of shards
per split is set from the files the command matched, so records go straight to their shard); exact
duplicates (same sha256) are kept once, at their lexicographically first path (first held-out one,
if any is, so that a held-out photo stays out of train and eval), and the others' records are left
out as each shard's records are sorted by id and written as one gzip TFRecord file. Records stream
to per-bundle spill files as they are made (pipelines/shard_files.py): only the spill files' names
are grouped by shard, so memory does not grow with the data set. Every matched
file ends as records, a duplicate or a reject (rejects.jsonl, with its reason), and manifest.json
states the accounting: files_matched == images + duplicates + rejects (of photos), and every record
made is in a shard.

The train/eval/test split (pipelines/splits.py) hashes a *split group*: the photo's content hash,
or, for a file whose name matches --split-group-pattern, its directory plus the name with the match
removed, so `rocks2+l.png` and `rocks2+r.png` (a stereo pair) land on the same side; files whose
path matches --test-source all go to test. The embedded sample data is named so.

Holes: by default every record's hole is the geometry's centre box (layout `center`, the paper's
benchmark). `--holes boxes|strokes|mixed` gives each record a mask generated from its record id
(pipelines/holes.py); `--masks DIR` takes the users' own masks, one file per photo matched by
relative path and stem (pipelines/mask_files.py), and cuts each photo and its mask with the same
boxes, each crop placed over the hole. Both keep the whole true crop in each record (layout
`anywhere`). With masks, photos without a mask, masks without a photo and unusable masks are
rejects too (a rejected mask file is a row of its own), so the accounting extends to the mask files
(manifest.json `masks`); a duplicate photo's mask goes unused, named in duplicates.jsonl. Each crop
of a photo with a mask covers a hole pixel; one left all hole is redrawn, and dropped after
`mask_files.CROP_ATTEMPTS` draws (`masks.crops_dropped`; a photo left without any crop is a reject,
no_context_in_crops). manifest.json `holes` gives the hole kind, the layout, the hole's share of the
crop over the records and the records of each kind.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import dataclasses
import re
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from common.logs import announce, command_logging
from common.paths import check_outside, make_output, matched_files
from common.progress import Progress
from common.usage import CommandParser, UsageError, option_strings
from pipelines import images, mask_files
from pipelines.files import ListImageFiles, PairPhotosWithMasks, Source, file_pattern, photo_root
from pipelines.manifest import image_events, summary, write_outputs
from pipelines.options import check_options, pipeline_options, runs_in_this_process
from pipelines.photo_records import DUPLICATE, KeepFirstOfDuplicates, ReadHashAndDecode, count_reject
from pipelines.rejects import REJECT
from pipelines.shard_files import WriteShards, shards_per_split
from pipelines.splits import DEFAULT_GROUP_PATTERN, SplitSpec
from tfrecords import Geometry, masks, shards

COMMAND = "preprocess"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one preprocess run makes: holes of `holes_kind` (a --holes value), or the users' masks
    in the folder `masks` (then `holes_kind` is `user`), written to `shard_counts` shards per split
    (`shards_per_split`)."""

    input: str
    output: str
    geometry: Geometry
    spec: images.CropSpec
    splits: SplitSpec
    shard_counts: dict[str, int]
    holes_kind: str = masks.CENTER
    masks: str = ""

    def for_manifest(self) -> dict[str, Any]:
        """The settings manifest.json records (the geometry is stated apart from them there)."""
        spec, splits = self.spec, self.splits
        return {
            "geometry": self.geometry.to_dict(),
            "input": self.input,
            "holes": self.holes_kind,
            "masks": self.masks,
            "crop": spec.mode,
            "crops_per_image": spec.count,
            "crop_scale": list(spec.scale),
            "min_size": spec.min_size,
            "max_pixels": spec.max_pixels,
            "eval_fraction": splits.eval_fraction,
            "test_fraction": splits.test_fraction,
            "test_source": splits.test_source,
            "split_group_pattern": splits.group_pattern,
        }


def _count_unpaired(row: dict[str, str], progress: Progress) -> dict[str, str]:
    if row["reason"] == mask_files.NO_MASK:
        progress.tick()  # a photo matched, and done with
    return count_reject(row)


def build(pipeline: beam.Pipeline, settings: Settings,
          progress: Progress = Progress(COMMAND, "files", enabled=False)) -> None:
    """Adds the preprocess stages to `pipeline`. `progress` ticks once per photo matched: where it
    is read (or found unreadable), or where it is left without a mask."""
    s = settings
    paths = pipeline | "MatchFiles" >> ListImageFiles(s.input)
    events = [paths | "CountMatched" >> beam.Map(lambda _: ("files_matched", 1))]
    unpaired = []
    if s.masks:
        # --masks is a folder: its image files at any depth.
        pairing = PairPhotosWithMasks(photo_root(file_pattern(s.input)[0]), s.masks.rstrip("/") + "/")
        sources, without_partner, mask_paths = paths | "PairPhotosWithMasks" >> pairing
        unpaired.append(without_partner | "CountUnpaired" >> beam.Map(_count_unpaired, progress))
        events.append(mask_paths | "CountMasks" >> beam.Map(lambda _: ("masks_matched", 1)))
    else:
        sources = paths | "Sources" >> beam.Map(Source)
    # The listing is one bundle: break fusion so reading and decoding spread over workers.
    decoded = (sources
               | "BreakFusion" >> beam.Reshuffle()
               | "ReadHashAndDecode" >> beam.ParDo(ReadHashAndDecode(
                   s.geometry, s.spec, s.splits, s.holes_kind, s.shard_counts, progress)).with_outputs(
                       REJECT, ReadHashAndDecode.RECORDS, main="hashed"))
    unique = (decoded.hashed
              | "GroupByContent" >> beam.GroupByKey()
              | "KeepFirstOfDuplicates" >> beam.ParDo(KeepFirstOfDuplicates(s.splits)).with_outputs(
                  REJECT, DUPLICATE, main=KeepFirstOfDuplicates.IMAGES))
    written = decoded[ReadHashAndDecode.RECORDS] | "WriteShards" >> WriteShards(s.output, s.shard_counts,
                                                                                 unique[DUPLICATE])
    rejects = [decoded[REJECT], unique[REJECT], *unpaired] | "AllRejects" >> beam.Flatten()
    events = ([*events, unique[KeepFirstOfDuplicates.IMAGES] | "CountImagesRecordsAndHoles" >> beam.FlatMap(
        image_events)] | "AllEvents" >> beam.Flatten() | "Counts" >> beam.CombinePerKey(sum))
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteManifest" >> beam.Map(
             write_outputs, output=s.output, counts=beam.pvalue.AsDict(events),
             rejects=beam.pvalue.AsList(rejects), duplicates=beam.pvalue.AsList(unique[DUPLICATE]),
             written=beam.pvalue.AsList(written), settings=s.for_manifest(), shard_counts=s.shard_counts))


def _scale_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX") from e
    return low, high


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    return _parser().parse_known_args(argv)


def _parser() -> CommandParser:
    defaults = Geometry()
    parser = CommandParser(
        COMMAND, prog="python -m pipelines.preprocess", description=__doc__.split("\n\n")[0],
        epilog="Any other argument is a Beam pipeline option (--runner, --project, --temp_location, ...).")
    parser.add_argument("--input", required=True,
                        help="a directory (every image file under it) or a glob, local or gs://")
    parser.add_argument("--output", required=True, help="directory for shards, manifest.json, rejects.jsonl")
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--overlap", type=int, default=defaults.overlap)
    parser.add_argument("--eval-fraction", type=float, default=0.1,
                        help="share of the split groups for eval (the trainer's checkpoint selection)")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of the split groups for test (the reported numbers)")
    parser.add_argument("--test-source", default="",
                        help="regex on the file path: matching files go to test only, e.g. '/opencv-' "
                             "(a held-out source)")
    parser.add_argument("--crop", choices=images.CROP_MODES, default=None,
                        help="centre crop, or random crops seeded by the image's hash "
                             "(default: center for one crop per image, random for several)")
    parser.add_argument("--crops-per-image", type=int, default=1, help="random crops per photo")
    parser.add_argument("--crop-scale", type=_scale_range, default=(0.5, 1.0), metavar="MIN,MAX",
                        help="fractions of the photo's shorter side a crop's side covers: a random crop "
                             "draws it in [MIN, MAX], the centre crop takes MAX (default: 0.5,1.0)")
    parser.add_argument("--min-size", type=int, default=None,
                        help="reject photos whose shorter side is below this (default: image size)")
    parser.add_argument("--max-pixels", type=int, default=images.MAX_IMAGE_PIXELS,
                        help="reject larger images as decompression bombs")
    parser.add_argument("--holes", choices=masks.GENERATED_KINDS, default=None,
                        help="each record's hole: the geometry's centre box (default), 1-3 boxes, "
                             "free-form strokes, or one of the three per record, drawn from the record id")
    parser.add_argument("--masks", default="",
                        help="a directory (local or gs://) of the users' own masks instead, one image file per "
                             "photo at the photo's relative path and stem (white = hole); each crop is placed "
                             "over the hole")
    parser.add_argument("--num-shards", type=int, default=0,
                        help=f"shards per split (default: one per {shards.RECORDS_PER_SHARD} records)")
    parser.add_argument("--split-group-pattern", default=DEFAULT_GROUP_PATTERN,
                        help="regex on the file name (without extension): files whose names are equal "
                             "once the match is removed share a split side; '' to split by content only")
    return parser


def settings_from(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    """(the run's settings, the photos --input matches), or `UsageError` for values that do not fit
    together, an input or --masks folder that matches no image file, an output inside either."""
    geometry = Geometry(image_size=args.image_size, patch_size=args.patch_size, overlap=args.overlap)
    count = args.crops_per_image
    try:
        spec = images.CropSpec(
            size=geometry.image_size,
            scale=args.crop_scale,
            mode=args.crop or ("center" if count == 1 else "random"),
            count=count,
            min_size=args.min_size or geometry.image_size,
            max_pixels=args.max_pixels,
        )
        splits = SplitSpec(args.eval_fraction, args.test_fraction, args.split_group_pattern, args.test_source)
    except (ValueError, re.error) as e:
        raise UsageError(COMMAND, str(e), "see --help") from None
    if args.holes and args.masks:
        raise UsageError(COMMAND, f"--holes {args.holes} and --masks {args.masks} exclude each other",
                         "the holes are generated or the users' masks, not both")
    pattern, images_only = file_pattern(args.input)
    photos = matched_files(COMMAND, "--input", args.input, pattern, images_only)
    check_outside(COMMAND, args.output, "--input", mask_files.match_root(pattern))
    if args.masks:
        matched_files(COMMAND, "--masks", args.masks, FileSystems.join(args.masks.rstrip("/"), "**"), True)
        check_outside(COMMAND, args.output, "--masks", args.masks)
    shard_counts = shards_per_split(len(photos), sum(map(splits.held_out, photos)), spec.count, splits,
                                    args.num_shards)
    settings = Settings(input=args.input, output=args.output, geometry=geometry, spec=spec, splits=splits,
                        shard_counts=shard_counts, holes_kind=masks.USER if args.masks else args.holes or masks.CENTER,
                        masks=args.masks)
    return settings, photos


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    settings, photos = settings_from(args)
    check_options(beam_args, option_strings(parser), COMMAND)
    make_output(COMMAND, settings.output)
    options = pipeline_options(beam_args)
    progress = Progress(COMMAND, "files", len(photos), runs_in_this_process(options))
    progress.start()
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, settings, progress)
    manifest = shards.read_manifest(settings.output)
    line = summary(manifest, settings.output, time.perf_counter() - start)
    announce(line)
    return manifest


if __name__ == "__main__":
    command_logging()
    run()
