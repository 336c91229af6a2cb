"""The `grader` command: a thin shell over the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader.errors import GraderError
from grader.reading import assignment as spec

if TYPE_CHECKING:  # the rest is imported where it is used: a cold `grader run` stays quick
    from grader.course import batch
    from grader.grading import grade
    from grader.results import Report
    from grader.sandbox import run


FILE_FORMATS = ("html", "gradescope", "junit")


def _names(names: tuple[str, ...]) -> list[str]:
    return list(names) or spec.names()


def _require_expected(assignment: str | None) -> None:
    """Exit 2 with one line naming the command to run when an expected/ file a submission may be
    graded against is missing, unreadable or out of step with its spec (never a traceback later)."""
    try:
        for name in [assignment] if assignment else spec.names():
            spec.current_expected(spec.load(name))
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(package_name="grader")
def main() -> None:
    """Grade Jupyter notebook assignments, function by function."""


@main.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--assignment", help="Grade as this assignment instead of recognising it.")
@click.option("--fast", is_flag=True, help="Skip the full-notebook run; grade functions only.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", *FILE_FORMATS]),
    default="text",
    show_default=True,
    help="html, gradescope and junit write their files under --output.",
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
@click.option("--require-isolation", is_flag=True, help="Refuse to grade without network and user isolation.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Submissions graded at once [default: cores].")
@click.option("--regrade", is_flag=True, help="Grade again what the gradebook already holds.")
@click.option("--scheduler", help="Dask scheduler address, or 'local' for an embedded LocalCluster.")
@click.option(
    "--gradebook", type=click.Path(dir_okay=False, path_type=Path), help="[default: OUTPUT/gradebook.sqlite]"
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
) -> None:
    """Grade notebooks headless and print a score per function.

    Example: grader run submissions/alice.ipynb --format json --output reports/
    """
    from grader.sandbox import isolation

    if assignment is not None and assignment not in spec.names():
        raise click.UsageError(f"unknown assignment {assignment!r}; known: {', '.join(spec.names())}")
    _require_expected(assignment)
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
    from grader.course.links import grader_links
    from grader.grading import grade
    from grader.sandbox import run

    files, refused = grade.collect(paths)
    refused.update(grader_links([f for f in files if f not in refused]))
    if not files:
        raise click.UsageError("no notebooks found in the given paths")
    hide = (str(output.resolve()),) if output is not None else ()
    batched = len(files) > 1 or jobs is not None or scheduler is not None
    started = None if batched or refused else run.prestart(files[0], assignment, hide)
    session = started.session if started else None
    options = grade.Options(assignment=assignment, timeout=timeout, hide=hide)
    if batched:
        from grader.course import batch

        plan = batch.Plan(
            jobs=jobs or os.cpu_count() or 1,
            fast=fast,
            output=output,
            gradebook=gradebook,
            regrade=regrade,
            scheduler=scheduler,
            progress=sys.stderr.isatty(),
            cell_timeout=timeout or 60.0,
            images=fmt == "html",
        )
        single = len(paths) == 1 and len(files) == 1
        _run_batch(files, refused, options, plan, fmt, single=single, fail_under=fail_under)
        return
    from grader.files import file_names, write_atomic
    from grader.reports.text import to_json, to_text
    from grader.results import Report

    reports: list[Report] = []
    for path, name in zip(files, file_names([str(f) for f in files]), strict=True):
        if path in refused:
            report = Report(str(path), assignment, "invalid", refused[path])
        else:
            report = _grade_one(path, options, session, started, fast, output, timeout, fmt == "html", name)
        reports.append(report)
        if output is not None:
            write_atomic(output / f"{name}.json", to_json([report], single=True))
    if fmt == "json":
        click.echo(to_json(reports, single=len(paths) == 1 and len(files) == 1))
    else:
        for r in reports:
            click.echo(to_text(r, color=sys.stdout.isatty()))
    if fmt in FILE_FORMATS and output is not None:
        _write_format(fmt, reports, output)
    _exit([r.status for r in reports], [r.percent for r in reports], fail_under)


def _grade_one(
    path: Path,
    options: grade.Options,
    session: run.Session | None,
    started: run.Prestart | None,
    fast: bool,
    output: Path | None,
    timeout: float | None,
    images: bool,
    name: str | None = None,
) -> Report:
    """One submission, outside a batch; an internal error of the grader becomes its report."""
    from grader.grading import grade

    try:
        try:
            report = grade.grade_path(path, options, session, parsed=started.parsed if started else None)
        finally:
            if session is not None:
                session.close(wait=not fast)  # --fast: the grader exits next, nothing to wait for
        if not fast and report.status == "graded":
            hide = options.hide
            report = grade.with_execution(
                report, path, output, timeout or 60.0, images=images, hide=hide, name=name
            )
        return report
    except Exception as exc:  # a grader bug: reported as such (exit 3), never the student's fault
        return grade.internal_error(str(path), options.assignment, exc)


def _exit(statuses: list[str], percents: list[float], fail_under: float | None) -> None:
    """Exit 3 when the grader failed on a submission, else 1 when one scores under --fail-under."""
    if "error" in statuses:
        click.echo(f"{statuses.count('error')} submission(s) hit an internal error of the grader", err=True)
        sys.exit(3)
    if fail_under is not None and any(p < fail_under for p in percents):
        sys.exit(1)


def _write_format(fmt: str, reports: list[Report], output: Path) -> None:
    """The file formats: an HTML page per submission, Gradescope's results.json, JUnit XML."""
    from grader.reports import formats, html

    writers = {"html": html.write, "gradescope": formats.write_gradescope, "junit": formats.write_junit}
    for path in writers[fmt](reports, output):
        click.echo(f"wrote {path}", err=True)


