"""The `grader` command: a thin layer over the library, one module per group of commands.

grading.py (`run`, `check`), course.py (`export`, `adjust`, `feedback`), authoring.py
(`gradescope-bundle`, `expected`, `release`, `validate`, `new`, `reproduce`), common.py (what
they share). The commands may import anything below them: the public API (`grader.grade`,
`grader.grade_many`) and every stage; nothing imports the command line but the console script
(grader/launch.py).
"""

from __future__ import annotations

import sys

import click

from grader.cli import authoring, course, grading
from grader.errors import GraderError


@click.group()
@click.version_option(package_name="grader")
def main() -> None:
    """Grade Jupyter notebook assignments, function by function."""


for command in (
    grading.run_cmd,
    grading.check_cmd,
    course.export_cmd,
    course.adjust_cmd,
    course.feedback_cmd,
    authoring.gradescope_bundle_cmd,
    authoring.expected_cmd,
    authoring.release_cmd,
    authoring.validate_cmd,
    authoring.new_cmd,
    authoring.reproduce_cmd,
    authoring.secret_group,
):
    main.add_command(command)


def entry() -> None:
    """Console entry point that turns configuration errors into clean messages."""
    try:
        main(standalone_mode=True)
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
