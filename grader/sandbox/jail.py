"""Confining a process before it runs students' code: the one place isolation is applied.

Used two ways: as a `preexec_fn` for the grading worker, and as a standalone launcher
(`python -I -c <this file> CONFIG -- cmd...`) that confines itself and then execs the Jupyter
kernel for full-notebook runs. Standard library only, for that second use.

Layers, each applied when the machine allows it (the parent probes and reports which):
a session of its own; rlimits on memory, CPU, file size, open files and processes; a network
namespace with no interfaces up; an IPC namespace (SysV shared memory, semaphores and message
queues, POSIX message queues die with the sandbox); a mount namespace whose root is a fresh
tmpfs holding only what student code needs, the host's root detached (an allow-list: the
system's folders, the interpreter and its packages and the scratch, read-only, a /dev and
/tmp, /var/tmp, /dev/shm of its own; the expected values, other submissions, reports, /var,
/run and the home folders are not there at all); a PID namespace with a /proc of its own; and,
when root, an unprivileged user of its own (group `nogroup`). The user switch needs no
namespace: with root but no mount namespace (a container without CAP_SYS_ADMIN) student code
still runs as a user of its own. A cgroup of its own (joined first) bounds all its processes.
Last, a seccomp filter (see syscalls.py, which assembles it) refuses the system calls student
code never needs: network sockets, SysV IPC, io_uring, ptrace and the like, with or without
namespaces.
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
CLONE_NEWCGROUP = 0x02000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
MS_REMOUNT, MS_NOSYMFOLLOW, MS_STRICTATIME, ST_NOSYMFOLLOW = 32, 256, 1 << 24, 8192
NOBODY = 65534
# files and folders each writable tmpfs may hold: a student's tmp use is a handful, and the worker
# empties them between functions, which must take a bounded time (a million empty files took 18 s)
TMP_INODES = 4096
PR_SET_DUMPABLE = 4
from grader.sandbox.landlock import restrict_files  # noqa: E402 - joined: the launcher gets its text


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    kind, options = fstype.encode() if fstype else None, data.encode() if data else None
    _check(_libc().mount(os.fsencode(src), os.fsencode(dst), kind, flags, options), f"mount {dst}")


def _join_cgroups(folders: list[str]) -> None:
    """Join the sandbox's cgroup (one per hierarchy) first: its budget covers all we start."""
    for folder in folders:
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


def _nproc_per_namespace() -> bool:
    """RLIMIT_NPROC counts a user namespace's processes only from Linux 5.14 (before: the user's)."""
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (5, 14)


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


def _inside(path: str, top: str) -> bool:
    """Whether `path` lies strictly inside `top` (both absolute and normalized)."""
    return path != top and path.startswith(top.rstrip("/") + "/")


def _makedirs(path: str) -> None:
    """Create `path` and its missing parents, each traversable by any user (whatever the umask)."""
    if not os.path.isdir(path):
        _makedirs(os.path.dirname(path))
        os.mkdir(path)
        os.chmod(path, 0o755)


# the sandbox's writable tmpfs, besides the scratch's tmp: fresh, private, size-limited
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
DEVICES = ("null", "zero", "full", "random", "urandom")  # bound from the host's /dev, nothing else
STDIO = ("stdin", "stdout", "stderr")
DEV_LINKS = {"fd": "/proc/self/fd", **{n: f"/proc/self/fd/{i}" for i, n in enumerate(STDIO)}}
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217}


