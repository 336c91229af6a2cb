"""One hand-in: a notebook on disk and what its download says about it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
