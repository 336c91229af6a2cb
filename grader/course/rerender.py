"""Reports follow adjustments: what a batch wrote is rendered again from the gradebook's stored
results plus the overrides in force, nothing graded again.

An override (`grader adjust`) belongs to a student's assignment, so it shows in the report of
every hand-in of that student and assignment: the function's points become the override's, with
`adjustment` ({points, was, comment, who, at}) beside them, and the totals follow. Per report
file `<name>.json`, the files written beside it are rewritten too when they exist: `<name>.html`,
`<name>.feedback.ipynb`/`.html`, Gradescope's `<name>/results.json`. The batch's own files
(summary.txt/.json/.png, index.html, junit.xml, a lone results.json) are rendered again from
`batch.json`, the list of the batch's reports `grader run` leaves beside them. Each file is
written atomically; a report file that is gone is left gone.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from grader.course.gradebook import Gradebook, open_path, path_key
from grader.course.standings import in_force
from grader.files import file_names, write_atomic
from grader.results import from_dict

MANIFEST = "batch.json"
Overrides = dict[str, dict[str, Any]]  # function -> the adjustment applied


def apply(report: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """`report` (a stored report dict) with `overrides` applied to its graded functions."""
    graded = report.get("status") == "graded"
    functions = []
    for f in report.get("functions", []):
        f = {k: v for k, v in f.items() if k != "adjustment"}
        a = overrides.get(f["name"]) if graded else None
        if a is not None:
            shown = {"points": a["points"], "was": f["score"], "comment": a["comment"], "who": a["who"]}
            f = {**f, "score": float(a["points"]), "adjustment": {**shown, "at": _iso(a["at"])}}
        functions.append(f)
    out = {**report, "functions": functions}
    if graded:
        out["score"] = round(sum(f["score"] for f in functions), 6)  # as Report.score: ints stay ints
    return out


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _overrides(book: Gradebook) -> dict[str, Overrides]:
    """Path (as the gradebook keys it) -> the overrides of the students who handed in what it
    holds (a group's members: the newest override of a function wins)."""
    force: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (student, assignment, _), a in in_force(book).items():
        force[(student, assignment)].append(a)
    out: dict[str, Overrides] = defaultdict(dict)
    for row in book.holders():
        for a in force.get((row["student"], row["assignment"]), []):
            kept = out[row["path"]].get(a["function"])
            if kept is None or (kept["at"], kept["id"]) < (a["at"], a["id"]):
                out[row["path"]][a["function"]] = a
    return out


def adjust_batch(
    book_path: Path, files: list[Path], reports: list[dict[str, Any]], output: Path | None
) -> None:
    """After a batch: its reports (in place) with the overrides in force, and their report files
    under `output` rewritten, so everything rendered from them next shows the overrides."""
    with Gradebook(book_path) as book:
        found = _overrides(book)
    if not found:
        return
    names = file_names([str(f) for f in files])
    for i, f in enumerate(files):
        overrides = found.get(path_key(str(f)))
        if overrides:
            reports[i] = apply(reports[i], overrides)
            if output is not None and (output / f"{names[i]}.json").is_file():
                write_atomic(output / f"{names[i]}.json", json.dumps(reports[i], indent=2))


def write_manifest(
    output: Path, files: list[Path], owners: tuple[list[list[str]], list[list[str]]], copies: list[list[str]]
) -> Path:
    """batch.json: the batch's report files in order, their notebooks, their students and copies."""
    doc = {
        "reports": [f"{n}.json" for n in file_names([str(f) for f in files])],
        "sources": [str(f) for f in files],
        "owners": owners[0],
        "counted": owners[1],
        "copies": copies,
    }
    write_atomic(output / MANIFEST, json.dumps(doc, indent=2))
    return output / MANIFEST


def rerender(source: Path, students: set[str]) -> list[Path]:
    """Render again every written report of `students` (each hand-in's report file and what is
    beside it) and the batches holding them; the files written."""
    with open_path(source) as book:
        found = _overrides(book)
        targets: dict[str, tuple[Path, str]] = {}
        for row in book.holders():
            if row["student"] in students and row["report_file"]:
                targets[row["path"]] = (Path(row["report_file"]), row["hash"])
        stored = {}
        for path, (_, digest) in targets.items():
            try:
                stored[path] = book.report(digest)
            except KeyError:  # no grade for what the path holds (never linked without one)
                continue
    written: list[Path] = []
    folders: set[Path] = set()
    for path, (report_file, _) in sorted(targets.items()):
        if path in stored and report_file.is_file() and not report_file.is_symlink():
            written += _one(report_file, Path(path), stored[path], found.get(path, {}))
            folders.add(report_file.parent)
    for folder in sorted(folders):
        written += batch_files(folder)
    return written


def _one(report_file: Path, notebook: Path, stored: dict[str, Any], overrides: Overrides) -> list[Path]:
    """One hand-in's report file and the files beside it, from its stored report."""
    from grader.reports import feedback, formats, html

    try:
        label = json.loads(report_file.read_text(encoding="utf-8")).get("submission")
    except (OSError, ValueError, AttributeError):
        label = None
    report = apply({**stored, "submission": label or stored.get("submission", str(notebook))}, overrides)
    write_atomic(report_file, json.dumps(report, indent=2))
    written = [report_file]
    folder, name = report_file.parent, report_file.stem
    result = from_dict(report)
    pages = [folder / f"{name}.feedback.ipynb", folder / f"{name}.feedback.html"]
    if any(p.is_file() for p in pages):
        for path, text in zip(
            pages, feedback.build(result, notebook, folder / f"{name}.executed.ipynb"), strict=True
        ):
            write_atomic(path, text)
            written.append(path)
    if (folder / f"{name}.html").is_file():
        link = pages[1].name if pages[1].is_file() else None
        write_atomic(folder / f"{name}.html", html.page(result, link))
        written.append(folder / f"{name}.html")
    if (folder / name / "results.json").is_file():
        write_atomic(folder / name / "results.json", json.dumps(formats.gradescope(result), indent=2) + "\n")
        written.append(folder / name / "results.json")
    return written


def batch_files(folder: Path) -> list[Path]:
    """The batch's summary, index page, junit.xml and lone results.json, rendered again from its
    report files (batch.json lists them); nothing without batch.json."""
    from grader.course import intake
    from grader.reading import selection
    from grader.reports import feedback, formats, html, summary

    try:
        m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        reports = [json.loads((folder / name).read_text(encoding="utf-8")) for name in m["reports"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no batch here, or one whose reports are gone: nothing to render them from
    sources, owners = [Path(s) for s in m["sources"]], (m["owners"], m["counted"])
    try:
        students = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("students")
    except (OSError, ValueError, AttributeError):
        students = None
    digest = summary.summarise(
        reports,
        copies=m.get("copies", []),
        code_of=lambda i, fn: selection.source_of(sources[i], fn),
        who=owners[1],
    )
    written = summary.write(digest, folder)
    if students:
        intake.add_to_summary(students, folder)
    results = [from_dict(r) for r in reports]
    if (folder / "index.html").is_file():
        links = [n if (folder / n).is_file() else None for n in feedback.names(results)]
        page = html.index(results, html.page_names(results), digest, links, owners)
        write_atomic(folder / "index.html", page)
        written.append(folder / "index.html")
    if (folder / "junit.xml").is_file():
        written += formats.write_junit(results, folder)
    if len(results) == 1 and (folder / "results.json").is_file():
        written += formats.write_gradescope(results, folder)
    return written
