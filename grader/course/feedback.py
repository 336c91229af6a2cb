"""`grader feedback`: hand each student their feedback, one folder per student.

A student's folder holds, per assignment, the counted hand-in's report (`<assignment>.json`), its
HTML page when the batch wrote one (`--format html`), any feedback notebook written beside the
report (`<report name>.feedback.*`), and `grades.json`: the points after adjustments, the
adjustments' comments and every hand-in with its time and late flag. Hand-ins that came in
nbgrader's layout go where nbgrader returns feedback: `feedback/<student>/<assignment>/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grader.course.exports import standing_dict
from grader.course.gradebook import open_path
from grader.course.standings import Standing, standings
from grader.files import private_folder, write_atomic

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")


def write(source: Path, to: Path, *, policy: str = "latest") -> list[Path]:
    """Write every student's folder under `to`; return the folders, one per student."""
    with open_path(source) as book:
        rows = standings(book, policy)
        graded = {(s.student, s.assignment): standing_dict(s, book) for s in rows}
    folders: dict[str, Path] = {}
    for s in rows:
        folder = _folder(to, s)
        private_folder(folder)
        _copy_reports(s, folder)
        folders.setdefault(s.student, to / "feedback" / safe(s.student) if _nbgrader(s) else folder)
    for student, folder in folders.items():
        mine = {a: _for_student(d) for (st, a), d in graded.items() if st == student}
        first = next(s for s in rows if s.student == student)
        doc = {"student": student, "name": first.name, "assignments": mine}
        write_atomic(folder / "grades.json", json.dumps(doc, indent=2))
    return list(folders.values())


def safe(name: str) -> str:
    """A folder name from an id: never a path, never '.' or '..'."""
    cleaned = _UNSAFE.sub("_", name).strip(".") or "_"
    return cleaned[:100]


def _nbgrader(s: Standing) -> bool:
    return bool(s.counted["layout"] == "nbgrader")


def _folder(to: Path, s: Standing) -> Path:
    if _nbgrader(s):
        return to / "feedback" / safe(s.student) / safe(s.assignment or "unknown")
    return to / safe(s.student)


def _copy_reports(s: Standing, folder: Path) -> None:
    """The counted hand-in's report files, named after the assignment (nbgrader: after the
    notebook, inside the assignment's folder)."""
    report_file = s.counted.get("report_file")
    if not report_file:
        return
    report = Path(report_file)
    stem = Path(s.counted["label"]).stem if _nbgrader(s) else safe(s.assignment or "unknown")
    found = [report, report.with_suffix(".html"), *sorted(report.parent.glob(f"{report.stem}.feedback.*"))]
    for path in found:
        if path.is_file() and not path.is_symlink():
            suffix = path.name[len(report.stem) :]  # .json, .html, .feedback.ipynb, ...
            write_atomic(folder / f"{safe(stem)}{suffix}", path.read_text(encoding="utf-8"))


def _for_student(d: dict[str, Any]) -> dict[str, Any]:
    """What a student sees: no paths of the instructor's machine."""
    counted = {k: v for k, v in d["counted"].items() if k != "report_file"}
    handins = [{k: v for k, v in h.items() if k != "report_file"} for h in d["handins"]]
    return {**d, "counted": counted, "handins": handins}
