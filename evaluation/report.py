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

import dataclasses
import datetime
import glob
import html
import json
import logging
import os
import re
from collections import defaultdict
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402

from common.logs import command_logging
from evaluation.evaluate import ANYWHERE, METRICS, summary_lines  # noqa: E402
from model.export import selection_score  # noqa: E402
from model.self_ensemble import DESCRIPTIONS  # noqa: E402
from common.paths import make_output  # noqa: E402
from common.usage import CommandParser, UsageError  # noqa: E402

COMMAND = "evaluation.report"
GRID = "grid.png"
CURVES = "training_curves.png"
# A record's hole kind (tfrecords/masks.py RECORD_KINDS) as the report names it.
KIND_TITLES = {"center": "Centre box", "boxes": "Boxes", "strokes": "Strokes", "user": "User masks"}
# tag -> run (the folder under logs/ that holds the events, e.g. "train", "eval") -> [(step, value)]
Scalars = dict[str, dict[str, list[tuple[int, float]]]]
# panel title -> series label -> [(step, value)]
Panels = dict[str, dict[str, list[tuple[int, float]]]]
# The trainer logs `phase1_structural/pixel`, `phase2_joint/pixel`, ... and `hole/psnr`, `patch/psnr`:
# such a first component names a series of the panel its second names. Any other `a/b` is panel a,
# series b.
SERIES_PREFIX = re.compile(r"^(phase\d+\w*|hole|patch)$")
PHASE_TAG = "phase"


def read_scalars(log_dir: str) -> Scalars:
    """Every scalar in the TensorBoard event files under `log_dir`, old-style or tensor summaries."""
    series: Scalars = defaultdict(lambda: defaultdict(list))
    for path in sorted(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True)):
        run = os.path.relpath(os.path.dirname(path), log_dir)
        run = "" if run == "." else run
        try:
            for record in tf.data.TFRecordDataset(path):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    scalar = _scalar(value)
                    if scalar is not None:
                        series[value.tag][run].append((int(event.step), scalar))
        except tf.errors.DataLossError:
            # A trainer killed mid-write leaves a truncated last record; what came before is good.
            logging.warning("truncated event file %s: using the records before the damage", path)
    return {tag: {run: sorted(points) for run, points in runs.items()} for tag, runs in sorted(series.items())}


def _scalar(value) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.metadata.plugin_data.plugin_name in ("scalars", ""):
        array = tf.make_ndarray(value.tensor)
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            return float(array.reshape(()))
    return None


