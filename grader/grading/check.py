"""Students' self-check: the grader's own harness on the visible cases only.

Nothing here grades differently: the assignment is narrowed to its visible cases and handed to
`grade.grade_parsed`, so what a student sees and what the grader does can never diverge.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from grader.errors import NotebookError
from grader.grading import grade
from grader.judging.prepared import Prepared, prepare
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.results import Report
from grader.sandbox import run


def visible_only(prep: Prepared) -> Prepared:
    """The same prepared assignment, every function keeping only its visible cases."""
    a = prep.assignment
    functions = tuple(replace(f, cases=tuple(c for c in f.cases if not c.hidden)) for f in a.functions)
    return replace(prep, assignment=replace(a, functions=functions))


def check_path(path: Path, options: grade.Options, session: run.Session | None = None) -> Report:
    """Run a notebook's graded functions on the visible cases; never raises for the notebook's sake."""
    label = str(path)
    try:
        cells = notebook.read(path)
    except NotebookError as exc:
        return Report(label, options.assignment, "invalid", f"not a readable notebook: {exc}")
    parsed = notebook.parse(cells)
    name = options.assignment or grade.recognise(parsed, options.root)
    if name is None:
        known = ", ".join(spec.names(root=options.root))
        return Report(label, None, "invalid", f"no graded function of a known assignment ({known}) found")
    prep = visible_only(prepare(name, options.root, None))
    return grade.grade_parsed(label, parsed, prep, options, session)
