"""grader: an auto-grader for Jupyter notebook assignments, function by function.

The `grader` command is a thin layer over this API; a notebook, a pytest plugin or an LMS
bridge can call it the same way:

    import grader

    report = grader.grade("submissions/alice.ipynb", fast=True)
    print(report.status, report.score, report.max_score)
    for f in report.functions:
        print(f.name, f.status, f.message)

    batch = grader.grade_many(["submissions/"], output="reports/", jobs=4)
    print(batch.graded, batch.errors, [r.percent for r in batch.results()])

Public: `grade` and `grade_many`; the result model, `Report` (one submission) made of
`FunctionResult`s (one graded function) made of `TestResult`s (one case), and `Outcome` (what a
batch did); the errors, `GraderError` and its `SpecError` and `NotebookError`. Nothing a
submission does raises: a notebook that cannot be read, or that no assignment recognises, gets a
report with status "invalid"; a problem of the grader's own met while grading it (a bug, an
assignment's expected values out of step with its spec) gets status "error", never a grade.
Everything else in the package is private by convention; docs/architecture.md shows its layout.

Importing `grader` imports nothing else: each name is loaded on first use, so the console script
can start the sandboxed worker before numpy and the rest load.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: `import grader` imports nothing that its caller did not
if TYPE_CHECKING:
    from collections.abc import Iterable
    from os import PathLike
    from pathlib import Path
    from typing import Any

    from grader.course.plan import Outcome
    from grader.errors import GraderError, NotebookError, SpecError
    from grader.results import FunctionResult, Report, TestResult

__version__ = "0.1.0"
__all__ = [
    "grade",
    "grade_many",
    "Report",
    "FunctionResult",
    "TestResult",
    "Outcome",
    "GraderError",
    "SpecError",
    "NotebookError",
]

_LAZY = {
    "Report": "grader.results",
    "FunctionResult": "grader.results",
    "TestResult": "grader.results",
    "Outcome": "grader.course.plan",
    "GraderError": "grader.errors",
    "SpecError": "grader.errors",
    "NotebookError": "grader.errors",
}


def __getattr__(name: str) -> Any:
    """The public classes, imported on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def grade(
    path: str | PathLike[str],
    *,
    assignment: str | None = None,
    fast: bool = False,
    timeout: float | None = None,
    output: str | PathLike[str] | None = None,
    images: bool = False,
    student: str | None = None,
) -> Report:
    """Grade one notebook file and return its `Report`, as `grader run NOTEBOOK` does.

    - `assignment`: grade as this assignment (default: the one whose graded functions the
      notebook marks or defines most).
    - `fast`: grade the functions only; without it, the whole notebook also runs, confined, and
      the report's `extra["execution"]` says how that went.
    - `timeout`: seconds per graded function (default: the assignment's), and per notebook cell
      in the full run (default 60).
    - `output`: a folder the sandbox hides (where reports go), and where the full run writes the
      executed notebook.
    - `images`: keep the full run's figures in the report (for HTML reports).
    - `student`: grade on this student's variant of the secret cases (`--variants per-student`),
      computing its expected document first if it is missing or stale; needs a secret
      (`GraderError` without one).

    Each graded function runs in a fresh child of a sandboxed worker (no network, no other
    files, limited memory and time). Never raises for the notebook's sake, nor for a bug of the
    grader's (that report's status is "error").
    """
    from pathlib import Path

    from grader.grading import grade as grading
    from grader.sandbox import run

    notebook = Path(path)
    hide = (str(Path(output).resolve()),) if output is not None else ()
    variant = _variants({notebook: student}, assignment)[0][notebook] if student is not None else ""
    # a worker the console script started early for this very notebook, or one started now
    started = None if notebook.is_symlink() else run.prestart(notebook, assignment, hide)
    options = grading.Options(assignment=assignment, timeout=timeout, hide=hide, variant=variant)
    session = started.session if started else None
    try:
        try:
            parsed = started.parsed if started else None
            cells = timeout or 60.0
            ran = None if fast else _execution(notebook, parsed, assignment, output, cells, images, hide)
            report = grading.grade_path(notebook, options, session, parsed=parsed)
        finally:
            if session is not None:
                session.close(wait=not fast)  # fast: the caller may exit next, nothing to wait for
        return grading.with_execution(report, ran)
    except Exception as exc:  # a grader bug: reported as such, never the student's fault
        return grading.internal_error(str(notebook), assignment, exc)


