"""Confining a process before it runs students' code: the one place isolation is applied.

Used two ways: as a `preexec_fn` for the grading worker, and as a standalone launcher
(`python -I -c <this file> CONFIG -- cmd...`) that confines itself and then execs the Jupyter
kernel for full-notebook runs. Standard library only, for that second use.

Layers, each applied when the machine allows it (the parent probes and reports which):
a session of its own; rlimits on memory, CPU, file size, open files and processes; a network
namespace with no interfaces up; an IPC namespace (SysV shared memory, semaphores and message
queues, POSIX message queues die with the sandbox); a mount namespace where the grader's secrets
(expected values, reference, tests, other submissions, reports) are covered by empty read-only
tmpfs mounts and the grader's own installation is read-only; a PID namespace with a /proc of its
own; and, when root, an unprivileged user of its own (group `nogroup`), with private directories
on the interpreter's path re-exposed read-only through bind mounts so that it can still run
Python. The user switch needs no namespace: with root but no mount namespace (a container without
CAP_SYS_ADMIN) student code still runs as a user of its own.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import sys
import time
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
PR_SET_PDEATHSIG = 1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
MS_REMOUNT, MS_NOSYMFOLLOW, MS_STRICTATIME, ST_NOSYMFOLLOW = 32, 256, 1 << 24, 8192
NOBODY = 65534
# files and folders each writable tmpfs may hold: a student's tmp use is a handful, and the worker
# empties them between functions, which must take a bounded time (a million empty files took 18 s)
TMP_INODES = 4096
PR_SET_DUMPABLE = 4


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = _libc()
    rc = libc.mount(
        os.fsencode(src),
        os.fsencode(dst),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    _check(rc, f"mount {dst}")


def _rlimits(cfg: dict[str, Any]) -> None:
    mb = 1024 * 1024
    pairs = [
        (resource.RLIMIT_AS, cfg["memory_mb"] * mb, cfg["memory_mb"] * mb),
        (resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_seconds"] + 5),
        (resource.RLIMIT_FSIZE, cfg["file_size_mb"] * mb, cfg["file_size_mb"] * mb),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    for which, soft, hard in pairs:
        resource.setrlimit(which, (soft, hard))


def _limit_files(cfg: dict[str, Any]) -> None:
    """The open-files limit comes last: as a `preexec_fn` we run before the child's inherited
    descriptors are closed, and a grader holding more than the limit (a long batch, a Dask
    worker) must not make our own opens fail with EMFILE."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (cfg["open_files"], cfg["open_files"]))


def _reexpose(needed: list[str], staging: str) -> None:
    """Make each needed path traversable by `nobody`: cover its first private ancestor with a
    tmpfs (mode 755) and bind the needed children back into it."""
    plan: dict[str, set[str]] = {}
    for path in needed:
        parts = os.path.abspath(path).split(os.sep)[1:]
        for i in range(1, len(parts)):
            ancestor = os.sep + os.sep.join(parts[:i])
            if not os.stat(ancestor).st_mode & 0o001:
                plan.setdefault(ancestor, set()).add(parts[i])
                break
    for n, (ancestor, children) in enumerate(sorted(plan.items())):
        holds = []
        for child in sorted(children):
            src, hold = os.path.join(ancestor, child), os.path.join(staging, f"{n}-{child}")
            os.mkdir(hold)
            _mount(src, hold, None, MS_BIND | MS_REC)
            holds.append((hold, src))
        _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for hold, src in holds:
            os.mkdir(src)
            _mount(hold, src, None, MS_BIND | MS_REC)


def _inside(path: str, top: str) -> bool:
    return path != top and os.path.commonpath([path, top]) == top


def shared_to_cover(shared: list[str], needed: list[str]) -> list[str]:
    """The world-writable directories that get a private tmpfs (not one a needed path is, or is
    inside of: covering it would hide the interpreter)."""
    def coverable(top: str) -> bool:
        real_dir = os.path.isdir(top) and not os.path.islink(top)
        return real_dir and not any(n == top or _inside(top, n) for n in needed)

    return [top for top in shared if coverable(top)]


def _outermost(paths: list[str]) -> list[str]:
    """`paths` without those inside another one (a bind mount brings those along)."""
    kept: list[str] = []
    for path in sorted(set(paths)):  # sorted: a folder comes right before the folders inside it
        if not (kept and (path == kept[-1] or _inside(path, kept[-1]))):
            kept.append(path)
    return kept


def _makedirs(path: str) -> None:
    """Create `path` and its missing parents, each traversable by any user (whatever the umask)."""
    if not os.path.isdir(path):
        _makedirs(os.path.dirname(path))
        os.mkdir(path)
        os.chmod(path, 0o755)


