"""What a sandbox user leaves behind where no namespace takes it away, and its removal.

Without a PID namespace (a container without CAP_SYS_ADMIN) a process student code started can
outlive its sandbox: a daemon (double fork, setsid) escapes the process group the worker kills.
Without a mount namespace the files it writes to /tmp, /var/tmp or /dev/shm are the machine's.
Each sandbox runs as a user id of its own (see isolation.sandbox_uid), so both are found by that
id: `clear` ends every process of it and removes its files in the shared temporary folders,
before the id is drawn and after it is given back. It works *as* that user (a child of ours
that switches to it): `kill(-1, SIGKILL)` then reaches exactly that user's processes, and the
removal can touch nothing that user could not, whatever links it planted. Files it left in
world-writable folders elsewhere on the machine stay, readable by no one else (its umask is 077).
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

# world-writable folders of the machine where any user may leave files (the sandbox's own private
# copies when it has a mount namespace: then nothing of it is found here)
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
ATTEMPTS = 50  # rounds of kill(-1): each one ends all of them; zombies are collected in between
DEPTH = 4  # world-writable folders of other users entered below a shared one (/tmp/.X11-unix)
SWEEP_SECONDS = 20.0  # a student's million files must not hold the grader up for good
NOGROUP = 65534


_ALONE = threading.Lock()


@contextmanager
def alone() -> Iterator[None]:
    """Run one sandbox without namespaces at a time, in this process and in every grader of our
    user on this machine. Two of them side by side share the machine's /tmp listing, /proc
    (command lines), abstract unix sockets and more: channels from one student's hidden cases to
    another's visible messages (or kernel output) that no clearing afterwards closes."""
    with _ALONE:
        fd = _lock_file()
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # the lock goes with it


def _lock_file() -> int | None:
    """The machine-wide lock, held (a descriptor), in our private folder of leases (see
    isolation.sandbox_uid); None when there is no such folder, only our own threads then wait."""
    import fcntl

    folder = os.path.join(tempfile.gettempdir(), "grader-uids")
    try:
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(os.path.join(folder, "alone"), flags, 0o600)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def clear(uid: int, places: Iterable[str] = SHARED, *, reap: bool = True) -> bool:
    """End every process running as `uid` and remove what `uid` owns in `places`; whether no
    process of it is left. Root only (we switch to `uid`); `uid` must be a sandbox's own.
    `reap=False` in a background thread: collecting any exited child (waitpid(-1)) there would
    take another thread's child from under its own wait."""
    places = list(places)
    for _ in range(ATTEMPTS):
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                code = _as_user(uid, places)
            finally:
                os._exit(code)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # collected by another thread's reap_orphans: it has ended
            pass
        if not alive(uid):
            return True
        if reap:
            reap_orphans(0.01)  # the killed ones, re-parented to us (see worker.adopt_orphans)
        else:
            time.sleep(0.01)
    return False


