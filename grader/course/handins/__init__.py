"""Hand-ins as instructors receive them: who handed in which notebook, when, and whether late.

`read` takes what was downloaded (folders and LMS zips), unpacks zips safely (`zipsafe`) into
the output folder, recognises the layout (`layouts`: nbgrader, Canvas, Moodle, Gradescope,
GitHub Classroom, a plain folder) or uses the one named, and returns a `Handin` per notebook.
Which hand-in counts for a student is the gradebook's decision, not this package's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.course.found import collect, find
from grader.course.handins import layouts, zipsafe
from grader.course.handins.model import Handin
from grader.errors import GraderError

__all__ = ["Collection", "Handin", "HandinError", "LAYOUTS", "collect", "find", "read"]

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

    @property
    def plain(self) -> bool:
        return all(name == "plain" for name in self.layouts.values())


def read(
    sources: list[Path], *, layout: str = "auto", unpack_to: Path, due: float | None = None
) -> Collection:
    """Every hand-in in `sources` (folders, zips, single notebooks); zips unpacked under
    `unpack_to`; with `due` (seconds since the epoch), a hand-in after it is late."""
    out = Collection()
    for source in sources:
        root = source
        if zipsafe.is_zip(source):
            root = zipsafe.extract(source, unpack_to / _stem(source))
        if not root.is_dir():  # a notebook named directly: a plain hand-in of its own
            found = layouts.read_one(root)
            name = "plain"
        else:
            name = layout if layout != "auto" else layouts.detect(root)
            try:
                found = layouts.read(name, root)
            except layouts.LayoutError as exc:
                raise HandinError(f"{source}: {exc}") from None
        out.layouts[str(source)] = name
        out.handins += [replace(_late(h, due), layout=name, source=str(source)) for h in found.handins]
        out.skipped += found.skipped
        out.refused.update(found.refused)
    return out


def _late(h: Handin, due: float | None) -> Handin:
    if due is None or h.time is None or h.late:
        return h
    return replace(h, late=h.time > due)


def _stem(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem).strip(".") or "download"
    return stem[:80]