def _cover_shared(shared: list[str], needed: list[str], size_mb: int) -> None:
    """Give each world-writable directory (/tmp, /dev/shm, ...) a fresh, size-limited tmpfs, so
    student code can neither fill the host's disk nor leave files for anyone, nor read what
    others left there. Needed paths inside one (the scratch directory, a venv in /tmp) are bound
    back in, through file descriptors opened before the cover hides them: exactly those paths,
    never the folder around them (a venv in /tmp/course/main/.venv must not bring back
    /tmp/course, with whatever else lies there). The folders leading to a nested one are a small
    read-only tmpfs of their own, a mount point that the worker's cleaning leaves alone."""
    for top in shared_to_cover(shared, needed):
        keep = _outermost([n for n in needed if _inside(n, top)])
        fds = [os.open(k, os.O_PATH) for k in keep]
        opts = f"size={size_mb}m,nr_inodes={TMP_INODES},mode=1777"
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, opts)
        firsts = {os.path.join(top, os.path.relpath(k, top).split(os.sep)[0]) for k in keep}
        holders = sorted(firsts - set(keep))
        for holder in holders:
            _makedirs(holder)
            _mount("tmpfs", holder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for k, fd in zip(keep, fds, strict=True):
            _makedirs(k)
            _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)
        for holder in holders:
            _mount("none", holder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _cover_hidden(hide: list[str], needed: list[str]) -> None:
    """Cover each folder to hide with an empty read-only tmpfs. A needed path inside one (the
    grader's virtualenv in the course folder beside the notebooks, an interpreter in a home
    folder) is bound back in, exactly that path, through a descriptor opened before the cover
    hides it, on a chain of empty folders: its siblings (the other notebooks, the reports, the
    gradebook) stay hidden. Never drop a cover for it. Outer folders first: a folder to hide
    inside a path bound back (our own source in a site-packages) is covered there after."""
    for top in sorted(set(hide)):
        if not os.path.isdir(top):  # absent, or already under a cover
            continue
        keep = _outermost([n for n in needed if _inside(n, top)])
        if not keep:
            _mount("tmpfs", top, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
            continue
        fds = [os.open(k, os.O_PATH) for k in keep]
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for k, fd in zip(keep, fds, strict=True):
            _makedirs(k)
            _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)
        _mount("none", top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


IPC_LIMITS = {  # in a new IPC namespace: no SysV shared memory, queues or semaphores, no POSIX queues
    "/proc/sys/kernel/shmmni": "0",
    "/proc/sys/kernel/msgmni": "0",
    "/proc/sys/kernel/sem": "0 0 0 0",
    "/proc/sys/fs/mqueue/queues_max": "0",
}


def _no_ipc() -> None:
    """In our new IPC namespace (never call it in the host's), allow no IPC object at all: the
    namespace takes what student code made with it when the worker ends, but a worker serves
    many submissions, and one function's message queue or shared memory segment must not reach
    the next one. Where the kernel does not let a user namespace set these (before Linux 5.19),
    objects still die with the worker."""
    for path, value in IPC_LIMITS.items():
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError:
            pass


def _kept_flags(path: str) -> int:
    """The flags of the mount holding `path` that a remount must keep: in a user namespace the
    kernel refuses to drop nosuid, nodev or noexec from a mount it was given (nosymfollow is kept
    too). Its atime flags are kept by passing none: a remount then preserves them."""
    f = os.statvfs(path).f_flag
    flags = f & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # the same bits in ST_*
    return flags | (MS_NOSYMFOLLOW if f & ST_NOSYMFOLLOW else 0)


def _mount_points() -> list[str]:
    """Every mount point of our mount namespace (each once: a stack of mounts has one top)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            field = line.split()[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return sorted(set(points))


def _freeze(writable: list[str]) -> None:
    """Make every mount read-only but the `writable` places (their own mounts: the private
    tmpfs, the scratch's tmp and kernel sockets) and the kernel's /proc, /sys and /dev (not
    /dev/mqueue, where a file made is a queue in the host's IPC namespace). Without
    root, student code runs as the grader's own user: without this it could change the
    grader's virtualenv, its checkout, the assignments, or plant a .pth file in the user's
    site-packages or a line in a shell profile, and replace the comparison of every later run.
    As root it keeps the sandbox user from every world-writable folder we did not cover."""
    for path in writable:  # each a mount of its own, so that it stays writable below
        if os.path.isdir(path) and not os.path.ismount(path):
            _mount(path, path, None, MS_BIND)
    keep = set(writable)
    for point in _mount_points():
        kernel = any(point == top or _inside(point, top) for top in ("/proc", "/sys", "/dev"))
        if point in keep or (kernel and point != "/dev/mqueue"):  # the host's POSIX queues: frozen
            continue
        try:
            flags = _kept_flags(point)
        except OSError:  # out of our reach (a folder we may not enter): out of student code's too
            continue
        _mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _map_ids(*, inside: int, uid: int, gid: int, inside_gid: int | None = None) -> None:
    """Map one id of the new user namespace onto ours (all an unprivileged process may map)."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{inside} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{inside if inside_gid is None else inside_gid} {gid} 1")


def apply(cfg: dict[str, Any]) -> None:
    """Confine the calling process according to `cfg` (see `isolation.jail_config`).

    With a private /proc, we return in a new process inside the PID namespace, and the one that
    called us stays outside, waits for it and never returns (see `_init_with_proc`).
    """
    if os.getsid(0) != os.getpid():  # a launcher may have made us a session leader already
        os.setsid()
    _rlimits(cfg)
    libc = _libc()
    flags = (CLONE_NEWNET if cfg.get("network") else 0) | (CLONE_NEWNS if cfg.get("mounts") else 0)
    flags |= CLONE_NEWIPC if cfg.get("ipc") else 0  # SysV objects and POSIX queues die with us
    flags |= CLONE_NEWPID if cfg.get("pids") else 0  # applies to our children: see become_init
    userns = bool(flags and cfg.get("userns"))
    uid, gid = os.getuid(), os.getgid()
    if userns:  # not root: a user namespace of our own lends the rights to make the others
        _check(libc.unshare(CLONE_NEWUSER | flags), "unshare")
        _map_ids(inside=0, uid=uid, gid=gid)
    elif flags:
        _check(libc.unshare(flags), "unshare")
    if cfg.get("ipc"):
        _no_ipc()
    inside = False
    if cfg.get("mounts"):
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        _cover_hidden(cfg.get("hide", []), cfg.get("needed", []))
        _cover_shared(cfg.get("shared", []), cfg.get("needed", []), cfg["tmp_mb"])
        if cfg.get("tmp"):  # the writable scratch folder, bounded too: a disk bomb fills this only
            opts = f"size={cfg['tmp_mb']}m,nr_inodes={TMP_INODES},mode=1777"
            _mount("tmpfs", cfg["tmp"], "tmpfs", MS_NOSUID | MS_NODEV, opts)
        if cfg.get("user"):
            _reexpose(cfg.get("needed", []), cfg["staging"])
        if cfg.get("readonly"):
            covers = shared_to_cover(cfg.get("shared", []), cfg.get("needed", []))
            _freeze([*covers, *([cfg["tmp"]] if cfg.get("tmp") else []), *cfg.get("writable", [])])
        if cfg.get("pids") and cfg.get("proc"):
            inside = _init_with_proc()
    if userns:  # and give those rights up: a nested namespace where we are our plain user again,
        # so student code can neither unmount the covers nor remount anything
        _check(libc.unshare(CLONE_NEWUSER), "unshare")
        _map_ids(inside=uid, uid=0, gid=0, inside_gid=gid)
    if cfg.get("user"):  # needs no namespace: with root, never run student code as root
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(cfg.get("uid", NOBODY))
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["processes"], cfg["processes"]))
    _limit_files(cfg)
    # not dumpable: other processes of the same user can neither ptrace us nor open /proc/<pid>/mem
    # (an exec resets this: the harness sets it again, and each sandbox has a user of its own)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if inside:  # after the user switch, which clears it: die with the process outside
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def _init_with_proc() -> bool:
    """Fork into the new PID namespace now, while we still hold the rights to mount, and give
    it a /proc of its own: it lists the sandbox's processes only, not the grader's command
    lines nor other sandboxes'. Without root this is the only way: the kernel lets a user
    namespace mount a proc only from inside a PID namespace it owns, and the rights are dropped
    before anything else runs. Returns True in the child; the caller stays outside (its
    descriptors closed, so that nobody waits on a pipe it still holds), waits for it, and exits
    with its status.

    The child then makes a nested PID namespace for its own children, so that the process our
    caller meant to be PID 1 (the worker that forks each function, the kernel: see
    `become_init`) still is: PID 1 of the namespace student code lives in, the one that can
    kill everything in it."""
    pid = os.fork()
    if pid == 0:
        # hidepid: not even the processes of the sandbox that student code may not trace (the
        # jail's own, which are not dumpable, and whose command line holds the jail's config)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
        _check(_libc().unshare(CLONE_NEWPID), "unshare")
        return True
    os.closerange(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    _stay_outside(pid)
    return False  # not reached


def become_init() -> None:
    """In a new PID namespace, fork the process that will be its PID 1 and return in it.

    The caller stays outside, waits and exits with the child's status. PID 1 of a namespace
    cannot be killed from inside it, sees only its own descendants, and takes every orphan with
    it when it ends.
    """
    pid = os.fork()
    if pid == 0:
        _libc().prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # die with the outer process
        return
    _stay_outside(pid)


def _stay_outside(pid: int) -> None:
    """Wait outside the namespace for its init `pid`, then exit with its status."""
    parent = os.getppid()
    for sig in (2, 15):  # forward interrupts (Jupyter's interrupt) to the namespace's init
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    pause = 0.001  # short at first: a probe's init is done in a few milliseconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if os.getppid() != parent:  # the grader died (SIGKILL, CI timeout): take the kernel with us
            os.kill(pid, signal.SIGKILL)
        time.sleep(pause)
        pause = min(0.2, pause * 2)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main() -> None:
    """`python -c <jail> CONFIG -- program args...`: confine, then exec the program."""
    cfg = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    apply(cfg)
    if cfg.get("pids"):
        become_init()
    os.chdir(cfg["cwd"])
    os.execve(argv[0], argv, cfg["env"])


if __name__ == "__main__":
    main()
