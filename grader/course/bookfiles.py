"""The gradebook a row per notebook file (`grader export OUT [--csv F] [--json F]`): each path
joined with its grade and function scores, as CSV or JSON (docs/gradebook.md, "Exports")."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from grader.course.cells import text
from grader.course.gradebook import open_path
from grader.files import write_atomic


def function_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every graded function in the gradebook, in first-seen order."""
    return list(dict.fromkeys(name for r in rows for name in r["functions"]))


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One line per submission, one column per graded function (its score)."""
    functions = function_columns(rows)
    head = ["submission", "assignment", "status", "score", "max_score", "percent", *functions, "hash"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        pct = round(100.0 * r["score"] / r["max_score"], 2) if r["max_score"] else 0.0
        cells = [_num(r["functions"][f]["score"]) if f in r["functions"] else "" for f in functions]
        w.writerow(
            [
                text(r["submission"]),  # a file name a student chose (cells.py)
                r["assignment"] or "",
                r["status"],
                _num(r["score"]),
                _num(r["max_score"]),
                pct,
                *cells,
                r["hash"],
            ]
        )
    return buf.getvalue()


def _num(x: float) -> str:
    return f"{x:g}"


def to_json(rows: list[dict[str, Any]]) -> str:
    """The gradebook as a JSON array, one object per submission."""
    return json.dumps(rows, indent=2)


def export(source: Path, *, csv_path: Path | None = None, json_path: Path | None = None) -> list[Path]:
    """Write the gradebook to the files asked for (neither: gradebook.csv and gradebook.json next
    to it); return the files written."""
    with open_path(source) as book:
        rows = book.rows()
        folder = book.path.parent
    if csv_path is None and json_path is None:
        csv_path, json_path = folder / "gradebook.csv", folder / "gradebook.json"
    written = []
    for path, render in ((csv_path, to_csv), (json_path, to_json)):
        if path is not None:
            write_atomic(path, render(rows))
            written.append(path)
    return written
