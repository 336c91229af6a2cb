"""cgroups.py's cgroup v2 code, on a machine whose v2 hierarchy cannot have memory and pids.

This machine is a v1 "hybrid": memory and pids are bound to v1 hierarchies, and its v2 one
(/sys/fs/cgroup/unified) offers hugetlb only, in a private mount namespace too (a fresh
`mount -t cgroup2` is the same hierarchy). So the v2 code runs against tests/cgroupkit.py's fake
tree: every write it makes, and every failure (a controller not offered, EACCES, EBUSY on enabling
and on rmdir), checked to give the right `isolation` note and a refusal under
--require-isolation. The fake's rules are checked against the real kernel first (the
conformance test, as root, on the real v2 hierarchy with hugetlb for a controller). Run as root
and as the CI's plain user (the plain user's grader takes the other path: its processes are
moved out of its own cgroup first).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.sandbox import cgroups, isolation
from grader.sandbox.limits import Isolation, Limits
from tests.cgroupkit import FakeCgroup2
from tests.redteam_scenarios import REFERENCE

MB = 1 << 20
PIDS = (5_000_001, 5_000_002)  # made-up processes living in our cgroup (above any pid_max)


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader as a plain user: only its own (delegated) cgroup is open to it."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)


def _fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> FakeCgroup2:
    kw.setdefault("own", "/user.slice/grader.scope")
    kw.setdefault("procs", PIDS)
    return FakeCgroup2(tmp_path / "cgroup", **kw).install(monkeypatch)


def _grader(fake: FakeCgroup2, base: str = "") -> str:
    """The grader's folder, below the fake's top."""
    return f"{base}/grader-{os.getpid()}" if base else f"grader-{os.getpid()}"


# ----------------------------------------------------------------------------- every write


def test_as_root_the_budget_is_made_at_the_top_and_every_write_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    fake = _fake(tmp_path, monkeypatch)
    before = fake.files()
    assert cgroups.available() and cgroups.why() == ""
    g = _grader(fake)
    trial = [e for e in fake.writes() if e[1].startswith(f"{g}/s")]
    sandbox = trial[0][1].split("/")[1]
    assert fake.writes() == [
        ("mkdir", g, "0o700"),  # the top is exempt from the rule on processes, and enables already
        ("write", f"{g}/cgroup.subtree_control", "+memory +pids"),
        ("mkdir", f"{g}/{sandbox}", "0o700"),  # a first sandbox, limited and removed: it works
        ("write", f"{g}/{sandbox}/memory.max", str(Limits().memory_mb * MB)),
        ("write", f"{g}/{sandbox}/memory.swap.max", "0"),
        ("write", f"{g}/{sandbox}/pids.max", str(Limits().processes)),
        ("rmdir", f"{g}/{sandbox}", "ok"),
    ]
    budget = cgroups.create(Limits(memory_mb=256, processes=16))
    assert budget is not None and budget.v2 and budget.home == (str(fake.top / "user.slice/grader.scope"),)
    folder = Path(budget.memory)
    assert budget.dirs == (str(folder),) and folder.parent.name == g
    assert (folder / "cgroup.controllers").read_text().split() == ["memory", "pids"]
    assert (folder / "memory.max").read_text() == f"{256 * MB}\n" and (
        folder / "pids.max"
    ).read_text() == "16\n"
    assert (folder / "memory.swap.max").read_text() == "0\n"
    assert (
        oct(folder.stat().st_mode & 0o777) == "0o700" and oct(folder.parent.stat().st_mode & 0o777) == "0o700"
    )
    fake.write(str(folder / "cgroup.procs"), "5000003")  # the jail joins it
    fake.write(str(folder / "cgroup.procs"), "5000004")
    assert budget.oom_kills() == 0
    assert cgroups.remove(budget)
    assert fake.writes()[-2:] == [
        ("write", f"{g}/{folder.name}/cgroup.kill", "1"),
        ("rmdir", f"{g}/{folder.name}", "ok"),
    ]
    assert fake.killed == [5000003, 5000004]
    cgroups.remove_all()
    assert fake.writes()[-2:] == [
        ("write", f"{g}/cgroup.subtree_control", "-memory -pids"),
        ("rmdir", g, "ok"),
    ]
    assert fake.files() == before  # the hierarchy as we found it


def _moved_out(fake: FakeCgroup2, own: str) -> None:
    """The path of a grader whose processes live in the cgroup it enables controllers in (a
    plain user's delegated cgroup, a container's top): they move to a leaf first, and back."""
    before = fake.files()
    assert cgroups.available(), cgroups.why()
    g = _grader(fake, own)
    leaf = g + ".procs"
    sandbox = next(e[1] for e in fake.writes() if e[0] == "mkdir" and e[1].startswith(f"{g}/s"))
    assert fake.writes()[:10] == [
        ("write", f"{own}/cgroup.subtree_control".lstrip("/"), "EBUSY"),  # its processes live there
        ("mkdir", leaf, "0o700"),
        ("write", f"{leaf}/cgroup.procs", str(PIDS[0])),
        ("write", f"{leaf}/cgroup.procs", str(PIDS[1])),
        ("write", f"{own}/cgroup.subtree_control".lstrip("/"), "+memory +pids"),
        ("mkdir", g, "0o700"),
        ("write", f"{g}/cgroup.subtree_control", "+memory +pids"),
        ("mkdir", sandbox, "0o700"),
        ("write", f"{sandbox}/memory.max", str(Limits().memory_mb * MB)),
        ("write", f"{sandbox}/memory.swap.max", "0"),
    ]
    budget = cgroups.create(Limits())
    assert budget is not None and budget.home == (str(fake.top / leaf),)  # where the launcher goes back
    assert cgroups.remove(budget)
    cgroups.remove_all()
    assert fake.writes()[-6:] == [
        ("write", f"{g}/cgroup.subtree_control", "-memory -pids"),
        ("rmdir", g, "ok"),
        ("write", f"{own}/cgroup.subtree_control".lstrip("/"), "-memory -pids"),
        ("write", f"{own}/cgroup.procs".lstrip("/"), str(PIDS[1])),  # back home, last moved first
        ("write", f"{own}/cgroup.procs".lstrip("/"), str(PIDS[0])),
        ("rmdir", leaf, "ok"),
    ]
    assert fake.files() == before


def test_as_a_plain_user_its_processes_move_out_of_its_own_cgroup_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_user: None
) -> None:
    _moved_out(_fake(tmp_path, monkeypatch), "user.slice/grader.scope")


def test_as_root_in_a_containers_cgroup_namespace_its_processes_move_out_of_the_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    # a container's top is not the machine's root: the rule on processes applies to it
    _moved_out(_fake(tmp_path, monkeypatch, own="/", exempt_top=False), "")


def test_without_swap_accounting_no_swap_limit_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    fake = _fake(tmp_path, monkeypatch, swap=False)
    assert cgroups.available()
    assert not any(e[1].endswith("memory.swap.max") for e in fake.writes())


def test_before_cgroup_kill_what_is_left_is_killed_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    # Linux < 5.14 has no cgroup.kill: each process is killed through a pidfd
    fake = _fake(tmp_path, monkeypatch, kill=False)
    budget = cgroups.create(Limits())
    assert budget is not None
    left = subprocess.Popen(["sleep", "60"])
    try:
        fake.write(str(Path(budget.dirs[0], "cgroup.procs")), str(left.pid))
        assert cgroups.remove(budget)
        assert left.wait(timeout=5) == -9
    finally:
        left.kill()


# ----------------------------------------------------------------------------- every failure


def _refused(fake: FakeCgroup2, because: str) -> None:
    """No budget, the reason in the isolation note, and a refusal under --require-isolation."""
    assert not cgroups.available()
    assert because in cgroups.why(), cgroups.why()
    noted = isolation._noted(Isolation(True, True, True, True, budget=cgroups.available()))
    assert not noted.complete
    assert any(n.startswith(f"no cgroup for the sandbox ({cgroups.why()})") for n in noted.notes), noted.notes


FAILURES = {
    # a hybrid host's v2 hierarchy: memory and pids are v1's (this machine's, /sys/fs/cgroup/unified)
    "controllers-not-offered": (dict(offered=("hugetlb",), own="/"), [], "offers no memory or pids controller"),
    # no root and no delegation: our cgroup is not ours to make folders in, nor the top
    "no-delegation": ({}, [("mkdir", "*grader-*", errno.EACCES)], "grader-"),
    # a delegation that lets us make folders but not write their limits
    "limits-not-writable": ({}, [("write", "*/memory.max", errno.EACCES)], "memory.max: Permission denied"),
    # a container's top, holding processes we may not move: enabling stays EBUSY
    "busy-top": (dict(own="/", exempt_top=False), [("write", "*.procs/cgroup.procs", errno.EPERM)],
                 ".procs/cgroup.procs: Operation not permitted"),
    # a first sandbox's folder that will not go
    "rmdir-busy": ({}, [("rmdir", "*/s*", errno.EBUSY)], "cannot remove a sandbox's cgroup"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FAILURES))
@pytest.mark.parametrize("who", ["root", "user"])
def test_each_failure_is_a_reason_in_the_notes_and_a_refusal(
    case: str, who: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0 if who == "root" else 1000)
    kw, faults, because = FAILURES[case]
    fake = _fake(tmp_path, monkeypatch, **kw)
    before = fake.files()
    for op, pattern, code in faults:
        fake.fail(op, pattern, code)
    _refused(fake, because)
    # what setting up did is undone (a folder that would not go is left for the next grader)
    assert {k: v for k, v in fake.files().items() if "grader-" not in k} == before
    assert case == "rmdir-busy" or not list(fake.top.rglob("grader-*"))


def test_a_partly_hybrid_host_names_the_v1_controller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake(tmp_path, monkeypatch)
    monkeypatch.setattr(
        cgroups, "_mounts", lambda: {"": (str(fake.top), "/"), "memory": ("/sys/fs/cgroup/memory", "/")}
    )
    _refused(fake, "the memory controller is bound to a cgroup v1 hierarchy")


def test_a_sandbox_that_will_not_go_is_left_for_the_exit_and_the_next_grader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    # a process that survives SIGKILL (uninterruptible sleep): rmdir says EBUSY. The sandbox's
    # limits stay on it, the next sandbox gets a folder of its own, the exit tries again
    fake = _fake(tmp_path, monkeypatch)
    monkeypatch.setattr(cgroups, "GONE_SECONDS", 0.2)
    stuck = cgroups.create(Limits())
    assert stuck is not None
    fake.fail("write", "*/cgroup.kill", errno.EBUSY)
    fake.write(str(Path(stuck.dirs[0], "cgroup.procs")), "5000009")
    assert not cgroups.remove(stuck)
    assert Path(stuck.dirs[0]).is_dir() and (Path(stuck.dirs[0]) / "memory.max").read_text() != "max\n"
    nxt = cgroups.create(Limits())
    assert nxt is not None and nxt.dirs != stuck.dirs and cgroups.remove(nxt)
    fake.faults.clear()
    cgroups.remove_all()  # at exit: its processes are gone by then (here: cgroup.kill works again)
    assert not list(fake.top.rglob("grader-*"))


def test_a_killed_graders_folder_is_swept_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    fake = _fake(tmp_path, monkeypatch)
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = fake.top / f"grader-{dead.pid}"
    fake.write(str(fake.top / "cgroup.subtree_control"), "+memory +pids")
    fake.mkdir(str(left), 0o700)
    fake.write(str(left / "cgroup.subtree_control"), "+memory +pids")
    fake.mkdir(str(left / "s3"), 0o700)
    assert cgroups.available()
    assert not left.exists()


# ----------------------------------------------------------------------------- through the command line


def _run(*args: str) -> Any:
    isolation._ISOLATION = None
    return CliRunner().invoke(main, ["run", "--fast", "--format", "json", *args, str(REFERENCE)])


def test_a_refused_budget_reaches_the_report_and_require_isolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    _fake(tmp_path, monkeypatch, offered=("hugetlb",), own="/")
    refused = _run("--require-isolation")
    assert refused.exit_code != 0 and "offers no memory or pids controller" in refused.output, refused.output
    graded = _run()
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert any("no cgroup for the sandbox (the cgroup v2 folder" in n for n in report["isolation"])
    assert report["score"] == report["max_score"]


def test_a_working_budget_is_used_by_every_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    fake = _fake(tmp_path, monkeypatch)
    graded = _run()
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert not any("cgroup" in n for n in report["isolation"]), report["isolation"]
    assert report["score"] == report["max_score"]
    limited = [e for e in fake.writes() if e[1].endswith("/memory.max")]
    assert len(limited) >= 2 and all(
        e[2] == str(Limits().memory_mb * MB) for e in limited
    )  # the trial, a worker
    joined = [p for p in fake.top.rglob("grader-*/s*/cgroup.procs") if p.read_text().strip()]
    assert joined, fake.files()  # the jail's launcher put the worker in it (its own write, not cgroups.py's)
    cgroups.remove_all()  # what the exit handler does
    assert not list(fake.top.rglob("grader-*"))


# ----------------------------------------------------------------------------- the fake against the kernel


class _Kernel:
    """The real hierarchy, with the fake's interface (for the conformance test)."""

    def __init__(self, top: Path) -> None:
        self.top = top

    def write(self, path: str, text: str) -> None:
        with open(path, "w") as f:
            f.write(text)

    def read(self, path: str) -> str:
        return Path(path).read_text()

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)


