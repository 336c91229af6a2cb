"""Running answers in the sandbox: build the job, survive a worker that dies, return raw results."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import GraderError
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reading.assignment import Assignment
from grader.sandbox import isolation, leftovers
from grader.sandbox import worker as zygote  # the worker is a zygote: see harness.py
from grader.sandbox.limits import Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from grader.sandbox.tasks import Task
from grader.sandbox.worker import PRELOAD, Worker

if TYPE_CHECKING:  # only batches use a cache; hashlib stays out of a cold single run
    from grader.sandbox import cache as cache_mod

STARTUP_SECONDS = 30.0
MAX_RESTARTS = 8


def helper_modules(a: Assignment) -> list[str]:
    """The released helper modules (top-level .py files) a worker can import once for all."""
    return [f[:-3] for f in a.files if f.endswith(".py") and "/" not in f and f[:-3].isidentifier()]


def contained(w: Worker) -> bool:
    """Whether everything `w`'s code can start or leave dies with its namespaces (a PID and a
    mount namespace). Without them (a container without CAP_SYS_ADMIN) a daemon outlives the
    functions' process groups and files lie in the machine's /tmp: only ending every process of
    its user id and removing that id's files (leftovers.py) takes them away."""
    return w.isolation.pids and w.isolation.mounts


class Session:
    """Sandboxed workers kept warm per assignment, replaced when one dies.

    A worker imports numpy (and `preload`, and the assignment's helper modules) once; every
    function of every submission still runs in a fresh child forked from it, so no student's code
    ever runs in the worker itself. An optional `cache` lets identical answers run once.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        preload: str = PRELOAD,
        hide: tuple[str, ...] = (),
        cache: cache_mod.Cache | None = None,
    ):
        self.limits, self.preload, self.hide, self.cache = limits, preload, list(hide), cache
        self._workers: dict[str, Worker] = {}
        self.sent = 0  # tasks sent to workers, retries included
        self.served = 0  # submissions run (see `done_with`)
        self.uncontained = False  # its workers had no PID or mount namespace (see `contained`)

    def worker(self, a: Assignment) -> Worker:
        w = self._workers.get(a.name)
        if w is None or w.proc.poll() is not None or w.lost:
            self.discard(a)
            scratch = prepare_scratch(a.folder, a.files)
            preload = ",".join([self.preload, *helper_modules(a)])
            w = zygote.start(scratch, self.limits, hide=self.hide, preload=preload)
            self._workers[a.name] = w
        return w

    def confirm(self, a: Assignment, w: Worker) -> bool:
        """Whether `w` (started on trust, see `worker.start`) works; if not it is discarded
        and the probe decides the layers of the next one."""
        if zygote.confirm(w, self.limits, STARTUP_SECONDS):
            return True
        self.discard(a)
        isolation.available_isolation()
        return False

    def done_with(self, a: Assignment) -> None:
        """One submission is graded. A worker that is not `contained` ran one function only (see
        `_execute`) and is gone, its user cleared; from the second submission on (a batch, not a
        single run) the next one starts at once, and boots while this one is judged."""
        self.served += 1
        if self.uncontained and self.served > 1 and a.name not in self._workers:
            try:
                self.worker(a)
            except Exception:  # only a head start: the next submission starts one itself
                pass

    def renew(self, a: Assignment) -> None:
        """A fresh worker for `a` under a user id of its own, booting while the old one's user
        is cleared (it runs no student code until it gets a job, after this returns)."""
        old = self._workers.pop(a.name, None)
        try:
            self.worker(a)
        except Exception:  # the next job starts one itself, and reports what fails
            pass
        finally:
            if old is not None:
                old.close()
                remove_scratch(old.scratch)

    def discard(self, a: Assignment) -> None:
        w = self._workers.pop(a.name, None)
        if w is not None:
            w.close()
            remove_scratch(w.scratch)

    def close(self, *, wait: bool = True) -> None:
        for name in list(self._workers):
            w = self._workers.pop(name)
            w.close(wait=wait)
            remove_scratch(w.scratch)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Prestart:
    """A worker already booting for one notebook, and that notebook parsed."""

    session: Session
    parsed: notebook.Parsed


_EARLY: dict[tuple[str, str | None, tuple[str, ...]], Prestart] = {}


def prestart(path: Path, assignment: str | None, hide: tuple[str, ...]) -> Prestart | None:
    """Start the sandboxed worker for grading `path` (only the standard library is needed so
    far: the caller imports numpy afterwards, while the worker boots).

    None when the notebook cannot be read or recognised: grading reports that itself. The same
    arguments after `start_early` claim the worker it started.
    """
    key = (str(path.resolve()), assignment, hide)
    if key in _EARLY:
        return _EARLY.pop(key)
    try:
        parsed = notebook.parse(notebook.read(path))
        name = assignment or spec.recognise(set(parsed.markers) | set(parsed.definitions))
        a = spec.load(name) if name else None
    except GraderError:
        return None
    if a is None:
        return None
    session = Session(Limits(), hide=(*hide, str(path.resolve().parent)))
    try:
        session.worker(a)
    except Exception:  # only a head start: grading starts its own worker and reports what fails
        session.close()
        return None
    return Prestart(session, parsed)


def start_early(path: Path, assignment: str | None, hide: tuple[str, ...]) -> None:
    """`prestart` before the command line is parsed; a start nobody claims is closed at exit.
    Only a head start: whatever goes wrong here, the command proceeds and reports it itself."""
    try:
        started = prestart(path, assignment, hide)
    except Exception:
        return
    if started is not None:
        _EARLY[(str(path.resolve()), assignment, hide)] = started
        atexit.register(_close_unclaimed)


def _close_unclaimed() -> None:
    while _EARLY:
        _, started = _EARLY.popitem()
        started.session.close()


def execute(
    a: Assignment,
    tasks: list[Task],
    *,
    limits: Limits,
    session: Session | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    """Run every task; a function whose run killed the worker is recorded as such. `meanwhile`
    is called once, after the job is sent and before waiting for it.

    Every function's visible cases run before any function's hidden ones, in a process of their
    own: what a hidden case could leave behind that no wipe resets (a counter of the machine's:
    inode or process numbers) can reach no visible message, which the student reads at once. A
    function whose visible cases ended its process (a timeout, a crash) runs no hidden case.

    Returns raw per-function results, isolation notes, and the worker's captured output.
    """
    if session is None:
        with Session(limits) as own:
            return execute(a, tasks, limits=limits, session=own, meanwhile=meanwhile)
    results: dict[str, dict[str, Any]] = {}
    notes: tuple[str, ...] = ()
    output = ""
    try:
        for hidden in (False, True):
            part = [p for t in tasks if (p := _stage(t, hidden)) is not None]
            if hidden:  # a function already without results has its verdict
                part = [t for t in part if "cases" in results.get(t.function, {"cases": {}})]
            if not part:
                continue
            if session.cache is None:
                got, notes, more = _execute(a, part, limits, session, meanwhile)
                meanwhile = None
            else:
                got, notes, more = _execute_cached(a, part, limits, session, session.cache)
            output += more
            for name, raw in got.items():
                results[name] = _joined(results.get(name), raw) if hidden else raw
        if meanwhile is not None:
            meanwhile()
        return results, notes, output
    finally:
        session.done_with(a)


def _stage(t: Task, hidden: bool) -> Task | None:
    """`t` with only its hidden cases, or only its visible ones; None when it has none such."""
    cases = tuple(c for c in t.cases if bool(c.get("hidden")) == hidden)
    return replace(t, cases=cases) if cases else None


def _joined(visible: dict[str, Any] | None, hidden: dict[str, Any]) -> dict[str, Any]:
    """A function's result from its two stages: their cases together. A hidden stage that ended
    without results (a timeout, a crash, an exit code of its choosing) costs its hidden cases
    only, which then have no result; how it ended is never said, since the hidden inputs could
    choose it, and the visible cases' messages are read before publication."""
    if visible is None:
        return hidden if "cases" in hidden else {"function": hidden.get("function"), "cases": {}}
    return {**visible, "cases": {**visible["cases"], **hidden.get("cases", {})}}


