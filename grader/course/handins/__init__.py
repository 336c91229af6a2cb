"""Hand-ins as instructors receive them: who handed in which notebook, when, and whether late.

`read` takes what was downloaded (folders and LMS zips), unpacks zips safely (`zipsafe`) into
the output folder, recognises the layout (`layouts`: nbgrader, Canvas, Moodle, Gradescope,
GitHub Classroom, a plain folder) or uses the one named, and returns a `Handin` per notebook;
`exchange` decides whether an nbgrader inbound folder is the student's it names.
Which hand-in counts for a student is the gradebook's decision, not this package's.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.course.found import collect, find
from grader.course.handins import layouts, zipsafe
from grader.course.handins.model import NO_OPTIONS, Handin, Options
from grader.errors import GraderError

__all__ = [
    "NO_OPTIONS",
    "Collection",
    "Handin",
    "HandinError",
    "LAYOUTS",
    "Options",
    "collect",
    "find",
    "read",
]

LAYOUTS = ("auto", *layouts.NAMES)


class HandinError(GraderError):
    """A download that cannot be read as the layout named (one line saying why)."""


@dataclass
class Collection:
    """What `read` found: the hand-ins, the layout of each source, files that are no hand-in."""

    handins: list[Handin] = field(default_factory=list)
    layouts: dict[str, str] = field(default_factory=dict)  # source -> layout name
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it is no hand-in)
    refused: dict[Path, str] = field(default_factory=dict)  # links: never read, graded invalid
    notes: list[tuple[str, str]] = field(default_factory=list)  # hand-ins read, worth a look
    unpacked: list[str] = field(default_factory=list)  # the sources that were zips

    @property
    def plain(self) -> bool:
        return all(name == "plain" for name in self.layouts.values()) and not self.unpacked


def read(
    sources: list[Path],
    *,
    layout: str = "auto",
    unpack_to: Path,
    due: float | None = None,
    options: Options = NO_OPTIONS,
) -> Collection:
    """Every hand-in in `sources` (folders, zips, single notebooks); zips unpacked under
    `unpack_to`; with `due` (seconds since the epoch), a hand-in after it is late."""
    out = Collection()
    if layout == "classroom":  # a folder holding one clone takes the prefix the others share
        shared = {layouts.classroom_prefix(s, options) for s in sources if s.is_dir()} - {""}
        options = replace(options, prefixes=tuple(sorted(shared)))
    folders = _unpack_folders(sources)
    for source in sources:
        root = source
        if source in folders:
            root = zipsafe.extract(source, unpack_to / folders[source])
            out.unpacked.append(str(source))
        if not root.is_dir():  # a notebook named directly: a plain hand-in of its own
            found = layouts.read_one(root)
            name = "plain"
        else:
            name = layout if layout != "auto" else layouts.detect(root, options)
            try:
                found = layouts.read(name, root, options)
            except layouts.LayoutError as exc:
                raise HandinError(f"{source}: {exc}") from None
            top = [h for h in found.handins if h.path.parent == source]
            if name == "plain" and len(sources) > 1 and source not in folders and len(top) == 1:
                # folders named one by one (`subs/*`), each holding one notebook at its top, are
                # students, as they are when their parent is named; a folder with several notebooks
                # at its top (`week1/ week2/`, one per student) keeps their stems
                who = source.resolve().name or str(source)  # `.` is its folder's name
                found.handins = [replace(h, student=who) if h in top else h for h in found.handins]
        out.layouts[str(source)] = name
        out.handins += [replace(_late(h, due), layout=name, source=str(source)) for h in found.handins]
        out.skipped += found.skipped
        out.notes += found.notes
        out.refused.update(found.refused)
    return out


def _unpack_folders(sources: list[Path]) -> dict[Path, str]:
    """The folder each zip among `sources` unpacks into: its name's stem, and when two zips of
    one run share a stem, the stem and 8 hex digits of the zip's absolute path (the same zip
    always unpacks into the same folder, two zips never into one)."""
    zips = [s for s in dict.fromkeys(sources) if zipsafe.is_zip(s)]
    stems = Counter(_stem(z).casefold() for z in zips)
    out = {}
    for z in zips:
        stem = _stem(z)
        if stems[stem.casefold()] > 1:
            stem += "-" + hashlib.sha256(os.path.abspath(z).encode()).hexdigest()[:8]
        out[z] = stem
    return out


def _late(h: Handin, due: float | None) -> Handin:
    if due is None or h.time is None or h.late:
        return h
    return replace(h, late=h.time > due)


def _stem(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem).strip(".") or "download"
    return stem[:80]
