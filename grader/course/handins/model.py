"""One hand-in: a notebook on disk and what its download says about it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from grader.results import unsurrogate


@dataclass(frozen=True)
class Handin:
    """A notebook a student handed in, as its layout names it."""

    student: str  # the id the layout names the student by (user id, login, folder name)
    path: Path  # the notebook on disk
    label: str  # where it was in the download, for people
    name: str = ""  # the student's full name, when the layout gives one
    email: str = ""
    assignment: str = ""  # the layout's own assignment name (a folder, a title): a hint only
    time: float | None = None  # when it was handed in, seconds since the epoch
    late: bool = False
    attempt: int = 0  # order among one student's hand-ins when times tie (higher: later)
    layout: str = "plain"
    source: str = ""  # the folder or zip it came from, as named

    def __post_init__(self) -> None:
        # Names taken from file names: a byte that was not UTF-8 (a Windows zip's Latin-1 name)
        # is a lone surrogate after os.fsdecode, which sqlite, JSON and pages cannot hold; each
        # is kept as its escape (the same name, the same text: ids stay stable and apart). The
        # path keeps its bytes: it is what opens the file.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                object.__setattr__(self, f.name, unsurrogate(value))

@dataclass(frozen=True)
class Options:
    """What the instructor tells `read` that a download's names cannot."""

    prefix: str = ""  # GitHub Classroom's assignment prefix, as named (--assignment-prefix)
    prefixes: tuple[str, ...] = ()  # the prefixes the run's other Classroom folders share
    check_owner: bool = True  # nbgrader's inbound/: a folder must belong to the student it names
    skip: tuple[Path, ...] = ()  # folders never searched (the run's --output)


NO_OPTIONS = Options()  # nothing told: a prefix shared by the clones, owners checked
