"""What a hand-in is: the notebook files under the paths given (a file as named, a folder
searched), and for each one that is never read, the reason: a symbolic link, or reached through
one (`grade.through_link`), or a hard link to one of the grader's own files (links.py).

The layouts (handins/layouts.py: an LMS's download, nbgrader's folders) walk folders with
`collect`, so a link inside a download is refused exactly as in any folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from grader.course.links import grader_links
from grader.grading.grade import through_link


def find(paths: Iterable[Path], *, skip: Iterable[Path] = ()) -> tuple[list[Path], dict[Path, str]]:
    """The notebooks to grade under `paths`, and why each refused one is never read (`collect`,
    and the hard links to the grader's own files); folders in `skip` are not searched."""
    files, refused = collect(paths, skip=skip)
    refused.update(grader_links([f for f in files if f not in refused]))
    return files, refused


def collect(paths: Iterable[Path], *, skip: Iterable[Path] = ()) -> tuple[list[Path], dict[Path, str]]:
    """The notebooks to grade under `paths` (a file as named, a folder searched), and the reason
    each refused one is never read: it is a symbolic link, or is reached through one.

    A folder named on the command line may itself be reached through links (the instructor chose
    it); below it, nothing is followed: a linked file or folder is refused, so a submission can
    never be graded as another student's file, or as a file of the grader's.

    `skip`: folders never searched, however reached: the run's --output (its reports, feedback
    and executed notebooks, unpacked zips) when it lies inside a folder being graded.
    """
    files: list[Path] = []
    refused: dict[Path, str] = {}
    skipped = {key for key in map(_identity, skip) if key is not None}
    for p in paths:
        if p.is_dir():
            if _identity(p) in skipped:
                continue
            for found, reason in _walk(p, skipped):
                files.append(found)
                if reason:
                    refused[found] = reason
            continue
        files.append(p)
        base = Path(p.anchor) if p.is_absolute() else Path(".")
        reason = through_link(p, base)
        if reason:
            refused[p] = reason
    return files, refused


def _identity(folder: Path) -> tuple[int, int] | None:
    """A folder as the file system knows it (device, inode): the same whatever path names it."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _walk(folder: Path, skip: set[tuple[int, int]]) -> list[tuple[Path, str | None]]:
    found: list[tuple[Path, str | None]] = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        if skip:
            dirs[:] = [d for d in dirs if _identity(here / d) not in skip]
        for d in list(dirs):
            if (here / d).is_symlink():  # not followed; named, so its notebooks are not lost unseen
                dirs.remove(d)
                found.append((here / d, through_link(here / d, folder)))
        for name in names:
            if name.endswith(".ipynb"):
                found.append((here / name, through_link(here / name, folder, inside=True)))
    return sorted(found)
