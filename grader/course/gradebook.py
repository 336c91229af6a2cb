"""The gradebook: an embedded SQLite file, one grade per submission's content hash.

Tables: `grades` (one row per content hash: totals, mode, the batch run that graded it and the
full report as JSON), `function_scores` (per graded function: score, status, message) and
`submissions` (which file path holds which content). A grade and its function scores go in one
transaction, after the report file is written, so a batch killed at any instant leaves each
submission either fully recorded or not at all, and a rerun grades exactly the rest. Every
table, column and key is described in docs/gradebook.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import private_folder, write_atomic

FILENAME = "gradebook.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS grades (
    hash TEXT PRIMARY KEY,
    assignment TEXT,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    mode TEXT NOT NULL,
    run TEXT NOT NULL,
    graded_at REAL NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS function_scores (
    hash TEXT NOT NULL REFERENCES grades(hash) ON DELETE CASCADE,
    function TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (hash, function)
);
CREATE TABLE IF NOT EXISTS submissions (
    path TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    report_file TEXT,
    seen_at REAL NOT NULL
);
"""
MODES = ("fast", "full")  # a full-mode grade also answers a fast-mode run


class Gradebook:
    """A connection to one gradebook file (used from one thread)."""

    def __init__(self, path: Path) -> None:
        private_folder(path.parent)
        try:  # owner-only, and so its -wal and -shm files (SQLite gives them the file's mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:  # there already, or not ours to make (connecting then says why)
            pass
        self.path = path
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing committed
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GraderError(f"{path} is not a usable gradebook: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def graded(self, hashes: Iterable[str], mode: str, assignment: str | None = None) -> set[str]:
        """The hashes already graded in `mode` (or a mode that covers it), for `assignment` if given."""
        ok_modes = MODES[MODES.index(mode) :]
        wanted = set(hashes)
        # an internal error is never a grade (the batch does not record one): a rerun retries it
        rows = self.db.execute("SELECT hash, mode, assignment FROM grades WHERE status != 'error'").fetchall()
        return {
            h for h, m, a in rows if h in wanted and m in ok_modes and (assignment is None or a == assignment)
        }

    def report(self, digest: str) -> dict[str, Any]:
        """The stored report of a graded hash."""
        row = self.db.execute("SELECT report FROM grades WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(digest)
        data: dict[str, Any] = json.loads(row[0])
        return data

    def record(
        self, digest: str, report: dict[str, Any], *, mode: str, run: str, files: list[tuple[str, str | None]]
    ) -> None:
        """Store one submission's grade, its function scores and its paths, atomically."""
        now = time.time()
        with self._transaction():
            self.db.execute("DELETE FROM grades WHERE hash = ?", (digest,))
            self.db.execute(
                "INSERT INTO grades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest,
                    report.get("assignment"),
                    report["status"],
                    report["message"],
                    float(report["score"]),
                    float(report["max_score"]),
                    mode,
                    run,
                    now,
                    json.dumps(report),
                ),
            )
            self.db.executemany(
                "INSERT INTO function_scores VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (digest, f["name"], float(f["score"]), float(f["max_score"]), f["status"], f["message"])
                    for f in report.get("functions", [])
                ],
            )
            self._link(files, digest, now)

    def link(self, files: list[tuple[str, str | None]], digest: str) -> None:
        """Record that these paths hold an already graded content."""
        with self._transaction():
            self._link(files, digest, time.time())

    def _link(self, files: list[tuple[str, str | None]], digest: str, now: float) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?)",
            [(_key(path), digest, _key(f) if f else None, now) for path, f in files],
        )

    def rows(self) -> list[dict[str, Any]]:
        """One entry per submission path, joined with its grade and function scores."""
        scores: dict[str, dict[str, dict[str, Any]]] = {}
        for h, name, score, max_score, status, message in self.db.execute(
            "SELECT hash, function, score, max_score, status, message FROM function_scores"
        ):
            scores.setdefault(h, {})[name] = {
                "score": score,
                "max_score": max_score,
                "status": status,
                "message": message,
            }
        query = (
            "SELECT s.path, g.hash, g.assignment, g.status, g.message, g.score, g.max_score, g.mode, "
            "g.graded_at FROM submissions s JOIN grades g ON g.hash = s.hash ORDER BY s.path"
        )
        keys = ("submission", "hash", "assignment", "status", "message", "score", "max_score", "mode")
        out = []
        for row in self.db.execute(query):
            entry = dict(zip(keys, row[:8], strict=True))
            entry["graded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row[8]))
            entry["functions"] = scores.get(row[1], {})
            out.append(entry)
        return out


def open_path(path: Path) -> Gradebook:
    """A gradebook from its file or from the output folder holding it; it must exist."""
    target = path / FILENAME if path.is_dir() else path
    if not target.is_file():
        raise GraderError(f"no gradebook at {target} (grade a batch with --output first)")
    return Gradebook(target)


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
                r["submission"],
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


def _key(path: str) -> str:
    """A path as the gradebook keeps it: absolute (`subs/a.ipynb` from one folder and
    `/course/subs/a.ipynb` are one row), and as text even when the file's name is not UTF-8."""
    return os.fsencode(os.path.abspath(path)).decode("utf-8", "backslashreplace")