def _execution(
    notebook: Path,
    parsed: Any,
    assignment: str | None,
    output: str | PathLike[str] | None,
    cell_timeout: float,
    images: bool,
    hide: tuple[str, ...],
) -> dict[str, Any] | None:
    """The whole notebook's run, before any function is graded (see grade.execution); None when
    the notebook is not one grading would take (a link, unreadable, of no known assignment)."""
    from pathlib import Path

    from grader.errors import GraderError
    from grader.grading import grade as grading
    from grader.reading import notebook as reader

    if notebook.is_symlink():
        return None
    try:
        parsed = parsed or reader.parse(reader.read(notebook))
    except GraderError:
        return None
    name = assignment or grading.recognise(parsed)
    if name is None:
        return None
    folder = Path(output) if output is not None else None
    return grading.execution(notebook, name, folder, cell_timeout, images=images, hide=hide)


def grade_many(
    paths: Iterable[str | PathLike[str]],
    *,
    assignment: str | None = None,
    fast: bool = False,
    timeout: float | None = None,
    jobs: int | None = None,
    output: str | PathLike[str] | None = None,
    gradebook: str | PathLike[str] | None = None,
    regrade: bool = False,
    scheduler: str | None = None,
    progress: bool = False,
    images: bool = False,
    found: tuple[list[Path], dict[Path, str]] | None = None,
    variants: str = "shared",
    students: dict[Path, str] | None = None,
) -> Outcome:
    """Grade every notebook in `paths` (files, and folders searched for *.ipynb) as a batch, as
    `grader run` does with several: warm sandboxed workers, `jobs` submissions at once (default:
    the number of cores), identical answers run once.

    - `output`: a folder for each submission's JSON report (and the full run's executed
      notebooks) and the gradebook, `output/gradebook.sqlite` unless `gradebook` names another;
      a rerun skips what the gradebook holds unless `regrade`.
    - `scheduler`: a Dask scheduler's address, or "local" for a cluster of this machine's.
    - `assignment`, `fast`, `timeout`, `images`: as for `grade`; `progress`: a bar on stderr.
    - `found`: the files to grade and the refused ones' reasons, when the caller read `paths`
      already (an LMS download: `grader.course.intake`); `paths` is then not searched.
    - `variants`: "shared" (every student the same secret cases) or "per-student" (each on the
      cases HMAC(secret, student) draws; needs a secret): `students` maps a file to its
      student's id (default: the file's stem); the documents of variants that are missing or
      stale are computed first (`Outcome.variants` says how many, and in how long).

    A symbolic link, or a hard link to one of the grader's own files, is never read: its report
    is "invalid" with the reason. Returns the `Outcome`: the reports in input order, counts, and
    the files that are byte-identical copies. Raises `GraderError` when the batch cannot run at
    all (a scheduler that cannot be reached, a gradebook that is not one).
    """
    import os
    from pathlib import Path

    from grader.course import batch, handins
    from grader.grading import grade as grading

    folder = Path(output) if output is not None else None
    skip = [folder] if folder is not None else []  # a rerun never grades its own reports
    files, refused = handins.find((Path(p) for p in paths), skip=skip) if found is None else found
    if found is not None:
        from grader.course.links import grader_links

        refused = {**refused, **grader_links([f for f in files if f not in refused])}
    per_student: dict[Path, str] = {}
    made = None
    if variants == "per-student":
        readable = [f for f in files if f not in refused]
        who = {f: (students or {}).get(f, f.stem) for f in readable}
        per_student, made = _variants(who, assignment, jobs)
    elif variants != "shared":
        raise ValueError(f"variants is 'shared' or 'per-student', not {variants!r}")
    hide = (str(folder.resolve()),) if folder is not None else ()
    options = grading.Options(assignment=assignment, timeout=timeout, hide=hide)
    plan = batch.Plan(
        jobs=jobs or os.cpu_count() or 1,
        fast=fast,
        output=folder,
        gradebook=Path(gradebook) if gradebook is not None else None,
        regrade=regrade,
        scheduler=scheduler,
        progress=progress,
        cell_timeout=timeout or 60.0,
        images=images,
    )
    outcome = batch.run_batch(files, options, plan, refused=refused, variants=per_student)
    outcome.variants = made
    return outcome


def _variants(
    students: dict[Path, str], assignment: str | None, jobs: int | None = None
) -> tuple[dict[Path, str], Any]:
    """Each file's variant (its student's), after computing the variants' documents that are
    missing or stale; raises `GraderError` without a secret."""
    from grader.authoring import variants
    from grader.errors import GraderError
    from grader.reading import secret

    key = secret.load()
    if key is None:
        raise GraderError(
            "per-student variants draw each student's hidden cases from the secret, and none is "
            "configured: run `grader secret init` (or set GRADER_SECRET)"
        )
    needed = variants.wanted(students.items(), key=key, assignment=assignment)
    made = variants.ensure(needed, key=key, jobs=jobs)
    return {f: secret.variant_of(key, s) for f, s in students.items()}, made
