"""The inpaint job's tallies: counts, rejects by reason and stage, and the metrics' mean, summed in
one combine and written as summary.json."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from common.progress import Progress
from model.metrics import NAMES as METRIC_NAMES
from pipelines import mask_files
from pipelines.inpaint_settings import Settings
from pipelines.readers import NAMESPACE

SUMMARY = "summary.json"
METRIC_REGIONS = ("hole", "patch")


class SumTallies(beam.CombineFn):
    """Dicts of numbers -> one dict of their sums per key: every count the summary needs, in one
    combine (a combine per count cost the local runner two stages each)."""

    def create_accumulator(self) -> dict[str, float]:
        return {}

    def add_input(self, accumulator: dict[str, float], tally: dict[str, float]) -> dict[str, float]:
        for key, value in tally.items():
            accumulator[key] = accumulator.get(key, 0) + value
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[str, float]]) -> dict[str, float]:
        total: dict[str, float] = {}
        for accumulator in accumulators:
            self.add_input(total, accumulator)
        return total

    def extract_output(self, accumulator: dict[str, float]) -> dict[str, float]:
        return accumulator


def metric_tally(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row's values to sum, and one row counted."""
    tally = {f"metric/{region}/{name}": row[region][name]
             for region in METRIC_REGIONS if region in row for name in METRIC_NAMES}
    tally["metric_rows"] = 1
    return tally


def _mean_metrics(totals: dict[str, float]) -> dict[str, Any] | None:
    """`model.metrics.mean_metrics` of the summed metric rows: a run's rows all have the same
    regions, the hole and the patch, or (a mask model's) the hole."""
    count = int(totals.get("metric_rows", 0))
    if not count:
        return None
    out: dict[str, Any] = {region: {name: totals[f"metric/{region}/{name}"] / count for name in METRIC_NAMES}
                           for region in METRIC_REGIONS if f"metric/{region}/{METRIC_NAMES[0]}" in totals}
    out["count"] = count
    return out


def count_reject(row: dict[str, str], progress: Progress) -> str:
    Metrics.counter(NAMESPACE, "rejects").inc()
    if row["reason"] != mask_files.MASK_WITHOUT_PHOTO:
        progress.tick()
    return json.dumps(row, sort_keys=True)


def write_summary(_, settings: Settings, totals: dict[str, float]) -> dict[str, Any]:
    """Writes summary.json from the run's tallies; fails the job if any input is unaccounted for."""
    count = {key: int(value) for key, value in totals.items() if not key.startswith("metric/")}
    rejects_by = {key: value for key, value in count.items() if key.startswith(("reason/", "stage/"))}
    items, read_rejects, inpainted = count.get("items", 0), count.get("read_rejects", 0), count.get("inpainted", 0)
    skipped = count.get("skipped", 0)  # finished by an earlier run (pipelines/resume.py)
    rejects = sum(v for k, v in rejects_by.items() if k.startswith("stage/"))
    summary = {
        "model": settings.model,
        "input": settings.input,
        "masks": settings.masks,
        "hole_layout": settings.layout.name,
        "input_format": settings.input_format,
        "engine": settings.engine,
        "batch_size": settings.batch_size,
        "model_copies": settings.model_copies,
        "writes": list(settings.writes),
        "geometry": settings.geometry.to_dict(),
        "inputs": items + read_rejects + skipped,
        "inpainted": inpainted,
        "skipped": skipped,
        # Connected hole regions filled, and the model inputs they took (one per record or centre
        # hole; a photo's close holes share one window).
        "holes_inpainted": count.get("holes", 0),
        "windows_inpainted": count.get("windows", 0),
        "rejects": rejects,
        "rejects_by_reason": {k.split("/", 1)[1]: v for k, v in sorted(rejects_by.items()) if k.startswith("reason/")},
        "rejects_by_stage": {k.split("/", 1)[1]: v for k, v in sorted(rejects_by.items()) if k.startswith("stage/")},
        "metrics": _mean_metrics(totals),
    }
    with FileSystems.create(FileSystems.join(settings.output, SUMMARY), mime_type="application/json") as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")
    if summary["inputs"] != inpainted + skipped + rejects:
        raise RuntimeError(f"accounting: {summary['inputs']} inputs != {inpainted} inpainted + {skipped} skipped + "
                           f"{rejects} rejects")
    return summary


def summary_line(summary: dict[str, Any], output: str) -> str:
    """The line a run ends with: inputs done, skipped and rejected by reason, holes filled, the
    metrics' mean where records carry the truth, wall time and rate (`summary["seconds"]`)."""
    metrics, seconds = summary["metrics"], summary["seconds"]
    by_reason = ", ".join(f"{reason} {count}" for reason, count in summary["rejects_by_reason"].items())
    rate = summary["inpainted"] / seconds if seconds > 0 else 0.0
    return (f"inpaint: {summary['inputs']} inputs -> {summary['inpainted']} inpainted, {summary['skipped']} skipped "
            f"(done before), {summary['rejects']} rejected" + (f" ({by_reason})" if by_reason else "")
            + f"; {summary['holes_inpainted']} holes filled in {summary['windows_inpainted']} windows"
            + (f"; hole PSNR {metrics['hole']['psnr']:.2f} dB, L1 {metrics['hole']['l1']:.4f}" if metrics else "")
            + f"; {seconds:.1f}s, {rate:.2f} inputs/s -> {output}")
