"""Bulk inpainting with the exported SavedModel: the inpaint pipeline.

    python -m pipelines.inpaint --model runs/default/export --input 'data/tfrecords/eval-*.tfrecord.gz' \\
        --output data/inpainted
    python -m pipelines.inpaint --model gs://b/export --input 'gs://b/photos/*.jpg' --output gs://b/inpainted \\
        --runner DataflowRunner ...   (see `make dataflow-inpaint`)

Input is either the preprocess stage's TFRecords or raw photos of any size (the format is told by
the glob unless --input-format says it). The export's hole layout (inpainting.json "holes") decides
what is filled:
- a centre-hole export fills each record's centre hole, and each photo's centre hole at full
  resolution (pipelines/full_resolution.py);
- a mask export fills each record's own mask, and each photo's holes wherever its mask files mark
  them (`--masks DIR`, `--mask FILE` or masks beside the photos: pipelines/inpaint_masks.py; grown
  by `--dilate`), at full resolution, one context window per hole
  (pipelines/hole_windows.py). A photo's K windows travel as one element; the model handler batches
  windows across photos and splits the outputs back.
Only hole pixels change; every other pixel is the input's (PNG output).

With masks, the inputs are the photos and the mask files that match no photo: a photo without a
mask, a mask that is unreadable, of another size (of another aspect ratio for --mask), empty or all
hole, a hole too large for any window in the photo, and a mask without a photo are each one reject,
with the reason.

Stages: list the files (fusion broken), read and validate each element on its own (a bad photo or
record is rejected here, never inside a batch), run the model through RunInference on fixed-size
batches (a failing batch is rejected whole, with the error), then paste back and write. Output
folder:
    images/NAME-HASH.png                    --write png (or the photo's format with --image-format input),
                                            with the photo's EXIF, ICC profile (pipelines/photo_metadata.py);
                                            written whole, and a rerun skips it (pipelines/resume.py)
    proofs/NAME-HASH.jpg, contact-sheet.jpg --proofs: before/after with the hole outlined (pipelines/proofs.py)
    inpainted-SSSSS-of-NNNNN.tfrecord.gz    --write tfrecord: the records with `image/inpainted/encoded`
    metrics.jsonl                           per-record hole metrics where records carry ground truth
    rejects.jsonl                           one line per rejected input or batch member, with the reason
    summary.json                            counts (inputs == inpainted + rejects), rejects by reason,
                                            holes and windows inpainted, the metrics' mean
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import argparse
import json
import posixpath
import time
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from common.logs import announce, command_logging
from common.paths import check_outside, make_output, matched_files
from common.progress import Progress
from common.usage import CommandParser, UsageError, option_strings
from model.exported import export_hole_layout, load_geometry, require_export
from model.hole_layouts import hole_layout
from pipelines import inpaint_masks, mask_files, model_handler, resume
from pipelines.engines import engine_for
from pipelines.files import file_pattern
from pipelines.inpaint_settings import ENGINES, KEYED, Settings
from pipelines.options import check_options, pipeline_options, runs_in_this_process
from pipelines.readers import NAMESPACE, ReadAndValidate
from pipelines.rejects import REJECT
from pipelines.proofs import SHEET_COUNT
from pipelines.tallies import SUMMARY, SumTallies, count_reject, metric_tally, summary_line, write_summary
from pipelines.writers import (METRIC_ROWS, METRICS, PROOFS, RECORDS, RECORDS_PREFIX, REJECTS, GzipMembersSink,
                               WriteJsonLines, WriteOutputs, remove_empty_temp_folders, write_contact_sheet)
from tfrecords import shards

COMMAND = "inpaint"
INPUT_FORMATS = ("tfrecord", "images")
WRITES = ("png", "tfrecord")
IMAGE_FORMATS = ("png", "input")


def build(pipeline: beam.Pipeline, settings: Settings,
          progress: Progress = Progress(COMMAND, "inputs", enabled=False)) -> None:
    """Adds the inpaint stages to `pipeline`; `progress` ticks once per input written or rejected
    (a mask without a photo is no input of its own there: the count is of photos or records)."""
    s = settings
    items, read_rejects, skipped = pipeline | "ReadAndValidate" >> ReadAndValidate(s, resume.finished_check(s))
    outputs, failed = items | "Inpaint" >> engine_for(s)
    written = outputs | "WriteOutputs" >> beam.ParDo(WriteOutputs(s, progress)).with_outputs(
        REJECT, RECORDS, METRIC_ROWS, PROOFS, main="done")
    if s.proofs:
        _ = (written[PROOFS]
             | "FirstProofs" >> beam.combiners.Top.Of(SHEET_COUNT, key=lambda proof: proof[0], reverse=True)
             | "WriteContactSheet" >> beam.Map(write_contact_sheet, s.output))

    if "tfrecord" in s.writes:
        _ = written[RECORDS] | "WriteRecords" >> fileio.WriteToFiles(
            s.output, file_naming=fileio.default_file_naming(RECORDS_PREFIX, ".tfrecord.gz"),
            sink=lambda _: GzipMembersSink())
    metrics = written[METRIC_ROWS]
    _ = (metrics
         | "MetricsToJson" >> beam.Map(lambda row: json.dumps(row, sort_keys=True))
         | "WriteMetrics" >> WriteJsonLines(s.output, METRICS))
    rejects = (read_rejects, failed, written[REJECT]) | "AllRejects" >> beam.Flatten()
    _ = (rejects
         | "CountRejects" >> beam.Map(count_reject, progress)
         | "WriteRejects" >> WriteJsonLines(s.output, REJECTS))

    tallies = (
        (items | "TallyItems" >> beam.Map(lambda _: {"items": 1})),
        (skipped | "CountSkipped" >> beam.Map(resume.count_skipped, progress)),
        (read_rejects | "TallyReadRejects" >> beam.Map(lambda _: {"read_rejects": 1})),
        (written.done | "TallyInpainted" >> beam.Map(
            lambda done: {"inpainted": 1, "holes": done["holes"], "windows": done["windows"]})),
        (rejects | "TallyRejects" >> beam.Map(lambda r: {f"reason/{r['reason']}": 1, f"stage/{r['stage']}": 1})),
        (metrics | "TallyMetrics" >> beam.Map(metric_tally)))
    totals = tallies | "AllTallies" >> beam.Flatten() | "SumTallies" >> beam.CombineGlobally(SumTallies())
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "WriteSummary" >> beam.Map(write_summary, settings=s, totals=beam.pvalue.AsSingleton(totals)))


def input_format_of(pattern: str) -> str:
    return "tfrecord" if ".tfrecord" in pattern.lower() else "images"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    return _parser().parse_known_args(argv)


def _parser() -> CommandParser:
    parser = CommandParser(
        COMMAND, prog="python -m pipelines.inpaint", description=__doc__.split("\n\n")[0],
        epilog="Any other argument is a Beam pipeline option (--runner, --project, --temp_location, ...).")
    parser.add_argument("--model", required=True, help="the exported SavedModel directory (local or gs://)")
    parser.add_argument("--input", required=True,
                        help="glob of TFRecord shards or photos, or a directory of photos (local or gs://)")
    parser.add_argument("--output", required=True, help="output directory")
    inpaint_masks.add_arguments(parser)
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default=None,
                        help="default: tfrecord if the glob names .tfrecord files, else images")
    parser.add_argument("--write", default="png",
                        help=f"comma-separated outputs among {','.join(WRITES)} (default: png)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call")
    parser.add_argument("--engine", choices=ENGINES, default=KEYED,
                        help="Beam's RunInference with this project's handler, or tfx-bsl's on tf.Examples")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS, default="png",
                        help="png (lossless: pixels outside the hole stay exact), or the photo's own format")
    parser.add_argument("--photos-in-flight", type=int, default=16,
                        help="full-size photos a model batch holds at most, per worker (bounds the inference "
                             "step's memory: each is its decoded pixels; the batch stays within --batch-size "
                             "images or windows)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo every photo; by default a rerun skips the photos whose image is in the output")
    parser.add_argument("--strip-metadata", action="store_true",
                        help="write no EXIF (camera, date, GPS); the ICC profile is kept")
    parser.add_argument("--proofs", action="store_true",
                        help=f"also write proofs/: a small before/after image per input with the hole outlined, "
                             f"and contact-sheet.jpg of the first {SHEET_COUNT}")
    parser.add_argument("--model-copies", type=int, default=None,
                        help="copies of the model per worker machine, each in a process of its own that every "
                             "SDK process there calls (for GPU workers with one SDK process per vCPU); default: "
                             "one copy in each SDK process, shared by its threads")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    writes = tuple(w.strip() for w in args.write.split(",") if w.strip())
    if not writes or set(writes) - set(WRITES):
        raise UsageError(COMMAND, f"--write {args.write!r} names no output or an unknown one",
                         f"choose among {','.join(WRITES)}")
    if args.batch_size < 1:
        raise UsageError(COMMAND, f"--batch-size {args.batch_size} is below 1", "give 1 or more")
    if args.photos_in_flight < 1:
        raise UsageError(COMMAND, f"--photos-in-flight {args.photos_in_flight} is below 1", "give 1 or more")
    if args.model_copies is not None and args.model_copies < 1:
        raise UsageError(COMMAND, f"--model-copies {args.model_copies} is below 1", "give 1 or more, or leave it out")
    if args.model_copies is not None and args.engine != KEYED:
        raise UsageError(COMMAND, "--model-copies is for the keyed engine",
                         "drop --engine tfx-bsl, or --model-copies")
    require_export(COMMAND, "--model", args.model)
    input_format = args.input_format or input_format_of(args.input)
    layout = hole_layout(export_hole_layout(args.model))
    masks = inpaint_masks.mask_fields(args, layout, input_format)
    return Settings(model=args.model, input=args.input, output=args.output, geometry=load_geometry(args.model),
                    input_format=input_format, writes=writes, batch_size=args.batch_size, engine=args.engine,
                    image_format=args.image_format, layout=layout, **masks,
                    model_copies=args.model_copies, photos_in_flight=args.photos_in_flight,
                    overwrite=args.overwrite, strip_metadata=args.strip_metadata, proofs=args.proofs)


def checked_inputs(settings: Settings) -> list[str]:
    """The files the input matches (`UsageError` for none), with the output checked to lie outside
    the input and mask folders, and the masks (`inpaint_masks.checked_photos`)."""
    pattern, images_only = file_pattern(settings.input)
    inputs = matched_files(COMMAND, "--input", settings.input, pattern, images_only)
    check_outside(COMMAND, settings.output, "--input", mask_files.match_root(pattern))
    return inpaint_masks.checked_photos(settings, inputs)


def run_progress(settings: Settings, inputs: list[str], runs_here: bool) -> Progress:
    """The run's progress: of the photos matched, or of the records the manifest beside the shards lists."""
    if settings.input_format == "tfrecord":
        return Progress(COMMAND, "records", manifest_records(inputs), runs_here)
    return Progress(COMMAND, "photos", len(inputs), runs_here)


