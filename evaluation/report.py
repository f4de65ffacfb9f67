"""A picture report of one training run and its evaluation.

    python -m evaluation.report --run runs/default --eval runs/default/eval --output runs/default/report

Writes to `--output`: `report.html` and `report.md` (the same content: the metrics tables, every
method with every metric and the best of each column in bold, the published reference, the picture
grid, the training curves, how the model was trained), `grid.png` (eval images: masked input, each
baseline, the model, the truth) and `training_curves.png` (every scalar the trainer logged to
TensorBoard under `RUN/logs/`). For an evaluation of holes anywhere (metrics.json `holes`), the
tables are every image's and one per hole kind, without the published reference (a centre-hole
figure), and the grid outlines each hole, shows its mask and names its kind.
Prints where the report is and its headline numbers.
"""
from __future__ import annotations

from common import startup

startup.configure(command=__name__ == "__main__")  # before TensorFlow is imported

import datetime  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

from common.logs import command_logging  # noqa: E402
from common.paths import make_output  # noqa: E402
from common.usage import CommandParser, UsageError  # noqa: E402
from evaluation.evaluate import METRICS, summary_lines  # noqa: E402
from evaluation.report_curves import group_panels, plot_training_curves, read_scalars  # noqa: E402
from evaluation.report_grid import plot_grid  # noqa: E402
from evaluation.report_layouts import ReportLayout, report_layout  # noqa: E402
from evaluation.report_pages import Page, html_page, markdown  # noqa: E402
from model.selection import selection_score  # noqa: E402
from model.self_ensemble import DESCRIPTIONS  # noqa: E402

COMMAND = "evaluation.report"
GRID = "grid.png"
CURVES = "training_curves.png"


def headline(results: dict[str, Any], layout: ReportLayout) -> str:
    methods = results["methods"]
    model = methods["model"]["hole"]
    best = max((n for n in methods if n != "model"), key=lambda n: methods[n]["hole"]["psnr"])
    delta = model["psnr"] - methods[best]["hole"]["psnr"]
    lpips = methods["model"].get("perceptual", {}).get("lpips")  # absent from older metrics.json
    perceptual = "" if lpips is None else f", LPIPS {lpips:.3f}"
    return (f"Model hole PSNR {model['psnr']:.2f} dB, SSIM {model['ssim']:.3f}, L1 {100 * model['l1']:.2f}%"
            f"{perceptual} on {results['count']} {results['split']} images{layout.headline_suffix}; best baseline "
            f"{results['labels'][best]} {methods[best]['hole']['psnr']:.2f} dB ({delta:+.2f} dB).")


def selection_line(results: dict[str, Any]) -> str:
    """Which checkpoint the evaluated export is, how it was chosen and on which data."""
    metadata = results.get("model_metadata", {})
    selection = metadata.get("selection")
    if not selection:  # an export from before checkpoint selection
        return f"The export is the checkpoint of step {metadata.get('step', '?')}."
    trained = metadata.get("trained_steps", selection["step"])
    if selection["by"] == "latest checkpoint":
        return f"The export is the last checkpoint, step {selection['step']} of {trained} ({selection['why']})."
    line = (f"The export is step {selection['step']} of {trained}, the checkpoint with the best "
            f"{selection['by']} over {selection['evaluations']} periodic evaluations")
    if selection.get("hole") and selection.get("last_hole"):
        metric = selection.get("metric", "psnr")  # exports from before the choice of metric ranked by PSNR
        line += (f" ({selection_score(metric, selection['hole'][metric])}; the last, at step "
                 f"{selection['last_step']}, scored {selection_score(metric, selection['last_hole'][metric])})")
    held_out = results["split"] != "eval"
    return line + (f". The figures here come from the `{results['split']}` split, which neither training nor "
                   "that selection saw." if held_out else
                   ". Caution: these figures come from the same `eval` split that selected it.")