IPC_RMID = 0
# the machine's SysV objects (without an IPC namespace, a sandbox's outlive it): their table in
# /proc, and the libc call that removes one
SYSV = (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl"))


def _clear_sysv(uid: int) -> None:
    """Remove the SysV shared memory, message queues and semaphore sets `uid` owns or made
    (as that user: it may remove exactly those); where no syscall filter refuses them to it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for table, call in SYSV:
        try:
            with open(f"/proc/sysvipc/{table}") as f:
                head, *rows = [line.split() for line in f]
        except (OSError, ValueError):
            continue
        owners = [head.index(c) for c in ("uid", "cuid") if c in head]
        for row in rows:
            try:
                ident, mine = int(row[1]), any(int(row[i]) == uid for i in owners)
            except (IndexError, ValueError):
                continue
            if mine:  # semctl takes a semaphore number before the command
                getattr(libc, call)(*((ident, 0) if table == "sem" else (ident,)), IPC_RMID, None)


def alive(uid: int) -> list[int]:
    """The processes running as `uid` (its real or saved id: those `uid` may signal) that are
    not zombies. kill(-1) cannot tell: it succeeds whenever the machine has another process."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read(4096)
        except OSError:  # gone meanwhile
            continue
        state, ids = _field(status, b"State"), _field(status, b"Uid").split()
        if len(ids) == 4 and b"%d" % uid in (ids[0], ids[2]) and not state.startswith(b"Z"):
            found.append(int(name))
    return found


def _field(status: bytes, name: bytes) -> bytes:
    """A field of /proc/<pid>/status ("Name:\tvalue\n"), stripped; empty when absent."""
    start = status.find(b"\n" + name + b":")
    if start < 0:
        return b""
    end = status.find(b"\n", start + 1)
    return status[start + len(name) + 2 : end if end >= 0 else None].strip()


def reap_orphans(wait: float = 0.05) -> None:
    """Collect exited orphans (they die a moment after their launcher, hence the short wait)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)


def _as_user(uid: int, places: list[str]) -> int:
    """In a child of ours: become `uid`, kill all its processes at once (none can fork past
    it: a fork fails once SIGKILL is pending), then remove its files."""
    os.setgroups([])
    os.setgid(NOGROUP)
    os.setuid(uid)
    try:
        os.kill(-1, signal.SIGKILL)  # every process we may signal (but us): exactly uid's
    except ProcessLookupError:  # no other process on the machine at all
        pass
    _clear_sysv(uid)
    deadline = time.monotonic() + SWEEP_SECONDS
    for place in places:
        try:
            fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            _sweep(fd, uid, DEPTH, deadline)
        finally:
            os.close(fd)
    return 0


def _sweep(fd: int, uid: int, depth: int, deadline: float) -> None:
    """Remove the entries of the folder `fd` that `uid` owns; look inside the world-writable
    folders of others (where `uid` may have written too), `depth` levels down."""
    try:
        with os.scandir(fd) as entries:
            found = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
    except OSError:
        return
    for name, st in found:
        if time.monotonic() > deadline:
            return
        if st.st_uid == uid:
            _remove(fd, name, deadline)
        elif stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002 and depth > 0:
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                continue
            try:
                _sweep(inner, uid, depth - 1, deadline)
            finally:
                os.close(inner)


def _remove(fd: int, name: str, deadline: float) -> None:
    """Remove `name` in the folder `fd`, and everything in it when it is a folder of ours:
    whatever modes its owner gave it, and however deep, since each folder met is first moved up
    into `fd` (so every path used is one name long)."""
    pending, moved = [name], 0
    while pending and time.monotonic() < deadline:
        current = pending.pop()
        try:
            os.unlink(current, dir_fd=fd)
            continue
        except IsADirectoryError:
            pass
        except OSError:
            continue
        try:
            os.chmod(current, 0o700, dir_fd=fd)  # a folder: ours, made readable and writable again
            inner = os.open(current, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            continue
        try:
            for child in os.listdir(inner):
                try:
                    os.unlink(child, dir_fd=inner)
                    continue
                except OSError:
                    pass
                try:  # a folder: moving it rewrites its '..', which must be writable
                    os.chmod(child, 0o700, dir_fd=inner)
                except OSError:
                    continue
                for _ in range(3):  # the name may be another's: another try, another name
                    moved += 1
                    new = f".grader-sweep-{os.getpid()}-{moved}"
                    try:
                        os.rename(child, new, src_dir_fd=inner, dst_dir_fd=fd)
                    except OSError:
                        continue
                    pending.append(new)
                    break
        finally:
            os.close(inner)
        try:
            os.rmdir(current, dir_fd=fd)
        except OSError:
            pass


def private_tmp(tmp: str, uid: int | None) -> None:
    """The scratch's tmp/ for one user only (`uid` when the sandbox switches to it, else ours):
    without a mount namespace it is the host's folder itself, and in a shared one another user
    of the machine copied the kernel's files out of it (it was world-writable, sticky)."""
    if uid is not None:
        os.chown(tmp, uid, NOGROUP)
    os.chmod(tmp, 0o700)
