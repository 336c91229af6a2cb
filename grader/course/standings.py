"""Students x assignments: which hand-in counts, and its points after the instructor's adjustments.

The latest hand-in counts (by the time the download gives it, then the layout's resubmission
order); with policy "best", the highest scoring one (the latest of equals). An adjustment
replaces one graded function's points for a student's assignment whatever hand-in counts, so it
survives regrades and resubmissions; the newest adjustment of a function is the one applied (one
withdrawn, `grader adjust --remove`, is not).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from grader.course.gradebook import Gradebook

POLICIES = ("latest", "best")


@dataclass(frozen=True)
class Standing:
    """One student's result on one assignment."""

    student: str
    name: str
    email: str
    section: str
    assignment: str
    counted: dict[str, Any]  # the hand-in that counts (a `Gradebook.handins` row)
    handins: list[dict[str, Any]]  # all of them, oldest first
    score: float
    max_score: float
    functions: dict[str, dict[str, Any]]  # name -> score, max_score, status, message, adjusted
    adjustments: list[dict[str, Any]] = field(default_factory=list)  # those applied

    @property
    def late(self) -> bool:
        return bool(self.counted["late"])


def _order(h: dict[str, Any]) -> tuple[Any, ...]:
    timed = h["handed_at"] is not None
    return (timed, h["handed_at"] or 0.0, h["attempt"], h["recorded_at"])


def pick(handins: list[dict[str, Any]], policy: str = "latest") -> dict[str, Any]:
    """The hand-in that counts among one student's hand-ins of one assignment (keys `handed_at`,
    `attempt`, `recorded_at`, `score`; equals keep their order: the later one counts)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")
    ordered = sorted(handins, key=_order)
    if policy == "best":
        return max(reversed(ordered), key=lambda h: h["score"])
    return ordered[-1]


def in_force(book: Gradebook) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(student, assignment, function) -> the override applied: the newest not withdrawn."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for a in book.adjustments():  # oldest first: the newest of a function stays
        if a["withdrawn_at"] is None:
            out[(a["student"], a["assignment"], a["function"])] = a
    return out


def standings(book: Gradebook, policy: str = "latest") -> list[Standing]:
    """Every (student, assignment) with a hand-in, sorted by student then assignment."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h in book.handins():
        groups[(h["student"], h["assignment"])].append(h)
    latest_adjustment = in_force(book)
    roster = book.roster()
    out = []
    for (student, assignment), handins in sorted(groups.items()):
        handins = sorted(handins, key=_order)
        counted = pick(handins, policy)
        adjust = {f: a for (s, asg, f), a in latest_adjustment.items() if s == student and asg == assignment}
        out.append(_standing(student, assignment, counted, handins, adjust, roster.get(student, {})))
    return out


def _standing(
    student: str,
    assignment: str,
    counted: dict[str, Any],
    handins: list[dict[str, Any]],
    adjust: dict[str, dict[str, Any]],
    person: dict[str, str],
) -> Standing:
    functions = {
        f["name"]: {k: f.get(k) for k in ("score", "max_score", "status", "message")} | {"adjusted": False}
        for f in counted["report"].get("functions", [])
    }
    score = float(counted["score"])
    applied = []
    for name, a in sorted(adjust.items()):
        if name not in functions:
            functions[name] = {"score": 0.0, "max_score": 0.0, "status": "missing", "message": ""}
        score += a["points"] - float(functions[name]["score"] or 0.0)
        functions[name] = {**functions[name], "score": a["points"], "adjusted": True, "comment": a["comment"]}
        applied.append(a)
    return Standing(
        student=student,
        name=person.get("name") or counted["name"],
        email=person.get("email") or counted["email"],
        section=person.get("section", ""),
        assignment=assignment,
        counted=counted,
        handins=handins,
        score=score,
        max_score=float(counted["max_score"]),
        functions=functions,
        adjustments=applied,
    )
