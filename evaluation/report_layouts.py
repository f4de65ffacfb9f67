"""What the report says and draws differently for each hole layout of an evaluation (metrics.json
`holes`): one object per layout, chosen once by `report_layout`."""
from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes

from evaluation.report_grid import sample_image
from evaluation.report_tables import (HOLE_COLUMNS, PATCH_COLUMNS, Table, hole_table, metrics_notes, metrics_rows,
                                      published_rows)
from model.hole_layouts import hole_layout

# A record's hole kind (tfrecords/masks.py RECORD_KINDS) as the report names it.
KIND_TITLES = {"center": "Centre box", "boxes": "Boxes", "strokes": "Strokes", "user": "User masks"}


class CentreHoleReport:
    """Every image has the same square hole in its centre: the hole table, and the patch figures beside
    the published context encoder's (a centre-hole figure)."""

    headline_suffix = ""
    extra_columns: tuple[str, ...] = ()
    grid_caption = ("Eval images, one per source photo: masked input, each baseline, the model, the "
                    "ground truth; each output's hole PSNR and LPIPS under it.")

    def holes_line(self, results: dict[str, Any]) -> str:
        """The images and their holes, for the introduction."""
        g = results["geometry"]
        top, _, bottom, _ = g["hole_box"]
        return f"{g['image_size']}x{g['image_size']} images, {bottom - top}x{bottom - top} centre hole"

    def tables(self, results: dict[str, Any]) -> list[Table]:
        g = results["geometry"]
        top, _, bottom, _ = g["hole_box"]
        hole, patch = bottom - top, g["patch_size"]
        caption = (f"Hole metrics ({hole}x{hole}, what the model fills). "
                   + metrics_notes(results, f"on the {patch}x{patch} patch"))
        published = (f"{patch}x{patch} patch figures beside the published context-encoder numbers. "
                     f"{results['published']['note']} Our patch includes the {g['overlap']}-px overlap ring, which "
                     f"every method here leaves as the visible true pixels.")
        return [hole_table(results, caption),
                Table("Against the published context encoder", published, PATCH_COLUMNS, published_rows(results))]

    def mark_input(self, ax: Axes, sample: dict[str, Any], eval_dir: str) -> None:
        """The centre hole needs no outline."""


class HolesAnywhereReport:
    """Each record has its own mask of one kind (boxes, strokes, ...): the hole table of every image
    and one per kind; the grid outlines each hole, shows its mask and names its kind."""

    headline_suffix = " with holes anywhere"
    extra_columns = ("mask",)
    grid_caption = ("Eval images, one per source photo, in turns over the hole kinds (named on the left): "
                    "masked input with the hole outlined, the hole mask (white: hole), each baseline, the "
                    "model, the ground truth; each output's hole PSNR and LPIPS under it.")

    def holes_line(self, results: dict[str, Any]) -> str:
        """The images and their holes, for the introduction."""
        size = results["geometry"]["image_size"]
        kinds = ", ".join(f"{k['count']} {KIND_TITLES[kind].lower()}" for kind, k in results["kinds"].items())
        return f"{size}x{size} images, holes anywhere, a mask per record: {kinds}"

    def tables(self, results: dict[str, Any]) -> list[Table]:
        size = results["geometry"]["image_size"]
        caption = ("Hole metrics over each record's own hole pixels (its mask: what the model fills), every hole "
                   "kind together. " + metrics_notes(results, f"on the whole {size}x{size} image, the fill "
                                                              "composited into the context"))
        tables = [hole_table(results, caption)]
        for kind, summary in results["kinds"].items():
            tables.append(Table(f"Hole metrics: {KIND_TITLES[kind].lower()}",
                                f"The {summary['count']} images whose holes are {KIND_TITLES[kind].lower()}, "
                                f"{100 * summary['hole_area']:.0f}% of the image on average; the best value of "
                                f"each column in bold.", HOLE_COLUMNS,
                                metrics_rows(results["by_kind"][kind], results["labels"], HOLE_COLUMNS)))
        return tables

    def mark_input(self, ax: Axes, sample: dict[str, Any], eval_dir: str) -> None:
        """The hole's outline in yellow, and the row's hole kind on its left."""
        ax.contour(sample_image(eval_dir, sample, "mask") > 0, levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_ylabel(KIND_TITLES[sample["kind"]], fontsize=11)


ReportLayout = CentreHoleReport | HolesAnywhereReport


def report_layout(results: dict[str, Any]) -> ReportLayout:
    """The report of metrics.json's hole layout (`holes`, model/hole_layouts.py)."""
    return CentreHoleReport() if hole_layout(results["holes"]).fixed_hole else HolesAnywhereReport()
