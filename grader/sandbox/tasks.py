"""What the sandbox is asked to run: one `Task` per graded function (the student's code units, the
cases with their inputs already encoded, a timeout), as plain data.

Built by grading, judging and authoring alike, and keyed by the answer cache; it imports only the
notebook reader. A student's function that calls other graded functions gets stubs for them, and
the reference's code of those functions goes to an oracle process (see harness.py), never to the
student's own.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from grader.reading import notebook, selection
from grader.reading.notebook import Unit
from grader.reading.selection import Answer


@dataclass(frozen=True)
class Task:
    """One function's answer and the cases to call it on (inputs already encoded). `oracle`: the
    reference's units that a separate process runs for the graded functions it calls (named in
    `units` as "oracle:<name>" stubs); never sent to the function's own process."""

    function: str
    units: tuple[Unit, ...]
    cases: tuple[dict[str, Any], ...]  # {"name", "args", "setup"}
    timeout: float
    oracle: tuple[Unit, ...] = ()
    max_bytes: int = 0  # the most its results may weigh; 0: the sandbox's cap (Limits.result_bytes)

    def to_job(self) -> dict[str, Any]:
        job = {
            "function": self.function,
            "units": [{"filename": u.filename, "source": u.source, "kind": kind(u)} for u in self.units],
            "cases": list(self.cases),
            "timeout": self.timeout,
        }
        if self.oracle:  # split off by channel.Call: it goes to the oracle, and only there
            stubs = [u.filename.partition(":")[2] for u in self.units if kind(u) == "oracle"]
            units = [{"filename": u.filename, "source": u.source, "kind": kind(u)} for u in self.oracle]
            job["oracle"] = {"units": units, "names": stubs}
        return {**job, "max_bytes": self.max_bytes} if self.max_bytes else job


def kind(unit: Unit) -> str:
    if unit.filename.startswith("oracle:") and not unit.source:
        return "oracle"
    head = unit.source.lstrip()
    return "import" if head.startswith(("import ", "from ")) else "code"


Peers = dict[str, tuple[Unit, ...]]  # graded function -> the reference's units for it


def task_for(
    answer: Answer,
    given: tuple[Unit, ...],
    cases: list[dict[str, Any]],
    timeout: float,
    peers: Peers | None = None,
    *,
    calls: frozenset[str] | None = None,
    trusted: bool = False,
) -> Task:
    """The student's units with the given functions and, for each other graded function the
    answer calls (`calls`, by default all it names), the reference's version, placed before
    their own definitions: one function's verdict never depends on the student's other graded
    functions (a `backward_propagation` that calls `forward_propagation` is judged with the
    reference's). For a student's answer those run in an oracle (a stub stands in for each in the
    answer's process, which never holds the reference's code); a `trusted` answer (the
    reference, the catalogued mistakes) gets them in its own process."""
    units = answer.units
    imports = tuple(u for u in units if kind(u) == "import")
    rest = tuple(u for u in units if kind(u) != "import")
    peers = peers or {}
    wanted = sorted(((answer.calls if calls is None else calls) - {answer.name}) & set(peers))
    if trusted:
        others = tuple(u for name in wanted for u in peers[name])
        return Task(answer.name, imports + given + others + rest, tuple(cases), timeout)
    stubs = tuple(Unit(f"oracle:{name}", "") for name in wanted)
    oracle = given + tuple(u for name in reached(wanted, peers) for u in peers[name]) if wanted else ()
    return Task(answer.name, imports + given + stubs + rest, tuple(cases), timeout, oracle)


def reached(names: list[str], peers: Peers) -> list[str]:
    """`names` and every graded function their reference versions call, directly or not (the
    oracle runs the reference as a whole)."""
    out: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name in out:
            continue
        out.append(name)
        todo.extend(sorted(_named(peers[name]) & set(peers)))
    return out


def _named(units: tuple[Unit, ...]) -> frozenset[str]:
    return frozenset().union(*(_names_in(u.source) for u in units))


@lru_cache(maxsize=256)
def _names_in(source: str) -> frozenset[str]:
    """Every name a piece of code mentions (an over-approximation of what it calls)."""
    try:
        tree = notebook.parse_python(source)
    except SyntaxError:
        return frozenset()
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def peers_of(parsed: notebook.Parsed, graded: frozenset[str], provided: frozenset[str]) -> Peers:
    """For each graded function, the reference's units that define it (its imports and helpers
    too), named so that no error in them reads as the student's cell. `provided` is every name
    the grader supplies itself (graded and given functions)."""
    out: Peers = {}
    for name in sorted(graded):
        ans = selection.answer(parsed, name, exclude=provided - {name})
        out[name] = tuple(Unit(f"reference:{name}:{i}", u.source) for i, u in enumerate(ans.units))
    return out
