"""Unpacking an LMS download safely: every entry checked before one byte is written.

A zip from an LMS holds plain files below one folder. Anything else (an absolute name, a `..`,
an entry that is a symbolic link, more entries or bytes than a class could hand in, a ratio of
uncompressed to compressed size no notebook reaches) means the file is not what it claims, and
the whole zip is refused with the entry and the reason: nothing is written anywhere then. Sizes
are counted again while writing (a header may lie), and a zip that turns out larger than it said
is removed again, so the only folder ever written is the fresh one under the output folder.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import GraderError

CHUNK = 1 << 16


class ZipRefused(GraderError):
    """A download that is not safe to unpack (path escape, link, bomb, unreadable zip)."""


@dataclass(frozen=True)
class Limits:
    """What a class's download may hold (a class of 1000 with 20 MB notebooks fits)."""

    entries: int = 20_000
    total_bytes: int = 4 << 30
    entry_bytes: int = 200 << 20
    ratio: float = 200.0  # notebooks compress 3-20x; a zip bomb 1000x and more


def is_zip(path: Path) -> bool:
    """A regular file (never a link) that starts like a zip."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and zipfile.is_zipfile(path)


def extract(archive: Path, dest: Path, limits: Limits = Limits()) -> Path:
    """Unpack `archive` into the fresh folder `dest` (replaced if it is a folder we made before);
    raise ZipRefused, writing nothing, when any entry is unsafe."""
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = [(info, _safe_name(info, archive)) for info in zf.infolist()]
            _check_sizes(archive, [i for i, _ in entries], limits)
            _fresh(dest)
            try:
                _write_all(zf, entries, dest, archive, limits)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise ZipRefused(f"{archive}: not a zip that can be read ({exc})") from None
    except OSError as exc:
        raise ZipRefused(f"{archive}: cannot be unpacked ({exc.strerror or exc})") from None
    return dest


def _safe_name(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    mode = info.external_attr >> 16
    why = None
    if "\0" in name or not name.strip("/"):
        why = "an empty or NUL name"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        why = "an absolute path"
    elif ".." in path.parts:
        why = "a path that climbs out with '..'"
    elif stat.S_ISLNK(mode):
        why = "a symbolic link"
    elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # no type: a plain file
        why = "neither a file nor a folder"
    if why:
        raise ZipRefused(f"{archive}: refused, entry {name!r} is {why}; nothing was unpacked")
    return PurePosixPath(*[p for p in path.parts if p not in ("", ".")])


def _check_sizes(archive: Path, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.entries:
        raise ZipRefused(
            f"{archive}: refused, {len(infos)} entries (at most {limits.entries}); nothing was unpacked"
        )
    total = sum(i.file_size for i in infos)
    if total > limits.total_bytes:
        raise ZipRefused(
            f"{archive}: refused, it unpacks to {total} bytes (at most {limits.total_bytes}); "
            "nothing was unpacked"
        )
    for i in infos:
        if i.file_size > limits.entry_bytes:
            raise ZipRefused(
                f"{archive}: refused, entry {i.filename!r} unpacks to {i.file_size} bytes "
                f"(at most {limits.entry_bytes}); nothing was unpacked"
            )
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > CHUNK and ratio > limits.ratio:
            raise ZipRefused(
                f"{archive}: refused, entry {i.filename!r} expands {ratio:.0f}x "
                f"(a zip bomb; at most {limits.ratio:.0f}x); nothing was unpacked"
            )


def _fresh(dest: Path) -> None:
    if os.path.islink(dest):
        raise ZipRefused(f"{dest} is a symbolic link: not unpacking there")
    if dest.exists():
        shutil.rmtree(dest)  # ours from an earlier run (rmtree never follows links)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest.mkdir(mode=0o700)


def _write_all(
    zf: zipfile.ZipFile,
    entries: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    dest: Path,
    archive: Path,
    limits: Limits,
) -> None:
    written = 0
    for info, rel in entries:
        target = dest.joinpath(*rel.parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            continue
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        written += _write_one(zf, info, target, archive, limits, limits.total_bytes - written)
        stamp = time.mktime((*info.date_time, 0, 0, -1))  # zip times are local, without a zone
        os.utime(target, (stamp, stamp), follow_symlinks=False)


def _write_one(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path, limits: Limits, budget: int
) -> int:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ZipRefused(
            f"{archive}: refused, entry {info.filename!r} is named twice; nothing was unpacked"
        ) from None
    n = 0
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while chunk := src.read(CHUNK):
            n += len(chunk)
            if n > info.file_size or n > limits.entry_bytes or n > budget:
                raise ZipRefused(
                    f"{archive}: refused, entry {info.filename!r} holds more than its header says "
                    "(a zip bomb); nothing was kept"
                )
            out.write(chunk)
    return n
