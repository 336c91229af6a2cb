"""The gradebook as the LMS imports it: a row per student, a column per assignment.

- canvas: Canvas's Gradebook import CSV. Its guides require an identifying column (Student name,
  ID or SIS User ID), SIS Login ID and Section, then a column per assignment; the second row,
  "Points Possible", is the one Canvas's own export carries. A column whose header matches no
  assignment creates one.
- moodle: Moodle's grade import CSV: a header row, an identifier column the import maps to a
  user field (ID number -> useridnumber, Email address -> useremail) and a column per grade item,
  named as Moodle's own export names them ("Assignment: <name> (Real)").
- csv: every student, each assignment's score, max and late flag, each graded function's points.
- json: all of it, with every hand-in, the grades they replaced and the adjustments.
Adjustments are applied in all four (standings.py). Every text cell a student may have set (a
name, an email, an id) is written so a spreadsheet never runs it as a formula (cells.py); the ids
Canvas and Moodle match students on are kept as they are when they are plain ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.course.cells import key, rows, text
from grader.course.gradebook import Gradebook, open_path
from grader.course.standings import Standing, standings
from grader.files import write_atomic

TARGETS = ("canvas", "moodle", "csv", "json")
SUFFIX = {"canvas": "canvas.csv", "moodle": "moodle.csv", "csv": "students.csv", "json": "students.json"}


def export(source: Path, *, to: str, path: Path | None = None, policy: str = "latest") -> Path:
    """Write the gradebook at `source` for `to` (to `path`, or gradebook-<to>.csv/json beside it)."""
    with open_path(source) as book:
        rows = standings(book, policy)
        render: Callable[[list[Standing], Gradebook], str] = RENDER[to]
        text = render(rows, book)
        target = path or book.path.parent / f"gradebook-{SUFFIX[to]}"
    write_atomic(target, text)
    return target


def _students(rows: list[Standing]) -> dict[str, dict[str, Standing]]:
    out: dict[str, dict[str, Standing]] = {}
    for s in rows:
        out.setdefault(s.student, {})[s.assignment] = s
    return out


def _assignments(rows: list[Standing]) -> list[str]:
    return sorted({s.assignment for s in rows})


def _num(x: float) -> str:
    return f"{round(x, 4):g}"


def _csv(lines: list[list[str]]) -> str:
    return rows(lines)


def canvas(rows: list[Standing], book: Gradebook) -> str:
    """Canvas's Gradebook import CSV."""
    roster, names = book.roster(), _assignments(rows)
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names]
    most = {a: max(s.max_score for s in rows if s.assignment == a) for a in names}
    lines = [head, ["Points Possible", "", "", "", "", *(_num(most[a]) for a in names)]]
    for student, per in sorted(_students(rows).items()):
        first = next(iter(per.values()))
        person = roster.get(student, {})
        canvas_id = student if student.isascii() and student.isdigit() else ""  # Canvas's own id
        login = person.get("login") or first.email
        cells = [_num(per[a].score) if a in per else "" for a in names]
        who = [text(first.name or student), canvas_id, key(person.get("sis_id", "")), key(login)]
        lines.append([*who, text(first.section), *cells])
    return _csv(lines)


def moodle(rows: list[Standing], book: Gradebook) -> str:
    """Moodle's grade import CSV (map "ID number" to useridnumber, or "Email address" to useremail)."""
    roster, names = book.roster(), _assignments(rows)
    head = ["ID number", "Email address", "Full name", *(f"Assignment: {a} (Real)" for a in names)]
    lines = [head]
    for student, per in sorted(_students(rows).items()):
        first = next(iter(per.values()))
        ident = roster.get(student, {}).get("sis_id") or student
        who = [key(ident), key(first.email), text(first.name)]
        lines.append([*who, *(_num(per[a].score) if a in per else "" for a in names)])
    return _csv(lines)


def students_csv(rows: list[Standing], book: Gradebook) -> str:
    """A row per student; per assignment its score, max and late flag, then each function's points."""
    names = _assignments(rows)
    functions = {a: sorted({f for s in rows if s.assignment == a for f in s.functions}) for a in names}
    head = ["student", "name", "email", "section"]
    for a in names:
        head += [a, f"{a} max", f"{a} late", *(f"{a}:{f}" for f in functions[a])]
    lines = [head]
    for student, per in sorted(_students(rows).items()):
        first = next(iter(per.values()))
        line: list[str] = [text(student), text(first.name), text(first.email), text(first.section)]
        for a in names:
            s = per.get(a)
            if s is None:
                line += ["", "", "", *("" for _ in functions[a])]
                continue
            fs = [_num(s.functions[f]["score"]) if f in s.functions else "" for f in functions[a]]
            line += [_num(s.score), _num(s.max_score), "late" if s.late else "", *fs]
        lines.append(line)
    return _csv(lines)


def students_json(rows: list[Standing], book: Gradebook) -> str:
    """Every student with each assignment's counted hand-in, all hand-ins and adjustments."""
    out: dict[str, dict[str, Any]] = {}
    for s in rows:
        entry = out.setdefault(s.student, {"student": s.student, "name": s.name, "email": s.email})
        entry["section"] = s.section
        entry.setdefault("assignments", {})[s.assignment] = standing_dict(s, book)
    return json.dumps(list(out.values()), indent=2)


def standing_dict(s: Standing, book: Gradebook) -> dict[str, Any]:
    """One student's assignment as plain data (exports and feedback folders)."""
    return {
        "score": s.score,
        "max_score": s.max_score,
        "late": s.late,
        "counted": _handin(s.counted),
        "functions": s.functions,
        "adjustments": [{**a, "at": _iso(a["at"])} for a in s.adjustments],
        "handins": [
            {
                **_handin(h),
                "history": [{**g, "graded_at": _iso(g["graded_at"])} for g in book.history(h["hash"])],
            }
            for h in s.handins
        ],
    }


def _handin(h: dict[str, Any]) -> dict[str, Any]:
    keys = ("label", "hash", "late", "layout", "status", "message", "score", "max_score", "report_file")
    out = {**{k: h[k] for k in keys}, "handed_at": _iso(h["handed_at"])}
    variant = h.get("report", {}).get("variant")  # the student's secret cases (--variants per-student)
    return {**out, "variant": variant} if variant else out


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


RENDER: dict[str, Callable[[list[Standing], Gradebook], str]] = {
    "canvas": canvas,
    "moodle": moodle,
    "csv": students_csv,
    "json": students_json,
}
