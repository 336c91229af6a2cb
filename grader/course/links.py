"""Submissions that are the grader's own files under another name (hard links).

`handins.collect` refuses symbolic links; a hard link is the same file (st_dev, st_ino) with a name
of its own, so only its inode says it is the reference notebook: a hard link to it was graded as
the student's (30/30, not flagged). Hard links between submissions are left to the batch's
possible copies (identical bytes, different names).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from grader.reading import assignment as spec

GRADER_FOLDERS = ("reference", "assignments", "expected")


def grader_links(paths: list[Path], root: Path | None = None) -> dict[Path, str]:
    """The reason each of `paths` that is the same file (st_dev, st_ino) as one of the grader's
    (under `reference/`, `assignments/`, `expected/`) is never read: a hard link to the reference
    notebook was graded as the student's (30/30). Only files with more than one link are looked at."""
    linked: dict[tuple[int, int], list[Path]] = defaultdict(list)
    for p in paths:
        try:
            st = os.stat(p, follow_symlinks=False)
        except OSError:
            continue
        if st.st_nlink > 1:
            linked[(st.st_dev, st.st_ino)].append(p)
    if not linked:
        return {}
    base = root or spec.project_root()
    out: dict[Path, str] = {}
    for ident, where in _grader_files(base).items():
        for p in linked.get(ident, []):
            out[p] = (
                f"not read: it is the same file as the grader's {where} (a hard link); "
                "a submission must be a file of its own"
            )
    return out


def _grader_files(root: Path) -> dict[tuple[int, int], str]:
    """(st_dev, st_ino) of every file under the grader's folders, to its path from `root`."""
    found: dict[tuple[int, int], str] = {}
    for folder in GRADER_FOLDERS:
        for top, _, names in os.walk(root / folder, followlinks=False):
            for name in names:
                path = os.path.join(top, name)
                try:
                    st = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                found.setdefault((st.st_dev, st.st_ino), os.path.relpath(path, root))
    return found
