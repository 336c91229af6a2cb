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
        from grader.sandbox import run

        run.start_early(*early)
    from grader.cli import entry

    try:
        entry()
    except SystemExit as exc:
        _exit(exc.code if exc.code is None or isinstance(exc.code, (str, int)) else 1)
    _exit(0)


def _exit(code: str | int | None) -> None:
    """Exit without tearing the interpreter down module by module (numpy's teardown alone is
    ~15 ms of a one-notebook run): exit handlers run, output is flushed, files are already
    closed. With a thread still running, the ordinary exit, which waits for it."""
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`grader run ... | head`)
            pass
    os._exit(code or 0)
