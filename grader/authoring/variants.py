"""Per-student variants' expected documents: each student's secret cases, computed with the
trusted reference path (`expected.build` with the student's variant), once, and kept beside the
secret (0600); a document made with another secret, or before expected/, the spec or the cases
changed, is computed again.

A batch graded with `--variants per-student` needs one document per (assignment, student):
`wanted` works out which from the hand-ins (the assignment each notebook is recognised as, or the
one forced), `ensure` computes those missing or stale in one warm sandbox session.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from grader.authoring import expected
from grader.errors import GraderError, SpecError
from grader.judging import hidden
from grader.reading import assignment as spec
from grader.reading import notebook, secret
from grader.sandbox import run
from grader.sandbox.limits import Limits


@dataclass(frozen=True)
class Made:
    """What `ensure` did: documents computed, documents already current, and its time."""

    computed: int
    current: int
    seconds: float

    def to_text(self) -> str:
        n = self.computed + self.current
        line = f"variants: {n} per-student expected document{'s' if n != 1 else ''} needed, "
        line += f"{self.computed} computed"
        if self.computed:
            line += f" in {self.seconds:.1f} s ({self.seconds / self.computed:.2f} s each)"
        return line + f", {self.current} already current (beside the secret, in {secret.folder()})"


def wanted(
    students: Iterable[tuple[Path, str]], *, key: bytes, assignment: str | None, root: Path | None = None
) -> dict[str, set[str]]:
    """assignment -> the variants a batch needs: each hand-in's student's, for the assignment it
    is forced to or recognised as (a notebook no assignment recognises needs none)."""
    names = spec.names(root=root)
    out: dict[str, set[str]] = defaultdict(set)
    for path, student in students:
        name = assignment or _recognised(path, root)
        if name in names:
            out[name].add(secret.variant_of(key, student))
    return dict(out)


def _recognised(path: Path, root: Path | None) -> str | None:
    try:
        parsed = notebook.parse(notebook.read(path))
    except GraderError:  # unreadable: graded invalid, on no variant
        return None
    return spec.recognise(set(parsed.markers) | set(parsed.definitions), root=root)


def of_students(names: Iterable[str], students: Iterable[str], key: bytes) -> dict[str, set[str]]:
    """assignment -> variants, for every student on each named assignment (`--roster`)."""
    variants = {secret.variant_of(key, s) for s in students}
    return {name: set(variants) for name in names}


def stale(a: spec.Assignment, key: bytes, variants: Iterable[str]) -> list[str]:
    """The variants whose documents are missing, unreadable or stale, in order: by the stamp
    each opens with (grading reads the whole document, and refuses one that does not match
    the spec in one line), or by reading it all when it opens with none."""
    base = hidden.stamp(a, key, secret.SHARED)
    out = []
    for v in sorted(variants):
        found = hidden.stamped(secret.expected_path(a.name, v))
        if found is not None:
            if found != {**base, "variant": v}:
                out.append(v)
            continue
        try:
            hidden.current(a, key, v)
        except SpecError:
            out.append(v)
    return out


def ensure(
    needed: dict[str, set[str]],
    *,
    key: bytes,
    root: Path | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
) -> Made:
    """Compute every needed document that is missing or stale (the reference and the catalogued
    mistakes on the variant's cases, as `grader expected --secret` does), `jobs` at once, each
    thread with its warm session (the time is the sandbox's: the reference's and each mutant's
    runs, one round after another)."""
    started = time.perf_counter()
    limits = limits or Limits()
    todo: list[tuple[spec.Assignment, str]] = []
    current = 0
    for name in sorted(needed):
        a = spec.load(name, root=root)
        mine = stale(a, key, needed[name])
        current += len(needed[name]) - len(mine)
        todo += [(a, v) for v in mine]
    if todo:
        _compute(todo, key, limits, max(1, min(jobs or os.cpu_count() or 1, len(todo))))
    return Made(len(todo), current, time.perf_counter() - started)


def _compute(todo: list[tuple[spec.Assignment, str]], key: bytes, limits: Limits, jobs: int) -> None:
    local = threading.local()
    sessions: list[run.Session] = []

    def one(item: tuple[spec.Assignment, str]) -> None:
        if not hasattr(local, "session"):
            local.session = run.Session(limits)
            sessions.append(local.session)
        a, v = item
        expected.write(a, expected.build(a, limits=limits, draw=expected.Draw(key, v), session=local.session))

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="variants") as pool:
            for done in pool.map(one, todo):  # the first error stops the rest
                del done
    finally:
        for s in sessions:
            s.close()
