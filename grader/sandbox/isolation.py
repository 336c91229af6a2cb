"""Which isolation layers this machine allows, and what a sandbox hides and runs as.

The folders student code must never see (`secrets`, `hidden`), the unprivileged user id each
sandbox runs as (leased, so that sandboxes side by side cannot signal one another), the jail's
configuration as plain data (`jail_config`), and the probe that settles once per process which
layers work here (`available_isolation`): what could not be applied is noted, so a report can
say so and `--require-isolation` can refuse.
"""

from __future__ import annotations

import os
import site
import stat
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grader.reading.assignment import project_root
from grader.sandbox import cgroups, exposure, jail, leftovers, syscalls
from grader.sandbox.limits import Isolation, Limits
from grader.sandbox.root import SYSTEM, users
from grader.sandbox.scratch import prepare_scratch, remove_scratch


def secrets() -> list[str]:
    """Folders student code must never see: expected values, the reference, the tests, the
    assignments (it gets the released files as a scratch copy), our own code. The sandbox's root
    shows nothing of the host but the system's folders and what `binds` names; these are covered
    where they lie inside that (an installation whose site-packages hold our code)."""
    root = project_root()
    here = Path(__file__).resolve().parents[1]  # the whole grader package
    folders = ("expected", "reference", "tests", "assignments", ".git")
    return [str(p) for p in (*(root / f for f in folders), here)]


def hidden(hide: list[str] | tuple[str, ...]) -> list[str]:
    """What a sandbox covers, the one list for function workers and the full-notebook run alike:
    our secrets, and the folders the caller names (submissions, the reports, the gradebook)."""
    return secrets() + [str(Path(h).resolve()) for h in hide]


def _needed() -> list[str]:
    """Paths the interpreter needs: the installation, its base and its packages."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent), *site.getsitepackages()}
    return sorted(p for p in paths if Path(p).exists())


def binds(scratch: Path, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The host's paths the sandbox shows besides the system's (the one list: a caller with a
    folder of its own for the sandbox adds it as `extra`): the interpreter's and the scratch."""
    return _needed() + [str(scratch), *extra]


def site_dirs() -> list[str]:
    """The directories `site` would add for the worker (it starts without `site`)."""
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


SANDBOX_UIDS = range(61000, 65000)  # unprivileged user ids the sandboxes run as, one each
_LEASES: dict[int, int] = {}  # uid -> the locked file that reserves it while a sandbox runs as it
_LEASES_LOCK = threading.Lock()


