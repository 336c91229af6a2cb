"""The sandboxed worker process that runs students' code: start it, hand it jobs, collect results.

A worker is a fresh interpreter started with `python -I -S -B -c <harness text>` in its own session,
with resource limits, a scrubbed environment, stdin from the job pipe only, a read-only scratch
directory holding just the assignment's released files, no network (a new network namespace
where the kernel allows it) and, when we are root, an unprivileged user (see isolation.py). It
is a zygote: every graded function runs in a fresh child forked from it (see harness.py, and
channel.py for the protocol).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox import cgroups, channel, isolation, jail
from grader.sandbox.isolation import hidden, jail_config, release_uid, site_dirs
from grader.sandbox.leftovers import reap_orphans
from grader.sandbox.limits import Isolation, Limits
from grader.sandbox.scratch import scrubbed_env

JOINED = ("codec", "compat", "oracle", "tidy")  # joined into the harness's text, in this order


def joined(main: str, names: tuple[str, ...]) -> str:
    """A program the sandbox runs as one self-contained text: module `main` with the text of
    each of `names` in place of its import of it (the sandbox has nothing of our package on its
    path; each joined file's own import of an earlier one is dropped). Read without importing
    any: they may import numpy, the grader need not yet."""
    here = Path(__file__).parent
    lines = here.joinpath(f"{main}.py").read_text(encoding="utf-8").split("\n")
    for name in names:
        head = f"from grader.sandbox.{name} import "
        joins = [i for i, line in enumerate(lines) if line.startswith(head)]
        if len(joins) != 1:
            raise RuntimeError(f"{main}.py must import {name} on exactly one line ({head}...)")
        text = here.joinpath(f"{name}.py").read_text(encoding="utf-8").split("\n")
        text = [line for line in text if not line.startswith("from grader.sandbox.")]
        lines[joins[0] : joins[0] + 1] = text
    return "\n".join(lines)


def harness_source() -> str:
    """The zygote's program: harness.py joined with the modules of JOINED (see `joined`)."""
    return joined("harness", JOINED)


HARNESS_SOURCE = harness_source()
PRELOAD = "numpy,numpy.random"  # the harness seeds numpy.random before every call


@dataclass
class Worker:
    """A running sandboxed worker: the zygote its function children are forked from."""

    proc: subprocess.Popen[bytes]
    control: socket.socket  # our end of the control channel (see channel.py)
    scratch: Path
    isolation: Isolation
    confirmed: bool = True  # False: started on trust, see `confirm`
    uid: int = -1  # the sandbox user it runs as (when root), released when it is closed
    output: channel.Capped = field(default_factory=lambda: channel.Capped(256 * 1024))
    calls: itertools.count[int] = field(default_factory=itertools.count)
    greeted: bool | None = None  # whether its ready message came (None: not read yet)
    ahead: channel.Call | None = None  # the first function of a job, sent ahead (see `send`)
    queued: list[dict[str, Any]] = field(default_factory=list)  # the job's functions, for `collect`
    budget: cgroups.Budget | None = None  # its cgroup: memory and processes of the whole sandbox
    oom_kills: int = 0  # the OOM kills in its cgroup so far
    lost_to_oom: bool = False  # it died of an OOM kill (see `collect`)
    lost: bool = False  # it stopped answering after a function's whole result: not that one's fault

    def stdout_fd(self) -> int:
        out = self.proc.stdout
        return out.fileno() if out is not None and not out.closed else -1

    def close(self, *, wait: bool = True) -> None:
        """Kill it; `wait=False` when we exit next (the system then collects what is left)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.ahead is not None:
            self.ahead.abandon()
            self.ahead = None
        if wait:
            self.proc.wait()
            reap_orphans()
            release_uid(self.uid, contained=self.isolation.pids and self.isolation.mounts)
            if cgroups.remove(self.budget):  # else it is left for the exit (see cgroups.remove_all)
                self.budget = None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.control.close()


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the subreaper of our sandboxes: a namespace's init whose launcher died is
    re-parented to us instead of lingering as a zombie that counts against the sandbox user's
    process limit."""
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def start(scratch: Path, limits: Limits, *, hide: list[str] | None = None, preload: str = PRELOAD) -> Worker:
    """Start a confined worker in `scratch`.

    Until the machine's isolation is known, a worker starts at once with the strongest layers,
    unconfirmed: `confirm` waits for it to say it works, which settles what the machine allows
    without a probe in the way of a cold `grader run`.
    """
    adopt_orphans()
    if isolation._ISOLATION is None:
        try:
            strongest = isolation._noted(isolation.strongest())
            return _spawn(scratch, limits, strongest, hide or [], preload, confirmed=False)
        except (OSError, subprocess.SubprocessError):
            pass  # the jail could not even be applied: probe what can
    return _spawn(scratch, limits, isolation.available_isolation(), hide or [], preload)


def greet(worker: Worker, timeout: float) -> bool:
    """Read the worker's ready message (once); whether it came and says it can work."""
    if worker.greeted is None:
        msg = channel.receive(worker, time.monotonic() + timeout)
        worker.greeted = msg is not None and msg.get("ready") is True and msg.get("ok") is True
        if msg is None or msg.get("ready") is not True:
            worker.greeted = None if msg is None else False
            return False
    return bool(worker.greeted)


def confirm(worker: Worker, limits: Limits, timeout: float) -> bool:
    """Wait for an unconfirmed worker to say it is ready; its layers then become the machine's.
    False when it cannot work under them (it died, or could not import its helpers)."""
    if worker.confirmed:
        return True
    if not greet(worker, timeout):
        return False
    worker.confirmed = True
    if isolation._ISOLATION is None:
        isolation._ISOLATION = worker.isolation
    return True


def _spawn(
    scratch: Path, limits: Limits, iso: Isolation, hide: list[str], preload: str, *, confirmed: bool = True
) -> Worker:
    budget = cgroups.create(limits) if iso.budget else None
    if iso.budget and budget is None:  # it worked for an earlier sandbox: promised, so required
        raise OSError("could not make the sandbox's cgroup")
    cfg = jail_config(scratch, limits, iso, hidden(hide), budget=budget)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one packet, one message
    try:
        proc = subprocess.Popen(
            # -S: the site directories come by name; their .pth hooks (an editable install's
            # import finder among them) would cost every worker start ~20 ms for nothing
            [sys.executable, "-I", "-S", "-B", "-c", HARNESS_SOURCE],
            cwd=scratch,
            env={
                **scrubbed_env(scratch),
                "GRADER_CONTROL_FD": str(theirs.fileno()),
                "GRADER_PRELOAD": preload,
                "GRADER_PIDNS": "1" if iso.pids else "",
                "GRADER_SITE": os.pathsep.join(site_dirs()),
                # the jail's private copies of the shared folders (never the host's), emptied
                # between functions
                "GRADER_CLEAN": os.pathsep.join(jail.PRIVATE_TMP) if iso.mounts else "",
            },
            stdin=subprocess.DEVNULL,  # jobs never reach the zygote: see channel.py
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(theirs.fileno(),),
            preexec_fn=lambda: jail.apply(cfg),
            close_fds=True,
        )
    except BaseException:
        ours.close()
        release_uid(cfg["uid"])
        cgroups.remove(budget)
        raise
    finally:
        theirs.close()
    return Worker(proc, ours, scratch, iso, confirmed, uid=cfg["uid"], budget=budget)


def send(worker: Worker, job: dict[str, Any]) -> bool:
    """Hand a job to the worker: its first function starts at once (the child runs while the
    caller goes on), the others when `collect` gets to them. False when the worker is gone.
    Each function's child is told how much its results may weigh (the job's cap, or the task's
    own if lower): it refuses a larger result by its size, before encoding it."""
    cap = int(job.get("max_bytes") or Limits().result_bytes)
    worker.queued = [
        {**t, "max_bytes": min(int(t.get("max_bytes") or cap), cap)} for t in job.get("tasks", [])
    ]
    if not worker.queued:
        return worker.proc.poll() is None
    worker.ahead = channel.Call(worker, channel.anonymous(worker.queued[0]))
    return worker.ahead.sent


def collect(worker: Worker, deadline: float, limits: Limits) -> dict[str, dict[str, Any]]:
    """Each function's raw result of the job sent, one fresh child of the zygote after another;
    functions without one (the worker died, or the deadline passed) are missing."""
    results: dict[str, dict[str, Any]] = {}
    call, worker.ahead = worker.ahead, None
    tasks, worker.queued = worker.queued, []
    if worker.greeted is None:  # its ready message comes first (a confirmed worker's too)
        greet(worker, max(deadline - time.monotonic(), 0.0))
    for task in tasks:
        if worker.greeted is None or time.monotonic() > deadline:
            break
        call = call or channel.Call(worker, channel.anonymous(task))
        got = call.finish(min(task["max_bytes"], limits.result_bytes))
        call = None
        oom = _new_oom_kill(worker)  # read after every function: the count is the next one's baseline
        if got is None:
            worker.lost_to_oom = oom
            break
        if oom and "died" in got:  # killed by the kernel for the memory of the whole sandbox
            got = {**got, "oom": True}
        results[task["function"]] = channel.named(got, task)
        if worker.lost:  # the next function would wait on a zygote that no longer answers
            break
    if call is not None:
        call.abandon()
    return results


def _new_oom_kill(worker: Worker) -> bool:
    """Whether the OOM killer ended a process of the worker's cgroup since we last looked."""
    if worker.budget is None:
        return False
    seen, worker.oom_kills = worker.oom_kills, worker.budget.oom_kills()
    return worker.oom_kills > seen


def submit(
    worker: Worker, job: dict[str, Any], *, timeout: float, limits: Limits
) -> dict[str, dict[str, Any]]:
    """Run a job; return each function's raw result. Functions without one are missing."""
    deadline = time.monotonic() + timeout
    return collect(worker, deadline, limits) if send(worker, job) else {}
