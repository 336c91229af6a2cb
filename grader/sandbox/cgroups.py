"""One memory and process budget for each sandbox as a whole: a cgroup of its own.

Rlimits bound each process: a function that forks holds `memory_mb` in every process it starts. A
cgroup bounds them together: memory (swap none) and the number of processes of the worker, its
function child and everything that child starts; the kernel's OOM killer then acts inside the
sandbox only, and the grader reads its count to say "ran out of memory".

Layout: in the grader's own cgroup (in cgroup v2's one hierarchy, or in each of v1's `memory` and
`pids` hierarchies), a folder `grader-<pid>` made at the first sandbox and removed at exit, holding
a folder per sandbox, both readable by the grader only (without a mount namespace the sandbox sees
/sys/fs/cgroup). A folder the grader may not make (no root and no delegated cgroup), a controller
the hierarchy does not offer (on a "hybrid" machine memory and pids are v1's), or a first sandbox
folder that cannot be limited and removed means no budget: `why` says which, and the isolation
notes say so. Every change to the hierarchy goes through `_write`, `_mkdir` and `_rmdir` (tests run
this module against a fake cgroup2 tree: see tests/cgroupkit.py). A grader killed outright leaves
its folder behind; the next one removes it once empty. Per worker, not per function child: a worker
runs one function at a time (the zygote forks the next only when the last and all it started are
gone), so the worker's budget is each function's, less the zygote's own few dozen MB.
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
MODE = 0o700  # no one else may look inside: other sandboxes' processes and memory use


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
_WHY: list[str] = []  # why not, when _PARENT is [None]
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
    return os.path.normpath(os.path.join(point, os.path.relpath(path, top)))  # not ".../." at the top


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:  # the kernel refuses in write() (EBUSY, EINVAL): name the file
        raise OSError(exc.errno, exc.strerror, path) from None


def _mkdir(path: str) -> None:
    os.mkdir(path, MODE)


def _rmdir(path: str) -> None:
    os.rmdir(path)


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
        inner = [os.path.join(top, i) for i in os.listdir(top) if os.path.isdir(os.path.join(top, i))]
        _undo([(top, ""), *((path, "") for path in inner)])  # the sandboxes' first, then its own


class _NoBudget(Exception):
    """Why this machine gives the sandboxes no cgroup (see `why`)."""


def _failed(what: str, exc: OSError) -> _NoBudget:
    return _NoBudget(f"{what} {exc.filename}: {exc.strerror}" if exc.filename else f"{what}: {exc.strerror}")


def _parent_v1(own: dict[str, str], mounts: dict[str, tuple[str, str]]) -> _Parent:
    dirs: dict[str, str] = {}
    try:
        for name in CONTROLLERS:
            base = _where(name, own, mounts)
            if base is None or not os.path.isdir(base):
                raise _NoBudget(f"our own cgroup of the v1 {name} hierarchy is out of sight")
            _sweep(base)
            top = os.path.join(base, f"grader-{os.getpid()}")
            try:
                _mkdir(top)
            except OSError as exc:
                raise _failed("cannot make", exc) from None
            dirs[name] = top
    except _NoBudget:
        _undo([(top, "") for top in dirs.values()])
        raise
    return _Parent(
        dirs, tuple(os.path.dirname(top) for top in dirs.values()), [(top, "") for top in dirs.values()]
    )


def _enable(folder: str, undo: list[tuple[str, str]]) -> None:
    control = os.path.join(folder, "cgroup.subtree_control")
    wanted = [c for c in CONTROLLERS if c not in _read(control).split()]
    if wanted:
        _write(control, " ".join(f"+{c}" for c in wanted))
        undo.append((control, " ".join(f"-{c}" for c in wanted)))


def _parent_v2(base: str, home: str, *, move: bool) -> _Parent:
    """grader-<pid> in `base`, its controllers enabled; `home`: where the grader is. A cgroup
    that holds processes may not enable controllers for its children (but the root): with
    `move` (`base` is our own cgroup), its processes (ours, and as root any other) move to a
    leaf beside it first, and back at exit."""
    offered = _read(os.path.join(base, "cgroup.controllers")).split()
    missing = [c for c in CONTROLLERS if c not in offered]
    if missing:
        raise _NoBudget(f"the cgroup v2 folder {base} offers no {' or '.join(missing)} controller")
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
            _mkdir(leaf)
            undo.append((leaf, ""))  # rmdir, once its processes are back in `base`
            for pid in _read(os.path.join(base, "cgroup.procs")).split():
                _write(os.path.join(leaf, "cgroup.procs"), pid)
                undo.append((os.path.join(base, "cgroup.procs"), pid))
            _enable(base, undo)
        _mkdir(top)
        undo.append((top, ""))
        _enable(top, undo)
    except OSError as exc:
        _undo(undo)
        raise _failed("cannot set up", exc) from None
    return _Parent(dict.fromkeys(CONTROLLERS, top), (home,), undo)


def _undo(undo: list[tuple[str, str]]) -> None:
    """Undo what making the grader's folder did, last first (a moved process that ended since
    is skipped)."""
    for path, text in reversed(undo):
        try:
            if text:
                _write(path, text)
            else:
                _rmdir(path)
        except OSError:
            pass
    undo.clear()


def _made() -> _Parent:
    """The grader's folder in the hierarchy that holds both controllers (raises _NoBudget)."""
    try:
        own, mounts = _own_cgroups(), _mounts()
    except (OSError, ValueError, IndexError) as exc:
        raise _NoBudget(f"cannot read our cgroups ({exc})") from None
    v2 = _where("", own, mounts)
    if all(c in mounts for c in CONTROLLERS):  # v1 (a "hybrid" machine has a v2 beside it)
        return _parent_v1(own, mounts)
    if v2 is None:
        raise _NoBudget("no cgroup hierarchy holding memory and pids is mounted where we can see it")
    bound = [c for c in CONTROLLERS if c in mounts]
    if bound:  # a hybrid machine: the v2 hierarchy cannot offer what a v1 one holds
        what = f"the {' and '.join(bound)} controller{' is' if len(bound) == 1 else 's are'}"
        raise _NoBudget(f"{what} bound to a cgroup v1 hierarchy: the v2 one cannot have them")
    # as root, the hierarchy's top first (exempt from the rule on processes, when it is the
    # machine's root and not a container's); else our own cgroup, its processes moved
    top = mounts[""][0]
    if os.geteuid() == 0 and os.path.realpath(top) != os.path.realpath(v2):
        try:
            return _parent_v2(top, v2, move=False)
        except _NoBudget:
            pass
    return _parent_v2(v2, v2, move=True)


