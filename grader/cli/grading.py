"""The grading commands: `run` (the instructor's, one notebook or a class) and `check` (the
student's, on the visible cases). `run` grades through the public API, `grader.grade` and
`grader.grade_many`; everything else is imported where it is used, so a cold run stays quick."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import grader
from grader.cli.common import FILE_FORMATS, POLICY, known_assignment, require_expected

if TYPE_CHECKING:
    from collections.abc import Callable

    from grader.course.plan import Outcome
    from grader.reports.summary import Summary
    from grader.results import Report


@click.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--assignment", help="Grade as this assignment instead of recognising it.")
@click.option("--fast", is_flag=True, help="Skip the full-notebook run; grade functions only.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", *FILE_FORMATS]),
    default="text",
    show_default=True,
    help="html, gradescope, junit and feedback (each notebook annotated: what to hand back) write "
    "their files under --output.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Directory for reports and executed notebooks."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per graded function (default: the assignment's).",
)
@click.option(
    "--fail-under", type=click.FloatRange(0, 100), help="Exit 1 when a submission scores below this percent."
)
@click.option("--require-isolation", is_flag=True, help="Refuse to grade unless every isolation layer holds.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Submissions graded at once [default: cores].")
@click.option("--regrade", is_flag=True, help="Grade again what the gradebook already holds.")
@click.option("--scheduler", help="Dask scheduler address, or 'local' for an embedded LocalCluster.")
@click.option(
    "--gradebook", type=click.Path(dir_okay=False, path_type=Path), help="[default: OUTPUT/gradebook.sqlite]"
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "plain", "nbgrader", "canvas", "moodle", "gradescope", "classroom"]),
    default="auto",
    show_default=True,
    help="How the hand-ins are laid out (docs/handins.md); auto recognises it.",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: id, name, email, section.",
)
@click.option("--due", help="Deadline (ISO 8601, e.g. 2024-10-01T23:59): later hand-ins are late.")
@POLICY
@click.option(
    "--variants",
    type=click.Choice(["shared", "per-student"]),
    default="shared",
    show_default=True,
    help="per-student: each student's hidden cases drawn from the secret and their id (needs "
    "`grader secret init`; ids from the hand-in layout, or --student for one notebook).",
)
@click.option("--student", help="The student id of the one notebook graded (--variants per-student).")
@click.option(
    "--assignment-prefix",
    help="GitHub Classroom: the assignment prefix of the clones' names (hw1 in hw1-<username>).",
)
@click.option(
    "--no-check-owner",
    is_flag=True,
    help="nbgrader inbound/: grade folders not owned by the student they name (copied folders).",
)
def run_cmd(
    paths: tuple[Path, ...],
    assignment: str | None,
    fast: bool,
    fmt: str,
    output: Path | None,
    timeout: float | None,
    fail_under: float | None,
    require_isolation: bool,
    jobs: int | None,
    regrade: bool,
    scheduler: str | None,
    gradebook: Path | None,
    layout: str = "auto",
    roster: Path | None = None,
    due: str | None = None,
    policy: str = "latest",
    variants: str = "shared",
    student: str | None = None,
    assignment_prefix: str | None = None,
    no_check_owner: bool = False,
) -> None:
    """Grade notebooks headless and print a score per function.

    PATHS are notebooks, folders or LMS downloads (zips): nbgrader, Canvas, Moodle, Gradescope,
    GitHub Classroom or plain folders (docs/handins.md).

    Example: grader run submissions/alice.ipynb --format json --output reports/
    Example: grader run submissions.zip --roster class.csv --output reports/
    Example: grader run submissions/ --variants per-student --output reports/
    """
    from grader.sandbox import isolation

    known_assignment(assignment)
    per_student = variants == "per-student"
    _check_variants(per_student, student, paths)
    require_expected(assignment, per_student=per_student)
    if require_isolation and not isolation.available_isolation().complete:
        raise click.UsageError(
            "isolation is incomplete here: " + "; ".join(isolation.available_isolation().notes)
        )
    if fmt in FILE_FORMATS and output is None:
        raise click.UsageError(f"--format {fmt} writes files: give --output DIR")
    if output is not None:
        try:  # now, not after grading: a report that cannot be written is a report lost
            from grader.files import private_folder

            private_folder(output)  # owner-only when we make it
            if not output.is_dir():
                raise NotADirectoryError(20, "Not a directory")
        except OSError as exc:
            why = f"--output {output}: not a folder reports can go in ({exc.strerror})"
            raise click.UsageError(why) from None
    from grader.course import handins, intake

    told = handins.Options(prefix=assignment_prefix or "", check_owner=not no_check_owner)
    due_at = intake.parse_due(due)
    taken = intake.take(list(paths), layout=layout, output=output, roster=roster, due=due_at, options=told)
    students = roster is not None or layout != "auto" or not taken.collection.plain
    if students:  # the layout's hand-ins (unpacked zips among them)
        files, refused = taken.files, dict(taken.refused)
    else:  # as ever: the notebooks under the paths (never under --output), each its own student
        files, refused = handins.find(paths, skip=[output] if output is not None else [])
    if not files:
        skipped = [f"\n  skipped {f}: {why}" for f, why in taken.collection.skipped[:20]]
        raise click.UsageError("no notebooks found in the given paths" + "".join(skipped))
    who_is = {h.path.resolve(): student or h.student for h in taken.collection.handins}
    for line in intake.shared_ids(taken):  # never silently one student for several files
        click.echo(f"warning: {line}", err=True)
    if students or len(files) > 1 or jobs is not None or scheduler is not None:
        from grader.course import cluster

        try:
            outcome = grader.grade_many(
                paths,
                assignment=assignment,
                fast=fast,
                timeout=timeout,
                jobs=jobs,
                output=output,
                gradebook=gradebook,
                regrade=regrade,
                scheduler=scheduler,
                progress=sys.stderr.isatty(),
                images=fmt == "html",
                found=(files, refused),
                variants=variants,
                students={f: who_is.get(f.resolve(), student or f.stem) for f in files},
            )
        except cluster.ClusterError as exc:  # nothing could be graded: one line, exit 3 (a grader error)
            click.echo(f"error: {exc}", err=True)
            sys.exit(3)
        if outcome.variants is not None:
            click.echo(outcome.variants.to_text(), err=True)
        book = gradebook or (output / "gradebook.sqlite" if output is not None else None)
        who = intake.students(taken, book, files, outcome) if students or book is not None else None
        single = len(paths) == 1 and len(files) == 1 and not students
        owners = intake.people(taken, files, outcome.reports, policy)
        if book is not None and book.is_file():  # an instructor's overrides show in what is written
            from grader.course import rerender

            rerender.adjust_batch(book, files, outcome.reports, output)
        _show_batch(
            outcome, output, fmt, files, single=single, fail_under=fail_under, students=who, owners=owners
        )
        return
    path = files[0]
    if path in refused:
        from grader.results import Report

        report = Report(str(path), assignment, "invalid", refused[path])
    else:  # the worker the console script started for this notebook is claimed by `grade`
        report = grader.grade(
            path,
            assignment=assignment,
            fast=fast,
            timeout=timeout,
            output=output,
            images=fmt == "html",
            # a folder's one notebook is graded as the student its layout names, as in a batch
            student=student or (who_is.get(path.resolve()) if per_student else None),
        )
    from grader.files import file_names, write_atomic
    from grader.reports.text import to_json, to_text

    if output is not None:
        write_atomic(output / f"{file_names([str(path)])[0]}.json", to_json([report], single=True))
    if fmt == "json":
        click.echo(to_json([report], single=len(paths) == 1))
    else:
        click.echo(to_text(report, color=sys.stdout.isatty()))
    drawn = fmt in FILE_FORMATS and output is not None
    undrawn = _write_format(fmt, [report], output, [path]) if drawn and output is not None else 0
    _exit([report.status], [report.percent], fail_under, undrawn)


def _check_variants(per_student: bool, student: str | None, paths: tuple[Path, ...]) -> None:
    """Refuse, in one line, per-student variants that cannot be: no secret to draw them with,
    one notebook without its student, or --student for more than one notebook."""
    from grader.reading import secret

    if student is not None and not per_student:
        raise click.UsageError("--student chooses a student's variant: give --variants per-student too")
    if not per_student:
        return
    if secret.load() is None:
        raise click.UsageError(
            "--variants per-student draws each student's hidden cases from the installation's "
            "secret, and none is configured: run `grader secret init` (or set GRADER_SECRET)"
        )
    one = len(paths) == 1 and not paths[0].is_dir()
    if one and student is None and not _is_download(paths[0]):
        raise click.UsageError(
            f"--variants per-student: whose variant grades {paths[0].name}? give --student ID "
            "(a folder or an LMS download names its students itself)"
        )
    if student is not None and not one:
        raise click.UsageError("--student names the student of one notebook: give a single notebook")
    if student is not None and not student.strip():
        raise click.UsageError("--student: an empty id")


def _is_download(path: Path) -> bool:
    from grader.course.handins import zipsafe

    return zipsafe.is_zip(path)


def _exit(statuses: list[str], percents: list[float], fail_under: float | None, undrawn: int = 0) -> None:
    """Exit 3 when the grader failed on a submission or on one's page (`undrawn`: how many pages
    could not be drawn), else 1 when one scores under --fail-under."""
    errors = statuses.count("error")
    if errors:
        click.echo(f"{errors} submission(s) hit an internal error of the grader", err=True)
    if undrawn:
        click.echo(f"{undrawn} page(s) could not be drawn: an internal error of the grader", err=True)
    if errors or undrawn:
        sys.exit(3)
    if fail_under is not None and any(p < fail_under for p in percents):
        sys.exit(1)


def _write_format(
    fmt: str,
    reports: list[Report],
    output: Path,
    sources: list[Path],
    digest: Summary | None = None,
    owners: tuple[list[list[str]], list[list[str]]] | None = None,
) -> int:
    """The file formats: an HTML page per submission (with its feedback notebook; and an index
    showing `digest`, a batch's summary, and `owners`: each file's students), Gradescope's
    results.json, JUnit XML, or the feedback notebooks alone; `sources`: each report's file.
    Returns how many pages could not be drawn."""
    from grader.reports import feedback, formats, html
    from grader.results import one_line

    failed: list[str] = []
    writers = {
        "html": lambda: html.write(reports, output, digest, list(sources), owners, failed),
        "gradescope": lambda: formats.write_gradescope(reports, output),
        "junit": lambda: formats.write_junit(reports, output),
        "feedback": lambda: feedback.write(reports, list(sources), output, failed),
    }
    for path in writers[fmt]():
        click.echo(one_line(f"wrote {path}"), err=True)
    for line in failed:
        click.echo(f"error: {line}; a page saying so was written in its place", err=True)
    return len(failed)


def _code_of(outcome: Outcome) -> Callable[[int, str], str | None]:
    """An answer's code, read again from its file: for a cluster's representative alone."""
    from grader.reading import selection

    return lambda i, function: selection.source_of(Path(outcome.files[i]), function)


def _show_batch(
    outcome: Outcome,
    output: Path | None,
    fmt: str,
    files: list[Path],
    *,
    single: bool,
    fail_under: float | None,
    students: dict[str, Any] | None = None,
    owners: tuple[list[list[str]], list[list[str]]] | None = None,
) -> None:
    """Many submissions (`files`, in the order of their reports): reports, gradebook and summary
    under --output; same stdout contract; `students` (intake.summary): who handed in, late,
    unknown, missing, added to the summary; `owners` (intake.people): who handed in each file
    and whom it counts for, so the class view counts students."""
    import json

    from grader.reports import summary
    from grader.reports.text import to_text

    reports = outcome.reports
    who = owners[1] if owners is not None else None
    if owners is not None:
        from grader.course import intake

        outcome.copies = intake.between_students(outcome.copies, files, owners[0])
    digest = summary.summarise(reports, copies=outcome.copies, code_of=_code_of(outcome), who=who)
    undrawn = 0
    if output is not None:
        summary.write(digest, output)
        if students is not None:
            from grader.course import intake

            intake.add_to_summary(students, output)
        if fmt in FILE_FORMATS:
            undrawn = _write_format(fmt, outcome.results(), output, files, digest, owners)
        if owners is not None:  # what `grader adjust` renders the batch's files again from
            from grader.course import rerender

            rerender.write_manifest(output, files, owners, outcome.copies)
    if fmt == "json":
        click.echo(json.dumps(reports[0] if single else reports, indent=2))
        if sys.stderr.isatty():
            click.echo(summary.to_text(digest), err=True)
    else:
        for r in outcome.results():
            click.echo(to_text(r, color=sys.stdout.isatty()))
        click.echo(summary.to_text(digest))
    errors = f"internal errors {outcome.errors} (not stored: a rerun retries), " if outcome.errors else ""
    if students is not None and any(students.get(k) for k in ("unknown", "missing", "skipped", "notes")):
        from grader.course import intake

        click.echo(intake.to_text({**students, "warnings": []}), err=True)  # said once, before grading
    note = f"graded {outcome.graded}, {errors}already in the gradebook {outcome.skipped}"
    note += f", in {outcome.seconds:.1f} s"
    click.echo(note, err=True)
    percents = [100.0 * r["score"] / r["max_score"] if r.get("max_score") else 0.0 for r in reports]
    _exit([str(r.get("status")) for r in reports], percents, fail_under, undrawn)


@click.command("check")
@click.argument(
    "notebook_path", metavar="NOTEBOOK", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--assignment", help="Check as this assignment instead of recognising it.")
def check_cmd(notebook_path: Path, assignment: str | None) -> None:
    """Check your notebook on the visible cases, run exactly as the grader runs them.

    Exits 0 when every visible check passes, 1 otherwise, 3 on an internal error of the grader.

    Example: grader check Regularization.ipynb
    """
    from grader.grading import check, grade
    from grader.reports.text import to_check_text
    from grader.results import one_line

    known_assignment(assignment)
    require_expected(assignment, hidden_too=False)
    try:
        report = check.check_path(notebook_path, grade.Options(assignment=assignment))
    except Exception as exc:  # a grader bug: said so (exit 3), never the notebook's fault
        report = grade.internal_error(str(notebook_path), assignment, exc)
        click.echo(one_line(f"Could not check {report.submission}: {report.message}"), err=True)
        sys.exit(3)
    click.echo(to_check_text(report))
    if report.status != "graded" or any(f.status != "passed" for f in report.functions):
        sys.exit(1)
