"""What the sandbox is asked to run: one `Task` per graded function (the student's code units, the
cases with their inputs already encoded, a timeout), as plain data.

Built by grading, judging and authoring alike, and keyed by the answer cache; it imports only the
notebook reader's `Unit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.reading import notebook, selection
from grader.reading.notebook import Unit
from grader.reading.selection import Answer


@dataclass(frozen=True)
class Task:
    """One function's answer and the cases to call it on (inputs already encoded)."""

    function: str
    units: tuple[Unit, ...]
    cases: tuple[dict[str, Any], ...]  # {"name", "args", "setup"}
    timeout: float
    max_bytes: int = 0  # the most its results may weigh; 0: the sandbox's cap (Limits.result_bytes)

    def to_job(self) -> dict[str, Any]:
        job = {
            "function": self.function,
            "units": [{"filename": u.filename, "source": u.source, "kind": kind(u)} for u in self.units],
            "cases": list(self.cases),
            "timeout": self.timeout,
        }
        return {**job, "max_bytes": self.max_bytes} if self.max_bytes else job


def kind(unit: Unit) -> str:
    head = unit.source.lstrip()
    return "import" if head.startswith(("import ", "from ")) else "code"


Peers = dict[str, tuple[Unit, ...]]  # graded function -> the reference's units for it


def task_for(
    answer: Answer,
    given: tuple[Unit, ...],
    cases: list[dict[str, Any]],
    timeout: float,
    peers: Peers | None = None,
) -> Task:
    """The student's units with the given functions, and the reference versions of the other
    graded functions the answer calls, placed before their own definitions: one function's
    verdict never depends on the student's other graded functions (a `backward_propagation`
    that calls `forward_propagation` is judged with the reference's)."""
    units = answer.units
    imports = tuple(u for u in units if kind(u) == "import")
    rest = tuple(u for u in units if kind(u) != "import")
    calls = sorted(answer.calls - {answer.name})
    others = tuple(u for name in calls for u in (peers or {}).get(name, ()))
    return Task(answer.name, imports + given + others + rest, tuple(cases), timeout)


def peers_of(parsed: notebook.Parsed, graded: frozenset[str], provided: frozenset[str]) -> Peers:
    """For each graded function, the reference's units that define it (its imports and helpers
    too), named so that no error in them reads as the student's cell. `provided` is every name
    the grader supplies itself (graded and given functions)."""
    out: Peers = {}
    for name in sorted(graded):
        ans = selection.answer(parsed, name, exclude=provided - {name})
        out[name] = tuple(Unit(f"reference:{name}:{i}", u.source) for i, u in enumerate(ans.units))
    return out
