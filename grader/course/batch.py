"""Grading many submissions: warm sandboxed sessions in a thread pool (or Dask), a shared cache
of identical answers, atomic per-submission reports and a resumable gradebook.

Each pool thread owns a `run.Session`: one warm sandboxed worker per assignment that imports
numpy and the helper modules once and forks a fresh child for every graded function of every
submission, so the isolation of a single run holds unchanged. The Dask path sends the same
work, `grade_one(bytes, label, ...)`, to a cluster whose workers run the same local sandbox,
with a fingerprint of the grader and assignments the client grades with: a worker whose own
differ refuses the task (an internal error, never a verdict).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from grader.course.gradebook import FILENAME, Gradebook
from grader.course.links import grader_links
from grader.errors import GraderError, NotebookError, SpecError
from grader.files import file_names, write_atomic
from grader.grading import grade
from grader.judging import prepared
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.results import Report, printable
from grader.sandbox import cache as cache_mod
from grader.sandbox import isolation, run
from grader.sandbox.limits import Limits
from grader.sandbox.worker import PRELOAD

PRELOAD = PRELOAD  # measured (bench/README.md): heavier preloads make every fork slower
IN_FLIGHT_PER_JOB = 4  # submissions queued per job: bounds memory whatever the batch size


@dataclass(frozen=True)
class Plan:
    """How to run a batch (grading options proper live in `grade.Options`)."""

    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    fast: bool = True
    output: Path | None = None
    gradebook: Path | None = None  # default: output / gradebook.sqlite
    regrade: bool = False
    scheduler: str | None = None  # a Dask scheduler address, or "local" for an embedded LocalCluster
    progress: bool = False
    cache: bool = True
    cell_timeout: float = 60.0  # full mode: seconds per notebook cell
    images: bool = False  # full mode: keep the notebook's figures in the report (for HTML)

    @property
    def mode(self) -> str:
        return "fast" if self.fast else "full"

    @property
    def book_path(self) -> Path | None:
        if self.gradebook is not None:
            return self.gradebook
        return self.output / FILENAME if self.output is not None else None


@dataclass(frozen=True)
class Submission:
    """One notebook file of the batch."""

    index: int
    path: Path
    digest: str  # sha256 of the file's bytes
    name: str  # unique report stem within the batch
    refused: str = ""  # why the file is never read (a symbolic link), or nothing

    @property
    def label(self) -> str:
        return str(self.path)


@dataclass
class Outcome:
    """What a batch did: reports in input order, and counts."""

    reports: list[dict[str, Any]]
    graded: int = 0
    errors: int = 0  # internal errors (the grader's, a worker's refusal, the cluster's): never stored
    skipped: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    tasks_sent: int = 0
    copies: list[list[str]] = field(default_factory=list)  # byte-identical files, as labels


# ----------------------------------------------------------------------------- the batch


def run_batch(
    paths: list[Path], options: grade.Options, plan: Plan, *, refused: dict[Path, str] | None = None
) -> Outcome:
    """Grade every notebook in `paths`, skipping contents the gradebook already holds; those in
    `refused` (`grade.collect`: links) are reported invalid with the reason, never read."""
    started = time.perf_counter()
    refused = dict(refused or {})
    refused.update(grader_links([p for p in paths if p not in refused], options.root))
    subs = survey(paths, refused)
    if plan.output is not None:
        _sweep(plan.output)
    book = Gradebook(plan.book_path) if plan.book_path is not None else None
    try:
        outcome = Outcome([{} for _ in subs], copies=copies(subs))
        todo = _reuse(subs, book, options, plan, outcome)
        groups: dict[str, list[Submission]] = defaultdict(list)
        for s in todo:
            groups[s.digest].append(s)
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with _progress(plan.progress, len(subs), len(subs) - len(todo)) as advance:
            engine = _engine(options, plan, _hide_dirs(paths, plan))
            try:
                for digest, report, ok, written in engine.map(groups):
                    _finish(groups[digest], report, ok, written, book, plan, run_id, outcome)
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


def survey(paths: list[Path], refused: dict[Path, str] | None = None) -> list[Submission]:
    """Hash every file (never one in `refused`) and give each a unique report name."""
    names = unique_names(paths)
    refused = refused or {}
    return [
        Submission(i, p, _refused_digest(p) if p in refused else _digest(p), names[i], refused.get(p, ""))
        for i, p in enumerate(paths)
    ]


def _refused_digest(path: Path) -> str:
    return "refused:" + hashlib.sha256(os.fsencode(path)).hexdigest()


def copies(subs: list[Submission]) -> list[list[str]]:
    """Different files with the same bytes (possible copies), each group as labels in input order;
    the same file named twice is not a copy of itself, hard links to one file (other names, one
    inode) are: each is a submission of its own."""
    files: dict[str, dict[str, str]] = defaultdict(dict)
    for s in subs:
        if not s.refused and not s.digest.startswith("unreadable:"):
            files[s.digest].setdefault(os.path.abspath(s.path), printable(s.label))
    return [list(group.values()) for group in files.values() if len(group) > 1]


def _digest(path: Path) -> str:
    try:  # a regular file of bounded size only: a FIFO or /dev/zero among the notebooks must not hang us
        return hashlib.sha256(notebook.read_bytes(path)).hexdigest()
    except NotebookError:
        return "unreadable:" + hashlib.sha256(os.fsencode(path)).hexdigest()


def unique_names(paths: list[Path]) -> list[str]:
    """Report names, by the one scheme every writer uses (`report.file_names`)."""
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


def _reuse(
    subs: list[Submission], book: Gradebook | None, options: grade.Options, plan: Plan, outcome: Outcome
) -> list[Submission]:
    """Fill in the submissions the gradebook already holds; return the others."""
    if book is None or plan.regrade:
        return subs
    done = book.graded({s.digest for s in subs}, plan.mode, options.assignment)
    todo = []
    for s in subs:
        if s.digest not in done:
            todo.append(s)
            continue
        report = {**book.report(s.digest), "submission": printable(s.label)}
        report_file = _write_report(s, report, plan, only_if_missing=True)
        book.link([(s.label, report_file)], s.digest)
        outcome.reports[s.index] = report
        outcome.skipped += 1
    return todo


Written = list[tuple[dict[str, Any], str | None]]  # each path's report and its file
Result = tuple[str, dict[str, Any], bool, Written | None]  # digest, report, recordable, written


def _materialise(group: list[Submission], report: dict[str, Any], plan: Plan) -> Written:
    """Each path's own report (its own label), written atomically under --output."""
    out = []
    for s in group:
        mine = {**report, "submission": printable(s.label)}
        out.append((mine, _write_report(s, mine, plan)))
    return out