def _run_batch(
    files: list[Path],
    refused: dict[Path, str],
    options: grade.Options,
    plan: batch.Plan,
    fmt: str,
    *,
    single: bool,
    fail_under: float | None,
) -> None:
    """Many submissions: reports, gradebook and summary under --output; same stdout contract."""
    import json

    from grader.course import batch, cluster
    from grader.reports import summary
    from grader.reports.text import to_text
    from grader.results import from_dict

    try:
        outcome = batch.run_batch(files, options, plan, refused=refused)
    except cluster.ClusterError as exc:  # nothing could be graded there: one line, exit 3 (a grader error)
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    reports = outcome.reports
    digest = summary.summarise(reports, copies=outcome.copies)
    if plan.output is not None:
        summary.write(digest, plan.output)
        if fmt in FILE_FORMATS:
            _write_format(fmt, [from_dict(r) for r in reports], plan.output)
    if fmt == "json":
        click.echo(json.dumps(reports[0] if single else reports, indent=2))
        if sys.stderr.isatty():
            click.echo(summary.to_text(digest), err=True)
    else:
        for r in reports:
            click.echo(to_text(from_dict(r), color=sys.stdout.isatty()))
        click.echo(summary.to_text(digest))
    errors = f"internal errors {outcome.errors} (not stored: a rerun retries), " if outcome.errors else ""
    note = f"graded {outcome.graded}, {errors}already in the gradebook {outcome.skipped}"
    note += f", in {outcome.seconds:.1f} s"
    click.echo(note, err=True)
    percents = [100.0 * r["score"] / r["max_score"] if r.get("max_score") else 0.0 for r in reports]
    _exit([str(r.get("status")) for r in reports], percents, fail_under)


@main.command("export")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="JSON to write.")
def export_cmd(source: Path, csv_path: Path | None, json_path: Path | None) -> None:
    """Write a gradebook (its file, or the --output folder of a batch) as CSV and/or JSON: only
    the files named, or gradebook.csv and gradebook.json beside it when none is.

    Example: grader export reports/ --csv grades.csv
    """
    from grader.course import gradebook

    for path in gradebook.export(source, csv_path=csv_path, json_path=json_path):
        click.echo(f"wrote {path}")


@main.command("check")
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

    if assignment is not None and assignment not in spec.names():
        raise click.UsageError(f"unknown assignment {assignment!r}; known: {', '.join(spec.names())}")
    _require_expected(assignment)
    try:
        report = check.check_path(notebook_path, grade.Options(assignment=assignment))
    except Exception as exc:  # a grader bug: said so (exit 3), never the notebook's fault
        report = grade.internal_error(str(notebook_path), assignment, exc)
        click.echo(one_line(f"Could not check {report.submission}: {report.message}"), err=True)
        sys.exit(3)
    click.echo(to_check_text(report))
    if report.status != "graded" or any(f.status != "passed" for f in report.functions):
        sys.exit(1)


@main.command("gradescope-bundle")
@click.argument("name")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip to write [default: NAME-autograder.zip].",
)
def gradescope_bundle_cmd(name: str, output: Path | None) -> None:
    """Write the Gradescope autograder zip (setup.sh, run_autograder, grader, the assignment).

    Example: grader gradescope-bundle regularization --output regularization-autograder.zip
    """
    from grader.authoring import bundle

    click.echo(f"wrote {bundle.write(spec.load(name), output or Path(f'{name}-autograder.zip'))}")


