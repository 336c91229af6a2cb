"""nbgrader's exchange: whether an inbound folder is its student's, and which time to trust.

`nbgrader submit` runs as the student and copies their notebooks into
`inbound/<student>+<assignment>+<timestamp>[+<random>]/`, so the folder and its files belong to
that student, while everything in the folder's name is the student's to choose. nbgrader's own
collect cross-checks the owner (CollectApp.check_owner); so do we, and refuse rather than warn:
a folder in another's name is never graded as theirs. The name's time is the one nbgrader's
submit wrote; a notebook changed after it shows the name is not the time it was handed in.
"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

SLACK = 300.0  # seconds a notebook may seem to change after its folder's time (clocks differ)
TURN_OFF = "--no-check-owner when the folders were copied here"


def not_theirs(folder: Path, notebook: Path, student: str) -> str | None:
    """Why `folder` (and `notebook` in it) is not `student`'s hand-in, or None when it is: both
    must be owned by the local user named `student`."""
    try:
        uid = pwd.getpwnam(student).pw_uid
    except KeyError:
        return f"handed in as {student!r}, but no local user {student!r} owns it ({TURN_OFF})"
    for path in (folder, notebook):
        try:
            owner = os.lstat(path).st_uid
        except OSError as exc:
            return f"cannot be checked ({exc.strerror})"
        if owner != uid:
            return f"handed in as {student!r}, but {path.name!r} is owned by {_user(owner)} ({TURN_OFF})"
    return None


def trusted_time(named: float | None, notebook: Path) -> tuple[float | None, str | None]:
    """The hand-in's time, and a note when the folder's name and the notebook disagree: the
    name's time, unless the notebook was last changed after it (then that later time counts)."""
    try:
        changed = os.lstat(notebook).st_mtime
    except OSError:
        return named, None
    if named is None:
        return changed, "the folder's name holds no time nbgrader writes: the notebook's is used"
    if changed > named + SLACK:
        note = (
            f"the folder's name says {_iso(named)} but the notebook was last changed "
            f"{_iso(changed)}: the later time counts"
        )
        return changed, note
    return named, None


def _user(uid: int) -> str:
    try:
        return repr(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return f"uid {uid}"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
