"""Grading a batch on a Dask cluster: the same work, `grade_one(bytes, label, ...)`, sent to workers
that run the same local sandbox, with a fingerprint of the grader and assignments the client
grades with: a worker whose own differ refuses the task (an internal error, never a verdict).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from grader.course.plan import Outcome, Plan, Result, Submission
from grader.course.pool import (
    IN_FLIGHT_PER_JOB,
    assignment_of,
    failure,
    forget_assignments,
    grade_bytes,
    refusal,
    unreadable,
    windowed,
    with_variant,
)
from grader.errors import GraderError, NotebookError, SpecError
from grader.grading import grade
from grader.reading import assignment as spec
from grader.reading import notebook, secret
from grader.results import Report
from grader.sandbox import cache as cache_mod
from grader.sandbox import run
from grader.sandbox.limits import Limits
from grader.sandbox.worker import PRELOAD

# ----------------------------------------------------------------------------- what a worker grades with


def fingerprint(root: Path | None, assignment: str | None = None) -> dict[str, str]:
    """What grading depends on: the grader's version and, for each assignment (only `assignment`
    when one is forced, else all of them: recognition depends on them all), a digest of its spec,
    expected values, released notebook and released files."""
    root = root or spec.project_root()
    out = {"the grader's version": _version(), SECRET: _secret()}
    for name in [assignment] if assignment else spec.names(root=root):
        digest = _assignment_digest(name, root)
        if digest is not None:
            out[f"assignment {name}"] = digest
    return out


SECRET = "the secret"  # which secret draws the hidden cases (a one-way fingerprint), or none
NO_SECRET = "none: the public hidden cases"


def _secret() -> str:
    key = secret.load()
    return NO_SECRET if key is None else secret.fingerprint(key)


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
        forget_assignments()
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
        name, ran = None if fast else assignment_of(data, options), None
        if name is not None:  # first: see grade.execution
            with tempfile.TemporaryDirectory(prefix="grader-dask-") as tmp:
                path = Path(tmp) / (Path(label).name or "notebook.ipynb")
                path.write_bytes(data)
                ran = grade.execution(path, name, None, cell_timeout, hide=hide)
        report = grade_bytes(data, label, options, _process_session(options.limits, hide))
        return digest, grade.with_execution(report, ran).to_dict(), True
    except Exception as exc:
        return digest, failure(label, exc), False


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
                with_variant(self.options, s),
                self.plan.fast,
                self.hide,
                self.plan.cell_timeout,
                self.wanted,
                pure=False,
            )

        for s, fut in windowed([g[0] for g in groups.values()], submit, window):
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
