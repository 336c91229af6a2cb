"""Emptying the sandbox's writable folders between functions (joined into the harness's text,
see worker.JOINED: only the standard library here).

Whatever a child left in them goes, and so does any mark on the folders themselves (mode,
times, user attributes), which the sandbox's user may set where it owns them: the next child,
maybe the next student's, finds them exactly as the zygote did before any student code ran.
"""


import contextlib
import os

EMPTY: list[tuple[int, ...]] = []  # the folders' states as the zygote found them, before any student code


def _wipe(top: str) -> None:
    """Empty a writable folder, whatever an earlier child left in it: modes that forbid reading or
    writing (a folder it made unwritable would keep its files for the next child to read), and
    trees deeper than a path can name. Entries are moved up to `top` before they are deleted, so
    every path used is `top/name/child` however deep the tree is."""
    pending = [n for n in os.listdir(top) if not os.path.ismount(os.path.join(top, n))]
    moved = 0
    while pending:
        path = os.path.join(top, pending.pop())
        if not os.path.isdir(path) or os.path.islink(path):
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        try:
            os.chmod(path, 0o700)
            children = os.listdir(path)
        except OSError:
            children = []
        for child in children:
            inner = os.path.join(path, child)
            if os.path.isdir(inner) and not os.path.islink(inner):
                try:  # moving a folder rewrites its '..': it must be writable
                    os.chmod(inner, 0o700)
                except OSError:
                    pass
            for _ in range(3):  # a name of the student's may be taken: another try, another name
                moved += 1
                name = f".wipe-{os.getpid()}-{moved}"
                try:
                    os.rename(inner, os.path.join(top, name))
                except OSError:
                    continue
                pending.append(name)
                break
        try:
            os.rmdir(path)
        except OSError:
            pass


def clean_tmp() -> None:
    """Empty the writable folders (our scratch tmp, and the jail's private /tmp, /var/tmp and
    /dev/shm, named in GRADER_CLEAN only when they are private), so that no earlier function or
    submission leaves anything for the next one to read: not an entry, and not a mark on the
    folder itself (its mode, times, extended attributes: they are the student's own to set where
    the sandbox's user owns them)."""
    folders = _folders()
    for i, tmp in enumerate(folders):
        if tmp and os.path.isdir(tmp):
            _wipe(tmp)
            if i < len(EMPTY) and EMPTY[i][0] >= 0:
                _restore(tmp, EMPTY[i])


def _folders() -> list[str]:
    return [os.environ.get("TMPDIR", "")] + os.environ.get("GRADER_CLEAN", "").split(os.pathsep)


def _restore(tmp: str, before: tuple[int, ...]) -> None:
    """The folder's own mode, times and (no) user attributes as before any student code ran."""
    with contextlib.suppress(OSError):
        for name in os.listxattr(tmp):
            if name.startswith("user."):
                os.removexattr(tmp, name)
    with contextlib.suppress(OSError):
        os.chmod(tmp, before[1] & 0o7777)
    with contextlib.suppress(OSError):
        os.utime(tmp, ns=(before[2], before[3]))


def states() -> list[tuple[int, ...]]:
    """Each writable folder's state: its size, a number that grows with its entries (a tmpfs
    folder's), and its own mode, times and count of user attributes: the zygote learns whether
    anything was left without reading a name."""
    states: list[tuple[int, ...]] = []
    for tmp in _folders():
        try:
            st = os.stat(tmp) if tmp else None
        except OSError:
            st = None
        if st is None:
            states.append((-1 if tmp else 0,))
            continue
        try:
            marks = sum(1 for n in os.listxattr(tmp) if n.startswith("user."))
        except OSError:
            marks = 0
        states.append((st.st_size, st.st_mode, st.st_atime_ns, st.st_mtime_ns, marks))
    return states
