"""A student's notebook made safe to hand back: only what shows without script or network, in a
bounded size.

The notebook is rebuilt, never edited: each cell keeps its type, its source and the outputs a
page can show as they are (text, PNG and JPEG figures, sanitised HTML), cut to the budgets
below; metadata, attachments, widgets, JavaScript, SVG and everything unknown are left out
(output metadata reaches attributes nbconvert's templates write unquoted: a `width` of
`1 onerror=...` would be an attribute of its own). Cell positions are kept, so a cell index
grading found is still that cell's index here.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import nh3

from grader.results import unsurrogate

# What a rendered page keeps of student HTML (a table from pandas, markup in markdown cells):
# structure and text; no image (an external one would load), no class or style (a student's
# output must not dress up as the grader's verdicts), links only to the web.
HTML_TAGS = {
    *("p", "br", "hr", "b", "i", "em", "strong", "u", "s", "code", "pre", "kbd", "samp", "sub", "sup"),
    *("span", "div", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "a"),
    *("h1", "h2", "h3", "h4", "h5", "h6"),
    *("table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption"),
}
HTML_ATTRIBUTES = {"a": {"href", "title"}, "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
SHOWN = ("image/png", "image/jpeg", "text/html", "text/plain", "text/markdown", "text/latex")
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def html(fragment: str) -> str:
    """Student HTML with everything that could run or load removed (ammonia, through nh3)."""
    return nh3.clean(
        unsurrogate(fragment),  # a lone surrogate cannot cross into Rust: nh3 would raise
        tags=HTML_TAGS,
        attributes=HTML_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@dataclass(frozen=True)
class Budget:
    """How much of a notebook a page shows (characters; figures as base64)."""

    source: int = 20_000  # one cell's source
    sources: int = 400_000  # all sources
    text: int = 10_000  # one output's text: a stream, a traceback, a table
    texts: int = 300_000  # all outputs' text
    image: int = 1_000_000  # one figure
    images: int = 4_000_000  # all figures
    figures: int = 40  # how many figures


# What a page keeps when the normal budget still renders too large (see feedback.PAGE_CAP).
SMALL = Budget(2_000, 60_000, 2_000, 40_000, 400_000, 1_500_000, 12)
BARE = Budget(500, 20_000, 0, 0, 0, 0, 0)


class _Left:
    """What is left of a budget while a notebook is rebuilt."""

    def __init__(self, budget: Budget) -> None:
        self.b = budget
        self.sources, self.texts, self.images, self.figures = (
            budget.sources,
            budget.texts,
            budget.images,
            budget.figures,
        )

    def source(self, text: str) -> str:
        kept = _cut(text, min(self.b.source, max(self.sources, 0)), "of this cell")
        self.sources -= min(len(text), self.b.source)
        return kept

    def text(self, text: str) -> str | None:
        if self.texts <= 0:
            return None
        kept = _cut(text, min(self.b.text, self.texts), "of this output")
        self.texts -= len(kept)
        return kept

    def image(self, b64: str) -> bool:
        if self.figures <= 0 or len(b64) > min(self.b.image, self.images):
            return False
        self.figures -= 1
        self.images -= len(b64)
        return True


def _cut(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit:,} more characters {what} not shown here]"


def _text(value: Any) -> str:
    """Student text as a page can hold it: lone surrogates (valid JSON, but no UTF-8) escaped."""
    if isinstance(value, str):
        return unsurrogate(value)
    if isinstance(value, list):
        return unsurrogate("".join(v for v in value if isinstance(v, str)))
    return ""


def _count(value: Any) -> int | None:
    """An execution count as nbformat's schema takes it (an integer >= 0, else none): a student's
    -1 or `true` would fail the exporter's validation, and the page with it."""
    return value if type(value) is int and value >= 0 else None


def _image(value: Any, mime: str) -> str | None:
    """A figure's base64, when it is one: base64 text that decodes to the format's signature."""
    b64 = "".join(_text(value).split())
    if not b64 or not _BASE64.match(b64):
        return None
    try:
        head = base64.b64decode(b64[:16])
    except (binascii.Error, ValueError):
        return None
    return b64 if head.startswith(_MAGIC[mime]) else None