def _execute_cached(
    a: Assignment, tasks: list[Task], limits: Limits, session: Session, cache: cache_mod.Cache
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    """Run only what the cache does not hold; wait for what another thread is running."""
    from grader.sandbox import cache as cache_mod

    keys = {t.function: cache_mod.key(a, t, limits) for t in tasks}
    results: dict[str, dict[str, Any]] = {}
    own, waiting = [], []
    for t in tasks:
        got = cache.claim(keys[t.function])
        if isinstance(got, dict):
            results[t.function] = got
        elif got is None:
            own.append(t)
        else:
            waiting.append((t, got))
    raw: dict[str, dict[str, Any]] = {}
    notes, output = isolation.available_isolation().notes, ""
    try:
        if own:
            raw, notes, output = _execute(a, own, limits, session)
    finally:
        for t in own:
            cache.settle(keys[t.function], raw.get(t.function))
    results.update(raw)
    late = [t for t, event in waiting if not _fill(results, t, cache.wait(keys[t.function], event))]
    if late:  # whoever ran them could not share the result: run them here
        raw, notes, more = _execute(a, late, limits, session)
        results.update(raw)
        output += more
    return results, notes, output


def _fill(results: dict[str, dict[str, Any]], t: Task, got: dict[str, Any] | None) -> bool:
    if got is not None:
        results[t.function] = got
    return got is not None


def _execute(
    a: Assignment,
    tasks: list[Task],
    limits: Limits,
    session: Session,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...], str]:
    """Send the tasks to the session's worker, restarting it when a function kills it."""
    results: dict[str, dict[str, Any]] = {}
    pending = list(tasks)
    output = []
    notes: tuple[str, ...] = ()
    restarts = 0
    while pending and restarts < MAX_RESTARTS:
        worker = session.worker(a)
        # a worker that is not contained runs one function: what that function's hidden stage
        # leaves behind (a daemon, a file) must not reach the next function's visible cases,
        # whose messages the student reads
        batch = pending if contained(worker) else pending[:1]
        session.uncontained = session.uncontained or not contained(worker)
        with nullcontext() if contained(worker) else leftovers.alone():
            job = {"tasks": [t.to_job() for t in batch], "max_bytes": limits.result_bytes}
            session.sent += len(batch)
            deadline = time.monotonic() + STARTUP_SECONDS + sum(t.timeout + 2 for t in batch)
            sent = zygote.send(worker, job)
            if meanwhile is not None:  # the caller's own work, while the worker boots and runs
                meanwhile()
                meanwhile = None
            if not session.confirm(a, worker):
                restarts += 1
                continue  # the machine allows less than that worker assumed: the job goes to the next
            notes = worker.isolation.notes
            got = zygote.collect(worker, deadline, limits) if sent else {}
            output.append(worker.output.text())
            results.update(got)
            left = [t for t in batch if t.function not in got]
            if left and worker.lost:  # it stopped answering between functions: none was running
                restarts += 1
                session.discard(a)
            elif left:  # the worker died or hung: the first unanswered function was running
                restarts += 1
                session.discard(a)
                died = {"function": left[0].function, "worker_died": True}
                results[left[0].function] = {**died, "oom": True} if worker.lost_to_oom else died
            elif not contained(worker):  # cleared before the next sandbox without namespaces runs
                session.renew(a) if len(pending) > len(batch) else session.discard(a)
        pending = [t for t in pending if t.function not in results]
    for t in pending:
        results[t.function] = {"function": t.function, "worker_died": True}
    if meanwhile is not None:
        meanwhile()
    return results, notes, "".join(output)