@main.command("expected")
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Exit 1 and list the entries that changed, writing nothing.")
def expected_cmd(names: tuple[str, ...], check: bool) -> None:
    """Regenerate expected/<assignment>.json from the reference solutions.

    Example: grader expected --check
    """
    from grader.authoring import expected as expected_mod

    stale = False
    for name in _names(names):
        a = spec.load(name)
        doc = expected_mod.build(a)
        if check:
            old = expected_mod.load(a) if a.expected_path.exists() else {}
            changes = expected_mod.diff(old, doc)
            stale = stale or bool(changes)
            click.echo(f"{name}: " + ("up to date" if not changes else f"{len(changes)} entries changed"))
            for c in changes:
                click.echo(f"  {c}")
        else:
            click.echo(f"wrote {expected_mod.write(a, doc)}")
    if stale:
        sys.exit(1)


@main.command("release")
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Exit 1 when a student notebook is out of date.")
def release_cmd(names: tuple[str, ...], check: bool) -> None:
    """Write the student notebooks in assignments/ from reference/.

    Example: grader release --check
    """
    from grader.authoring import release as release_mod

    stale = []
    for name in _names(names):
        a = spec.load(name)
        if check:
            if not release_mod.is_current(a):
                stale.append(str(a.student_notebook))
        else:
            click.echo(f"wrote {release_mod.release(a)}")
    if stale:
        click.echo("out of date with reference/: " + ", ".join(stale) + " (run `grader release`)")
        sys.exit(1)
    if check:
        click.echo("student notebooks are up to date")


@main.command("validate")
@click.argument("names", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "junit"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--only", multiple=True, metavar="CHECK", help="Run only this check (repeatable).")
@click.option("--skip", multiple=True, metavar="CHECK", help="Leave this check out (repeatable).")
def validate_cmd(
    names: tuple[str, ...], fmt: str, output: Path | None, only: tuple[str, ...], skip: tuple[str, ...]
) -> None:
    """Check assignments as a course's CI would: a line per check, exit 1 on any failure.

    Checks: spec, release, agreement (spec vs expected/), finite, expected, reference-fast,
    reference-full, blank, descriptions, mistakes, reproduce (when reference/NAME/reproduce.py
    exists).

    Example: grader validate --format junit --output validate.xml   (prints the lines too)
    """
    from grader.authoring import validate

    unknown = sorted((set(only) | set(skip)) - set(validate.CHECKS))
    if unknown:
        raise click.UsageError(f"unknown checks {unknown}; known: {', '.join(validate.CHECKS)}")
    if not _names(names):
        raise click.UsageError("no assignments found under assignments/")
    checks = []
    for name in _names(names):
        for c in validate.validate(name, only=only, skip=skip):
            checks.append(c)
            if fmt == "text" or output is not None:  # the lines, unless stdout carries the XML
                click.echo(validate.to_text([c]))
    if fmt == "junit":
        text = validate.to_junit(checks)
        if output is None:
            click.echo(text, nl=False)
    else:
        text = validate.to_text(checks) + "\n"
    if output is not None:
        from grader.files import write_atomic

        write_atomic(output, text)
    failed = [f"{c.assignment}: {c.name}" for c in checks if c.passed is False]
    summary = f"{len(failed)} of {len(checks)} checks failed" + (f": {', '.join(failed)}" if failed else "")
    click.echo(summary, err=True)
    if failed:
        sys.exit(1)


@main.command("new")
@click.argument("name")
@click.option("--notebook", help="The notebook's file name [default: from NAME, e.g. Optimization.ipynb].")
def new_cmd(name: str, notebook: str | None) -> None:
    """Scaffold a new assignment: its spec, cases, reference notebook and an empty mistake catalogue.

    Example: grader new optimization
    """
    from grader.authoring import scaffold

    for path in scaffold.new(name, root=spec.project_root(), notebook=notebook):
        click.echo(f"wrote {path}")
    click.echo(
        f"next: write the reference in reference/{name}/, its cases in assignments/{name}/, then\n"
        f"  grader release {name} && grader expected {name} && grader validate {name}"
    )


@main.command("reproduce")
@click.argument("name")
@click.option(
    "--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The course's data file."
)
def reproduce_cmd(name: str, data: Path | None) -> None:
    """Train the course's models with the reference and check every figure the course prints.

    Example: grader reproduce regularization --data ../shared/data/regularization_data.mat
    """
    from grader.authoring import reproduce

    ok = reproduce.main(spec.load(name), data=data)
    if not ok:
        sys.exit(1)


def entry() -> None:
    """Console entry point that turns configuration errors into clean messages."""
    try:
        main(standalone_mode=True)
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
