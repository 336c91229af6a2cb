"""Running answers in the sandbox: build the job, survive a worker that dies, return raw results."""

from __future__ import annotations

from dataclasses import dataclass
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


class Session:
    """Sandboxed workers kept warm per assignment, replaced when one dies.

    A worker imports numpy (and `preload`) once; every function of every submission still runs
    in a fresh child forked from it, so no student's code ever runs in the worker itself.
    """

    def __init__(self, limits: sandbox.Limits, *, preload: str = sandbox.PRELOAD, hide: tuple[str, ...] = ()):
        self.limits, self.preload, self.hide = limits, preload, list(hide)
        self._workers: dict[str, sandbox.Worker] = {}

    def worker(self, a: Assignment) -> sandbox.Worker:
        w = self._workers.get(a.name)
        if w is None or w.proc.poll() is not None:
            self.discard(a)
            scratch = sandbox.prepare_scratch(a.folder, a.files)
            w = sandbox.start(scratch, self.limits, hide=self.hide, preload=self.preload)
            self._workers[a.name] = w
        return w

    def discard(self, a: Assignment) -> None:
        w = self._workers.pop(a.name, None)
        if w is not None:
            w.close()
            sandbox.remove_scratch(w.scratch)

    def close(self) -> None:
        for name in list(self._workers):
            w = self._workers.pop(name)
            w.close()
            sandbox.remove_scratch(w.scratch)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def execute(
    a: Assignment, tasks: list[Task], *, limits: sandbox.Limits, session: Session | None = None
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    """Run every task; a function whose run killed the worker is recorded as such.

    Returns raw per-function results, isolation notes, and the worker's captured output.
    """
    if session is None:
        with Session(limits) as own:
            return execute(a, tasks, limits=limits, session=own)
    results: dict[str, dict[str, Any]] = {}
    pending = list(tasks)
    output = []
    notes: tuple[str, ...] = ()
    for _ in range(MAX_RESTARTS):
        if not pending:
            break
        worker = session.worker(a)
        notes = worker.isolation.notes
        job = {"tasks": [t.to_job() for t in pending], "max_bytes": limits.result_bytes}
        timeout = STARTUP_SECONDS + sum(t.timeout + 2 for t in pending)
        got = sandbox.submit(worker, job, timeout=timeout, limits=limits)
        output.append(worker.output.text())
        results.update(got)
        left = [t for t in pending if t.function not in got]
        if left:  # the worker died or hung: the first unanswered function was running
            session.discard(a)
            results[left[0].function] = {"function": left[0].function, "worker_died": True}
            left = left[1:]
        pending = left
    for t in pending:
        results[t.function] = {"function": t.function, "worker_died": True}
    return results, notes, "".join(output)