def _tried(parent: _Parent) -> None:
    """Make, limit and remove a first sandbox's folder: what every sandbox will need (a delegated
    tree may let us make folders but not write their limits). Raises _NoBudget, undone."""
    try:
        budget = _new(parent, Limits())
    except OSError as exc:
        _undo(parent.undo)
        raise _failed("cannot limit a sandbox's cgroup:", exc) from None
    if not _removed(budget):
        _undo(parent.undo)
        raise _NoBudget(f"cannot remove a sandbox's cgroup {budget.dirs[0]}")


def _parent() -> _Parent | None:
    """The grader's folder, made once (None when this machine gives us no cgroup: see `why`)."""
    if _PARENT:
        return _PARENT[0]
    made: _Parent | None = None
    try:
        made = _made()
        _tried(made)
    except _NoBudget as exc:
        made = None
        _WHY[:] = [str(exc)]
    _PARENT.append(made)
    if made is not None:
        atexit.register(remove_all)
    return made


def available() -> bool:
    """Whether sandboxes get a budget of their own here."""
    with _LOCK:
        return _parent() is not None


def writable_by_us() -> list[str]:
    """Our own cgroups that our user may change: student code running as our user, with
    /sys/fs/cgroup in sight, could freeze or kill them, or move itself out of its budget."""
    try:
        own, mounts = _own_cgroups(), _mounts()
    except (OSError, ValueError, IndexError):
        return []
    folders = [f for f in {_where(key, own, mounts) for key in own} if f is not None]
    return sorted(f for f in folders if os.access(f, os.W_OK) or os.access(f"{f}/cgroup.procs", os.W_OK))


def why() -> str:
    """Why sandboxes get no budget here ("" when they do, or before `available`)."""
    with _LOCK:
        return _WHY[0] if _PARENT == [None] and _WHY else ""


def create(limits: Limits) -> Budget | None:
    """A new sandbox's cgroup with its limits, or None (no cgroup here, or it failed)."""
    with _LOCK:
        parent = _parent()
        if parent is None:
            return None
        try:
            budget = _new(parent, limits)
        except OSError:
            return None
        _LIVE.add(budget)
        return budget


def _new(parent: _Parent, limits: Limits) -> Budget:
    """A sandbox's folder (one per hierarchy) in the grader's, limited; undone if that fails."""
    name = f"s{next(_NAMES)}"
    dirs = {c: os.path.join(parent.dirs[c], name) for c in CONTROLLERS}
    made: list[str] = []
    try:
        for path in dict.fromkeys(dirs.values()):
            _mkdir(path)
            made.append(path)
        _limit(dirs["memory"], dirs["pids"], limits, parent.v2)
    except OSError:
        for path in made:
            try:
                _rmdir(path)
            except OSError:  # left for the exit's sweep
                pass
        raise
    return Budget(tuple(made), dirs["memory"], parent.v2, parent.home)


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
    """End what is left in a sandbox's cgroup and remove it; False if it would not go (it is
    then tried again at exit, and a later grader's sweep removes it once empty)."""
    if budget is None:
        return True
    if not _removed(budget):
        return False
    with _LOCK:
        _LIVE.discard(budget)
    return True


def _removed(budget: Budget) -> bool:
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
            _rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:  # EBUSY: a process is still in it, or a folder its processes made
            return False
    return True


def remove_all() -> None:
    """At exit: every sandbox's cgroup, then the grader's own folder."""
    for budget in list(_LIVE):
        remove(budget)
    with _LOCK:
        parent = _PARENT[0] if _PARENT else None
        if parent is not None:
            _undo(parent.undo)