def sandbox_uid() -> int:
    """A user id of its own for each sandbox, one the user database does not know: sandboxes
    running side by side (a batch, parallel tests, other graders on the machine) can then neither
    signal nor trace one another, nor share a process limit that one student's fork bomb would use
    up for all. An id is reserved by a lock on a file until `release_uid` (or our exit)."""
    import fcntl
    import pwd
    import random

    folder = Path(tempfile.gettempdir()) / "grader-uids"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)  # in a shared /tmp: only a private folder of ours will do
        lockable = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
    except OSError:
        lockable = False
    if lockable and os.geteuid() == 0 and not _SWEPT.is_set():
        _SWEPT.set()
        threading.Thread(target=_quietly, args=(_clear_abandoned, folder), daemon=True).start()
    for _ in range(200):
        uid = random.choice(SANDBOX_UIDS)
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        if not lockable:
            return uid
        with _LEASES_LOCK:
            if uid in _LEASES:
                continue
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            try:
                fd, new = os.open(folder / str(uid), flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                fd, new = os.open(folder / str(uid), flags, 0o600), False
            except OSError:
                return uid
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another grader's sandbox runs as this id
                os.close(fd)
                continue
            _LEASES[uid] = fd
        # never drawn on this machine, or given back clean (see release_uid); else a grader
        # died holding it, and what its sandbox started may still run, its files still lie about
        if not (new or os.pread(fd, len(CLEAN), 0) == CLEAN):
            _clear(uid)
        os.ftruncate(fd, 0)
        return uid
    return jail.NOBODY


CLEAN = b"clean"  # a lease file's content once its id was given back with nothing of it left
_SWEPT = threading.Event()  # whether this process looked for ids dead graders left behind


def _quietly(work: Any, *args: Any) -> None:
    """A background thread's work, whose failure must not print over the command's output: what
    it leaves undone, the next grader does (an id is cleared when drawn anyway)."""
    try:
        work(*args)
    except Exception:
        pass


def _clear_abandoned(folder: Path) -> None:
    """Clear every id a grader that died (SIGKILL, a crash) held: its sandboxes' processes would
    run on, beside ours, until the id happened to be drawn again. Once per process, in the
    background: the id a sandbox draws is cleared before it is used anyway (see sandbox_uid)."""
    import fcntl

    try:
        names = [n for n in os.listdir(folder) if n.isdigit() and int(n) in SANDBOX_UIDS]
    except OSError:
        return
    for name in names:
        uid = int(name)
        with _LEASES_LOCK:
            if uid in _LEASES:
                continue
            try:
                fd = os.open(folder / name, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live grader's sandbox runs as it
                os.close(fd)
                continue
            if os.pread(fd, len(CLEAN), 0) == CLEAN:
                os.close(fd)
                continue
            _LEASES[uid] = fd
        clean = leftovers.clear(uid, reap=False)  # a dead grader's: its processes are not our children
        with _LEASES_LOCK:
            _LEASES.pop(uid, None)
        if clean:
            os.pwrite(fd, CLEAN, 0)
        os.close(fd)  # unlocks it


def release_uid(uid: int, *, contained: bool = False) -> None:
    """Give a sandbox's user id back, once none of its processes and none of its files in the
    machine's shared temporary folders are left (see leftovers.py): the next sandbox to draw it
    finds nothing of this one. `contained`: the sandbox had a PID and a mount namespace, which
    took all of that along."""
    with _LEASES_LOCK:
        fd = _LEASES.get(uid)
    clean = fd is not None and (contained or _clear(uid))
    with _LEASES_LOCK:
        _LEASES.pop(uid, None)
    if fd is not None:
        if clean:
            os.pwrite(fd, CLEAN, 0)
        os.close(fd)


def _clear(uid: int) -> bool:
    """End what `uid` left (see leftovers.py); whether nothing of it runs any more."""
    return os.geteuid() == 0 and uid in SANDBOX_UIDS and leftovers.clear(uid)


def jail_config(
    scratch: Path,
    limits: Limits,
    iso: Isolation,
    hide: list[str],
    *,
    extra: tuple[str, ...] = (),
    budget: cgroups.Budget | None = None,
) -> dict[str, Any]:
    """What `jail.apply` needs, as plain data (it may cross an exec). `extra`: more of the host
    to show the sandbox, read-only (see `binds`); `budget`: the sandbox's cgroup, which it joins
    first."""
    needed = binds(scratch, extra)
    # covering one would hide the interpreter, and binding it would show the folder to hide
    unhidable = sorted(set(hide) & set(needed))
    if unhidable:
        raise ValueError(f"cannot hide {', '.join(unhidable)}: student code's interpreter needs it")
    uid = sandbox_uid() if iso.user else jail.NOBODY
    runs_as = (uid, jail.NOBODY) if iso.user else (os.getuid(), os.getgid())
    leftovers.private_tmp(str(scratch / "tmp"), uid if iso.user else None)
    cfg = {
        **asdict(limits),
        "network": iso.network,
        "ipc": iso.ipc,
        "mounts": iso.mounts,
        "pids": iso.pids,
        "proc": iso.proc,
        "readonly": iso.readonly,  # every mount but the private tmpfs mounts
        "user": iso.user,
        "landlock": iso.files,  # the same allow-list again, by Landlock (see landlock.allowed)
        "userns": os.geteuid() != 0,  # namespaces through a user namespace when not root
        "system": [p for p in SYSTEM if os.path.lexists(p)],
        "needed": needed,
        "hide": list(hide),
        "files": users(*runs_as, str(scratch / "tmp")),
        "staging": str(scratch / ".jail"),  # where the sandbox's root is built
        "cwd": str(scratch),
        "uid": uid,
        "tmp": str(scratch / "tmp"),
        "cgroups": list(budget.dirs) if budget is not None else [],
        "cgroups_home": list(budget.home) if budget is not None else [],
        "syscalls": syscalls.program() if iso.syscalls else None,  # installed last (see jail.apply)
    }
    cfg["plan"] = root_plan(cfg)
    return cfg


def _outermost(paths: list[str]) -> list[str]:
    """`paths` without those inside another one (a bind mount brings those along)."""
    kept: list[str] = []
    for path in sorted(set(paths)):  # sorted: a folder comes right before the folders inside it
        if not (kept and (path == kept[-1] or jail._inside(path, kept[-1]))):
            kept.append(path)
    return kept


def root_plan(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """What the sandbox's root holds (see jail._build_root), as (path, kind), outer paths first:
    a folder must exist before anything is mounted inside it."""
    scratch = cfg["cwd"]
    shown = _outermost([*cfg.get("system", []), *cfg.get("needed", [])])
    plan = [(p, "bind" if p != scratch else "scratch") for p in shown]
    plan += [(p, "tmp") for p in jail._private(cfg)]
    plan += [(h, "cover") for h in cfg.get("hide", []) if any(jail._inside(h, b) for b in shown)]
    plan += [("/dev", "dev"), ("/proc", "proc")]
    return sorted(plan, key=lambda item: (item[0].strip("/").split("/"), item[1] != "bind"))


def _probe(cfg: dict[str, Any]) -> bool:
    """Apply a configuration in a throwaway child: can it still reach the interpreter?"""
    pid = os.fork()
    if pid == 0:
        try:
            jail.apply(cfg)
            # what we inherited goes (as a worker's exec would close it): past the jail's limit
            # on open files, a grader holding many would make every open below fail (EMFILE)
            os.closerange(3, 1 << 20)
            ok = os.access(sys.executable, os.X_OK) and all(map(_opens, [sys.executable, *cfg["needed"]]))
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _opens(path: str) -> bool:
    """Whether we may open `path` (Landlock refuses opens, not what access() asks)."""
    try:
        os.close(os.open(path, os.O_RDONLY))
        return True
    except OSError:
        return False


_ISOLATION: Isolation | None = None


def available_isolation() -> Isolation:
    """Probe once which layers this machine allows, strongest first."""
    global _ISOLATION
    if _ISOLATION is not None:
        return _ISOLATION
    scratch = prepare_scratch(Path("."), ())
    try:
        # every layer at once; else, layer by layer, each kept if it works with those kept so
        # far: the layers do not depend on one another (the user switch needs no namespace, a
        # container without CAP_SYS_ADMIN still gets it), except a private /proc and read-only
        # mounts, which need the mount namespace and come after it
        got = {k: v for k, v in asdict(strongest()).items() if k != "notes"}
        if not _works(scratch, got):
            got = dict.fromkeys(got, False)
            for layer in PROBE_ORDER:
                trial = {**got, layer: True}
                if (layer != "user" or os.geteuid() == 0) and _works(scratch, trial):
                    got = trial
    finally:
        remove_scratch(scratch)
    got["budget"] = cgroups.available()  # not the jail's to probe: whether we can make cgroups
    _ISOLATION = _noted(Isolation(**got))
    return _ISOLATION


PROBE_ORDER = ("mounts", "pids", "proc", "readonly", "network", "ipc", "user", "files", "syscalls")


def _works(scratch: Path, layers: dict[str, Any]) -> bool:
    cfg = jail_config(scratch, Limits(), Isolation(**layers), secrets())
    try:
        return _probe(cfg)
    finally:
        release_uid(cfg["uid"], contained=True)  # its one process ran no student code, and ended


def _scoped(iso: Isolation) -> bool:
    """Whether Landlock also refuses the sandbox abstract unix sockets outside it (ABI 6)."""
    from grader.sandbox import landlock

    return iso.files and landlock.version() >= landlock.SCOPED_SINCE


def _noted(iso: Isolation) -> Isolation:
    """`iso` with a note for each layer it lacks (a private /proc and read-only mounts need the
    mount namespace, and /proc the PID namespace too: without them, they are lacking)."""
    proc, readonly = iso.proc and iso.mounts and iso.pids, iso.readonly and iso.mounts
    notes = []
    if not iso.syscalls:
        why = syscalls.why_missing() or "the kernel refused a seccomp filter"
        notes.append(
            f"no syscall filter ({why}): student code may open network sockets, use SysV IPC,"
            " io_uring, ptrace and every other system call the kernel allows it"
        )
    if not iso.network and iso.syscalls:
        abstract = "" if _scoped(iso) else " and its abstract ones"
        notes.append(
            "no network namespace: student code can connect to the machine's unix sockets that file"
            f" permissions let its user write{abstract} (the syscall filter refuses every other socket)"
        )
    elif not iso.network:
        notes.append("no network namespace: student code could reach the network")
    if not iso.ipc and not iso.syscalls:
        notes.append("no IPC namespace: student code could leave shared memory or message queues for others")
    elif not iso.ipc:
        notes.append("no IPC namespace: the syscall filter refuses SysV IPC and POSIX queues in its place")
    if not iso.mounts:
        what = "any user may read" if iso.user else "the grader can read"
        where = " in the machine's /tmp, /var/tmp and /dev/shm (Landlock keeps the rest)" if iso.files else ""
        notes.append(f"no mount namespace: student code could read files {what}{where}")
        removed = " (removed after each submission)" if iso.user else ""
        notes.append(
            "no mount namespace: student code can write files to the machine's shared /tmp, /var/tmp"
            f" and /dev/shm, unbounded by tmp_mb{removed}"
        )
    if not iso.pids:
        notes.append("no PID namespace: student code can see and signal other processes")
    if not proc:
        notes.append("no private /proc: student code can list the machine's processes and command lines")
    if not readonly:
        notes.append(
            "the machine's files are not mounted read-only"
            + ("" if iso.user else ": student code runs as the grader's user and could change the grader")
        )
    if not iso.files:
        from grader.sandbox.landlock import why_missing

        why = why_missing() or "the jail could not apply it"
        keeps = "the mount namespace alone keeps" if iso.mounts else "only file permissions keep"
        notes.append(f"no Landlock ({why}): {keeps} the machine's files from student code")
    if iso.user and not iso.mounts and not iso.files:  # only permissions keep our private files
        notes.extend(exposure.notes(project_root()))
    if not iso.mounts and not iso.files:  # not writable to it (root's, or our user's when reported below)
        notes.append(
            "no mount namespace: student code sees /sys/fs/cgroup (the machine's cgroups and their processes)"
        )
    ours = cgroups.writable_by_us() if not (iso.user or iso.mounts or iso.files) else []
    budget = iso.budget and not ours
    if ours:
        notes.append(
            f"student code runs as the grader's user with the grader's cgroup {ours[0]} writable: it could"
            " freeze or kill the grader, or lift its own limits (no cgroup budget is counted on)"
        )
    elif not budget:
        if iso.user:
            procs = "its processes are counted for its own user"
        elif os.geteuid() != 0 and iso.mounts and jail._nproc_per_namespace():
            procs = "its processes are counted in its own user namespace"
        else:
            procs = "its number of processes is not bounded"
        why = cgroups.why()
        notes.append(
            f"no cgroup for the sandbox{f' ({why})' if why else ''}: memory is bounded per process only,"
            f" not for all of them together, and {procs} (without root, a delegated cgroup gives one:"
            " systemd-run --user --scope -p Delegate=yes grader ...)"
        )
    if not iso.user:
        unprivileged = os.geteuid() != 0 and iso.mounts
        notes.append(
            "student code runs as the grader's own user"
            + (", without privileges in a user namespace" if unprivileged else "")
        )
    return Isolation(
        iso.network,
        iso.mounts,
        iso.pids,
        iso.user,
        tuple(notes),
        files=iso.files,
        ipc=iso.ipc,
        proc=proc,
        readonly=readonly,
        budget=budget,
        syscalls=iso.syscalls,
    )


def strongest() -> Isolation:
    """Every layer; the separate user only when we are root to switch to it, a cgroup of its
    own when we may make one."""
    return Isolation(
        True, True, True, os.geteuid() == 0, budget=cgroups.available(), syscalls=not syscalls.why_missing()
    )
