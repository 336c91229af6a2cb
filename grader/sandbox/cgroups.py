"""One memory and process budget for each sandbox as a whole: a cgroup of its own.

Rlimits bound each process: a function that forks holds `memory_mb` in every process it starts.
A cgroup bounds them together: memory (swap none) and the number of processes of the worker, its
function child and everything that child starts; the kernel's OOM killer then acts inside the
sandbox only, and the grader reads its count to say "ran out of memory".

Layout: in the grader's own cgroup (in cgroup v2's one hierarchy, or in each of v1's `memory`
and `pids` hierarchies), a folder `grader-<pid>` made at the first sandbox and removed at exit,
holding a folder per sandbox. A folder the grader may not make (no root and no delegated cgroup)
means no budget: the isolation notes say so. A grader killed outright leaves its folder behind;
the next one removes it once empty. Per worker, not per function child: a worker runs one
function at a time (the zygote forks the next only when the last and all it started are gone),
so the worker's budget is each function's, less the zygote's own few dozen MB.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import signal
import threading
import time
from dataclasses import dataclass

from grader.sandbox.limits import Limits

ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "pids")
GONE_SECONDS = 2.0  # how long a removed sandbox's processes get to die


@dataclass(frozen=True)
class Budget:
    """A sandbox's cgroup: one folder (v2) or one per controller (v1)."""

    dirs: tuple[str, ...]
    memory: str  # the folder holding the memory controller's files
    v2: bool
    home: tuple[str, ...]  # the grader's own cgroups, where the jail's launcher goes back to

    def oom_kills(self) -> int:
        """How many of its processes the OOM killer ended so far (-1: unknown)."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            with open(os.path.join(self.memory, name)) as f:
                found = re.search(r"^oom_kill (\d+)$", f.read(), re.M)
        except OSError:
            return -1
        return int(found.group(1)) if found else -1


@dataclass
class _Parent:
    dirs: dict[str, str]  # controller -> grader-<pid> folder (both the same one in v2)
    home: tuple[str, ...]  # where the grader itself is, in each hierarchy
    undo: list[tuple[str, str]]  # what to undo at exit, last first: (file, text to write) or (folder, "")

    @property
    def v2(self) -> bool:
        return len(set(self.dirs.values())) == 1


_LOCK = threading.Lock()
_PARENT: list[_Parent | None] = []  # empty: not tried yet; [None]: no cgroup for us
_LIVE: set[Budget] = set()
_NAMES = itertools.count()


def _own_cgroups() -> dict[str, str]:
    """Our cgroup in each hierarchy: "" for v2's, else each v1 controller's name."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, names, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and not names:
                own[""] = path
            for name in names.split(","):
                own[name] = path
    return own


def _mounts() -> dict[str, tuple[str, str]]:
    """Where each hierarchy is mounted: key ("" for v2) -> (mount point, the cgroup at its root)."""
    found: dict[str, tuple[str, str]] = {}
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            tail = fields[fields.index("-") + 1 :]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if tail[0] == "cgroup2":
                found.setdefault("", (point, fields[3]))
            elif tail[0] == "cgroup":
                for name in tail[2].split(","):
                    found.setdefault(name, (point, fields[3]))
    return found


