"""Confining a process before it runs students' code: the one place isolation is applied.

Used two ways: as a `preexec_fn` for the grading worker, and as a standalone launcher
(`python -I -c <this file> CONFIG -- cmd...`) that confines itself and then execs the Jupyter
kernel for full-notebook runs. Standard library only, for that second use.

Layers, each applied when the machine allows it (the parent probes and reports which):
a session of its own; rlimits on memory, CPU, file size, open files and processes; a network
namespace with no interfaces up; a mount namespace where the grader's secrets (expected values,
reference, tests, other submissions, reports) are covered by empty read-only tmpfs mounts; and,
when root, an unprivileged user of its own (group `nogroup`), with private directories on the
interpreter's path re-exposed read-only through bind mounts so that it can still run Python.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
NOBODY = 65534
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
        src.encode(),
        dst.encode(),
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


def _cover_shared(shared: list[str], needed: list[str], size_mb: int) -> None:
    """Give each world-writable directory (/tmp, /dev/shm, ...) a fresh, size-limited tmpfs, so
    student code can neither fill the host's disk nor leave files for anyone, nor read what
    others left there. Needed paths inside one (the scratch directory, a venv in /tmp) are bound
    back in, through file descriptors opened before the cover hides them."""
    for top in shared_to_cover(shared, needed):
        keep = sorted({os.path.join(top, os.path.relpath(n, top).split(os.sep)[0])
                       for n in needed if _inside(n, top)})  # fmt: skip
        fds = [os.open(k, os.O_PATH) for k in keep]
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=1777")
        for k, fd in zip(keep, fds, strict=True):
            os.mkdir(k)
            _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)


def _map_ids(*, inside: int, uid: int, gid: int, inside_gid: int | None = None) -> None:
    """Map one id of the new user namespace onto ours (all an unprivileged process may map)."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{inside} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{inside if inside_gid is None else inside_gid} {gid} 1")


def apply(cfg: dict[str, Any]) -> None:
    """Confine the calling process according to `cfg` (see `sandbox.jail_config`)."""
    if os.getsid(0) != os.getpid():  # a launcher may have made us a session leader already
        os.setsid()
    _rlimits(cfg)
    libc = _libc()
    flags = (CLONE_NEWNET if cfg.get("network") else 0) | (CLONE_NEWNS if cfg.get("mounts") else 0)
    flags |= CLONE_NEWPID if cfg.get("pids") else 0  # applies to our children: see become_init
    userns = bool(flags and cfg.get("userns"))
    uid, gid = os.getuid(), os.getgid()
    if userns:  # not root: a user namespace of our own lends the rights to make the others
        _check(libc.unshare(CLONE_NEWUSER | flags), "unshare")
        _map_ids(inside=0, uid=uid, gid=gid)
    elif flags:
        _check(libc.unshare(flags), "unshare")
    if cfg.get("mounts"):
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        for path in cfg.get("hide", []):
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
        _cover_shared(cfg.get("shared", []), cfg.get("needed", []), cfg["tmp_mb"])
        if cfg.get("tmp"):  # the writable scratch folder, bounded too: a disk bomb fills this only
            _mount("tmpfs", cfg["tmp"], "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
        if cfg.get("user"):
            _reexpose(cfg.get("needed", []), cfg["staging"])
            # a /proc of our own that lists only the sandbox user's processes: not the grader's
            # command lines, nor other sandboxes' (each has a user id of its own)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
    if userns:  # and give those rights up: a nested namespace where we are our plain user again,
        # so student code can neither unmount the covers nor remount anything
        _check(libc.unshare(CLONE_NEWUSER), "unshare")
        _map_ids(inside=uid, uid=0, gid=0, inside_gid=gid)
    if cfg.get("user"):
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(cfg.get("uid", NOBODY))
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["processes"], cfg["processes"]))
    _limit_files(cfg)
    # not dumpable: other processes of the same user can neither ptrace us nor open /proc/<pid>/mem
    # (an exec resets this: the harness sets it again, and each sandbox has a user of its own)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def become_init() -> None:
    """In a new PID namespace, fork the process that will be its PID 1 and return in it.

    The caller stays outside, waits and exits with the child's status. PID 1 of a namespace
    cannot be killed from inside it, sees only its own descendants, and takes every orphan with
    it when it ends.
    """
    parent = os.getppid()
    pid = os.fork()
    if pid == 0:
        _libc().prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # die with the outer process
        return
    for sig in (2, 15):  # forward interrupts (Jupyter's interrupt) to the namespace's init
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if os.getppid() != parent:  # the grader died (SIGKILL, CI timeout): take the kernel with us
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
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
