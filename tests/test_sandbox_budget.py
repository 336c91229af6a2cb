"""One memory and process budget per sandbox, and a cgroup student code cannot touch.

Attacks as a student would write them: memory spread over several processes (each under the
per-process limit, all of them together far over it), a fork loop, a function that fills its
private tmp folders and then grows, and a look for the cgroup files of the grader. Run as root
and as the CI's plain user (see .ci/run): without root there is no cgroup here, and the fork
loop must still stop (RLIMIT_NPROC in the sandbox's own user namespace).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.judging import feedback
from grader.reading import assignment as spec
from grader.reading.notebook import Unit
from grader.sandbox import cgroups, codec, isolation, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Task
from tests.cgroupkit import delegated_to_graderci, run_as_graderci_in

LIMITS = Limits(memory_mb=256, processes=16)  # small: the machine is shared

needs_cgroup = pytest.mark.skipif(not cgroups.available(), reason="no cgroup for the grader on this machine")

# 4 processes of 100 MB each, every page written, held for 4 s: 400 MB at once if nothing bounds
# the sandbox. A process that holds its 100 MB to the end exits with 0; the 4 s overlap.
SPREAD = """
import os, time
import numpy as np

def spread(v):
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            held = False
            try:
                a = np.ones(100 << 17)  # 100 MB
                time.sleep(4)
                held = bool(a[-1])
            finally:
                os._exit(0 if held else 1)
        kids.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in kids]
    return v * 0 + 100 * sum(1 for s in statuses if s == 0)
"""

FORKS = """
import os, time

def forks(v):
    kids = []
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return v * 0 + len(kids)
"""

# Memory a process's limit does not see (tmpfs pages), then its own growth: only a budget of the
# whole sandbox stops it, and the function's own process, by then the largest, is the one killed.
FILL_THEN_GROW = """
import ast
import os
import numpy as np

def fill_then_grow(v):
    chunk = b"x" * (1 << 20)
    for d in {os.environ.get("TMPDIR", "/tmp"), "/tmp", "/dev/shm"}:
        for i in range(4):  # 60 MB in each, in files under the file size limit
            with open(os.path.join(d, f"fill{i}"), "wb") as f:
                for _ in range(15):
                    f.write(chunk)
    keep = []
    for _ in range(14):  # 140 MB more, in steps: under the 256 MB of address space
        keep.append(np.ones(10 << 17))
    return v * 0 + len(keep)
"""

# What a graded function can do to the cgroups of the grader: writable cgroup files it finds,
# and where it thinks it is
CGROUP_LOOK = """
import ast
import os

def look(v):
    writable = []
    for top, dirs, files in os.walk("/sys/fs/cgroup"):
        for name in files:
            if name in ("cgroup.procs", "cgroup.freeze", "cgroup.kill", "memory.max", "memory.limit_in_bytes",
                        "pids.max", "tasks"):
                path = os.path.join(top, name)
                try:
                    with open(path, "w") as f:  # opening is enough: nothing is written
                        pass
                    writable.append(path)
                except OSError:
                    pass
    seen = sum(len(files) for _, _, files in os.walk("/sys/fs/cgroup"))
    paths = [line.split(":", 2)[2] for line in open("/proc/self/cgroup").read().splitlines()]
    raise RuntimeError(repr({"writable": writable, "files": seen, "paths": sorted(set(paths))}))
