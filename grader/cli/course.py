"""The course's commands: `export` (a gradebook per file, or per student as Canvas, Moodle,
CSV or JSON), `adjust` (an instructor's override) and `feedback` (a folder per student)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import POLICY


@click.command("export")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "target",
    type=click.Choice(["canvas", "moodle", "csv", "json"]),
    help="A row per student, as Canvas or Moodle import it, or as CSV/JSON.",
)
@click.option("--file", "file_path", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
@POLICY
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="JSON to write.")
def export_cmd(
    source: Path,
    target: str | None,
    file_path: Path | None,
    policy: str,
    csv_path: Path | None,
    json_path: Path | None,
) -> None:
    """Write a gradebook (its file, or the --output folder of a batch) for an LMS: --to canvas,
    moodle, csv or json, a row per student (gradebook-canvas.csv ... beside it unless --file).

    Without --to: a row per notebook file, as CSV and/or JSON (--csv, --json: only the files
    named, or gradebook.csv and gradebook.json beside it).

    Example: grader export reports/ --to canvas --file canvas-import.csv
    """
    if target is not None:
        if csv_path or json_path:
            raise click.UsageError("--to writes one file (--file); --csv/--json are the per-file exports")
        from grader.course import exports

        click.echo(f"wrote {exports.export(source, to=target, path=file_path, policy=policy)}")
        return
    if file_path is not None:
        raise click.UsageError("--file goes with --to")
    from grader.course import bookfiles

    for path in bookfiles.export(source, csv_path=csv_path, json_path=json_path):
        click.echo(f"wrote {path}")


@click.command("adjust")
@click.argument("student", required=False)
@click.argument("assignment", required=False)
@click.argument("function", required=False)
@click.option("--points", type=float, help="The function's points from now on.")
@click.option("--comment", help="Why (shown to the student with their feedback).")
@click.option(
    "--gradebook",
    "book",
    envvar="GRADER_GRADEBOOK",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The gradebook, or the --output folder holding it [env: GRADER_GRADEBOOK].",
)
@click.option("--by", "who", default="", help="Who adjusts [default: your login name].")
@click.option("--list", "list_", is_flag=True, help="List every adjustment recorded.")
@click.option(
    "--remove", is_flag=True, help="Withdraw the function's adjustment (back to its graded points)."
)
def adjust_cmd(
    student: str | None,
    assignment: str | None,
    function: str | None,
    points: float | None,
    comment: str | None,
    book: Path,
    who: str,
    list_: bool,
    remove: bool,
) -> None:
    """Override one graded function's points for a student; kept through regrades, shown in
    exports and feedback, and in the student's reports already written under --output (rendered
    again from the stored results: nothing is graded again).

    Example: grader adjust 1001 regularization compute_cost --points 2 --comment "sign" --gradebook out/
    Example: grader adjust 1001 regularization compute_cost --remove --gradebook out/
    """
    from grader.course import adjust, rerender

    if list_:
        click.echo(adjust.listing(book))
        return
    if not (student and assignment and function):
        raise click.UsageError(
            "give STUDENT ASSIGNMENT FUNCTION --points N --comment TEXT (or --remove, --list)"
        )
    from grader.results import unsurrogate

    student = unsurrogate(student)  # a name typed in bytes that are not UTF-8, as a hand-in's id keeps it
    if remove:
        if points is not None or comment is not None:
            raise click.UsageError("--remove takes no --points or --comment")
        click.echo(adjust.remove(book, student, assignment, function, who=who))
    elif points is None or comment is None:
        raise click.UsageError(
            "give STUDENT ASSIGNMENT FUNCTION --points N --comment TEXT (or --remove, --list)"
        )
    else:
        click.echo(adjust.add(book, student, assignment, function, points=points, comment=comment, who=who))
    written = rerender.rerender(book, {student})
    click.echo(
        f"rendered {len(written)} report files again (the reports of {student} and their batches' summaries)"
    )


@click.command("feedback")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder.")
@POLICY
def feedback_cmd(source: Path, to: Path, policy: str) -> None:
    """Write one folder per student: their reports (HTML with --format html), feedback notebooks
    and grades.json; nbgrader hand-ins go to feedback/<student>/<assignment>/.

    Example: grader feedback reports/ --to returned/
    """
    from grader.course import feedback

    folders = feedback.write(source, to, policy=policy)
    click.echo(f"wrote {len(folders)} student folders under {to}")
