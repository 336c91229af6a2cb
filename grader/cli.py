"""The `grader` command: a thin shell over the library."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import assignment as spec
from grader import expected as expected_mod
from grader import release as release_mod
from grader.errors import GraderError
from grader.report import Report, to_json, to_text, write_atomic


def _names(names: tuple[str, ...]) -> list[str]:
    return list(names) or spec.names()


@click.group()
@click.version_option(package_name="grader")
def main() -> None:
    """Grade Jupyter notebook assignments, function by function."""


def _collect(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts))
        else:
            files.append(p)
    return files


@main.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--assignment", help="Grade as this assignment instead of recognising it.")
@click.option("--fast", is_flag=True, help="Skip the full-notebook run; grade functions only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Directory for reports and executed notebooks."
)
@click.option("--timeout", type=float, help="Seconds per graded function (default: the assignment's).")
@click.option("--fail-under", type=float, help="Exit 1 when a submission scores below this percent.")
@click.option("--require-isolation", is_flag=True, help="Refuse to grade without network and user isolation.")
def run_cmd(
    paths: tuple[Path, ...],
    assignment: str | None,
    fast: bool,
    fmt: str,
    output: Path | None,
    timeout: float | None,
    fail_under: float | None,
    require_isolation: bool,
) -> None:
    """Grade notebooks headless and print a score per function.

    Example: grader run submissions/alice.ipynb --format json --output reports/
    """
    from grader import grade, sandbox

    if assignment is not None and assignment not in spec.names():
        raise click.UsageError(f"unknown assignment {assignment!r}; known: {', '.join(spec.names())}")
    if require_isolation and not sandbox.available_isolation().complete:
        raise click.UsageError(
            "isolation is incomplete here: " + "; ".join(sandbox.available_isolation().notes)
        )
    files = _collect(paths)
    if not files:
        raise click.UsageError("no notebooks found in the given paths")
    options = grade.Options(assignment=assignment, timeout=timeout)
    reports: list[Report] = []
    for path in files:
        report = grade.grade_path(path, options)
        if not fast and report.status == "graded":
            report = _with_execution(report, path, output, timeout)
        reports.append(report)
        if output is not None:
            write_atomic(output / f"{path.stem}.json", to_json([report], single=True))
    if fmt == "json":
        click.echo(to_json(reports, single=len(paths) == 1 and len(files) == 1))
    else:
        for r in reports:
            click.echo(to_text(r, color=sys.stdout.isatty()))
    if fail_under is not None and any(r.percent < fail_under for r in reports):
        sys.exit(1)


def _with_execution(report: Report, path: Path, output: Path | None, timeout: float | None) -> Report:
    from dataclasses import replace

    from grader import execute

    outcome = execute.run_notebook(path, report.assignment or "", output=output, cell_timeout=timeout or 60.0)
    return replace(report, extra={**report.extra, "execution": outcome})


@main.command("expected")
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Exit 1 and list the entries that changed, writing nothing.")
def expected_cmd(names: tuple[str, ...], check: bool) -> None:
    """Regenerate expected/<assignment>.json from the reference solutions.

    Example: grader expected --check
    """
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


@main.command("reproduce")
@click.argument("name")
@click.option(
    "--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The course's data file."
)
def reproduce_cmd(name: str, data: Path | None) -> None:
    """Train the course's models with the reference and check every figure the course prints.

    Example: grader reproduce regularization --data ../shared/data/regularization_data.mat
    """
    from grader import reproduce

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
