"""Without a mount namespace /sys/fs/cgroup stays in the sandbox's sight (a container without
CAP_SYS_ADMIN, or a plain user without user namespaces): what student code can do with it.

Written as a student would: walk /sys/fs/cgroup opening every control file for writing, and list
the grader's folder that holds its sandbox and the sandboxes beside it. As root the sandbox runs
as a user of its own: no file is writable and the grader's folders are closed to it. As the
grader's own user, whatever of our cgroups our user may write the student may write too: then
the report says so and no cgroup budget is counted on. Run as root and as the CI's plain user
(.ci/run's PLAIN list).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.reading import assignment as spec
from grader.reading.notebook import Unit
from grader.sandbox import cgroups, codec, isolation, run
from grader.sandbox.limits import Isolation, Limits
from grader.sandbox.tasks import Task
from tests.cgroupkit import delegated_to_graderci, run_as_graderci_in

NAMESPACES = ("network", "ipc", "mounts", "pids")
# Landlock keeps /sys from student code, namespaces or not (test_landlock_attacks.py): these
# tests are of a machine that gives neither, as a kernel older than 5.13 does
OFF = (*NAMESPACES, "landlock")

SIGHT = """
import os

def look(v):
    seen = {"writable": [], "beside": [], "own": []}
    for top, dirs, files in os.walk("/sys/fs/cgroup"):
        for name in files:
            if name in ("cgroup.procs", "cgroup.freeze", "cgroup.kill", "cgroup.subtree_control", "memory.max",
                        "memory.limit_in_bytes", "pids.max", "tasks"):
                try:
                    with open(os.path.join(top, name), "w"):  # opening is enough: nothing is written
                        pass
                    seen["writable"].append(os.path.join(top, name))
                except OSError:
                    pass
    paths = {line.split(":", 2)[2] for line in open("/proc/self/cgroup").read().splitlines()}
    points = ["/sys/fs/cgroup"] + ["/sys/fs/cgroup/" + d for d in os.listdir("/sys/fs/cgroup")]
    seen["own"] = [path for path in paths if "/grader-" in path][:1]  # the message keeps 500 characters
    for folder in (os.path.dirname(p.rstrip("/") + path) for p in points for path in seen["own"]):
        try:  # the grader's folder, holding the sandboxes
            seen["beside"] += os.listdir(folder)
        except OSError:
            pass
    raise RuntimeError(repr({"writable": seen["writable"][:2], "beside": seen["beside"][:2], "own": seen["own"]}))
"""


def _without_namespaces(monkeypatch: pytest.MonkeyPatch) -> Isolation:
    """What this machine gives a sandbox when no namespace can be made and there is no Landlock:
    the user switch as root, nothing without; a cgroup where we may make one."""
    real = isolation._probe
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    monkeypatch.setattr(isolation, "_probe", lambda cfg: not any(cfg[k] for k in OFF) and real(cfg))
    return isolation.available_isolation()


def _look() -> dict[str, Any]:
    a, limits = spec.load("toy"), Limits(memory_mb=256, processes=16)
    case = {"name": "c", "args": [codec.encode(np.zeros(1), binary=True)], "setup": None}
    with run.Session(limits) as session:
        raw, _, _ = run.execute(
            a, [Task("look", (Unit("cell look", SIGHT),), (case,), 60.0)], limits=limits, session=session
        )
    return dict(ast.literal_eval(raw["look"]["cases"]["c"]["error"]["message"]))


def test_without_namespaces_student_code_cannot_touch_or_look_into_the_sandboxes_cgroups(
    toy_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iso = _without_namespaces(monkeypatch)
    assert not iso.mounts and not iso.complete
    assert any("sees /sys/fs/cgroup" in n for n in iso.notes), iso.notes  # the report says it
    seen = _look()
    if iso.budget:  # counted on: out of the student's reach
        assert seen["writable"] == [], seen
        assert seen["beside"] == [], seen  # the grader's folder, its other sandboxes: closed
        assert any(f"/grader-{os.getpid()}/" in f for f in seen["own"]), seen  # it does sit in one
    else:
        assert seen["writable"] == [] or any("writable" in n for n in iso.notes), (seen, iso.notes)


def test_a_writable_cgroup_of_ours_is_reported_and_not_counted_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # student code runs as our user and sees /sys/fs/cgroup: our writable cgroup is its too
    monkeypatch.setattr(cgroups, "writable_by_us", lambda: ["/sys/fs/cgroup/user.slice/grader.scope"])
    bare = Isolation(network=False, mounts=False, pids=False, user=False, ipc=False, budget=True, files=False)
    noted = isolation._noted(bare)
    assert not noted.budget and not noted.complete
    assert any("grader's cgroup /sys/fs/cgroup/user.slice/grader.scope writable" in n for n in noted.notes)
    # with the user switch (root's files), a mount namespace or Landlock (no /sys), not the student's
    for safe in (
        Isolation(False, False, False, True, budget=True, files=False),
        Isolation(False, True, False, False, budget=True, files=False),
        Isolation(False, False, False, False, budget=True),
    ):
        assert isolation._noted(safe).budget


AS_USER = """
import sys
sys.path.insert(0, sys.argv[1])
import pytest
import tests.test_cgroup_sight as t
mp = pytest.MonkeyPatch()
iso = t._without_namespaces(mp)
print(repr({"notes": list(iso.notes), "budget": iso.budget, "seen": t._look()}))
"""


def test_a_plain_user_in_a_delegated_cgroup_without_namespaces_is_told_the_sandbox_can_reach_it(
    toy_root: Path,
) -> None:
    """The grader runs as a plain user in a cgroup its user owns (systemd's delegation), on a
    machine that gives it no user namespace: student code, as that user, can write it."""
    with delegated_to_graderci("test_cgroup_sight") as (delegated, exe):
        got = ast.literal_eval(run_as_graderci_in(delegated, exe, AS_USER, toy_root))
        assert any(w.startswith(f"{delegated}/") for w in got["seen"]["writable"]), got  # the footing
        assert not got["budget"], got
        assert any(f"grader's cgroup {delegated}" in n and "writable" in n for n in got["notes"]), got[
            "notes"
        ]
        assert "frozen 0" in (delegated / "cgroup.events").read_text()
