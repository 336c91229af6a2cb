"""The course's command: `export` (a batch's gradebook as CSV or JSON)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
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