def _where(key: str, own: dict[str, str], mounts: dict[str, tuple[str, str]]) -> str | None:
    """The folder of our own cgroup in hierarchy `key`, if it is mounted where we can see it."""
    if key not in own or key not in mounts:
        return None
    point, top = mounts[key]
    path = own[key]
    if top != "/" and not (path == top or path.startswith(top.rstrip("/") + "/")):
        return None
    return os.path.join(point, os.path.relpath(path, top))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _sweep(base: str) -> None:
    """Remove the empty folders of graders that are gone (killed before they could)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        found = re.fullmatch(r"grader-(\d+)(?:\.procs)?", name)
        if found is None or os.path.exists(f"/proc/{found.group(1)}"):
            continue
        top = os.path.join(base, name)
        for inner in os.listdir(top):
            if os.path.isdir(os.path.join(top, inner)):
                try:
                    os.rmdir(os.path.join(top, inner))
                except OSError:
                    pass
        try:
            os.rmdir(top)
        except OSError:
            pass


def _parent_v1(own: dict[str, str], mounts: dict[str, tuple[str, str]]) -> _Parent | None:
    dirs: dict[str, str] = {}
    for name in CONTROLLERS:
        base = _where(name, own, mounts)
        if base is None or not os.path.isdir(base):
            break
        _sweep(base)
        top = os.path.join(base, f"grader-{os.getpid()}")
        try:
            os.mkdir(top, 0o755)
        except OSError:
            break
        dirs[name] = top
    if len(dirs) == len(CONTROLLERS):
        return _Parent(
            dirs, tuple(os.path.dirname(top) for top in dirs.values()), [(top, "") for top in dirs.values()]
        )
    for top in dirs.values():
        os.rmdir(top)
    return None


def _enable(folder: str, undo: list[tuple[str, str]]) -> None:
    control = os.path.join(folder, "cgroup.subtree_control")
    wanted = [c for c in CONTROLLERS if c not in _read(control).split()]
    if wanted:
        _write(control, " ".join(f"+{c}" for c in wanted))
        undo.append((control, " ".join(f"-{c}" for c in wanted)))


def _parent_v2(base: str, home: str, *, move: bool) -> _Parent | None:
    """grader-<pid> in `base`, its controllers enabled; `home`: where the grader is. A cgroup
    that holds processes may not enable controllers for its children (but the root): with
    `move` (`base` is our own cgroup), its processes (ours, and as root any other) move to a
    leaf beside it first, and back at exit."""
    if not set(CONTROLLERS) <= set(_read(os.path.join(base, "cgroup.controllers")).split()):
        return None
    _sweep(base)
    top = os.path.join(base, f"grader-{os.getpid()}")
    undo: list[tuple[str, str]] = []
    try:
        try:
            _enable(base, undo)
        except OSError:  # EBUSY: processes live in `base` itself
            if not move:
                raise
            leaf = home = top + ".procs"
            os.mkdir(leaf, 0o755)
            undo.append((leaf, ""))  # rmdir, once its processes are back in `base`
            for pid in _read(os.path.join(base, "cgroup.procs")).split():
                _write(os.path.join(leaf, "cgroup.procs"), pid)
                undo.append((os.path.join(base, "cgroup.procs"), pid))
            _enable(base, undo)
        os.mkdir(top, 0o755)
        undo.append((top, ""))
        _enable(top, undo)
    except OSError:
        _undo(undo)
        return None
    return _Parent(dict.fromkeys(CONTROLLERS, top), (home,), undo)


def _undo(undo: list[tuple[str, str]]) -> None:
    """Undo what making the grader's folder did, last first (a moved process that ended since
    is skipped)."""
    for path, text in reversed(undo):
        try:
            if text:
                _write(path, text)
            else:
                os.rmdir(path)
        except OSError:
            pass
    undo.clear()


def _parent() -> _Parent | None:
    """The grader's folder, made once (None when this machine gives us no cgroup)."""
    if _PARENT:
        return _PARENT[0]
    made: _Parent | None = None
    try:
        own, mounts = _own_cgroups(), _mounts()
        v2 = _where("", own, mounts)
        if all(c in mounts for c in CONTROLLERS):  # v1 (a "hybrid" machine has a v2 beside it)
            made = _parent_v1(own, mounts)
        elif v2 is not None:
            # as root, the hierarchy's top first (exempt from the rule on processes, when it is
            # the machine's root and not a container's); else our own cgroup, its processes moved
            top = mounts[""][0]
            if os.geteuid() == 0 and os.path.realpath(top) != os.path.realpath(v2):
                made = _parent_v2(top, v2, move=False)
            made = made or _parent_v2(v2, v2, move=True)
    except (OSError, ValueError, IndexError):
        made = None
    _PARENT.append(made)
    if made is not None:
        atexit.register(remove_all)
    return made


def available() -> bool:
    """Whether sandboxes get a budget of their own here."""
    with _LOCK:
        return _parent() is not None


def create(limits: Limits) -> Budget | None:
    """A new sandbox's cgroup with its limits, or None (no cgroup here, or it failed)."""
    with _LOCK:
        parent = _parent()
        if parent is None:
            return None
        name = f"s{next(_NAMES)}"
        dirs = {c: os.path.join(parent.dirs[c], name) for c in CONTROLLERS}
        made: list[str] = []
        try:
            for path in dict.fromkeys(dirs.values()):
                os.mkdir(path, 0o755)
                made.append(path)
            _limit(dirs["memory"], dirs["pids"], limits, parent.v2)
        except OSError:
            for path in made:
                os.rmdir(path)
            return None
        budget = Budget(tuple(made), dirs["memory"], parent.v2, parent.home)
        _LIVE.add(budget)
        return budget


def _limit(memory: str, pids: str, limits: Limits, v2: bool) -> None:
    size = str(limits.memory_mb << 20)
    if v2:
        _write(os.path.join(memory, "memory.max"), size)
        if os.path.exists(os.path.join(memory, "memory.swap.max")):
            _write(os.path.join(memory, "memory.swap.max"), "0")
    else:
        _write(os.path.join(memory, "memory.limit_in_bytes"), size)
        if os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes")):  # swap accounted
            _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), size)
    _write(os.path.join(pids, "pids.max"), str(limits.processes))


def _procs(budget: Budget) -> list[int]:
    pids: set[int] = set()
    for path in budget.dirs:
        try:
            pids.update(int(p) for p in _read(os.path.join(path, "cgroup.procs")).split())
        except OSError:
            pass
    return sorted(pids)


def _kill(budget: Budget) -> None:
    """SIGKILL whatever is left in it. Through a pidfd, checked to be in the cgroup after it is
    opened: a pid read from cgroup.procs may be reused by then, by a process not ours to kill."""
    if budget.v2:
        try:
            _write(os.path.join(budget.dirs[0], "cgroup.kill"), "1")
            return
        except OSError:  # before Linux 5.14
            pass
    for pid in _procs(budget):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if pid in _procs(budget):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(fd)


def remove(budget: Budget | None) -> bool:
    """End what is left in a sandbox's cgroup and remove it; False if it would not go."""
    if budget is None:
        return True
    deadline = time.monotonic() + GONE_SECONDS
    pause = 0.0005
    while _procs(budget):
        _kill(budget)
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    for path in budget.dirs:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    with _LOCK:
        _LIVE.discard(budget)
    return True


def remove_all() -> None:
    """At exit: every sandbox's cgroup, then the grader's own folder."""
    for budget in list(_LIVE):
        remove(budget)
    with _LOCK:
        parent = _PARENT[0] if _PARENT else None
        if parent is not None:
            _undo(parent.undo)
