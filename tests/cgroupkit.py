"""A fake cgroup v2 hierarchy for grader/sandbox/cgroups.py, where the machine has no real one to
offer (a "hybrid" host binds memory and pids to cgroup v1, so its v2 hierarchy cannot have them).

A folder holding the files the kernel offers (cgroup.controllers, cgroup.subtree_control,
cgroup.procs, cgroup.events, cgroup.kill, cgroup.freeze, memory.max, memory.swap.max,
memory.events, pids.max, ...), and the kernel's rules on what cgroups.py does to it, each checked
against the real kernel where it could be (tests/test_cgroup_v2.py's conformance test, on this
machine's v2 hierarchy with its one free controller):
- a controller is enabled for children (`+name` in cgroup.subtree_control) only if the cgroup
  offers it (ENOENT), and, but at the top, only while no process lives in it (EBUSY);
- a process may not join a cgroup (but the top) that enables controllers for children (EBUSY);
- rmdir of a cgroup holding processes or cgroups: EBUSY; a file the kernel does not offer
  cannot be created (EACCES); a limit is a number or "max" (EINVAL);
- cgroup.kill empties the cgroup and those below it (processes are not signalled: the fake
  forgets them; a real process listed is dropped once it exits, as the kernel drops it).
Faults can be injected per operation and path (`fail`). Every change is logged (`log`).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import cgroups

CHECKOUT = Path(__file__).resolve().parent.parent

CORE = {
    "cgroup.procs": "",
    "cgroup.threads": "",
    "cgroup.subtree_control": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.freeze": "0\n",
    "cgroup.kill": "",
    "cgroup.type": "domain\n",
    "cgroup.max.depth": "max\n",
}
KNOBS = {
    "memory": {
        "memory.max": "max\n",
        "memory.high": "max\n",
        "memory.current": "0\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    },
    "pids": {"pids.max": "max\n", "pids.current": "0\n", "pids.events": "max 0\n"},
}
LIMITS = ("memory.max", "memory.high", "memory.swap.max", "pids.max")


class FakeCgroup2:
    """A cgroup v2 hierarchy mounted at `top`, our process living in cgroup `own`."""

    def __init__(
        self, top: Path, *, offered: tuple[str, ...] = ("memory", "pids"), own: str = "/", swap: bool = True,
        kill: bool = True, procs: tuple[int, ...] = (), exempt_top: bool = True,
    ) -> None:  # fmt: skip
        """`exempt_top`: the top is the machine's root (exempt from the rule on processes), not a
        container's (cgroup namespace) root; `kill`: the kernel has cgroup.kill (Linux 5.14)."""
        self.top, self.own, self.swap, self.kill, self.exempt = top, own, swap, kill, exempt_top
        self.log: list[tuple[str, str, str]] = []  # (operation, path below the top, text | outcome)
        self.faults: list[tuple[str, str, int]] = []
        self.killed: list[int] = []
        top.mkdir(parents=True, exist_ok=True)
        for name in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.max.depth"):
            (top / name).write_text("")
        (top / "cgroup.controllers").write_text(" ".join(offered) + "\n")
        folder = top
        for part in own.strip("/").split("/") if own != "/" else []:  # as systemd leaves them:
            (folder / "cgroup.subtree_control").write_text(" ".join(offered) + "\n")  # passed down
            folder = folder / part
            self.mkdir(str(folder), 0o755, logged=False)
        (folder / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
        self._populated()

    # ------------------------------------------------------------------ what cgroups.py sees

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCgroup2:
        """Make cgroups.py use this hierarchy (and start afresh: no folder made yet)."""
        monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"": self.own})
        monkeypatch.setattr(cgroups, "_mounts", lambda: {"": (str(self.top), "/")})
        monkeypatch.setattr(cgroups, "_write", self.write)
        monkeypatch.setattr(cgroups, "_read", self.read)
        monkeypatch.setattr(cgroups, "_mkdir", lambda path: self.mkdir(path, cgroups.MODE))
        monkeypatch.setattr(cgroups, "_rmdir", self.rmdir)
        monkeypatch.setattr(cgroups, "_PARENT", [])
        monkeypatch.setattr(cgroups, "_WHY", [])
        monkeypatch.setattr(cgroups, "_LIVE", set())
        monkeypatch.setattr(cgroups, "atexit", types.SimpleNamespace(register=lambda f: None))
        return self

    def fail(self, operation: str, pattern: str, code: int) -> None:
        """Make `operation` ("write", "mkdir", "rmdir") on paths matching `pattern` (below the
        top, e.g. "*/memory.max") fail with `code`, as a kernel or a delegation would."""
        self.faults.append((operation, pattern, code))

    def files(self) -> dict[str, str]:
        """The whole tree: path below the top -> contents (folders end with /)."""
        out = {}
        for path in sorted(self.top.rglob("*")):
            rel = str(path.relative_to(self.top))
            text = "" if path.is_dir() else path.read_text()
            out[rel + ("/" if path.is_dir() else "")] = (
                " ".join(sorted(text.split())) if path.name == "cgroup.procs" else text
            )
        return out  # a cgroup's processes as a set: the kernel lists them in no set order

    def writes(self) -> list[tuple[str, str, str]]:
        return [entry for entry in self.log if entry[0] != "read"]

    # ------------------------------------------------------------------ the kernel's rules

    def _rel(self, path: str) -> str:
        return str(Path(path).relative_to(self.top))

    def _check(self, operation: str, path: str) -> None:
        for op, pattern, code in self.faults:
            if op == operation and fnmatch.fnmatch(self._rel(path), pattern):
                self.log.append((operation, self._rel(path), errno.errorcode[code]))
                raise OSError(code, os.strerror(code), path)

    def _refuse(self, operation: str, path: str, code: int) -> OSError:
        self.log.append((operation, self._rel(path), errno.errorcode[code]))
        return OSError(code, os.strerror(code), path)

    def _procs(self, folder: Path) -> list[int]:
        """Its processes, those that ended dropped (as the kernel drops them)."""
        alive = [int(p) for p in (folder / "cgroup.procs").read_text().split() if _alive(int(p))]
        (folder / "cgroup.procs").write_text("".join(f"{p}\n" for p in alive))
        return alive

    def _exempt(self, folder: Path) -> bool:
        return self.exempt and folder == self.top

    def _children(self, folder: Path) -> list[Path]:
        return [p for p in folder.iterdir() if p.is_dir()]

    def read(self, path: str) -> str:
        folder, name = Path(path).parent, Path(path).name
        if name == "cgroup.procs":
            self._procs(folder)
        return Path(path).read_text()

    def mkdir(self, path: str, mode: int, *, logged: bool = True) -> None:
        self._check("mkdir", path)
        folder, parent = Path(path), Path(path).parent
        if not (parent / "cgroup.procs").exists():
            raise self._refuse("mkdir", path, errno.ENOENT)
        os.mkdir(folder, mode)  # EEXIST as the kernel's
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        files = {**CORE, "cgroup.controllers": " ".join(enabled) + "\n"}
        if not self.kill:
            del files["cgroup.kill"]
        for name in enabled:
            files.update(self._knobs(name))
        for name, text in files.items():
            (folder / name).write_text(text)
        if logged:
            self.log.append(("mkdir", self._rel(path), oct(mode)))

    def _knobs(self, controller: str) -> dict[str, str]:
        knobs = dict(KNOBS.get(controller, {}))
        if controller == "memory" and self.swap:
            knobs["memory.swap.max"] = "max\n"
        return knobs

    def rmdir(self, path: str) -> None:
        self._check("rmdir", path)
        folder = Path(path)
        if not folder.is_dir():
            raise self._refuse("rmdir", path, errno.ENOENT)
        if self._procs(folder) or self._children(folder):
            raise self._refuse("rmdir", path, errno.EBUSY)
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
        self.log.append(("rmdir", self._rel(path), "ok"))

    def write(self, path: str, text: str) -> None:
        self._check("write", path)
        file = Path(path)
        folder, name = file.parent, file.name
        if not file.exists():
            raise self._refuse("write", path, errno.EACCES)  # cgroupfs makes no files
        handler = {
            "cgroup.subtree_control": self._control,
            "cgroup.procs": self._join,
            "cgroup.kill": self._kill,
        }.get(name)
        if handler is not None:
            handler(folder, path, text)
        elif name in LIMITS:
            if not (text.strip() == "max" or text.strip().isdigit()):
                raise self._refuse("write", path, errno.EINVAL)
            file.write_text(text.strip() + "\n")
        else:
            file.write_text(text)
        self.log.append(("write", self._rel(path), text))

    def _control(self, folder: Path, path: str, text: str) -> None:
        offered = (folder / "cgroup.controllers").read_text().split()
        enabled = (folder / "cgroup.subtree_control").read_text().split()
        for token in text.split():
            sign, name = token[0], token[1:]
            if sign not in "+-":
                raise self._refuse("write", path, errno.EINVAL)
            if name not in offered:
                raise self._refuse("write", path, errno.ENOENT)
            if sign == "+" and not self._exempt(folder) and self._procs(folder):
                raise self._refuse("write", path, errno.EBUSY)  # no process in a cgroup with controllers
            below = (c / "cgroup.subtree_control" for c in self._children(folder))
            if sign == "-" and any(name in f.read_text().split() for f in below):
                raise self._refuse("write", path, errno.EBUSY)  # a child passes it on
        for token in text.split():
            sign, name = token[0], token[1:]
            if sign == "+" and name not in enabled:
                enabled.append(name)
            if sign == "-" and name in enabled:
                enabled.remove(name)
        (folder / "cgroup.subtree_control").write_text(" ".join(enabled) + ("\n" if enabled else ""))
        for child in self._children(folder):  # what each child is offered, and its files
            (child / "cgroup.controllers").write_text(" ".join(enabled) + "\n")
            for controller in KNOBS:
                for knob, initial in self._knobs(controller).items():
                    present = (child / knob).exists()
                    if controller in enabled and not present:
                        (child / knob).write_text(initial)
                    elif controller not in enabled and present:
                        (child / knob).unlink()

    def _join(self, folder: Path, path: str, text: str) -> None:
        try:
            pid = int(text.strip())
        except ValueError:
            raise self._refuse("write", path, errno.EINVAL) from None
        if not self._exempt(folder) and (folder / "cgroup.subtree_control").read_text().split():
            raise self._refuse("write", path, errno.EBUSY)
        for procs in self.top.rglob("cgroup.procs"):  # a process lives in one cgroup
            kept = [p for p in procs.read_text().split() if int(p) != pid]
            procs.write_text("".join(f"{p}\n" for p in kept))
        with open(folder / "cgroup.procs", "a") as f:
            f.write(f"{pid}\n")
        self._populated()

    def _kill(self, folder: Path, path: str, text: str) -> None:
        if text.strip() != "1":
            raise self._refuse("write", path, errno.EINVAL)
        for procs in [folder / "cgroup.procs", *folder.rglob("*/cgroup.procs")]:
            self.killed += [int(p) for p in procs.read_text().split()]
            procs.write_text("")
        self._populated()

    def _populated(self) -> None:
        for events in self.top.rglob("cgroup.events"):
            below = [events.parent / "cgroup.procs", *events.parent.rglob("*/cgroup.procs")]
            busy = any(p.read_text().split() for p in below)
            frozen = events.read_text().split("frozen ")[1]
            events.write_text(f"populated {int(busy)}\nfrozen {frozen}")


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has); made-up pids of a test
    (above the machine's pid_max) are taken as alive, as nothing could end them."""
    if pid > 4194304:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ----------------------------------------------------------------------------- a real delegated cgroup

DELEGATED = ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.freeze", "cgroup.kill")


def cgroup2_mount() -> str | None:
    """Where a cgroup v2 hierarchy is mounted (on a "hybrid" machine, beside the v1 ones)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2":
            return fields[4]
    return None


@contextlib.contextmanager
def delegated_to_graderci(module: str) -> Iterator[tuple[Path, str]]:
    """A real cgroup v2 folder delegated to the plain user graderci, as systemd delegates one to
    every user's session, and an interpreter that user may run `module` (a test module) with;
    skips where root, the hierarchy, the user or such an interpreter is missing."""
    top = cgroup2_mount()
    if os.geteuid() != 0 or top is None:
        pytest.skip("needs root (to delegate a cgroup to a plain user) and a cgroup v2 hierarchy")
    try:
        user = pwd.getpwnam("graderci")
    except KeyError:
        pytest.skip("no plain user graderci (see .ci/run)")
    exe = os.environ.get("GRADER_PUBLIC_PYTHON") or sys.executable  # see .ci/run
    probe = f"cd / && {exe} -c 'import sys; sys.path.insert(0, sys.argv[1]); import tests.{module}' {CHECKOUT}"
    if subprocess.run(["su", "graderci", "-s", "/bin/sh", "-c", probe], capture_output=True).returncode != 0:
        pytest.skip("graderci cannot run this checkout's tests (GRADER_PUBLIC_PYTHON: a venv it may run)")
    own = Path(top, Path("/proc/self/cgroup").read_text().split("0::", 1)[1].split("\n")[0].lstrip("/"))
    delegated = own / f"grader-test-{module}-{os.getpid()}"
    delegated.mkdir()
    try:
        for name in DELEGATED:
            if (delegated / name).exists():
                os.chown(delegated / name, user.pw_uid, user.pw_gid)
        yield delegated, exe
    finally:
        if (delegated / "cgroup.kill").exists():
            (delegated / "cgroup.kill").write_text("1")
        for _ in range(100):
            try:
                delegated.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def run_as_graderci_in(delegated: Path, exe: str, script: str, grader_root: Path) -> str:
    """Run `script` (Python, given the checkout as argv[1]) as graderci inside `delegated`:
    the last line it prints."""
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # where the plain user can read it
    try:
        folder.chmod(0o755)
        (folder / "script.py").write_text(script)
        (folder / "script.py").chmod(0o644)
        inner = f"cd / && GRADER_ROOT={grader_root} exec {exe} {folder}/script.py {CHECKOUT}"
        proc = subprocess.run(
            ["sh", "-c", f"echo $$ > {delegated}/cgroup.procs && exec su graderci -s /bin/sh -c '{inner}'"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]