def _scenario(k: Any, ctl: str, absent: str, name: str) -> list[str]:
    """The rules the fake claims, played on `k`: each step's outcome (ok, an errno's name, or
    what a file holds)."""
    seen: list[str] = []
    b, c = k.top / name, k.top / name / "c"

    def do(step: str, action: Any, *args: Any) -> None:
        try:
            got = action(*args)
            seen.append(f"{step}: {' '.join(sorted(got.split())) if isinstance(got, str) else 'ok'}")
        except OSError as exc:
            seen.append(f"{step}: {errno.errorcode[exc.errno or 0]}")

    enabled = ctl in k.read(str(k.top / "cgroup.subtree_control")).split()
    if not enabled:
        k.write(str(k.top / "cgroup.subtree_control"), f"+{ctl}")
    proc = subprocess.Popen(["sleep", "60"])
    try:
        do("mkdir", k.mkdir, str(b), 0o700)
        seen.append(f"mode: {oct(b.stat().st_mode & 0o777)}")
        do("a controller not offered", k.write, str(b / "cgroup.subtree_control"), f"+{absent}")
        do("join", k.write, str(b / "cgroup.procs"), str(proc.pid))
        do("enable with a process inside", k.write, str(b / "cgroup.subtree_control"), f"+{ctl}")
        do("rmdir with a process inside", k.rmdir, str(b))
        do("mkdir below", k.mkdir, str(c), 0o700)
        do("offered below", k.read, str(c / "cgroup.controllers"))
        do("move below", k.write, str(c / "cgroup.procs"), str(proc.pid))
        do("enable, processes below only", k.write, str(b / "cgroup.subtree_control"), f"+{ctl}")
        do("offered below now", k.read, str(c / "cgroup.controllers"))
        do("join a cgroup that enables", k.write, str(b / "cgroup.procs"), str(proc.pid))
        do("rmdir with a cgroup inside", k.rmdir, str(b))
        do("a file not offered", k.write, str(c / f"{absent}.max"), "1")
        do("not a pid", k.write, str(c / "cgroup.procs"), "x")
        do("populated", k.read, str(b / "cgroup.events"))
        do("kill", k.write, str(c / "cgroup.kill"), "1")
        if isinstance(k, _Kernel):
            proc.wait(timeout=10)
        do("emptied", k.read, str(c / "cgroup.procs"))
        do("enable below", k.write, str(c / "cgroup.subtree_control"), f"+{ctl}")
        do("disable what a child passes on", k.write, str(b / "cgroup.subtree_control"), f"-{ctl}")
        do("disable below", k.write, str(c / "cgroup.subtree_control"), f"-{ctl}")
        do("rmdir below", k.rmdir, str(c))
        do("disable", k.write, str(b / "cgroup.subtree_control"), f"-{ctl}")
        do("rmdir", k.rmdir, str(b))
    finally:
        proc.kill()
        proc.wait()
        for folder in (c, b):
            if folder.is_dir() and isinstance(k, _Kernel):
                (folder / "cgroup.kill").write_text("1")
                time.sleep(0.1)
                folder.rmdir()
        if not enabled:
            k.write(str(k.top / "cgroup.subtree_control"), f"-{ctl}")
    return seen


def test_the_fake_follows_the_kernel(tmp_path: Path) -> None:
    """On the machine's real v2 hierarchy (here it offers hugetlb alone), the same steps as on the
    fake, with a controller it offers and one it does not: the same outcomes."""
    top = next((line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[line.split().index("-") + 1] == "cgroup2"), None)  # fmt: skip
    if os.geteuid() != 0 or top is None:
        pytest.skip("needs root and a cgroup v2 hierarchy")
    offered = Path(top, "cgroup.controllers").read_text().split()
    absent = next(c for c in ("memory", "pids", "cpu", "io") if c not in offered)
    if not offered:
        pytest.skip("the v2 hierarchy offers no controller to enable")
    name = f"grader-conformance-{os.getpid()}"
    real = _scenario(_Kernel(Path(top)), offered[0], absent, name)
    fake = _scenario(FakeCgroup2(tmp_path / "fake", offered=(offered[0],)), offered[0], absent, name)
    assert fake == real
    assert real[:2] == ["mkdir: ok", "mode: 0o700"] and "enable with a process inside: EBUSY" in real
