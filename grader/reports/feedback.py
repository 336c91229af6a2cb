"""The feedback notebook: the student's own notebook with the grade of each graded function in a
cell of ours right before that function's cell; written as `<name>.feedback.ipynb` and, rendered
by `feedback_page`, `<name>.feedback.html`.

In full mode the notebook is the grader's run of it (`<name>.executed.ipynb`, used only when it
is a run of these very bytes); otherwise it is the notebook as saved, and says so. Either way
`safe.notebook` rebuilds it first: what is handed back shows no script and loads nothing.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

from grader.errors import NotebookError
from grader.files import file_names, write_atomic
from grader.reading import notebook, selection
from grader.reports import feedback_page, safe, unbuilt
from grader.results import FunctionResult, Report

# The most a feedback page weighs: the normal budget stays well under it (safe.Budget: 400 k
# characters of source, 300 k of output text, 4 MB of figures); a page still larger (code that
# highlights into many small pieces) is rendered again with less of the notebook in it.
PAGE_CAP = 10 * 1024 * 1024
RAN = "The grader ran this notebook from top to bottom: the outputs below are from that run."
SAVED = (
    "This is the notebook as it was saved: the grader did not run it again, and the outputs "
    "below are the ones stored in the file."
)
NOT_KEPT = (
    "This is the notebook as it was saved: the grader's run of it was not kept, so the outputs "
    "below are the ones stored in the file, not the grader's."
)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _md(text: Any) -> str:
    """Student text (a message, a name) for a markdown cell: shown as the characters it is."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(str(text).split())))


def _num(x: float) -> str:
    return f"{x:g}"


def _function(f: FunctionResult, found: bool) -> dict[str, Any]:
    """What a function's annotation says: hidden cases in the words of their messages (the judge
    gives those no values: their description at most), never their expected values."""
    tests = [
        {
            "name": t.name,
            "hidden": t.hidden,
            "passed": t.passed,
            "points": t.points,
            "max_points": t.max_points,
            "detail": t.detail,
            "mistake": dict(t.mistake) if t.mistake else None,
        }
        for t in f.tests
    ]
    return {
        "kind": "function",
        "name": f.name,
        "found": found,
        "score": f.score,
        "max_score": f.max_score,
        "status": f.status,
        "message": f.message,
        "warnings": list(f.warnings),
        "tests": tests,
        "adjustment": _adjustment(f),
    }


def _adjustment(f: FunctionResult) -> dict[str, Any] | None:
    """What a student is told of an override: the points before and after, and why."""
    a = f.adjustment
    if not a:
        return None
    return {
        "was": float(a.get("was", 0.0)),
        "points": float(a.get("points", f.score)),
        "comment": str(a.get("comment", "")),
    }


def _function_markdown(a: dict[str, Any]) -> str:
    lines = [
        f"### Grader: `{a['name']}`: {_num(a['score'])} / {_num(a['max_score'])} ({_md(a['status'])})",
        "",
        _md(a["message"]),
        "",
    ]
    if a["adjustment"]:
        adj = a["adjustment"]
        lines += [
            f"**Adjusted by the course staff** from {_num(adj['was'])} to {_num(adj['points'])} points: "
            + _md(adj["comment"]),
            "",
        ]
    for t in a["tests"]:
        kind = "hidden" if t["hidden"] else "visible"
        verdict = "passed" if t["passed"] else f"failed: {_md(t['detail'])}"
        lines.append(f"- {_md(t['name'])} ({kind}), {_num(t['points'])} / {_num(t['max_points'])}: {verdict}")
        if t["mistake"]:
            m = t["mistake"]
            lines.append(f"  - looks like {_md(m.get('description', ''))}; hint: {_md(m.get('hint', ''))}")
    lines.extend(f"- warning: {_md(w)}" for w in a["warnings"])
    return "\n".join(lines)


def _summary(report: Report, how: str) -> dict[str, Any]:
    ex = report.extra.get("execution")
    run = None
    if isinstance(ex, dict):
        run = {
            "status": str(ex.get("status", "")),
            "seconds": ex.get("seconds"),
            "message": str(ex.get("message", "")),
        }
    words = {"error": "internal error of the grader", "invalid": "not graded"}
    return {
        "kind": "summary",
        "submission": report.submission,
        "assignment": report.assignment,
        "graded": report.status == "graded",
        "status_word": words.get(report.status, report.status),
        "message": report.message,
        "score": report.score,
        "max_score": report.max_score,
        "percent": report.percent,
        "how": how,
        "run": run,
        "warnings": list(report.warnings),
    }


def _summary_markdown(a: dict[str, Any]) -> str:
    head = f"# Feedback: {_md(a['submission'])}"
    if not a["graded"]:
        return f"{head}\n\n**{_md(a['status_word'])}**: {_md(a['message'])}\n\n{_md(a['how'])}"
    score = f"**{_num(a['score'])} / {_num(a['max_score'])}** ({a['percent']:.1f}%)"
    return f"{head}\n\n{score}\n\n{_md(a['how'])}"


