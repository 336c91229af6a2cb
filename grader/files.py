"""What the grader writes and where: each submission's file name under --output, owner-only
folders, and atomic writes (a reader never sees half a report)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePath

from grader.results import printable

# Stems of what the grader writes into --output beside the reports (gradebook.sqlite, its CSV and
# JSON exports, summary.txt/.png/.json, index.html, junit.xml, results.json, batch.json): no report
# takes one.
RESERVED_NAMES = frozenset({"gradebook", "summary", "index", "junit", "results", "batch"})
MAX_NAME = 100  # characters of a report's name, well under any file system's limit
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_names(submissions: Sequence[str]) -> list[str]:
    """The name of each submission's files under --output (`<name>.json`, `<name>.html`,
    `<name>/results.json`): the one naming scheme every writer uses.

    A name is the notebook's stem, with its parent folders prefixed (`bob__Work`) while stems
    clash; every run of characters other than ASCII letters, digits, `_` and `-` (dots, slashes,
    spaces) becomes `_`, and so does a leading `-`: a name is never `.`, `..`, a path or a
    command's option, and never has an extension. Names are compared ignoring case; a name still
    taken (the same file given twice, names that only join alike, one of the grader's own file
    names) gets the first free `-2`, `-3`, ...
    """
    labels = [printable(s) for s in submissions]
    keys = [os.path.abspath(label) for label in labels] if labels else []
    files = list(dict.fromkeys(keys))
    natural = dict(zip(files, _grown(files), strict=True))
    taken = set(RESERVED_NAMES)
    first: dict[int, str] = {}
    for i, key in enumerate(keys):  # the first holder of a free name keeps it
        name = natural[key]
        if name.lower() not in taken:
            taken.add(name.lower())
            first[i] = name
    out = []
    for i, key in enumerate(keys):
        if i in first:
            out.append(first[i])
            continue
        base, k = natural[key], 2
        while f"{base}-{k}".lower() in taken:
            k += 1
        taken.add(f"{base}-{k}".lower())
        out.append(f"{base}-{k}")
    return out


def _grown(files: list[str]) -> list[str]:
    """Each file's stem, prefixed with more of its folders while it clashes with another's."""
    parts = [_parts(f) for f in files]
    depth = [1] * len(files)
    while True:
        names = [_bounded("__".join(p[-d:])) for p, d in zip(parts, depth, strict=True)]
        seen: dict[str, int] = {}
        for n in names:
            seen[n.lower()] = seen.get(n.lower(), 0) + 1
        clash = {i for i, n in enumerate(names) if seen[n.lower()] > 1}
        grow = [i for i in clash if depth[i] < len(parts[i])]
        if not grow:  # what folders cannot tell apart (case, unsafe characters) gets a number
            return [_bounded(parts[i][-1]) if i in clash else n for i, n in enumerate(names)]
        for i in grow:
            depth[i] += 1


def _bounded(name: str) -> str:
    """A name of at most MAX_NAME characters: a longer one keeps its end (the notebook's stem) and
    ends in 8 hex digits of its SHA-256, so two long names that end alike stay apart."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return _leading(f"{name[-(MAX_NAME - 9):]}-{digest}")


def _leading(name: str) -> str:
    """No name starts with `-`: shell tools would read `-x.json` as an option."""
    return "_" + name[1:] if name.startswith("-") else name


def _parts(path: str) -> list[str]:
    pure = PurePath(path)
    folders = [p for p in pure.parent.parts if p != pure.anchor]
    return [_leading(_UNSAFE.sub("_", p)) for p in [*folders, pure.stem or "notebook"]]


def private_folder(folder: Path) -> None:
    """Create `folder` and its missing parents, owner-only (0700): what the grader writes there
    (reports, executed notebooks, the gradebook) is no one else's to read. A folder that already
    exists keeps its mode."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            made.mkdir(mode=0o700)
        except FileExistsError:  # made by someone else meanwhile: theirs to decide
            continue
        os.chmod(made, 0o700)


def write_atomic(path: Path, text: str | bytes, *, private: bool = True) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report. The file is
    owner-only (0600) unless not `private` (a released notebook): a report or gradebook names
    students and their scores, and as root, a sandbox user could read anything world-readable
    outside the covers. `text` is UTF-8 text, or the bytes of a figure."""
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # a lone surrogate (which no UTF-8 holds) is written as its escape, never the reason a report is lost
    data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
