"""The report's metrics tables: their columns, their rows (the best of each column marked) and the notes
that say what the columns and the baselines are."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable


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


@dataclasses.dataclass(frozen=True)
class Table:
    heading: str
    caption: str
    columns: list[Column]
    rows: list[list[Cell]]


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


def hole_table(results: dict[str, Any], caption: str) -> Table:
    """Every method's hole metrics over all the evaluated images."""
    rows = metrics_rows(results["methods"], results["labels"], HOLE_COLUMNS)
    return Table("Hole metrics", caption, HOLE_COLUMNS, rows)


def metrics_notes(results: dict[str, Any], vgg_region: str) -> str:
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
