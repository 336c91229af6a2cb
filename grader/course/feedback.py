"""`grader feedback`: hand each student their feedback, one folder per student.

A student's folder holds, per assignment, the counted hand-in's report (`<assignment>.json`), its
HTML page when the batch wrote one (`--format html`), its feedback notebook and page when the
batch wrote them, and `grades.json`: the points after adjustments, the adjustments' comments and
every hand-in with its time and late flag. Hand-ins that came in nbgrader's layout go where
nbgrader returns feedback: `feedback/<student>/<assignment>/`.

What a student gets is rendered for them from the report the batch wrote (adjustments in it):
without what is the instructor's alone (`INTERNAL`: the digests that compare a class's answers,
the sandbox's notes, the secret draw's variant, also inside messages and content hashes, where
reports are kept), and named by the hand-in's place in the download, never by a path of the
instructor's machine (tracebacks: `<python>/` for the grader's Python, `<sandbox>` for scratch).

A folder is named by the student's id when that is a safe name, else by the cleaned id and a
digest of it (`folder_names`): two ids that clean alike (`5501`, `5501.`) never share a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.course.exports import standing_dict
from grader.course.gradebook import open_path
from grader.course.standings import Standing, standings
from grader.files import private_folder, write_atomic
from grader.results import from_dict

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")
INTERNAL = frozenset({"output_digest", "answer_digest", "isolation", "variant", "report_file"})
HIDDEN_PATH = "(path not shown)"


def write(source: Path, to: Path, *, policy: str = "latest") -> list[Path]:
    """Write every student's folder under `to`; return the folders, one per student."""
    with open_path(source) as book:
        rows = standings(book, policy)
        graded = {(s.student, s.assignment): standing_dict(s, book) for s in rows}
    names = folder_names(s.student for s in rows)
    folders: dict[str, Path] = {}
    for s in rows:
        folder = _folder(to, s, names[s.student])
        private_folder(folder)
        _copy_reports(s, folder)
        folders.setdefault(s.student, folder.parent if _nbgrader(s) else folder)
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


def folder_names(students: Iterable[str]) -> dict[str, str]:
    """Each student's folder name, never another's (ignoring case, as some file systems do): the
    id itself when it is a safe name already; else, or when a safe id took it first (sorted),
    `safe(id)-` and the first 8 hex digits of the id's SHA-256 (more if still taken). `feedback`
    is nbgrader's folder, never a student's."""
    ids = sorted(set(students))
    taken, out = {"feedback"}, {}
    for student in ids:
        if safe(student) == student and student.casefold() not in taken:
            out[student] = student
            taken.add(student.casefold())
    for student in ids:
        if student in out:
            continue
        digest, n = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest(), 8
        while (name := f"{safe(student)[:90]}-{digest[:n]}").casefold() in taken:
            n += 8
        out[student] = name
        taken.add(name.casefold())
    return out


def _nbgrader(s: Standing) -> bool:
    return bool(s.counted["layout"] == "nbgrader")


def _folder(to: Path, s: Standing, name: str) -> Path:
    if _nbgrader(s):
        return to / "feedback" / name / safe(s.assignment or "unknown")
    return to / name


def _copy_reports(s: Standing, folder: Path) -> None:
    """The counted hand-in's report and the pages the batch wrote beside it, rendered for the
    student, named after the assignment (nbgrader: after the notebook, inside the assignment's
    folder)."""
    from grader.reports import feedback, html

    report_file = s.counted.get("report_file")
    report = Path(report_file) if report_file else None
    if report is None or not report.is_file() or report.is_symlink():
        return
    stem = safe(Path(s.counted["label"]).stem if _nbgrader(s) else s.assignment or "unknown")
    data = for_student(json.loads(report.read_text(encoding="utf-8")), s.counted, report.parent)
    write_atomic(folder / f"{stem}.json", json.dumps(data, indent=2))
    result = from_dict(data)
    pages = [report.parent / f"{report.stem}.feedback.{kind}" for kind in ("ipynb", "html")]
    link = None
    if any(p.is_file() and not p.is_symlink() for p in pages):
        run = report.parent / f"{report.stem}.executed.ipynb"
        for kind, text in zip(
            ("ipynb", "html"), feedback.build(result, Path(s.counted["path"]), run), strict=True
        ):
            write_atomic(folder / f"{stem}.feedback.{kind}", scrub(text, html=kind == "html"))
        link = f"{stem}.feedback.html"
    if report.with_suffix(".html").is_file():
        write_atomic(folder / f"{stem}.html", scrub(html.page(result, link), html=True))


# what a traceback or an output shows of the instructor's machine: the Python running the grader
# (its venv's site-packages, its standard library; any other lib/python3.X/site-packages too) and
# the sandbox's scratch folders (sandbox/scratch.py: grader-<pid>-<random> in the temp folder)
_SEGMENTS = r"(?:/[^\s\"'<>:/]+)+?"
_PACKAGES = re.compile(_SEGMENTS + r"/lib/python3\.\d+/(?:site|dist)-packages(?![^\s\"'<>:,/\]\\])")
_PREFIX = re.compile(_SEGMENTS + r"(?=/lib/python3|/bin/python)")  # a venv's or /usr's
_SCRATCH = re.compile(r"(?:/[^\s\"'<>:]+)?/grader-\d+-[A-Za-z0-9_]+")
_VARIANT = re.compile(r" ?\(variant [0-9a-f]+\)")


def _pythons() -> list[str]:
    import sys
    import sysconfig

    places = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    places |= {os.path.realpath(p) for p in places}
    return sorted((p.rstrip("/") for p in places if p and p.rstrip("/")), key=len, reverse=True)


def scrub(text: str, *, html: bool = False) -> str:
    """`text` (a report's string, a feedback notebook or page) without the grader's Python paths
    (`<python>/`), the sandbox's scratch folders (`<sandbox>`) or the secret draw's variant."""
    python, sandbox = ("&lt;python&gt;", "&lt;sandbox&gt;") if html else ("<python>", "<sandbox>")
    text = _PACKAGES.sub(python, _VARIANT.sub("", text))
    for place in _pythons():
        text = text.replace(place + "/", python + "/")
    return _SCRATCH.sub(sandbox, _PREFIX.sub(python, text))


def for_student(report: dict[str, Any], handin: dict[str, Any], output: Path) -> dict[str, Any]:
    """A report as its student gets it: no `INTERNAL` field; the hand-in named by its place in the
    download (its label); no other path of the instructor's (the hand-in's, the output folder)."""
    label = str(handin["label"])
    paths = [str(handin["path"]), str(report.get("submission", ""))]
    folders = [str(output), os.path.abspath(output)]

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in INTERNAL}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for p in sorted(filter(None, paths), key=len, reverse=True):
                value = value.replace(p, label)
            for f in sorted(set(folders), key=len, reverse=True):
                value = value.replace(f, HIDDEN_PATH)
            value = scrub(value)
        return value

    return {**clean(report), "submission": label}


def _for_student(d: dict[str, Any]) -> dict[str, Any]:
    """What a student sees of their grades: no paths of the instructor's machine."""
    counted = _unvaried({k: v for k, v in d["counted"].items() if k not in INTERNAL})
    handins = [_unvaried({k: v for k, v in h.items() if k not in INTERNAL}) for h in d["handins"]]
    return {**d, "counted": counted, "handins": handins}


def _unvaried(row: dict[str, Any]) -> dict[str, Any]:
    """A gradebook row's content hash without the variant the gradebook keys it by (sha@variant)."""
    if isinstance(row.get("hash"), str):
        row["hash"] = row["hash"].split("@")[0]
    return row