class _Root:
    """The sandbox's root while it is built: a fresh tmpfs at `top` on which only what student
    code needs is mounted. Everything else of the host (/var, /run, /home, other submissions,
    the reports, a folder made at the top level tomorrow) does not exist in it."""

    def __init__(self, top: str, private: list[str]) -> None:
        self.top, self.private = top, private
        self.mounted: set[str] = set()  # paths inside the root that are mount points
        self.ours: list[tuple[str, int]] = []  # our own tmpfs mounts, made read-only once filled
        self._tmpfs("/", "size=1m,nr_inodes=4096,mode=755", frozen=True)

    def at(self, path: str) -> str:
        return self.top + path if path != "/" else self.top

    def _tmpfs(self, path: str, opts: str, *, frozen: bool, flags: int = MS_NOSUID | MS_NODEV) -> None:
        _makedirs(self.at(path))
        _mount("tmpfs", self.at(path), "tmpfs", flags, opts)
        self.mounted.add(path)
        if frozen:
            self.ours.append((self.at(path), flags))

    def _way_to(self, path: str) -> None:
        """The folders leading to `path` inside a private tmpfs (a venv in /tmp/course/.venv) are
        a small tmpfs of their own, read-only once filled: a mount point that emptying the
        private tmpfs leaves alone, and that student code cannot rename the venv away with."""
        for top in self.private:
            if _inside(path, top) and top in self.mounted:
                first = os.path.join(top, os.path.relpath(path, top).split(os.sep)[0])
                if first != path and first not in self.mounted:
                    self._tmpfs(first, "size=64k,mode=755", frozen=True)

    def bind(self, src: str, *, rec: bool = True) -> None:
        """Show the host's `src` at the same path (a symlink as the same symlink)."""
        if not os.path.lexists(src):
            return
        self._way_to(src)
        dst = self.at(src)
        _makedirs(os.path.dirname(dst))
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            return
        if os.path.isdir(src):
            _makedirs(dst)
        else:
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(src, dst, None, MS_BIND | (MS_REC if rec else 0))
        self.mounted.add(src)

    def private_tmp(self, path: str, size_mb: int) -> None:
        self._way_to(path)
        self._tmpfs(path, f"size={size_mb}m,nr_inodes={TMP_INODES},mode=1777", frozen=False)

    def cover(self, path: str) -> None:
        """An empty read-only folder over `path` (a secret inside a folder we bind)."""
        if os.path.isdir(self.at(path)):
            self._tmpfs(path, "size=64k,mode=755", frozen=True)

    def dev(self) -> None:
        """A /dev of the sandbox's own: the harmless devices, and links into /proc/self/fd."""
        self._tmpfs("/dev", "size=64k,mode=755", frozen=True, flags=MS_NOSUID | MS_NOEXEC)
        for name in DEVICES:
            self.bind(f"/dev/{name}", rec=False)
        for name, target in DEV_LINKS.items():
            os.symlink(target, self.at(f"/dev/{name}"))

    def write(self, path: str, text: str) -> None:
        _makedirs(os.path.dirname(self.at(path)))
        with open(self.at(path), "w", encoding="utf-8") as f:
            f.write(text)

    def seal(self) -> None:
        """Make our own tmpfs mounts read-only (the private tmpfs stay writable)."""
        for where, flags in reversed(self.ours):  # the root last: the others are mounted in it
            _mount("none", where, None, MS_REMOUNT | MS_RDONLY | flags)


def _private(cfg: dict[str, Any]) -> list[str]:
    """The sandbox's writable tmpfs: /tmp, /var/tmp, /dev/shm and the scratch's tmp (a disk
    bomb fills these only)."""
    return [*PRIVATE_TMP, *([cfg["tmp"]] if cfg.get("tmp") else [])]


def _build_root(cfg: dict[str, Any]) -> None:
    """Build the sandbox's root in `cfg["staging"]`, then make it our root (see `_Root`)."""
    root = _Root(cfg["staging"], _private(cfg))
    for path, kind in cfg["plan"]:  # see isolation.root_plan
        if kind == "bind":
            root.bind(path)
        elif kind == "scratch":  # not recursively: the root being built is mounted inside it
            root.bind(path, rec=False)
        elif kind == "tmp":
            root.private_tmp(path, cfg["tmp_mb"])
        elif kind == "cover":
            root.cover(path)
        elif kind == "dev":
            root.dev()
        else:  # the host's /proc until the sandbox's own is mounted over it (see _init_with_proc):
            root.bind(path)  # without root, a proc may be mounted only where one is visible already
    for path, text in cfg.get("files", {}).items():
        root.write(path, text)
    root.seal()
    _pivot(root.top)
    os.chdir(cfg["cwd"])  # the scratch, as seen from the new root


