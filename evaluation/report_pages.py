"""The report's two pages, HTML and markdown, with the same content."""
from __future__ import annotations

import dataclasses
import html

from evaluation.report_tables import Cell, Column, Table


@dataclasses.dataclass(frozen=True)
class Page:
    title: str
    headline: str
    intro: str
    tables: list[Table]
    grid: str  # the picture grid's file, beside the pages
    grid_caption: str
    curves_caption: str
    curves: str | None  # the training curves' file, or None where no scalars were logged
    metadata: str  # the export's inpainting.json


def markdown(page: Page) -> str:
    def table(columns: list[Column], rows: list[list[Cell]]) -> str:
        header = ["Method", *(c.header for c in columns)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(f"**{c.text}**" if c.best else c.text for c in r) + " |"
                                   for r in rows])

    parts = [f"# {page.title}", f"**{page.headline}**", page.intro]
    for t in page.tables:
        parts += [f"## {t.heading}", t.caption, table(t.columns, t.rows)]
    parts += ["## Eval images", page.grid_caption, f"![eval images]({page.grid})",
              "## Training curves", page.curves_caption]
    if page.curves:
        parts.append(f"![training curves]({page.curves})")
    parts += ["## How the model was trained", "From the export's `inpainting.json`:",
              f"```json\n{page.metadata}\n```"]
    return "\n\n".join(parts) + "\n"


def html_page(page: Page) -> str:
    e = html.escape

    def table(columns: list[Column], rows: list[list[Cell]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in ["Method", *(c.header for c in columns)])
        body = "".join("<tr>" + "".join(f"<td><strong>{e(c.text)}</strong></td>" if c.best else f"<td>{e(c.text)}</td>"
                                        for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    curves = f'<img src="{e(page.curves)}" alt="training curves">' if page.curves else ""
    tables = "\n".join(f"<h2>{e(t.heading)}</h2><p>{e(t.caption)}</p>{table(t.columns, t.rows)}"
                       for t in page.tables)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(page.title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1500px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 10px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
.headline {{ font-size: 1.2em; font-weight: bold; }}
</style></head><body>
<h1>{e(page.title)}</h1>
<p class="headline">{e(page.headline)}</p>
<p>{e(page.intro)}</p>
{tables}
<h2>Eval images</h2><p>{e(page.grid_caption)}</p><img src="{page.grid}" alt="eval images">
<h2>Training curves</h2><p>{e(page.curves_caption)}</p>{curves}
<h2>How the model was trained</h2><p>From the export's <code>inpainting.json</code>:</p>
<pre>{e(page.metadata)}</pre>
</body></html>
"""