def self_ensemble_line(results: dict[str, Any]) -> str:
    """How many generator passes each fill averages (model/self_ensemble.py); "" for one pass."""
    name = results.get("model_metadata", {}).get("self_ensemble", "none")
    if name == "none":
        return ""
    return f" Each model fill averages the generator's predictions on {DESCRIPTIONS[name]}: self-ensemble {name}."


def coarse_fill_line(results: dict[str, Any]) -> str:
    """What the generator starts from, where that is the harmonic fill (model/networks.py); else ""."""
    if results.get("model_metadata", {}).get("config", {}).get("coarse_fill") != "harmonic":
        return ""
    return (" The model starts from the hole's harmonic fill (the Harmonic fill row) and adds the generator's "
            "correction to it.")


def build_report(run_dir: str, eval_dir: str, output_dir: str) -> dict[str, str]:
    """Writes the report; returns the paths of what it wrote."""
    with open(os.path.join(eval_dir, METRICS)) as f:
        results = json.load(f)
    layout = report_layout(results)
    os.makedirs(output_dir, exist_ok=True)
    plot_grid(results, eval_dir, os.path.join(output_dir, GRID), layout)
    scalars = read_scalars(os.path.join(run_dir, "logs"))
    if not group_panels(scalars):
        scalars = {}
    if scalars:
        plot_training_curves(scalars, os.path.join(output_dir, CURVES))
    else:
        logging.warning("no TensorBoard scalars under %s: the report has no training curves",
                        os.path.join(run_dir, "logs"))
    page = Page(
        title=f"Structural inpainting report: {run_dir}",
        headline=headline(results, layout),
        intro=(f"Run `{run_dir}`, model `{results['model']}`, evaluated on {results['count']} "
               f"`{results['split']}` records of `{results['data']}` ({layout.holes_line(results)}). "
               f"{selection_line(results)}{self_ensemble_line(results)}{coarse_fill_line(results)} "
               f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M}."),
        tables=layout.tables(results),
        grid=GRID,
        grid_caption=layout.grid_caption,
        curves_caption=(f"Training scalars from the TensorBoard logs under `{run_dir}/logs/` (faint: raw; "
                        "solid: smoothed; dashed: the switch from structural to joint adversarial training)."
                        if scalars else
                        f"No TensorBoard scalars were found under `{run_dir}/logs/`."),
        curves=CURVES if scalars else None,
        metadata=json.dumps(results.get("model_metadata", {}), indent=2, sort_keys=True),
    )
    paths = {"html": os.path.join(output_dir, "report.html"), "markdown": os.path.join(output_dir, "report.md"),
             "grid": os.path.join(output_dir, GRID)}
    if scalars:
        paths["curves"] = os.path.join(output_dir, CURVES)
    with open(paths["html"], "w") as f:
        f.write(html_page(page))
    with open(paths["markdown"], "w") as f:
        f.write(markdown(page))
    return paths


def run(argv: list[str] | None = None) -> dict[str, str]:
    parser = CommandParser(COMMAND, prog="python -m evaluation.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the training run directory (TensorBoard logs in RUN/logs)")
    parser.add_argument("--eval", required=True, help="the directory evaluation.evaluate wrote")
    parser.add_argument("--output", required=True, help="where to write the report")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.eval, METRICS)):
        raise UsageError(COMMAND, f"no {METRICS} in --eval {args.eval}",
                         "give the folder evaluation.evaluate wrote (make evaluate)")
    if not os.path.isdir(args.run):
        raise UsageError(COMMAND, f"--run {args.run} is not a folder", "give the run directory model.train wrote "
                                                                       "(make train)")
    make_output(COMMAND, args.output)
    paths = build_report(args.run, args.eval, args.output)
    with open(os.path.join(args.eval, METRICS)) as f:
        results = json.load(f)
    print(f"report: {os.path.abspath(paths['html'])} (also {os.path.abspath(paths['markdown'])})")
    print(headline(results, report_layout(results)))
    print("\n".join(summary_lines(results)))
    return paths


if __name__ == "__main__":
    command_logging()
    run()