def _finish(
    group: list[Submission],
    report: dict[str, Any],
    ok: bool,
    written: Written | None,
    book: Gradebook | None,
    plan: Plan,
    run_id: str,
    outcome: Outcome,
) -> None:
    """Reports first (written by the pool thread, or here), then the grade in one transaction."""
    written = written if written is not None else _materialise(group, report, plan)
    for s, (mine, _) in zip(group, written, strict=True):
        outcome.reports[s.index] = mine
    failed = not ok or report.get("status") == "error"
    if failed:
        outcome.errors += len(group)
    else:
        outcome.graded += len(group)
    if not failed and book is not None:
        files = [(s.label, f) for s, (_, f) in zip(group, written, strict=True)]
        book.record(group[0].digest, report, mode=plan.mode, run=run_id, files=files)


def _write_report(
    s: Submission, report: dict[str, Any], plan: Plan, only_if_missing: bool = False
) -> str | None:
    if plan.output is None:
        return None
    target = plan.output / f"{s.name}.json"
    if not (only_if_missing and target.exists()):
        write_atomic(target, json.dumps(report, indent=2))
    return str(target)


# ----------------------------------------------------------------------------- grading one


def _signatures(root: Path | None) -> tuple[tuple[str, frozenset[str]], ...]:
    return _signatures_at(root or spec.project_root())


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
    return grade.grade_parsed(label, parsed, prepared.prepare(name, options.root), options, session)