def _pivot(top: str) -> None:
    """Make `top` our root and detach the host's: nothing outside it is reachable any more."""
    libc = _libc()
    os.chdir(top)
    _check(libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount the host's root")
    os.chdir("/")


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


class _Fprog(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _filter_syscalls(program: str) -> None:
    """Install the syscall filter (`program`: struct sock_filter[] as hex, see syscalls.py) on us
    and all we start. No capability needed once we may gain no privileges (the kernel's rule)."""
    code = bytes.fromhex(program)
    insns = ctypes.create_string_buffer(code, len(code))
    prog = _Fprog(len(code) // 8, ctypes.addressof(insns))
    libc, zero = _libc(), ctypes.c_ulong(0)  # prctl reads whole registers: no stray high bits
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero), "no_new_privs")
    _check(libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog)), "seccomp")


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
    _join_cgroups(cfg.get("cgroups", []))
    # the grader's own cgroups, for the launcher to go back to (see _init_with_proc): opened now,
    # while they are in reach, and never inherited (the sandbox's processes must not get them)
    home = [os.open(f"{d}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in cfg.get("cgroups_home", [])]
    _rlimits(cfg)
    libc = _libc()
    flags = (CLONE_NEWNET if cfg.get("network") else 0) | (CLONE_NEWNS if cfg.get("mounts") else 0)
    # a cgroup namespace, entered in our own cgroup: it is the root of all student code can name
    flags |= CLONE_NEWCGROUP if cfg.get("mounts") else 0
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
        _build_root(cfg)
        if cfg.get("readonly"):  # the binds, and whatever mounts they brought along
            _freeze([*_private(cfg), *cfg.get("writable", [])])
        if cfg.get("pids") and cfg.get("proc"):
            inside = _init_with_proc(home)
    for fd in home:  # not needed: no launcher stays outside
        os.close(fd)
    if userns:  # and give those rights up: a nested namespace where we are our plain user again,
        # so student code can neither unmount the covers nor remount anything
        _check(libc.unshare(CLONE_NEWUSER), "unshare")
        _map_ids(inside=uid, uid=0, gid=0, inside_gid=gid)
        if _nproc_per_namespace():  # counts this namespace's processes: the sandbox's own
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["processes"], cfg["processes"]))
    restrict_files(cfg, PRIVATE_TMP, DEVICES)  # Landlock: nothing after it opens a file; root still sees all
    if cfg.get("user"):  # needs no namespace: with root, never run student code as root
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(cfg.get("uid", NOBODY))
        os.umask(0o077)  # without a mount namespace its files lie in the machine's shared /tmp
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["processes"], cfg["processes"]))
    _limit_files(cfg)
    # not dumpable: other processes of the same user can neither ptrace us nor open /proc/<pid>/mem
    # (an exec resets this: the harness sets it again, and each sandbox has a user of its own)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if inside:  # after the user switch, which clears it: die with the process outside
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if cfg.get("syscalls"):  # last: what comes before needs calls it refuses (mount, unshare)
        _filter_syscalls(cfg["syscalls"])


def _init_with_proc(home: list[int]) -> bool:
    """Fork into the new PID namespace while we may still mount, and give it a /proc of its own
    (the sandbox's processes only). Without root this is the only way: a user namespace may mount
    a proc only inside a PID namespace it owns. True in the child, which makes a nested PID
    namespace so that the process meant to be PID 1 (see `become_init`) still is; the caller
    stays outside (descriptors closed), leaves the sandbox's cgroup (`home`), waits, exits."""
    pid = os.fork()
    if pid == 0:
        for fd in home:
            os.close(fd)
        home.clear()
        # hidepid: not even the processes of the sandbox that student code may not trace (the
        # jail's own, which are not dumpable, and whose command line holds the jail's config)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
        _check(_libc().unshare(CLONE_NEWPID), "unshare")
        return True
    for fd in home:  # back to the grader's cgroup: we are a copy of the grader's memory, hundreds
        try:  # of MB, that the OOM killer would take for the sandbox's largest process
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass
    os.closerange(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    _stay_outside(pid)
    return False  # not reached


def become_init() -> None:
    """In a new PID namespace, fork the process that will be its PID 1 (unkillable from inside,
    it takes every orphan with it) and return in it; the caller waits outside, exits alike."""
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