def group_panels(scalars: Scalars) -> Panels:
    """Scalars arranged as panels of series: losses first (one panel per loss, a series per training
    phase), then eval metrics (a series per region), then the rest. The `phase` tag is left out: the
    plot marks phase changes instead."""
    panels: dict[tuple[int, str], dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    for tag, runs in scalars.items():
        if tag == PHASE_TAG:
            continue
        first, _, rest = tag.partition("/")
        if rest and SERIES_PREFIX.match(first):
            order = 0 if first.startswith("phase") else 1
            panel, series = rest, first
        else:
            order, panel, series = 2, (first if rest else tag), rest
        for run, points in runs.items():
            label = "/".join(p for p in (run if len(runs) > 1 or not series else "", series) if p) or run
            panels[(order, panel)][label] = points
    return {panel: dict(sorted(series.items())) for (_, panel), series in sorted(panels.items())}


def phase_changes(scalars: Scalars) -> list[int]:
    """The steps at which the logged training phase changes."""
    points = sorted(p for runs in scalars.get(PHASE_TAG, {}).values() for p in runs)
    return [step for (_, before), (step, after) in zip(points, points[1:]) if after != before]


def plot_training_curves(scalars: Scalars, path: str) -> None:
    """One panel per quantity; noisy series drawn faint with a smoothed line over them; dashed lines
    where the training phase changes."""
    panels, changes = group_panels(scalars), phase_changes(scalars)
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.4 * rows), squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items()):
        for i, (label, points) in enumerate(series.items()):
            steps, values = np.array([p[0] for p in points]), np.array([p[1] for p in points])
            colour = f"C{i}"
            if len(points) > 20:
                ax.plot(steps, values, color=colour, alpha=0.25, linewidth=1)
                ax.plot(steps, _smooth(values), color=colour, linewidth=1.8, label=label or None)
            else:
                ax.plot(steps, values, color=colour, marker="o", markersize=3, linewidth=1.5, label=label or None)
        for step in changes:
            ax.axvline(step, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("step")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.grid(alpha=0.3)
        if any(series):
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """TensorBoard's debiased exponential moving average."""
    out, last = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out[i] = last / (1 - weight ** (i + 1))
    return out


def plot_grid(results: dict[str, Any], eval_dir: str, path: str) -> None:
    """Rows of eval images; columns masked input, each baseline, the model, the truth. For holes
    anywhere the masked input has the hole outlined, a column shows the mask and each row names its
    hole kind."""
    labels = results["labels"]
    anywhere = results.get("holes") == ANYWHERE
    columns = ["masked", *(["mask"] if anywhere else []), *labels, "truth"]
    titles = {"masked": "Masked input", "mask": "Hole mask", **labels, "truth": "Ground truth"}
    samples = results["samples"]
    cell = 2.3
    fig, axes = plt.subplots(len(samples), len(columns), figsize=(cell * len(columns), cell * len(samples) + 0.6),
                             squeeze=False)
    for r, sample in enumerate(samples):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(np.asarray(Image.open(os.path.join(eval_dir, sample["images"][name]))),
                      interpolation="nearest", cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[name].replace(" (", "\n("), fontsize=11)
            if anywhere and name == "masked":
                hole = np.asarray(Image.open(os.path.join(eval_dir, sample["images"]["mask"]))) > 0
                ax.contour(hole, levels=[0.5], colors="yellow", linewidths=0.8)
                ax.set_ylabel(KIND_TITLES[sample["kind"]], fontsize=11)
            if name in sample["hole_psnr"]:
                label = f"hole PSNR {sample['hole_psnr'][name]:.1f} dB"
                if name in sample.get("lpips", {}):
                    label += f"\nLPIPS {sample['lpips'][name]:.3f}"
                ax.set_xlabel(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclasses.dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False  # the best value of its column: drawn bold


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    group: str  # "hole", "patch" or "perceptual": where in metrics.json's methods[name]
    key: str
    format: Callable[[float], str]
    higher_is_better: bool


def region_columns(region: str) -> list[Column]:
    return [Column("PSNR (dB)", region, "psnr", "{:.2f}".format, True),
            Column("SSIM", region, "ssim", "{:.3f}".format, True),
            Column("mean L1 (%)", region, "l1", lambda v: f"{100 * v:.2f}", False),
            Column("mean L2 (%)", region, "l2", lambda v: f"{100 * v:.2f}", False)]


PERCEPTUAL_COLUMNS = [Column("LPIPS", "perceptual", "lpips", "{:.3f}".format, False),
                      Column("VGG feature distance", "perceptual", "vgg_feature", "{:.3f}".format, False)]
HOLE_COLUMNS = region_columns("hole") + PERCEPTUAL_COLUMNS
PATCH_COLUMNS = region_columns("patch")


def metrics_rows(methods: dict[str, Any], labels: dict[str, str], columns: list[Column]) -> list[list[Cell]]:
    """One row per method of `methods` (metrics.json's `methods`, or one kind's `by_kind` entry), best
    hole PSNR first; a metric the evaluation lacks reads "-"."""

    def value(name: str, column: Column) -> float | None:
        return methods[name].get(column.group, {}).get(column.key)

    best = {}
    for column in columns:
        values = [v for v in (value(n, column) for n in methods) if v is not None]
        if values:
            best[column.key] = max(values) if column.higher_is_better else min(values)
    rows = []
    for name in sorted(methods, key=lambda n: -methods[n]["hole"]["psnr"]):
        row = [Cell(labels[name])]
        for column in columns:
            v = value(name, column)
            row.append(Cell("-") if v is None else Cell(column.format(v), v == best[column.key]))
        rows.append(row)
    return rows


def published_rows(results: dict[str, Any]) -> list[list[Cell]]:
    """The published figures (never marked best: another dataset), then ours on the patch."""
    rows = [[Cell(f"{name} (published, Paris StreetView)"), Cell(f"{m['psnr']:.2f}"), Cell("-"),
             Cell(f"{100 * m['l1']:.2f}"), Cell(f"{100 * m['l2']:.2f}")]
            for name, m in results["published"]["methods"].items()]
    return rows + metrics_rows(results["methods"], results["labels"], PATCH_COLUMNS)


def headline(results: dict[str, Any]) -> str:
    methods = results["methods"]
    model = methods["model"]["hole"]
    best = max((n for n in methods if n != "model"), key=lambda n: methods[n]["hole"]["psnr"])
    delta = model["psnr"] - methods[best]["hole"]["psnr"]
    lpips = methods["model"].get("perceptual", {}).get("lpips")  # absent from older metrics.json
    perceptual = "" if lpips is None else f", LPIPS {lpips:.3f}"
    return (f"Model hole PSNR {model['psnr']:.2f} dB, SSIM {model['ssim']:.3f}, L1 {100 * model['l1']:.2f}%"
            f"{perceptual} on {results['count']} {results['split']} images"
            f"{' with holes anywhere' if results.get('holes') == ANYWHERE else ''}; best baseline "
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


@dataclasses.dataclass(frozen=True)
class Table:
    heading: str
    caption: str
    columns: list[Column]
    rows: list[list[Cell]]


def centre_tables(results: dict[str, Any]) -> list[Table]:
    """The hole table and the patch figures beside the published context encoder's."""
    g = results["geometry"]
    top, _, bottom, _ = g["hole_box"]
    hole, patch = bottom - top, g["patch_size"]
    caption = (f"Hole metrics ({hole}x{hole}, what the model fills). "
               + _metrics_notes(results, f"on the {patch}x{patch} patch"))
    published = (f"{patch}x{patch} patch figures beside the published context-encoder numbers. "
                 f"{results['published']['note']} Our patch includes the {g['overlap']}-px overlap ring, which "
                 f"every method here leaves as the visible true pixels.")
    return [_hole_table(results, caption),
            Table("Against the published context encoder", published, PATCH_COLUMNS, published_rows(results))]


def anywhere_tables(results: dict[str, Any]) -> list[Table]:
    """The hole table of every image, then one per hole kind."""
    size = results["geometry"]["image_size"]
    caption = ("Hole metrics over each record's own hole pixels (its mask: what the model fills), every hole kind "
               "together. " + _metrics_notes(results, f"on the whole {size}x{size} image, the fill composited "
                                                      "into the context"))
    tables = [_hole_table(results, caption)]
    for kind, summary in results["kinds"].items():
        tables.append(Table(f"Hole metrics: {KIND_TITLES[kind].lower()}",
                            f"The {summary['count']} images whose holes are {KIND_TITLES[kind].lower()}, "
                            f"{100 * summary['hole_area']:.0f}% of the image on average; the best value of each "
                            f"column in bold.", HOLE_COLUMNS,
                            metrics_rows(results["by_kind"][kind], results["labels"], HOLE_COLUMNS)))
    return tables


def _hole_table(results: dict[str, Any], caption: str) -> Table:
    rows = metrics_rows(results["methods"], results["labels"], HOLE_COLUMNS)
    return Table("Hole metrics", caption, HOLE_COLUMNS, rows)


def _metrics_notes(results: dict[str, Any], vgg_region: str) -> str:
    """What the hole table's columns and the baselines are."""
    size = results["geometry"]["image_size"]
    skipped = results.get("perceptual_settings", {}).get("vgg_feature", {}).get("skipped")
    return (f"PSNR peak 255; L1/L2 are mean absolute/squared error as % of the pixel range. Mean colour fill paints "
            f"the hole with the mean of the image's visible pixels; OpenCV radius "
            f"{results['baseline_settings']['opencv_inpaint_radius']} px; FSR is OpenCV's Frequency Selective "
            f"Reconstruction, fast profile. The harmonic fill paints each hole pixel with the mean of its neighbours "
            f"(this project's, model/harmonic_fill.py): what a harmonic-start model refines. LPIPS: LPIPS(VGG) of the whole {size}x{size} inpainted image against "
            f"the original. VGG feature distance: the structural loss's VGG16 term (conv1_1, conv2_1, conv3_1, "
            f"each normalised by the truth's mean square) {vgg_region}"
            + (f" (not computed: {skipped})" if skipped else "")
            + ". Both are distances, lower is better. The best value of each column is in bold.")


def _holes_line(results: dict[str, Any]) -> str:
    """The images and their holes, for the introduction."""
    g = results["geometry"]
    images = f"{g['image_size']}x{g['image_size']} images"
    if results.get("holes") != ANYWHERE:
        top, _, bottom, _ = g["hole_box"]
        return f"{images}, {bottom - top}x{bottom - top} centre hole"
    kinds = ", ".join(f"{k['count']} {KIND_TITLES[kind].lower()}" for kind, k in results["kinds"].items())
    return f"{images}, holes anywhere, a mask per record: {kinds}"


def build_report(run_dir: str, eval_dir: str, output_dir: str) -> dict[str, str]:
    """Writes the report; returns the paths of what it wrote."""
    with open(os.path.join(eval_dir, METRICS)) as f:
        results = json.load(f)
    os.makedirs(output_dir, exist_ok=True)
    plot_grid(results, eval_dir, os.path.join(output_dir, GRID))
    scalars = read_scalars(os.path.join(run_dir, "logs"))
    if not group_panels(scalars):
        scalars = {}
    if scalars:
        plot_training_curves(scalars, os.path.join(output_dir, CURVES))
    else:
        logging.warning("no TensorBoard scalars under %s: the report has no training curves",
                        os.path.join(run_dir, "logs"))
    anywhere = results.get("holes") == ANYWHERE
    page = {
        "title": f"Structural inpainting report: {run_dir}",
        "headline": headline(results),
        "intro": (f"Run `{run_dir}`, model `{results['model']}`, evaluated on {results['count']} "
                  f"`{results['split']}` records of `{results['data']}` ({_holes_line(results)}). "
                  f"{selection_line(results)}{self_ensemble_line(results)}{coarse_fill_line(results)} "
                  f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M}."),
        "tables": anywhere_tables(results) if anywhere else centre_tables(results),
        "grid_caption": ("Eval images, one per source photo, in turns over the hole kinds (named on the left): "
                         "masked input with the hole outlined, the hole mask (white: hole), each baseline, the "
                         "model, the ground truth; each output's hole PSNR and LPIPS under it." if anywhere else
                         "Eval images, one per source photo: masked input, each baseline, the model, the "
                         "ground truth; each output's hole PSNR and LPIPS under it."),
        "curves_caption": (f"Training scalars from the TensorBoard logs under `{run_dir}/logs/` (faint: raw; "
                           "solid: smoothed; dashed: the switch from structural to joint adversarial training)."
                           if scalars else
                           f"No TensorBoard scalars were found under `{run_dir}/logs/`."),
        "curves": CURVES if scalars else None,
        "metadata": json.dumps(results.get("model_metadata", {}), indent=2, sort_keys=True),
    }
    paths = {"html": os.path.join(output_dir, "report.html"), "markdown": os.path.join(output_dir, "report.md"),
             "grid": os.path.join(output_dir, GRID)}
    if scalars:
        paths["curves"] = os.path.join(output_dir, CURVES)
    with open(paths["html"], "w") as f:
        f.write(_html(page))
    with open(paths["markdown"], "w") as f:
        f.write(_markdown(page))
    return paths


def _markdown(page: dict[str, Any]) -> str:
    def table(columns, rows):
        header = ["Method", *(c.header for c in columns)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(f"**{c.text}**" if c.best else c.text for c in r) + " |"
                                   for r in rows])

    parts = [f"# {page['title']}", f"**{page['headline']}**", page["intro"]]
    for t in page["tables"]:
        parts += [f"## {t.heading}", t.caption, table(t.columns, t.rows)]
    parts += ["## Eval images", page["grid_caption"], f"![eval images]({GRID})",
              "## Training curves", page["curves_caption"]]
    if page["curves"]:
        parts.append(f"![training curves]({page['curves']})")
    parts += ["## How the model was trained", "From the export's `inpainting.json`:",
              f"```json\n{page['metadata']}\n```"]
    return "\n\n".join(parts) + "\n"


def _html(page: dict[str, Any]) -> str:
    e = html.escape

    def table(columns, rows):
        head = "".join(f"<th>{e(h)}</th>" for h in ["Method", *(c.header for c in columns)])
        body = "".join("<tr>" + "".join(f"<td><strong>{e(c.text)}</strong></td>" if c.best else f"<td>{e(c.text)}</td>"
                                        for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    curves = f'<img src="{e(page["curves"])}" alt="training curves">' if page["curves"] else ""
    tables = "\n".join(f"<h2>{e(t.heading)}</h2><p>{e(t.caption)}</p>{table(t.columns, t.rows)}"
                       for t in page["tables"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(page['title'])}</title>
<style>
body {{ font-family: sans-serif; max-width: 1500px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 10px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
.headline {{ font-size: 1.2em; font-weight: bold; }}
</style></head><body>
<h1>{e(page['title'])}</h1>
<p class="headline">{e(page['headline'])}</p>
<p>{e(page['intro'])}</p>
{tables}
<h2>Eval images</h2><p>{e(page['grid_caption'])}</p><img src="{GRID}" alt="eval images">
<h2>Training curves</h2><p>{e(page['curves_caption'])}</p>{curves}
<h2>How the model was trained</h2><p>From the export's <code>inpainting.json</code>:</p>
<pre>{e(page['metadata'])}</pre>
</body></html>
"""


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
    print(headline(results))
    print("\n".join(summary_lines(results)))
    return paths


if __name__ == "__main__":
    command_logging()
    run()