def _with_execution(
    report: Report,
    path: Path,
    output: Path | None,
    cell_timeout: float,
    images: bool = False,
    hide: tuple[str, ...] = (),
    name: str | None = None,
) -> Report:
    """The report with the whole notebook's execution; the executed notebook, if written, is
    `output/<name>.executed.ipynb` (`name`: the submission's, from `report.file_names`)."""
    from grader.sandbox import execute

    outcome = execute.run_notebook(
        path,
        report.assignment or "",
        output=output,
        cell_timeout=cell_timeout,
        images=images,
        hide=hide,
        name=name,
    )
    return replace(report, extra={**report.extra, "execution": outcome})


def unreadable(
    label: str, digest: str, assignment: str | None, reason: str
) -> tuple[str, dict[str, Any], bool]:
    """The result for a file that is not a notebook we can read (recorded: a rerun skips it)."""
    return digest, Report(label, assignment, "invalid", f"not a readable notebook: {reason}").to_dict(), True


def refusal(label: str, digest: str, assignment: str | None, reason: str) -> tuple[str, dict[str, Any], bool]:
    """The result for a file that is never read (a symbolic link): invalid, with the reason."""
    return digest, Report(label, assignment, "invalid", reason).to_dict(), True


def _failure(label: str, exc: BaseException) -> dict[str, Any]:
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
            s = run.Session(self.options.limits, preload=PRELOAD, hide=self.hide, cache=self.cache)
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def grade(self, group: list[Submission]) -> Result:
        """One content (maybe several paths), in a pool thread: grade it, write its reports."""
        digest, report, ok = self._grade(group[0])
        try:
            return digest, report, ok, _materialise(group, report, self.plan)
        except Exception as exc:  # a report that cannot be rendered: a grader bug, not a verdict
            failed = _failure(group[0].label, exc)
            return digest, failed, False, _materialise(group, failed, self.plan)

    def _grade(self, sub: Submission) -> tuple[str, dict[str, Any], bool]:
        if sub.refused:
            return refusal(sub.label, sub.digest, self.options.assignment, sub.refused)
        try:
            data = notebook.read_bytes(sub.path)
        except NotebookError as exc:
            return unreadable(sub.label, sub.digest, self.options.assignment, str(exc))
        try:
            report = grade_bytes(data, sub.label, self.options, self._session())
            if not self.plan.fast and report.status == "graded":
                plan = self.plan
                report = _with_execution(
                    report, sub.path, plan.output, plan.cell_timeout, plan.images, self.hide, name=sub.name
                )
            return sub.digest, report.to_dict(), True
        except Exception as exc:  # a grader bug: keep the batch going
            return sub.digest, _failure(sub.label, exc), False

    def map(self, groups: dict[str, list[Submission]]) -> Iterator[Result]:
        """Results as they complete, with a bounded number queued."""
        isolation.available_isolation()  # probe once, before the threads race to
        window = max(1, self.plan.jobs) * IN_FLIGHT_PER_JOB
        with ThreadPoolExecutor(max_workers=max(1, self.plan.jobs), thread_name_prefix="grader") as ex:
            for _, fut in _windowed(list(groups.values()), lambda g: ex.submit(self.grade, g), window):
                yield fut.result()

    def close(self, outcome: Outcome) -> None:
        for s in self._sessions:
            outcome.tasks_sent += s.sent
            s.close()
        if self.cache is not None:
            outcome.cache_hits, outcome.cache_misses = self.cache.hits, self.cache.misses


def _windowed(items: list[Any], submit: Callable[[Any], Any], window: int) -> Iterator[tuple[Any, Any]]:
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


# ----------------------------------------------------------------------------- what a worker grades with