def manifest_records(shard_paths: list[str]) -> int | None:
    """The records in these shards, from the manifest.json beside them; None where there is none or
    it does not list every one of them."""
    folders = {posixpath.dirname(path) for path in shard_paths}
    if len(folders) != 1:
        return None
    try:
        manifest = shards.read_manifest(folders.pop())
    except FileNotFoundError:
        return None
    per_shard = {name: count for split in manifest.get("splits", {}).values()
                 for name, count in zip(split.get("shards", []), split.get("records_per_shard", []))}
    names = [posixpath.basename(path) for path in shard_paths]
    return sum(per_shard[name] for name in names) if all(name in per_shard for name in names) else None


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    settings = settings_from(args)
    inputs = checked_inputs(settings)
    check_options(beam_args, option_strings(parser), COMMAND)
    make_output(COMMAND, settings.output)
    resume.remove_partial_files(settings.output)
    options = pipeline_options(beam_args)
    progress = run_progress(settings, inputs, runs_in_this_process(options))
    progress.start()
    start = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, settings, progress)
    result = pipeline.run()
    result.wait_until_finish()
    remove_empty_temp_folders(settings.output)
    with FileSystems.open(FileSystems.join(settings.output, SUMMARY)) as f:
        summary = json.loads(f.read())
    counters: dict[str, int] = {}
    # A counter's total over the steps that count it (the inputs: where they are read, and where
    # photos and mask files are left unpaired).
    namespaces = MetricsFilter().with_namespaces([NAMESPACE, model_handler.NAMESPACE])
    for c in result.metrics().query(namespaces)["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    summary["counters"] = counters
    summary["seconds"] = round(time.perf_counter() - start, 2)
    line = summary_line(summary, settings.output)
    announce(line)
    return summary


if __name__ == "__main__":
    command_logging()
    run()
