"""The `grader` console script.

For `grader run ONE.ipynb` the sandboxed worker is started before the command-line library,
numpy and the rest of the grader are imported, so the worker's interpreter boots while they
load. The command line is read here only as far as that needs, conservatively (anything
unexpected: no early start); click parses it for real afterwards, and the early worker is used
only if click's reading names the same notebook, assignment and folders to hide.
"""

from __future__ import annotations

import sys
from pathlib import Path

VALUED = ("--assignment", "--format", "--output", "--timeout", "--fail-under")
FLAGS = ("--fast", "--require-isolation")


def single_run(args: list[str]) -> tuple[Path, str | None, tuple[str, ...]] | None:
    """(notebook, --assignment, folders to hide) for `run ONE [options]`, else None."""
    if not args or args[0] != "run":
        return None
    paths: list[str] = []
    values: dict[str, str] = {}
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in VALUED:
            got = value if eq else next(rest, None)
            if got is None or name in values:
                return None
            values[name] = got
        elif arg in FLAGS:
            continue
        elif arg.startswith("-"):  # --jobs, --scheduler, --help, "--", anything else
            return None
        else:
            paths.append(arg)
    if len(paths) != 1 or not Path(paths[0]).is_file():
        return None
    output = values.get("--output")
    hide = (str(Path(output).resolve()),) if output else ()
    return Path(paths[0]), values.get("--assignment"), hide


def main() -> None:
    early = single_run(sys.argv[1:])
    if early is not None:
        from grader import run

        run.start_early(*early)
    from grader.cli import entry

    entry()
