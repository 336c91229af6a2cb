"""What a batch is: how to run it (`Plan`), the notebook files it grades (`Submission`), what it
did (`Outcome`), and writing one submission's report file under --output."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.gradebook import FILENAME
from grader.files import write_atomic
from grader.results import Report, from_dict, printable


@dataclass(frozen=True)
class Plan:
    """How to run a batch (grading options proper live in `grade.Options`)."""

    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    fast: bool = True
    output: Path | None = None
    gradebook: Path | None = None  # default: output / gradebook.sqlite
    regrade: bool = False
    scheduler: str | None = None  # a Dask scheduler address, or "local" for an embedded LocalCluster
    progress: bool = False
    cache: bool = True
    cell_timeout: float = 60.0  # full mode: seconds per notebook cell
    images: bool = False  # full mode: keep the notebook's figures in the report (for HTML)

    @property
    def mode(self) -> str:
        return "fast" if self.fast else "full"

    @property
    def book_path(self) -> Path | None:
        if self.gradebook is not None:
            return self.gradebook
        return self.output / FILENAME if self.output is not None else None


@dataclass(frozen=True)
class Submission:
    """One notebook file of the batch."""

    index: int
    path: Path
    digest: str  # what its grade is keyed by: the content, and the variant it is graded on
    name: str  # unique report stem within the batch
    refused: str = ""  # why the file is never read (a symbolic link), or nothing
    variant: str = ""  # the student's secret cases (`--variants per-student`); "": shared
    content: str = ""  # sha256 of the file's bytes ("": the digest is)

    @property
    def bytes_digest(self) -> str:
        """The file's content alone: byte-identical files share it whatever their variants."""
        return self.content or self.digest

    @property
    def label(self) -> str:
        return str(self.path)


@dataclass
class Outcome:
    """What a batch did: each submission's report in input order (as written: plain dicts; see
    `results`), how many were graded, hit an internal error (never stored: a rerun retries them)
    or were already in the gradebook, and the files that are byte-identical copies."""

    reports: list[dict[str, Any]]
    graded: int = 0
    errors: int = 0  # internal errors (the grader's, a worker's refusal, the cluster's): never stored
    skipped: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    tasks_sent: int = 0
    copies: list[list[str]] = field(default_factory=list)  # byte-identical files, as labels
    digests: list[str] = field(default_factory=list)  # each path's grade key, in input order
    variants: Any = None  # per-student variants: what computing their documents did (variants.Made)
    files: list[str] = field(default_factory=list)  # each submission's file, in input order

    def results(self) -> list[Report]:
        """The reports as `Report` objects (`reports` holds them as written: plain dicts)."""
        return [from_dict(r) for r in self.reports]


Written = list[tuple[dict[str, Any], str | None]]  # each path's report and its file
Result = tuple[str, dict[str, Any], bool, Written | None]  # digest, report, recordable, written


def materialise(group: list[Submission], report: dict[str, Any], plan: Plan) -> Written:
    """Each path's own report (its own label), written atomically under --output."""
    out = []
    for s in group:
        mine = {**report, "submission": printable(s.label)}
        out.append((mine, write_report(s, mine, plan)))
    return out


def write_report(
    s: Submission, report: dict[str, Any], plan: Plan, only_if_missing: bool = False
) -> str | None:
    if plan.output is None:
        return None
    target = plan.output / f"{s.name}.json"
    if not (only_if_missing and target.exists()):
        write_atomic(target, json.dumps(report, indent=2))
    return str(target)
