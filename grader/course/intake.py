"""From a download to the gradebook's students: read the hand-ins, match them to the roster,
and after the batch record who handed in which content, when, and whether late."""

from __future__ import annotations

import json
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.course import handins as handins_mod
from grader.course.handins import roster as roster_mod
from grader.errors import GraderError
from grader.files import write_atomic


@dataclass
class Intake:
    """The hand-ins of one `grader run`, in grading order, and what the roster said of them."""

    collection: handins_mod.Collection
    roster: dict[str, roster_mod.Student] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    _keep: Any = None  # the temporary folder zips were unpacked into, without --output

    @property
    def files(self) -> list[Path]:
        return list(dict.fromkeys(h.path for h in self.collection.handins))

    @property
    def refused(self) -> dict[Path, str]:
        return self.collection.refused


def parse_due(text: str | None) -> float | None:
    """--due as seconds since the epoch: ISO 8601, local time unless it names its zone."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise GraderError(
            f"--due {text!r}: not a date and time (e.g. 2024-10-01T23:59 or ...+02:00)"
        ) from None
    return when.timestamp()


def take(
    paths: list[Path],
    *,
    layout: str,
    output: Path | None,
    roster: Path | None,
    due: float | None,
    options: handins_mod.Options = handins_mod.NO_OPTIONS,
) -> Intake:
    """Read every hand-in under `paths` (never under --output); zips unpack under
    OUTPUT/handins/ (a temporary folder without --output)."""
    keep = None
    if output is not None:
        unpack = output / "handins"
    else:
        keep = tempfile.TemporaryDirectory(prefix="grader-handins-")
        unpack = Path(keep.name)
    if output is not None:
        options = replace(options, skip=(*options.skip, output))
    found = handins_mod.read(paths, layout=layout, unpack_to=unpack, due=due, options=options)
    intake = Intake(found, _keep=keep)
    if roster is not None:
        intake.roster = roster_mod.load(roster)
        matched = roster_mod.match(found.handins, intake.roster)
        found.handins, intake.unknown, intake.missing = matched.handins, matched.unknown, matched.missing
    return intake


def _graded(
    intake: Intake, files: list[Path], reports: list[dict[str, Any]]
) -> list[tuple[handins_mod.Handin, int, str]]:
    """Each hand-in with a verdict (internal errors are none: a rerun grades them), the index of
    its report and the assignment it counts for (for an unreadable notebook: its download's)."""
    index = {f: i for i, f in enumerate(files)}
    report_of = {f: reports[i] for f, i in index.items()}
    usual = _assignment_per_source(intake, report_of)
    out = []
    for h in intake.collection.handins:
        report = report_of.get(h.path, {})
        if h.path not in index or report.get("status") in (None, "error"):
            continue
        out.append((h, index[h.path], report.get("assignment") or h.assignment or usual.get(h.source, "")))
    return out


def people(
    intake: Intake, files: list[Path], reports: list[dict[str, Any]], policy: str = "latest"
) -> tuple[list[list[str]], list[list[str]]]:
    """Per file: the students who handed it in, and those it is the counted hand-in of (`policy`,
    as the gradebook decides: standings.pick), so the class view counts each student once. A file
    no hand-in places is its own student, by its label."""
    from grader.course.standings import pick

    index = {f: i for i, f in enumerate(files)}
    owners: list[list[str]] = [[] for _ in files]
    for h in intake.collection.handins:
        if h.path in index and h.student not in owners[index[h.path]]:
            owners[index[h.path]].append(h.student)
    mine: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h, i, assignment in _graded(intake, files, reports):
        score = float(reports[i].get("score") or 0.0)
        mine[(h.student, assignment)].append(
            {"handed_at": h.time, "attempt": h.attempt, "recorded_at": 0.0, "score": score, "index": i}
        )
    counted: list[list[str]] = [[] for _ in files]
    for (student, _), candidates in mine.items():
        counted[pick(candidates, policy)["index"]].append(student)
    for i, r in enumerate(reports):
        if not owners[i]:
            owners[i], counted[i] = [str(r.get("submission", files[i]))], [str(r.get("submission", files[i]))]
    return owners, counted


def between_students(copies: list[list[str]], files: list[Path], owners: list[list[str]]) -> list[list[str]]:
    """The possible copies (groups of labels) that hold files of more than one student: the same
    bytes handed in twice by one student is a resubmission, not a copy."""
    from grader.results import printable

    who = {printable(str(f)): tuple(o) for f, o in zip(files, owners, strict=True)}
    return [group for group in copies if len({who.get(label, (label,)) for label in group}) > 1]


def record(
    intake: Intake, book_path: Path, files: list[Path], digests: list[str], reports: list[dict[str, Any]]
) -> None:
    """Store each hand-in against the content it was graded as (internal errors are not grades:
    a rerun records them), and the roster."""
    from grader.course.gradebook import Gradebook

    entries = []
    for h, i, assignment in _graded(intake, files, reports):
        entries.append(
            {
                "student": h.student,
                "path": str(h.path),
                "hash": digests[i],
                "assignment": assignment,
                "label": h.label,
                "name": h.name,
                "email": h.email,
                "handed_at": h.time,
                "late": int(h.late),
                "attempt": h.attempt,
                "layout": h.layout,
            }
        )
    with Gradebook(book_path) as book:
        book.record_handins(entries)
        if intake.roster:
            book.set_roster([vars(s) for s in intake.roster.values()])


def students(intake: Intake, book: Path | None, files: list[Path], outcome: Any) -> dict[str, Any]:
    """After the batch: record who handed in what (with a gradebook); the students' summary."""
    if book is not None:
        record(intake, book, files, outcome.digests, outcome.reports)
    return summary(intake)


def _assignment_per_source(intake: Intake, report_of: dict[Path, dict[str, Any]]) -> dict[str, str]:
    """A download is one assignment: an unreadable hand-in counts against the one its download's
    readable notebooks were graded as, when they agree."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for h in intake.collection.handins:
        a = report_of.get(h.path, {}).get("assignment") or h.assignment
        if a:
            seen[h.source][a] += 1
    return {src: next(iter(c)) for src, c in seen.items() if len(c) == 1}


def summary(intake: Intake) -> dict[str, Any]:
    """Who handed in, who is unknown to the roster or missing, and what is no hand-in."""
    students = sorted({h.student for h in intake.collection.handins})
    return {
        "layouts": intake.collection.layouts,
        "students": students,
        "late": sorted({h.student for h in intake.collection.handins if h.late}),
        "unknown": intake.unknown,
        "missing": intake.missing,
        "skipped": [{"file": f, "why": why} for f, why in intake.collection.skipped],
        "notes": [{"file": f, "note": note} for f, note in intake.collection.notes],
        "warnings": shared_ids(intake),
    }


def shared_ids(intake: Intake) -> list[str]:
    """Plain hand-ins whose different files take one student id (`a/Toy.ipynb b/Toy.ipynb`
    named directly are both `Toy`): one line saying so, since they count as one student's."""
    files: dict[str, list[str]] = defaultdict(list)
    for h in intake.collection.handins:
        if h.layout == "plain" and str(h.path) not in files[h.student]:
            files[h.student].append(str(h.path))
    many = {s: f for s, f in files.items() if len(f) > 1}
    if not many:
        return []
    said = "; ".join(f"{s}: {', '.join(f[:3])}{', ...' if len(f) > 3 else ''}" for s, f in many.items())
    return [
        f"several files take one student id in the plain layout, counted as that student's "
        f"resubmissions ({said}); give each student's folder (docs/handins.md)"
    ]


def to_text(data: dict[str, Any]) -> str:
    layouts = ", ".join(f"{src} ({name})" for src, name in data["layouts"].items())
    lines = [f"Students: {len(data['students'])} handed in, from {layouts}"]
    if data["late"]:
        lines.append(f"  late: {', '.join(data['late'])}")
    if data["unknown"]:
        lines.append(f"  not on the roster: {', '.join(data['unknown'])}")
    if data["missing"]:
        lines.append(f"  on the roster, no hand-in: {', '.join(data['missing'])}")
    for s in data["skipped"]:
        lines.append(f"  skipped {s['file']}: {s['why']}")
    for n in data.get("notes", []):
        lines.append(f"  note {n['file']}: {n['note']}")
    lines += [f"  warning: {w}" for w in data.get("warnings", [])]
    return "\n".join(lines)


def add_to_summary(data: dict[str, Any], output: Path) -> None:
    """The students' section at the end of summary.txt and under "students" in summary.json."""
    text_path, json_path = output / "summary.txt", output / "summary.json"
    text = text_path.read_text(encoding="utf-8") if text_path.is_file() else ""
    write_atomic(text_path, text.rstrip("\n") + ("\n\n" if text else "") + to_text(data) + "\n")
    doc = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
    doc["students"] = data
    write_atomic(json_path, json.dumps(doc, indent=2))