def _ours(source: str, data: dict[str, Any], index: str) -> dict[str, Any]:
    return {"id": f"grader-{index}", "cell_type": "markdown", "metadata": {"grader": data}, "source": source}


def annotated(nb: dict[str, Any], report: Report, cells: dict[str, int], how: str) -> dict[str, Any]:
    """`nb` (from `safe.notebook`) with our summary first and, before each graded function's cell
    (`cells`: 1-based positions), its grade; functions without a cell follow the summary."""
    summary = _summary(report, how)
    before: dict[int, list[dict[str, Any]]] = {}
    first = [_ours(_summary_markdown(summary), summary, "summary")]
    for f in report.functions:
        a = _function(f, f.name in cells)
        cell = _ours(_function_markdown(a), a, re.sub(r"[^A-Za-z0-9_-]", "_", f.name)[:50])  # nbformat's id
        (before.setdefault(cells[f.name], []) if f.name in cells else first).append(cell)
    out = list(first)
    for i, c in enumerate(nb["cells"], start=1):
        out.extend(before.get(i, []))
        out.append(c)
    return {**nb, "cells": out}


def _source(report: Report, path: Path | None, run: Path | None) -> tuple[Any, bytes, str]:
    """The notebook to annotate (nbformat 4), the submitted bytes, and how the notebook came to be."""
    if report.status != "graded" or path is None or path.is_symlink():  # a link is never read
        return {"cells": []}, b"", ""
    data = notebook.read_bytes(path)
    if isinstance(report.extra.get("execution"), dict):
        try:
            executed = notebook.as_v4(notebook.read_bytes(run)) if run is not None else None
        except NotebookError:
            executed = None
        if (
            executed is not None
            and executed.metadata.get(notebook.RUN_OF) == hashlib.sha256(data).hexdigest()
        ):
            return executed, data, RAN
        return notebook.as_v4(data), data, NOT_KEPT
    return notebook.as_v4(data), data, SAVED


def build(report: Report, path: Path | None, run: Path | None = None) -> tuple[str, str]:
    """A submission's feedback notebook (JSON) and page (HTML): `path` is the submitted file,
    `run` where its executed notebook may be. Nothing the notebook holds makes this raise."""
    try:
        nb, data, how = _source(report, path, run)
        parsed = notebook.parse(notebook.loads(data)) if data else None
        cells = selection.graded_cells(parsed, [f.name for f in report.functions]) if parsed else {}
    except NotebookError as exc:
        nb, cells, how = {"cells": []}, {}, f"The notebook could not be read again to show it here: {exc}"
    title = f"Feedback: {report.submission}"
    for budget in (safe.Budget(), safe.SMALL, safe.BARE):
        shown = annotated(safe.notebook(nb, budget), report, cells, how)
        page = feedback_page.render(shown, title)
        if len(page.encode()) <= PAGE_CAP:
            break
    return json.dumps(shown, indent=1, ensure_ascii=False) + "\n", page


def names(reports: list[Report]) -> list[str]:
    """Each submission's feedback page, by `results.file_names` (`<name>.feedback.html`)."""
    return [f"{name}.feedback.html" for name in file_names([r.submission for r in reports])]


def unbuilt_notebook(report: Report, exc: Exception) -> str:
    """The feedback notebook of a submission whose own could not be built (a bug of ours): our
    summary alone, saying so."""
    summary = _summary(
        report, f"This feedback could not be drawn (an internal error of the grader: {unbuilt.why(exc)})."
    )
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [_ours(_summary_markdown(summary), summary, "summary")],
    }
    return json.dumps(nb, indent=1) + "\n"


def write(
    reports: list[Report], sources: list[Path | None], output: Path, failed: list[str] | None = None
) -> list[Path]:
    """`<name>.feedback.ipynb` and `<name>.feedback.html` per submission under `output` (owner-only,
    atomically); `sources`: each report's submitted file, in order. A page that cannot be built
    (a bug of ours) is written as `unbuilt` says, and a line saying so added to `failed`: one
    student's page never costs the others theirs."""
    written = []
    for r, path, name in zip(reports, sources, file_names([r.submission for r in reports]), strict=True):
        try:
            nb, page = build(r, path, output / f"{name}.executed.ipynb")
        except Exception as exc:  # any bug of ours: it costs this page alone
            nb, page = unbuilt_notebook(r, exc), unbuilt.page(r, "its feedback page", exc)
            if failed is not None:
                failed.append(unbuilt.failure(r, "its feedback page", exc))
        for suffix, text in ((".feedback.ipynb", nb), (".feedback.html", page)):
            write_atomic(output / f"{name}{suffix}", text)
            written.append(output / f"{name}{suffix}")
    return written