def _note(text: str) -> dict[str, Any]:
    # a note may name the notebook's own MIME types: surrogates and all
    return {"output_type": "stream", "name": "stderr", "text": f"[{unsurrogate(text)}]\n"}


def _data(data: Any, left: _Left) -> tuple[dict[str, str], list[str]]:
    """The MIME bundle a page may show, and notes on what it leaves out."""
    data = data if isinstance(data, dict) else {}
    kept: dict[str, str] = {}
    notes: list[str] = []
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            b64 = _image(data[mime], mime)
            if b64 is not None and left.image(b64):
                kept[mime] = b64
            else:
                notes.append(f"a figure ({mime}) not shown here: not a valid image, or past the page's limit")
    if "text/html" in data and not kept:
        text = left.text(_text(data["text/html"]))
        if text is not None:
            kept["text/html"] = html(text)
    for mime in ("text/plain", "text/markdown", "text/latex"):  # shown as text, escaped
        if mime in data and "text/plain" not in kept:
            text = left.text(_text(data[mime]))
            if text is not None:
                kept["text/plain"] = text
    others = sorted(m for m in data if m not in SHOWN)
    if others and not any(m.startswith("image/") for m in kept):
        notes.append(
            f"output of type {', '.join(others)[:200]} not shown here (it can run script or load files)"
        )
    return kept, notes


def _output(out: Any, left: _Left) -> list[dict[str, Any]]:
    if not isinstance(out, dict):
        return []
    kind = out.get("output_type")
    if kind == "stream":
        text = left.text(_text(out.get("text")))
        if text is None:
            return [_note("more output not shown here: the page's size limit was reached")]
        return [
            {
                "output_type": "stream",
                "name": "stderr" if out.get("name") == "stderr" else "stdout",
                "text": text,
            }
        ]
    if kind == "error":
        lines = out.get("traceback")
        lines = lines if isinstance(lines, list) else []
        trace = left.text(_text("\n".join(line for line in lines if isinstance(line, str))))
        return [
            {
                "output_type": "error",
                "ename": _text(out.get("ename"))[:200],
                "evalue": _text(out.get("evalue"))[:1000],
                "traceback": [trace] if trace else [],
            }
        ]
    if kind in ("display_data", "execute_result"):
        data, notes = _data(out.get("data"), left)
        shown: list[dict[str, Any]] = []
        if data:
            shown.append({"output_type": "display_data", "data": data, "metadata": {}})
            if kind == "execute_result":
                shown[0].update(output_type=kind, execution_count=_count(out.get("execution_count")))
        return shown + [_note(n) for n in notes]
    return []


def cell(raw: Any, index: int, left: _Left) -> dict[str, Any]:
    """One cell rebuilt: its type, source and showable outputs; nothing else."""
    raw = raw if isinstance(raw, dict) else {}
    kind = raw.get("cell_type") if raw.get("cell_type") in ("code", "markdown", "raw") else "raw"
    built: dict[str, Any] = {"id": f"cell-{index}", "cell_type": kind, "metadata": {}}
    built["source"] = left.source(_text(raw.get("source")))
    if kind == "code":
        built["execution_count"] = _count(raw.get("execution_count"))
        outputs = raw.get("outputs")
        outputs = outputs if isinstance(outputs, list) else []
        built["outputs"] = [o for out in outputs for o in _output(out, left)]
    return built


def notebook(nb: Any, budget: Budget = Budget()) -> dict[str, Any]:
    """A notebook (nbformat 4, as `reading.notebook.as_v4` gives it) rebuilt as plain nbformat 4
    JSON: the same cells in the same places, each made safe and cut to `budget`."""
    left = _Left(budget)
    cells = nb.get("cells") if isinstance(nb, dict) else None
    rebuilt = [cell(c, i, left) for i, c in enumerate(cells if isinstance(cells, list) else [], start=1)]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
        "cells": rebuilt,
    }