"""


def _task(name: str, source: str, timeout: float = 60.0) -> Task:
    case = {"name": "c", "args": [codec.encode(np.zeros(1), binary=True)], "setup": None}
    return Task(name, (Unit(f"cell {name}", source),), (case,), timeout)


def _run(name: str, source: str, limits: Limits = LIMITS) -> dict[str, Any]:
    a = spec.load("toy")
    with run.Session(limits) as session:
        raw, _, _ = run.execute(a, [_task(name, source)], limits=limits, session=session)
    return raw[name]


def _value(raw: dict[str, Any]) -> float:
    got = raw["cases"]["c"]
    assert got["ok"], raw
    return float(codec.decode(got["output"])[0])


def test_memory_spread_over_processes_is_bounded_for_the_whole_sandbox(toy_root: Path) -> None:
    if not cgroups.available():
        assert "memory is bounded per process only" in " ".join(isolation.available_isolation().notes)
        pytest.skip("no cgroup here: the isolation notes say memory is bounded per process only")
    # a grader holding 300 MB itself (a batch's cache): the jail's launcher, a copy of it, must
    # not be what the OOM killer takes (the whole worker with it): only the student's processes
    ballast = np.ones(300 << 17)
    held = _value(_run("spread", SPREAD))
    assert 0 < held <= 200, f"{held:g} MB held at once against a sandbox of 256 MB"
    assert ballast[-1] == 1


def test_a_fork_loop_stops_at_the_process_limit(toy_root: Path) -> None:
    started = _value(_run("forks", FORKS))
    assert 0 < started < LIMITS.processes, f"{started:g} processes against a limit of {LIMITS.processes}"


@needs_cgroup
def test_the_function_killed_for_the_sandboxs_memory_is_told_it_ran_out_of_memory(toy_root: Path) -> None:
    raw = _run("fill_then_grow", FILL_THEN_GROW)
    assert raw.get("oom") is True, raw
    status, message = feedback.process_outcome(raw, LIMITS) or ("", "")
    assert status == "killed" and "ran out of memory" in message and "256 MB" in message


@needs_cgroup
def test_each_worker_has_its_cgroup_with_the_limits_and_loses_it_when_closed(toy_root: Path) -> None:
    a = spec.load("toy")
    session = run.Session(LIMITS)
    w = session.worker(a)
    budget = w.budget
    assert budget is not None
    assert session.confirm(a, w)
    procs = " ".join(Path(d, "cgroup.procs").read_text() for d in budget.dirs).split()
    assert procs and str(w.proc.pid) not in procs  # the sandbox's processes; its launcher went back
    pids = next(Path(d, "pids.max") for d in budget.dirs if Path(d, "pids.max").exists())
    assert int(pids.read_text()) == LIMITS.processes
    memory = Path(budget.memory, "memory.max" if budget.v2 else "memory.limit_in_bytes")
    assert int(memory.read_text()) == LIMITS.memory_mb << 20
    session.close()
    assert not any(os.path.exists(d) for d in budget.dirs)


GRADE_AND_EXIT = """
import os, sys
from grader.reading import assignment as spec
from grader.sandbox import run
from grader.sandbox.limits import Limits
a = spec.load("toy")
session = run.Session(Limits())
w = session.worker(a)
print(" ".join(w.budget.dirs), flush=True)
assert all(f"/grader-{os.getpid()}/" in d for d in w.budget.dirs)
session.confirm(a, w)
if sys.argv[1] == "kill":
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
session.close(wait=False)  # as `grader run --fast` does: the exit handler removes the rest
"""


@needs_cgroup
def test_no_cgroup_is_left_after_the_grader_exits(toy_root: Path) -> None:
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.run(
        [sys.executable, "-c", GRADE_AND_EXIT, "exit"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    dirs = proc.stdout.split()
    assert dirs
    tops = {os.path.dirname(d) for d in dirs}
    assert not any(os.path.exists(p) for p in [*dirs, *tops]), "left behind"
    # a grader killed outright cannot clean up: the next one removes what it left
    proc = subprocess.run(
        [sys.executable, "-c", GRADE_AND_EXIT, "kill"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == -9, proc.stderr
    dirs = proc.stdout.split()
    tops = {os.path.dirname(d) for d in dirs}
    deadline = time.monotonic() + 10
    while any(Path(d, "cgroup.procs").exists() and Path(d, "cgroup.procs").read_text() for d in dirs):
        assert time.monotonic() < deadline, "the killed grader's sandbox outlived it"
        time.sleep(0.05)
    proc = subprocess.run(
        [sys.executable, "-c", GRADE_AND_EXIT, "exit"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert not any(os.path.exists(p) for p in [*dirs, *tops]), "the killed grader's cgroup was left behind"


def _look(raw: dict[str, Any]) -> dict[str, Any]:
    message = raw["cases"]["c"]["error"]["message"]
    return dict(ast.literal_eval(message))


def test_student_code_can_neither_write_nor_name_the_graders_cgroups(toy_root: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("no mount namespace here")
    seen = _look(_run("look", CGROUP_LOOK))
    assert seen["writable"] == [] and seen["files"] == 0, seen  # no cgroup file system at all
    assert seen["paths"] == ["/"], seen  # a cgroup namespace: its own cgroup is its root


LOOK_AS_USER = """
import sys
sys.path.insert(0, sys.argv[1])
import tests.test_sandbox_budget as t
print(repr(t._look(t._run("look", t.CGROUP_LOOK))))
"""


def test_from_a_delegated_cgroup_student_code_cannot_reach_it(toy_root: Path) -> None:
    """The red team's attack: the grader runs without root in a cgroup its user owns (what systemd
    delegates to every user's session), and a graded function looks for it, to write cgroup.freeze
    (the grader hangs forever) or cgroup.kill (the user's whole session ends)."""
    with delegated_to_graderci("test_sandbox_budget") as (delegated, exe):
        # the attack's footing: the plain user may freeze its own cgroup
        footing = f"test -w {delegated}/cgroup.freeze"
        assert subprocess.run(["su", "graderci", "-s", "/bin/sh", "-c", footing]).returncode == 0
        seen = ast.literal_eval(run_as_graderci_in(delegated, exe, LOOK_AS_USER, toy_root))
        assert seen["writable"] == [] and seen["files"] == 0, seen
        assert seen["paths"] == ["/"], seen
        assert "frozen 0" in (delegated / "cgroup.events").read_text()
