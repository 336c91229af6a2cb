"""`grader adjust`: an instructor's override of one graded function's points, with who, when
and why; checked against what the gradebook holds so a typo never lands silently."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

from grader.course.gradebook import open_path
from grader.course.standings import standings
from grader.errors import GraderError


def add(
    source: Path, student: str, assignment: str, function: str, *, points: float, comment: str, who: str = ""
) -> str:
    """Record the override; one line saying what changed."""
    if not comment.strip():
        raise GraderError("--comment is required: say why (the student sees it in their feedback)")
    with open_path(source) as book:
        rows = {(s.student, s.assignment): s for s in standings(book)}
        s = rows.get((student, assignment))
        if s is None:
            known = sorted({a for st, a in rows if st == student})
            hint = f"{student}'s assignments: {', '.join(known)}" if known else f"no hand-in by {student!r}"
            raise GraderError(f"nothing to adjust for {student!r} on {assignment!r} ({hint})")
        if function not in s.functions:
            raise GraderError(
                f"{assignment} has no graded function {function!r}: {', '.join(sorted(s.functions))}"
            )
        most = float(s.functions[function]["max_score"] or 0.0)
        if not 0 <= points <= most:
            raise GraderError(f"--points {points:g}: {function} is worth 0 to {most:g} points")
        was = float(s.functions[function]["score"] or 0.0)
        book.adjust(student, assignment, function, points, comment.strip(), who or _who())
    return f"{student} {assignment} {function}: {was:g} -> {points:g} of {most:g} ({comment.strip()})"


def remove(source: Path, student: str, assignment: str, function: str, *, who: str = "") -> str:
    """Withdraw the override in force for one function (it stays listed, marked withdrawn); one
    line saying what changed."""
    with open_path(source) as book:
        s = next((s for s in standings(book) if (s.student, s.assignment) == (student, assignment)), None)
        ids = book.withdraw(student, assignment, function, who or _who())
        if not ids:
            raise GraderError(f"no adjustment in force for {student} {assignment} {function} (see --list)")
        graded = s.counted["report"] if s is not None else {}
    score = next((f["score"] for f in graded.get("functions", []) if f["name"] == function), None)
    back = f"back to {score:g} (graded)" if score is not None else "withdrawn"
    return (
        f"{student} {assignment} {function}: adjustment {', '.join(f'#{i}' for i in ids)} withdrawn, {back}"
    )


def listing(source: Path) -> str:
    """Every adjustment ever recorded, oldest first (the newest of a function not withdrawn is the
    one applied)."""
    with open_path(source) as book:
        rows = book.adjustments()
    if not rows:
        return "no adjustments"
    lines = []
    for a in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(a["at"]))
        line = (
            f"#{a['id']} {when} by {a['who']}: {a['student']} {a['assignment']} {a['function']} "
            f"= {a['points']:g} ({a['comment']})"
        )
        if a["withdrawn_at"] is not None:
            gone = time.strftime("%Y-%m-%d %H:%M", time.localtime(a["withdrawn_at"]))
            line += f" [withdrawn {gone} by {a['withdrawn_by']}]"
        lines.append(line)
    return "\n".join(lines)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
        return "unknown"
