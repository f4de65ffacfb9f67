"""A file's licence from a Debian package's machine-readable (DEP-5) copyright file."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path


def copyright_paragraphs(text: str) -> list[dict[str, str]]:
    """The paragraphs of a DEP-5 (machine-readable) copyright file as {field: value}."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def licence_of(paragraphs: list[dict[str, str]], upstream: str, package_statement: str) -> str:
    """Licence, copyright holder and source address of the last Files: paragraph that matches
    `upstream` (gcompris converted its images to WebP: a pattern's own extension matches too)."""
    stem = upstream[:-len(Path(upstream).suffix)] if Path(upstream).suffix else upstream
    found = None
    for paragraph in paragraphs:
        for pattern in paragraph.get("Files", "").split():
            if fnmatch.fnmatchcase(upstream, pattern) or fnmatch.fnmatchcase(stem + Path(pattern).suffix, pattern):
                found = paragraph
    if found is None:
        return package_statement
    licence = found.get("License", "").split("\n")[0]
    if found["Files"].split() == ["*"]:
        return f"{licence} (the package-wide `Files: *` paragraph; the file has none of its own)"
    source = found.get("Comment", "").split("\n")[0]
    details = "; ".join(part for part in (found.get("Copyright", "").split("\n")[0],
                                          source if source.startswith("http") else "") if part)
    return f"{licence} ({details})" if details else licence


def package_statement(text: str, package: str) -> str:
    """What a file with no Files: paragraph of its own falls back to: the package's first License: line."""
    first = next((line.strip() for line in text.splitlines() if line.startswith("License:")), "")
    return f"as the package states: {first}" if first else f"see /usr/share/doc/{package}/copyright"
