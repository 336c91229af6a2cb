"""What the class got wrong, from a batch's report dicts: the catalogued mistakes each function's
answers showed and how many students made each; clusters of identical wrong outputs no catalogued
mistake explains (a mistake worth adding to `mistakes.toml`), each with one answer's code; and
identical substantial answers, for the instructor to look at (never a penalty).

A cluster is several students whose answers returned the same wrong value (the same
`output_digest`) on the same case, where no case of that function named a catalogued mistake;
clusters holding the same students are one cluster over several cases.

Who a report counts for is `Who`: per report, the students it is the counted hand-in of (the
hand-ins' ids, one student once however often they handed in; none for a hand-in a later one
replaced). Without it, each report counts for its submission's label, as a plain batch of files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MIN_CLUSTER = 2  # students giving the same wrong value before it is worth a look
CODE_LIMIT = 20_000  # characters of a representative answer kept in the summary

CodeOf = Callable[[int, str], "str | None"]  # (index of a report, function) -> that answer's code
Who = Sequence[Sequence[str]]  # per report: the students it counts for (none: not counted)


def student(report: dict[str, Any]) -> str:
    """Who a report belongs to when no hand-in names a student: the submission's label."""
    return str(report.get("submission", ""))


def by_label(reports: list[dict[str, Any]]) -> list[list[str]]:
    """`Who` of a batch of files: each report counts for its own label."""
    return [[student(r)] for r in reports]


@dataclass(frozen=True)
class Named:
    """A catalogued mistake, and how many students made it in one function."""

    id: str
    description: str
    students: int


@dataclass(frozen=True)
class Cluster:
    """Students whose answers gave the same wrong values on `cases`, no catalogued mistake named."""

    assignment: str
    function: str
    cases: tuple[str, ...]
    students: tuple[str, ...]  # in input order; the first is the representative
    code: str = ""  # the representative's answer, when its file could be read again

    @property
    def size(self) -> int:
        return len(self.students)

    @property
    def representative(self) -> str:
        return self.students[0]


@dataclass(frozen=True)
class Alike:
    """Students who handed in the same substantial answer (its normal form) to one function."""

    assignment: str
    function: str
    students: tuple[str, ...]


def counted(
    reports: list[dict[str, Any]], who: Who | None = None
) -> list[tuple[int, dict[str, Any], Sequence[str]]]:
    """The graded reports that count for someone: (index, report, its students)."""
    people = by_label(reports) if who is None else who
    return [
        (i, r, people[i]) for i, r in enumerate(reports) if r.get("status") == "graded" and people[i]
    ]


def named(reports: list[dict[str, Any]], who: Who | None = None) -> dict[tuple[str, str], tuple[Named, ...]]:
    """(assignment, function) -> the mistakes named there, most students first, then by id."""
    made: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    words: dict[str, str] = {}
    for _, r, ids in counted(reports, who):
        for f in r.get("functions", []):
            for t in f.get("tests", []):
                m = t.get("mistake")
                if isinstance(m, dict) and m.get("id"):
                    made[(str(r.get("assignment")), f["name"], str(m["id"]))].update(ids)
                    words.setdefault(str(m["id"]), str(m.get("description", "")))
    out: dict[tuple[str, str], list[Named]] = defaultdict(list)
    for (a, fn, mid), people in made.items():
        out[(a, fn)].append(Named(mid, words[mid], len(people)))
    return {k: tuple(sorted(v, key=lambda n: (-n.students, n.id))) for k, v in out.items()}


def clusters(
    reports: list[dict[str, Any]], code_of: CodeOf | None = None, who: Who | None = None
) -> tuple[Cluster, ...]:
    """Unexplained identical wrong outputs, largest first; the representative's code read by
    `code_of` (for it alone: the reports never carry students' code). Several students means
    several answers: a group's one hand-in is one answer."""
    members: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(dict)
    for i, r, ids in counted(reports, who):
        for f in r.get("functions", []):
            tests = f.get("tests", [])
            if any(t.get("mistake") for t in tests):
                continue  # a catalogued mistake is named there: the catalogue explains this answer
            for t in tests:
                digest = t.get("output_digest")
                if not t.get("passed") and isinstance(digest, str) and digest:
                    key = (str(r.get("assignment")), f["name"], t["name"], digest)
                    for person in ids:
                        members[key].setdefault(person, i)
    merged: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    first: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for (a, fn, case, _), people in members.items():
        if len(people) < MIN_CLUSTER or len(set(people.values())) < MIN_CLUSTER:
            continue
        ordered = tuple(sorted(people, key=lambda s: people[s]))
        merged[(a, fn, ordered)].append(case)
        first[(a, fn, ordered)] = people[ordered[0]]
    out = []
    for (a, fn, group), cases in merged.items():
        code = code_of(first[(a, fn, group)], fn) if code_of is not None else None
        out.append(Cluster(a, fn, tuple(cases), group, (code or "")[:CODE_LIMIT]))
    return tuple(sorted(out, key=lambda c: (-c.size, c.assignment, c.function, c.cases)))


def alike(reports: list[dict[str, Any]], who: Who | None = None) -> tuple[Alike, ...]:
    """Identical substantial answers (the same `answer_digest`) of several hand-ins (a group's
    members share theirs: no match), largest groups first."""
    groups: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for i, r, ids in counted(reports, who):
        for f in r.get("functions", []):
            digest = f.get("answer_digest")
            if isinstance(digest, str) and digest:
                for person in ids:
                    groups[(str(r.get("assignment")), f["name"], digest)].setdefault(person, i)
    out = [
        Alike(a, fn, tuple(people))
        for (a, fn, _), people in groups.items()
        if len(people) > 1 and len(set(people.values())) > 1
    ]
    return tuple(sorted(out, key=lambda g: (-len(g.students), g.assignment, g.function, g.students)))
