"""Grading many submissions: atomic per-submission reports, a resumable gradebook, possible
copies, and a progress bar; the grading itself runs in this process's thread pool (pool.py) or on a
Dask cluster (cluster.py).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.course.cluster import NO_SECRET, SECRET, DaskPool, fingerprint
from grader.course.gradebook import Gradebook
from grader.course.links import grader_links
from grader.course.plan import Outcome, Plan, Submission, Written, materialise, write_report
from grader.course.pool import LocalPool
from grader.errors import NotebookError
from grader.files import file_names
from grader.grading import grade
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.results import printable
from grader.sandbox import isolation

# ----------------------------------------------------------------------------- the batch


def run_batch(
    paths: list[Path],
    options: grade.Options,
    plan: Plan,
    *,
    refused: dict[Path, str] | None = None,
    variants: dict[Path, str] | None = None,
) -> Outcome:
    """Grade every notebook in `paths`, skipping contents the gradebook already holds; those in
    `refused` (`handins.find`: links) are reported invalid with the reason, never read; each in
    `variants` is graded on that variant's secret cases (its student's)."""
    started = time.perf_counter()
    refused = dict(refused or {})
    refused.update(grader_links([p for p in paths if p not in refused], options.root))
    subs = survey(paths, refused, variants)
    if plan.output is not None:
        _sweep(plan.output)
    book = Gradebook(plan.book_path) if plan.book_path is not None else None
    try:
        digests, files = [s.digest for s in subs], [str(s.path) for s in subs]
        outcome = Outcome([{} for _ in subs], copies=copies(subs), digests=digests, files=files)
        basis = graded_against(options) if book is not None else {}
        todo = _reuse(subs, book, options, plan, outcome, basis)
        groups: dict[str, list[Submission]] = defaultdict(list)
        for s in todo:
            groups[s.digest].append(s)
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with _progress(plan.progress, len(subs), len(subs) - len(todo)) as advance:
            engine = _engine(options, plan, _hide_dirs(paths, plan))
            try:
                for digest, report, ok, written in engine.map(groups):
                    _finish(groups[digest], report, ok, written, book, plan, run_id, outcome, basis)
                    advance(len(groups[digest]))
            finally:
                engine.close(outcome)
    finally:
        if book is not None:
            book.close()
    outcome.seconds = time.perf_counter() - started
    return outcome


def _sweep(output: Path, age: float = 60.0) -> None:
    """Remove temporary report files a killed batch left behind (never a finished report)."""
    now = time.time()
    for tmp in output.glob(".*.json.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > age:
                tmp.unlink()
        except OSError:
            pass


def survey(
    paths: list[Path], refused: dict[Path, str] | None = None, variants: dict[Path, str] | None = None
) -> list[Submission]:
    """Hash every file (never one in `refused`) and give each a unique report name; a file with
    a variant is keyed by its content and its variant, so the same bytes graded on two students'
    variants are two grades, and on one variant one."""
    names = unique_names(paths)
    refused, variants = refused or {}, variants or {}
    out = []
    for i, p in enumerate(paths):
        content = _refused_digest(p) if p in refused else _digest(p)
        variant = variants.get(p, "")
        key = f"{content}@{variant}" if variant and ":" not in content else content
        out.append(Submission(i, p, key, names[i], refused.get(p, ""), variant, content))
    return out


def _refused_digest(path: Path) -> str:
    return "refused:" + hashlib.sha256(os.fsencode(path)).hexdigest()


def copies(subs: list[Submission]) -> list[list[str]]:
    """Different files with the same bytes (possible copies), each group as labels in input order;
    the same file named twice is not a copy of itself, hard links to one file (other names, one
    inode) are: each is a submission of its own."""
    files: dict[str, dict[str, str]] = defaultdict(dict)
    for s in subs:
        if not s.refused and not s.bytes_digest.startswith("unreadable:"):
            files[s.bytes_digest].setdefault(os.path.abspath(s.path), printable(s.label))
    return [list(group.values()) for group in files.values() if len(group) > 1]


def _digest(path: Path) -> str:
    try:  # a regular file of bounded size only: a FIFO or /dev/zero among the notebooks must not hang us
        return hashlib.sha256(notebook.read_bytes(path)).hexdigest()
    except NotebookError:
        return "unreadable:" + hashlib.sha256(os.fsencode(path)).hexdigest()


def unique_names(paths: list[Path]) -> list[str]:
    """Report names, by the one scheme every writer uses (`files.file_names`)."""
    return file_names([str(p) for p in paths])


def _hide_dirs(paths: list[Path], plan: Plan) -> tuple[str, ...]:
    """Folders the sandbox must not show: where submissions, reports and the gradebook live.

    One folder holding them all when that is safe to cover (it holds nothing a worker needs),
    else each submission's own folder.
    """
    dirs = {p.resolve().parent for p in paths}
    for extra in (plan.output, plan.book_path.parent if plan.book_path else None):
        if extra is not None:
            dirs.add(extra.resolve())
    if not dirs:
        return ()
    common = Path(os.path.commonpath([str(d) for d in dirs]))
    needed = [Path(n) for n in isolation._needed()] + [Path(tempfile.gettempdir()), spec.project_root()]
    if not any(n.is_relative_to(common) for n in needed):
        return (str(common),)
    ordered = sorted(dirs)
    kept: list[Path] = []
    for d in ordered:  # sorted: a folder comes right before the folders inside it
        if not (kept and d.is_relative_to(kept[-1])):
            kept.append(d)
    return tuple(str(d) for d in kept)


def graded_against(options: grade.Options) -> dict[str, str]:
    """Each assignment's digest of what a grade depends on (spec, expected/, released files, and
    the secret when one draws the hidden cases): a grade recorded against another is graded
    again, its old grade kept as history."""
    found = fingerprint(options.root, options.assignment)
    drawn = found[SECRET] if found[SECRET] != NO_SECRET else ""
    return {
        k.removeprefix("assignment "): hashlib.sha256(f"{v}\0{drawn}".encode()).hexdigest() if drawn else v
        for k, v in found.items()
        if k.startswith("assignment ")
    }


def _reuse(
    subs: list[Submission],
    book: Gradebook | None,
    options: grade.Options,
    plan: Plan,
    outcome: Outcome,
    basis: dict[str, str],
) -> list[Submission]:
    """Fill in the submissions the gradebook already holds (graded against today's expected
    values); return the others."""
    if book is None or plan.regrade:
        return subs
    done = book.graded({s.digest for s in subs}, plan.mode, options.assignment, basis)
    todo = []
    for s in subs:
        if s.digest not in done:
            todo.append(s)
            continue
        report = {**book.report(s.digest), "submission": printable(s.label)}
        report_file = write_report(s, report, plan, only_if_missing=True)
        book.link([(s.label, report_file)], s.digest)
        outcome.reports[s.index] = report
        outcome.skipped += 1
    return todo


def _finish(
    group: list[Submission],
    report: dict[str, Any],
    ok: bool,
    written: Written | None,
    book: Gradebook | None,
    plan: Plan,
    run_id: str,
    outcome: Outcome,
    basis: dict[str, str] | None = None,
) -> None:
    """Reports first (written by the pool thread, or here), then the grade in one transaction."""
    written = written if written is not None else materialise(group, report, plan)
    for s, (mine, _) in zip(group, written, strict=True):
        outcome.reports[s.index] = mine
    failed = not ok or report.get("status") == "error"
    if failed:
        outcome.errors += len(group)
    else:
        outcome.graded += len(group)
    if not failed and book is not None:
        files = [(s.label, f) for s, (_, f) in zip(group, written, strict=True)]
        against = (basis or {}).get(str(report.get("assignment")))
        book.record(group[0].digest, report, mode=plan.mode, run=run_id, files=files, basis=against)


def _engine(options: grade.Options, plan: Plan, hide: tuple[str, ...]) -> LocalPool | DaskPool:
    return DaskPool(options, plan, hide) if plan.scheduler else LocalPool(options, plan, hide)


# ----------------------------------------------------------------------------- progress


class _progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        self.enabled, self.total, self.done = enabled, total, done
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task("grading", total=self.total, completed=self.done)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
