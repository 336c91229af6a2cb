"""Running answers in the sandbox: build the job, survive a worker that dies, return raw results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import sandbox
from grader.assignment import Assignment
from grader.notebook import Answer, Unit

STARTUP_SECONDS = 30.0
MAX_RESTARTS = 8


@dataclass(frozen=True)
class Task:
    """One function's answer and the cases to call it on (inputs already encoded)."""

    function: str
    units: tuple[Unit, ...]
    cases: tuple[dict[str, Any], ...]  # {"name", "args", "setup"}
    timeout: float

    def to_job(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "units": [{"filename": u.filename, "source": u.source, "kind": _kind(u)} for u in self.units],
            "cases": list(self.cases),
            "timeout": self.timeout,
        }


def _kind(unit: Unit) -> str:
    head = unit.source.lstrip()
    return "import" if head.startswith(("import ", "from ")) else "code"


def task_for(answer: Answer, given: tuple[Unit, ...], cases: list[dict[str, Any]], timeout: float) -> Task:
    """The student's units with the given functions placed before their own definitions."""
    units = answer.units
    imports = tuple(u for u in units if _kind(u) == "import")
    rest = tuple(u for u in units if _kind(u) != "import")
    return Task(answer.name, imports + given + rest, tuple(cases), timeout)


def execute(
    a: Assignment, tasks: list[Task], *, limits: sandbox.Limits
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    """Run every task; a function whose run killed the worker is recorded as such.

    Returns raw per-function results, isolation notes, and the worker's captured output.
    """
    results: dict[str, dict[str, Any]] = {}
    pending = list(tasks)
    output = []
    notes: tuple[str, ...] = ()
    for _ in range(MAX_RESTARTS):
        if not pending:
            break
        got, notes, out = _one_worker(a, pending, limits)
        output.append(out)
        results.update(got)
        left = [t for t in pending if t.function not in got]
        if left:  # the worker died: the first unanswered function was running
            culprit = left[0]
            results[culprit.function] = {"function": culprit.function, "worker_died": True}
            left = left[1:]
        pending = left
    for t in pending:
        results[t.function] = {"function": t.function, "worker_died": True}
    return results, notes, "".join(output)


def _one_worker(
    a: Assignment, tasks: list[Task], limits: sandbox.Limits
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    scratch = sandbox.prepare_scratch(a.folder, a.files)
    worker = sandbox.start(scratch, limits)
    try:
        job = {"tasks": [t.to_job() for t in tasks], "max_bytes": limits.result_bytes}
        timeout = STARTUP_SECONDS + sum(t.timeout + 2 for t in tasks)
        got = sandbox.submit(worker, job, timeout=timeout, limits=limits)
        return got, worker.isolation.notes, worker.output.text()
    finally:
        worker.close()
        sandbox.remove_scratch(scratch)


def scratch_files(a: Assignment) -> list[Path]:
    """The released files a worker sees."""
    return [a.folder / f for f in a.files]
