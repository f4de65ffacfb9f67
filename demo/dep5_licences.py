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
    `upstream` (gcompris converted its images to WebP: a pattern's own extension matches too). A
    public-domain licence adds the first sentence of its own text, which says why (`Taken from
    unsplash.com ...`, `From NASA ...`). Where an earlier paragraph names the file by more than its
    folder (`images/land/*-sfiera*` before `images/land/mountain1*`) with another licence, that one is
    named too: the copyright file then says two things of the file, and the reader should see both."""
    stem = upstream[:-len(Path(upstream).suffix)] if Path(upstream).suffix else upstream
    matched: list[tuple[str, dict[str, str]]] = []
    for paragraph in paragraphs:
        for pattern in paragraph.get("Files", "").split():
            if fnmatch.fnmatchcase(upstream, pattern) or fnmatch.fnmatchcase(stem + Path(pattern).suffix, pattern):
                matched.append((pattern, paragraph))
    if not matched:
        return package_statement
    found = matched[-1][1]
    if found["Files"].split() == ["*"]:
        return f"{_licence(found)} (the package-wide `Files: *` paragraph; the file has none of its own)"
    text = _described(found)
    others = {}
    for pattern, paragraph in matched[:-1]:
        if (paragraph is not found and Path(pattern).name.strip("*") and _licence(paragraph) != _licence(found)):
            others.setdefault(_described(paragraph), pattern)
    for described, pattern in others.items():
        text += f"; but the earlier `{pattern}` paragraph says {described}"
    return text


def _licence(paragraph: dict[str, str]) -> str:
    licence, *body = paragraph.get("License", "").split("\n")
    if licence.lower().replace(" ", "-") == "public-domain" and body:
        licence += ": " + re.split(r"(?<=\.)\s", " ".join(body), maxsplit=1)[0]
    return licence


def _described(paragraph: dict[str, str]) -> str:
    source = paragraph.get("Comment", "").split("\n")[0]
    details = "; ".join(part for part in (paragraph.get("Copyright", "").split("\n")[0],
                                          source if source.startswith("http") else "") if part)
    return f"{_licence(paragraph)} ({details})" if details else _licence(paragraph)


def package_statement(text: str, package: str) -> str:
    """What a file with no Files: paragraph of its own falls back to: the package's first License: line
    that names one."""
    first = next((line.strip() for line in text.splitlines()
                  if line.startswith("License:") and line[len("License:"):].strip()), "")
    return f"as the package states: {first}" if first else f"see /usr/share/doc/{package}/copyright"
