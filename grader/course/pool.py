"""Grading a batch's notebooks in this process: one submission's bytes in a warm session
(`grade_bytes`), and the thread pool whose threads each own a `run.Session`, sharing one cache of
identical answers.

Each pool thread's session keeps one warm sandboxed worker per assignment that imports numpy and
the helper modules once and forks a fresh child for every graded function of every submission,
so the isolation of a single run holds unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from grader.course.plan import Outcome, Plan, Result, Submission, materialise
from grader.errors import NotebookError
from grader.grading import grade
from grader.judging import prepared
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.results import Report
from grader.sandbox import cache as cache_mod
from grader.sandbox import isolation, run
from grader.sandbox.worker import PRELOAD

IN_FLIGHT_PER_JOB = 4  # submissions queued per job: bounds memory whatever the batch size


# ----------------------------------------------------------------------------- grading one


def _signatures(root: Path | None) -> tuple[tuple[str, frozenset[str]], ...]:
    return _signatures_at(root or spec.project_root())


def forget_assignments() -> None:
    """Drop what this process loaded of the assignments (specs, expected values, what recognises
    them): their files changed since."""
    prepared.prepare.cache_clear()
    _signatures_at.cache_clear()


@cache
def _signatures_at(root: Path) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((a.name, frozenset(f.name for f in a.functions)) for a in spec.load_all(root=root))


def recognise(parsed: notebook.Parsed, root: Path | None) -> str | None:
    """As `grade.recognise`, with the specs loaded once per process."""
    names = set(parsed.markers) | set(parsed.definitions)
    best, best_hits = None, 0
    for name, functions in _signatures(root):
        hits = len(names & functions)
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def assignment_of(data: bytes, options: grade.Options) -> str | None:
    """The assignment a notebook's bytes would be graded as; None when unreadable or unknown."""
    try:
        parsed = notebook.parse(notebook.loads(data))
    except NotebookError:
        return None
    return options.assignment or recognise(parsed, options.root)


def grade_bytes(data: bytes, label: str, options: grade.Options, session: run.Session) -> Report:
    """Grade one notebook's bytes in a warm session; never raises for the submission's sake."""
    try:
        cells = notebook.loads(data)
    except NotebookError as exc:
        return Report(label, options.assignment, "invalid", f"not a readable notebook: {exc}")
    parsed = notebook.parse(cells)
    name = options.assignment or recognise(parsed, options.root)
    if name is None:
        known = ", ".join(n for n, _ in _signatures(options.root))
        message = f"no graded function of a known assignment ({known}) found; use --assignment"
        return Report(label, None, "invalid", message)
    prep = prepared.prepare(name, options.root, options.variant)
    return grade.grade_parsed(label, parsed, prep, options, session)


def with_variant(options: grade.Options, sub: Submission) -> grade.Options:
    """The options a submission is graded with: on its student's variant, if it has one."""
    return replace(options, variant=sub.variant) if sub.variant else options


def unreadable(
    label: str, digest: str, assignment: str | None, reason: str
) -> tuple[str, dict[str, Any], bool]:
    """The result for a file that is not a notebook we can read (recorded: a rerun skips it)."""
    return digest, Report(label, assignment, "invalid", f"not a readable notebook: {reason}").to_dict(), True


def refusal(label: str, digest: str, assignment: str | None, reason: str) -> tuple[str, dict[str, Any], bool]:
    """The result for a file that is never read (a symbolic link): invalid, with the reason."""
    return digest, Report(label, assignment, "invalid", reason).to_dict(), True


def failure(label: str, exc: BaseException) -> dict[str, Any]:
    """A grader bug on one submission: reported as an internal error, never recorded, so a rerun
    tries again."""
    return grade.internal_error(label, None, exc).to_dict()


# ----------------------------------------------------------------------------- local pool


class LocalPool:
    """N threads, each owning a warm `run.Session`; one cache shared by all."""

    def __init__(self, options: grade.Options, plan: Plan, hide: tuple[str, ...]) -> None:
        self.options, self.plan, self.hide = options, plan, hide
        self.cache = cache_mod.Cache() if plan.cache else None
        self._local = threading.local()
        self._sessions: list[run.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> run.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            # a single run's preload: heavier ones make every fork slower (bench/README.md)
            s = run.Session(self.options.limits, preload=PRELOAD, hide=self.hide, cache=self.cache)
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def grade(self, group: list[Submission]) -> Result:
        """One content (maybe several paths), in a pool thread: grade it, write its reports."""
        digest, report, ok = self._grade(group[0])
        try:
            return digest, report, ok, materialise(group, report, self.plan)
        except Exception as exc:  # a report that cannot be rendered: a grader bug, not a verdict
            failed = failure(group[0].label, exc)
            return digest, failed, False, materialise(group, failed, self.plan)

    def _grade(self, sub: Submission) -> tuple[str, dict[str, Any], bool]:
        if sub.refused:
            return refusal(sub.label, sub.digest, self.options.assignment, sub.refused)
        try:
            data = notebook.read_bytes(sub.path)
        except NotebookError as exc:
            return unreadable(sub.label, sub.digest, self.options.assignment, str(exc))
        try:
            plan, ran = self.plan, None
            name = None if plan.fast else assignment_of(data, self.options)
            if name is not None:  # first: see grade.execution
                out, cells = plan.output, plan.cell_timeout
                ran = grade.execution(sub.path, name, out, cells, plan.images, self.hide, sub.name)
            report = grade_bytes(data, sub.label, with_variant(self.options, sub), self._session())
            return sub.digest, grade.with_execution(report, ran).to_dict(), True
        except Exception as exc:  # a grader bug: keep the batch going
            return sub.digest, failure(sub.label, exc), False

    def map(self, groups: dict[str, list[Submission]]) -> Iterator[Result]:
        """Results as they complete, with a bounded number queued."""
        isolation.available_isolation()  # probe once, before the threads race to
        window = max(1, self.plan.jobs) * IN_FLIGHT_PER_JOB
        with ThreadPoolExecutor(max_workers=max(1, self.plan.jobs), thread_name_prefix="grader") as ex:
            for _, fut in windowed(list(groups.values()), lambda g: ex.submit(self.grade, g), window):
                yield fut.result()

    def close(self, outcome: Outcome) -> None:
        for s in self._sessions:
            outcome.tasks_sent += s.sent
            s.close()
        if self.cache is not None:
            outcome.cache_hits, outcome.cache_misses = self.cache.hits, self.cache.misses


def windowed(items: list[Any], submit: Callable[[Any], Any], window: int) -> Iterator[tuple[Any, Any]]:
    """Keep at most `window` futures in flight; yield each (item, future) as it completes."""
    todo = iter(items)
    running: dict[Any, Any] = {}
    try:
        while True:
            while len(running) < window:
                nxt = next(todo, None)
                if nxt is None:
                    break
                running[submit(nxt)] = nxt
            if not running:
                return
            done, _ = _wait_any(set(running))
            for fut in done:
                yield running.pop(fut), fut
    finally:
        for fut in running:
            fut.cancel()


def _wait_any(running: set[Any]) -> tuple[set[Any], set[Any]]:
    if running and isinstance(next(iter(running)), Future):
        done, pending = wait(running, return_when=FIRST_COMPLETED)
        return set(done), set(pending)
    from distributed import wait as dask_wait

    result = dask_wait(list(running), return_when="FIRST_COMPLETED")
    return set(result.done), set(result.not_done)