def fingerprint(root: Path | None, assignment: str | None = None) -> dict[str, str]:
    """What grading depends on: the grader's version and, for each assignment (only `assignment`
    when one is forced, else all of them: recognition depends on them all), a digest of its spec,
    expected values, released notebook and released files."""
    root = root or spec.project_root()
    out = {"the grader's version": _version()}
    for name in [assignment] if assignment else spec.names(root=root):
        digest = _assignment_digest(name, root)
        if digest is not None:
            out[f"assignment {name}"] = digest
    return out


@cache
def _version() -> str:
    # the installed release, not a digest of the sources: an editable checkout being edited would
    # refuse its own workers, and files on disk need not be the code a long-lived worker loaded
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("grader")
    except PackageNotFoundError:
        return "unknown"


def _assignment_digest(name: str, root: Path) -> str | None:
    try:
        a = spec.load(name, root=root)
    except SpecError:
        return None
    spec_file = a.folder / "assignment.toml"
    files = [("assignment.toml", spec_file), ("expected", a.expected_path), ("notebook", a.student_notebook)]
    return _files_digest(files + [(f"files/{f}", a.folder / f) for f in a.files])


def _files_digest(files: list[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for label, path in files:
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            content = f"unreadable: {exc.strerror}"
        h.update(f"{label}\0{content}\n".encode("utf-8", "backslashreplace"))
    return h.hexdigest()


def differences(client: dict[str, str], worker: dict[str, str]) -> list[str]:
    """How a worker's fingerprint differs from the client's, in words."""
    missing = [k for k in client if k not in worker]
    extra = [k for k in worker if k not in client]
    differ = [k for k in client if k in worker and client[k] != worker[k]]
    return (
        [f"{k} differs" for k in differ]
        + [f"{k} is missing here" for k in missing]
        + [f"{k} is here but not on the client" for k in extra]
    )


_SEEN: dict[Path, dict[str, str]] = {}  # root -> the fingerprint this process last graded with


def _refusal(options: grade.Options, wanted: dict[str, str]) -> str | None:
    """Why this worker must not grade for a client that grades with `wanted`, or None. What this
    process loaded earlier is dropped when the files changed since, so it grades what it checked."""
    root = options.root or spec.project_root()
    mine = fingerprint(root, options.assignment)
    if _SEEN.get(root) not in (None, mine):
        prepared.prepare.cache_clear()
        _signatures_at.cache_clear()
    _SEEN[root] = mine
    found = differences(wanted, mine)
    if not found:
        return None
    return (
        f"refused by Dask worker {_worker_name()}: {'; '.join(found)} (grader root {root}). A worker "
        "needs the same grader version and the same assignments/ and expected/ as the client "
        "(GRADER_ROOT, or a checkout beside the installed grader); nothing was graded"
    )


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"process {os.getpid()}"


# ----------------------------------------------------------------------------- dask


class ClusterError(GraderError):
    """The Dask cluster cannot be used at all (its scheduler cannot be reached)."""


_PROCESS_CACHE = cache_mod.Cache()
_THREAD = threading.local()
_ALL_SESSIONS: list[run.Session] = []
_SESSIONS_LOCK = threading.Lock()


def _process_session(limits: Limits, hide: tuple[str, ...]) -> run.Session:
    """This thread's warm session in a Dask worker (one per limits and hidden folders)."""
    sessions: dict[Any, run.Session] = _THREAD.__dict__.setdefault("sessions", {})
    k = (limits, hide)
    if k not in sessions:
        sessions[k] = run.Session(limits, preload=PRELOAD, hide=hide, cache=_PROCESS_CACHE)
        with _SESSIONS_LOCK:
            if not _ALL_SESSIONS:
                atexit.register(close_process_sessions)
            _ALL_SESSIONS.append(sessions[k])
    return sessions[k]


def close_process_sessions() -> None:
    """Stop the warm workers this process started for Dask tasks."""
    with _SESSIONS_LOCK:
        while _ALL_SESSIONS:
            _ALL_SESSIONS.pop().close()
    _THREAD.__dict__.pop("sessions", None)


def grade_one(
    data: bytes,
    label: str,
    digest: str,
    options: grade.Options,
    fast: bool,
    hide: tuple[str, ...],
    cell_timeout: float = 60.0,
    wanted: dict[str, str] | None = None,
) -> tuple[str, dict[str, Any], bool]:
    """A Dask task: grade one notebook's bytes in this worker's warm sandbox; plain data back.
    Refused (status "error", not recorded) when this worker's grader or assignments differ from
    `wanted`, the client's `fingerprint`."""
    try:
        why = _refusal(options, wanted) if wanted is not None else None
        if why is not None:
            return digest, Report(label, options.assignment, "error", why).to_dict(), False
        report = grade_bytes(data, label, options, _process_session(options.limits, hide))
        if not fast and report.status == "graded":
            with tempfile.TemporaryDirectory(prefix="grader-dask-") as tmp:
                path = Path(tmp) / (Path(label).name or "notebook.ipynb")
                path.write_bytes(data)
                report = _with_execution(report, path, None, cell_timeout, hide=hide)
        return digest, report.to_dict(), True
    except Exception as exc:
        return digest, _failure(label, exc), False


class DaskPool:
    """The same grading tasks on a Dask distributed cluster (`local`: an embedded LocalCluster)."""

    def __init__(self, options: grade.Options, plan: Plan, hide: tuple[str, ...]) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            from grader.errors import GraderError

            raise GraderError("--scheduler needs dask: pip install 'grader[dask]'") from exc
        self.options, self.plan, self.hide = options, plan, hide
        self.wanted = fingerprint(options.root, options.assignment)
        self.cluster = None
        if plan.scheduler == "local":
            self.cluster = LocalCluster(
                n_workers=max(1, plan.jobs), threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = Client(self.cluster)
        else:
            self.client = _connect(Client, str(plan.scheduler))

    def map(self, groups: dict[str, list[Submission]]) -> Iterator[Result]:
        """Submit each content's bytes; results as they complete (the caller writes reports)."""
        threads = sum(self.client.nthreads().values())
        window = max(1, self.plan.jobs, threads) * IN_FLIGHT_PER_JOB

        def submit(s: Submission) -> Any:
            if s.refused:
                return self.client.submit(refusal, s.label, s.digest, self.options.assignment, s.refused)
            try:
                data = notebook.read_bytes(s.path)
            except NotebookError as exc:
                return self.client.submit(unreadable, s.label, s.digest, self.options.assignment, str(exc))
            return self.client.submit(
                grade_one,
                data,
                s.label,
                s.digest,
                self.options,
                self.plan.fast,
                self.hide,
                self.plan.cell_timeout,
                self.wanted,
                pure=False,
            )

        for s, fut in _windowed([g[0] for g in groups.values()], submit, window):
            yield (*_collect(s, fut), None)

    def close(self, outcome: Outcome) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _connect(client: Callable[[str], Any], address: str) -> Any:
    """A client of the scheduler at `address`, or one line saying why there is none."""
    try:
        return client(address)
    except (OSError, ValueError, TypeError) as exc:  # refused, timed out, unknown host, a bad address
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({reason}): check that `dask scheduler` "
            "runs there, that the address and port are the ones it printed, and that this machine "
            "can reach it"
        ) from None


def _collect(s: Submission, fut: Any) -> tuple[str, dict[str, Any], bool]:
    """A task's result, or the cluster's failure (a lost worker, a task that could not run
    there) as an internal error of that submission: never recorded, retried by a rerun."""
    try:
        digest, report, ok = fut.result()
        return digest, report, ok
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # asyncio's CancelledError is not an Exception
        message = f"internal error in the Dask cluster: {type(exc).__name__}: {exc}"[:500]
        return s.digest, Report(s.label, None, "error", message).to_dict(), False


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
