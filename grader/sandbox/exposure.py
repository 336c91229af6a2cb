"""Which of the grader's private files a sandbox user could read where no mount hides them.

With root but no mount namespace (a container without CAP_SYS_ADMIN), student code runs as an
unused user id in group `nogroup` and sees the host's files: only permissions keep the answer key
from it. A git checkout leaves `expected/*.json` world-readable (0644), so the grader checks, by
the permission bits of each file and the search bit of every folder on its way, and names what is
exposed in the report's `isolation` list. ACLs are not read: a folder that grants one beyond its
bits is not seen.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

NOGROUP = 65534  # the sandbox user's only group (jail.NOBODY)

# the project's private folders: what each holds, and the command that makes it owner-only
PRIVATE = {
    "expected": ("answer key", "chmod 600 expected/*.json"),
    "reference": ("reference solutions", "chmod -R go-rwx reference"),
    "assignments": ("assignment specs and case builders", "chmod -R go-rwx assignments"),
    "tests": ("the grader's tests", "chmod -R go-rwx tests"),
    ".git": ("the repository's history (every answer key and solution in it)", "chmod -R go-rwx .git"),
}


def _allows(st: os.stat_result, other: int, group: int) -> bool:
    """Whether a user who owns nothing and whose only group is nogroup has the bit."""
    return bool(st.st_mode & (group if st.st_gid == NOGROUP else other))


def _reachable(folder: Path) -> bool:
    """Whether the sandbox user can reach `folder`: every folder above it searchable."""
    try:
        return all(_allows(os.stat(p), stat.S_IXOTH, stat.S_IXGRP) for p in folder.parents)
    except OSError:
        return False


def readable(top: Path) -> Iterator[Path]:
    """The regular files under `top` the sandbox user could read (symbolic links are not
    followed: what one points to is exposed, or not, where it lies)."""
    top = top.resolve()
    if not top.is_dir() or not _reachable(top):
        return
    for root, dirs, files in os.walk(top):
        try:
            searchable = _allows(os.stat(root), stat.S_IXOTH, stat.S_IXGRP)
        except OSError:
            searchable = False
        if not searchable:  # nothing inside can be opened, whatever its own bits
            dirs[:] = []
            continue
        for name in files:
            path = Path(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and _allows(st, stat.S_IROTH, stat.S_IRGRP):
                yield path


def notes(root: Path) -> list[str]:
    """A note for each private folder of the project at `root` holding a file the sandbox user
    could read."""
    return [
        f"{what} readable by the sandbox user: {fix} or run with mount namespaces"
        for folder, (what, fix) in PRIVATE.items()
        if next(readable(root / folder), None) is not None
    ]
