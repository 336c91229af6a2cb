"""The gradebook: an embedded SQLite file, one grade per submission's content hash, and the
students who handed each content in.

Tables: `grades` (one row per content hash: totals, mode, the batch run that graded it and the
full report as JSON), `function_scores` (per graded function: score, status, message) and
`submissions` (which file path holds which content). A grade and its function scores go in one
transaction, after the report file is written, so a batch killed at any instant leaves each
submission either fully recorded or not at all, and a rerun grades exactly the rest. A grade
replaced (by --regrade, or because the assignment's spec or expected/ changed since: `basis`)
goes to `grade_history` first. `handins` says which student handed in which content when (and
late or not), `students` holds the roster, `adjustments` the instructor's overrides (and
`withdrawals`, those undone). Every table,
column and key is described in docs/gradebook.md; `SCHEMA_VERSION` is SQLite's user_version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import private_folder

FILENAME = "gradebook.sqlite"
# 1 (no user_version set): grades, function_scores, submissions only; 2: no withdrawals, no variant
SCHEMA_VERSION = 3
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
    report TEXT NOT NULL,
    basis TEXT,
    variant TEXT
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
CREATE TABLE IF NOT EXISTS grade_history (
    hash TEXT NOT NULL,
    assignment TEXT,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    mode TEXT NOT NULL,
    run TEXT NOT NULL,
    graded_at REAL NOT NULL,
    basis TEXT,
    report TEXT NOT NULL,
    replaced_at REAL NOT NULL,
    variant TEXT
);
CREATE TABLE IF NOT EXISTS handins (
    student TEXT NOT NULL,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    assignment TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    handed_at REAL,
    late INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    layout TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (student, path, hash)
);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    section TEXT NOT NULL,
    sis_id TEXT NOT NULL,
    login TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adjustments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    function TEXT NOT NULL,
    points REAL NOT NULL,
    comment TEXT NOT NULL,
    who TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS withdrawals (
    adjustment INTEGER PRIMARY KEY REFERENCES adjustments(id),
    who TEXT NOT NULL,
    at REAL NOT NULL
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
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise GraderError(f"{path} is not a usable gradebook: {exc}") from None

    def _migrate(self) -> None:
        """Bring a version-1 gradebook (or a new file) to this version; refuse a newer one."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.db.close()
            raise GraderError(
                f"{self.path} was written by a newer grader (gradebook version {version}, this grader "
                f"reads up to {SCHEMA_VERSION}): upgrade grader, or grade into a new --gradebook"
            )
        if version == SCHEMA_VERSION:
            return
        with self._transaction():  # additive: a version-1 file keeps every grade it holds
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(grades)")}
            if "basis" not in columns:  # NULL: graded against unknown expected values
                self.db.execute("ALTER TABLE grades ADD COLUMN basis TEXT")
            for table in ("grades", "grade_history"):  # NULL: the public hidden cases graded
                if "variant" not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN variant TEXT")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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

    def graded(
        self,
        hashes: Iterable[str],
        mode: str,
        assignment: str | None = None,
        basis: dict[str, str] | None = None,
    ) -> set[str]:
        """The hashes already graded in `mode` (or a mode that covers it), for `assignment` if given,
        and (given `basis`, assignment -> digest of its spec and expected values) against the
        assignment as it is now: a grade made against an older expected/ is graded again."""
        ok_modes = MODES[MODES.index(mode) :]
        wanted = set(hashes)
        # an internal error is never a grade (the batch does not record one): a rerun retries it
        query = "SELECT hash, mode, assignment, basis FROM grades WHERE status != 'error'"
        return {
            h
            for h, m, a, b in self.db.execute(query)
            if h in wanted
            and m in ok_modes
            and (assignment is None or a == assignment)
            and (basis is None or a is None or b == basis.get(a))
        }

    def report(self, digest: str) -> dict[str, Any]:
        """The stored report of a graded hash."""
        row = self.db.execute("SELECT report FROM grades WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(digest)
        data: dict[str, Any] = json.loads(row[0])
        return data

    def record(
        self,
        digest: str,
        report: dict[str, Any],
        *,
        mode: str,
        run: str,
        files: list[tuple[str, str | None]],
        basis: str | None = None,
    ) -> None:
        """Store one submission's grade, its function scores and its paths, atomically; the grade
        it replaces goes to grade_history."""
        now = time.time()
        with self._transaction():
            kept = "hash, assignment, status, score, max_score, mode, run, graded_at, basis, report"
            self.db.execute(
                f"INSERT INTO grade_history ({kept}, replaced_at, variant) SELECT {kept}, ?, variant "
                "FROM grades WHERE hash = ?",
                (now, digest),
            )
            self.db.execute("DELETE FROM grades WHERE hash = ?", (digest,))
            self.db.execute(
                "INSERT INTO grades (hash, assignment, status, message, score, max_score, mode, run, "
                "graded_at, report, basis, variant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    basis,
                    report.get("variant"),  # "": the shared secret cases; an id: a student's
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
            [(path_key(path), digest, path_key(f) if f else None, now) for path, f in files],
        )

    # ------------------------------------------------------------------------- students

    def record_handins(self, entries: list[dict[str, Any]]) -> None:
        """Store who handed in which content (keys as the `handins` columns, `path` as given);
        a hand-in seen before keeps its row."""
        now = time.time()
        cols = ["student", "path", "hash", "assignment", "label", "name", "email", "handed_at", "late"]
        cols += ["attempt", "layout"]
        rows = [(*(e[c] if c != "path" else path_key(e[c]) for c in cols), now) for e in entries]
        with self._transaction():
            self.db.executemany(
                f"INSERT OR IGNORE INTO handins ({', '.join(cols)}, recorded_at) VALUES "
                f"({', '.join('?' * (len(cols) + 1))})",
                rows,
            )
            # the assignment a content was graded as may be known only now: keep them in step
            self.db.executemany(
                "UPDATE handins SET assignment = ? WHERE hash = ? AND path = ? AND student = ?",
                [(e["assignment"], e["hash"], path_key(e["path"]), e["student"]) for e in entries],
            )

    def set_roster(self, students: Iterable[dict[str, str]]) -> None:
        """Replace the roster (id, name, email, section, sis_id, login)."""
        cols = ("id", "name", "email", "section", "sis_id", "login")
        with self._transaction():
            self.db.execute("DELETE FROM students")
            self.db.executemany(
                "INSERT INTO students VALUES (?, ?, ?, ?, ?, ?)",
                [tuple(s.get(c, "") for c in cols) for s in students],
            )

    def roster(self) -> dict[str, dict[str, str]]:
        cols = ("id", "name", "email", "section", "sis_id", "login")
        return {r[0]: dict(zip(cols, r, strict=True)) for r in self.db.execute("SELECT * FROM students")}

    def handins(self) -> list[dict[str, Any]]:
        """Every hand-in joined with its grade (and its report file), oldest first."""
        query = (
            "SELECT h.student, h.name, h.email, h.assignment, h.label, h.path, h.hash, h.handed_at, h.late, "
            "h.attempt, h.layout, h.recorded_at, g.status, g.message, g.score, g.max_score, g.report, "
            "s.report_file FROM handins h JOIN grades g ON g.hash = h.hash "
            "LEFT JOIN submissions s ON s.path = h.path ORDER BY h.recorded_at, h.rowid"
        )
        keys = ["student", "name", "email", "assignment", "label", "path", "hash", "handed_at", "late"]
        keys += ["attempt", "layout", "recorded_at", "status", "message", "score", "max_score", "report"]
        keys += ["report_file"]
        out = []
        for row in self.db.execute(query):
            entry = dict(zip(keys, row, strict=True))
            entry["late"] = bool(entry["late"])
            entry["report"] = json.loads(entry["report"])
            out.append(entry)
        return out

    def history(self, digest: str) -> list[dict[str, Any]]:
        """Earlier grades of one content, oldest first (what --regrade or a new expected/ replaced)."""
        query = (
            "SELECT assignment, status, score, max_score, mode, run, graded_at, replaced_at "
            "FROM grade_history WHERE hash = ? ORDER BY replaced_at"
        )
        keys = ("assignment", "status", "score", "max_score", "mode", "run", "graded_at", "replaced_at")
        return [dict(zip(keys, r, strict=True)) for r in self.db.execute(query, (digest,))]

    def adjust(
        self, student: str, assignment: str, function: str, points: float, comment: str, who: str
    ) -> None:
        """Record an instructor's override of one function's points (the newest one counts)."""
        with self._transaction():
            self.db.execute(
                "INSERT INTO adjustments (student, assignment, function, points, comment, who, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (student, assignment, function, float(points), comment, who, time.time()),
            )

    def adjustments(self) -> list[dict[str, Any]]:
        """Every override ever recorded, oldest first; `withdrawn_at`/`withdrawn_by` set on those
        undone (`withdraw`)."""
        keys = ("id", "student", "assignment", "function", "points", "comment", "who", "at")
        query = (
            f"SELECT {', '.join('a.' + k for k in keys)}, w.at, w.who FROM adjustments a "
            "LEFT JOIN withdrawals w ON w.adjustment = a.id ORDER BY a.at, a.id"
        )
        names = (*keys, "withdrawn_at", "withdrawn_by")
        return [dict(zip(names, r, strict=True)) for r in self.db.execute(query)]

    def withdraw(self, student: str, assignment: str, function: str, who: str) -> list[int]:
        """Undo every override in force for one function (kept, marked withdrawn); their ids."""
        with self._transaction():
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM adjustments WHERE student = ? AND assignment = ? AND function = ? "
                    "AND id NOT IN (SELECT adjustment FROM withdrawals) ORDER BY id",
                    (student, assignment, function),
                )
            ]
            now = time.time()
            self.db.executemany("INSERT INTO withdrawals VALUES (?, ?, ?)", [(i, who, now) for i in ids])
        return ids

    def holders(self) -> list[dict[str, Any]]:
        """Each path with the content it holds now, its report file (or None) and each student who
        handed that content in there: path, hash, report_file, student, assignment."""
        keys = ("path", "hash", "report_file", "student", "assignment")
        query = (
            "SELECT s.path, s.hash, s.report_file, h.student, h.assignment FROM submissions s "
            "JOIN handins h ON h.path = s.path AND h.hash = s.hash ORDER BY s.path, h.student"
        )
        return [dict(zip(keys, r, strict=True)) for r in self.db.execute(query)]

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


def path_key(path: str) -> str:
    """A path as the gradebook keeps it: absolute (`subs/a.ipynb` from one folder and
    `/course/subs/a.ipynb` are one row), and as text even when the file's name is not UTF-8."""
    return os.fsencode(os.path.abspath(path)).decode("utf-8", "backslashreplace")
