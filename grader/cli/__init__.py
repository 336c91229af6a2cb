"""The `grader` command: a thin layer over the library, one module per group of commands.

grading.py (`run`, `check`), course.py (`export`, `adjust`, `feedback`), authoring.py
(`gradescope-bundle`, `expected`, `release`, `validate`, `new`, `reproduce`), common.py (what
they share). The commands may import anything below them: the public API (`grader.grade`,
`grader.grade_many`) and every stage; nothing imports the command line but the console script
(grader/launch.py).
"""

from __future__ import annotations

import os
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
    """Console entry point that turns configuration errors into clean messages (exit 2), and a
    bug of ours met outside any one submission into one line saying so (exit 3), not a traceback
    (GRADER_TRACEBACK=1 shows it)."""
    try:
        main(standalone_mode=True)
    except GraderError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("GRADER_TRACEBACK"):
            raise
        click.echo(f"error: {_internal(exc)}", err=True)
        sys.exit(3)


def _internal(exc: Exception) -> str:
    """An unexpected exception in one line: what, and where in the grader it was raised."""
    import traceback
    from pathlib import Path

    from grader.results import one_line

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}grader{os.sep}" in f.filename] or frames
    where = f" (at {Path(ours[-1].filename).name}:{ours[-1].lineno})" if ours else ""
    what = one_line(f"{type(exc).__name__}: {exc}")[:300]
    return f"internal error of the grader{where}: {what}; GRADER_TRACEBACK=1 shows the traceback"
