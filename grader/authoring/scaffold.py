"""`grader new NAME`: the folders of a new assignment, ready to fill in.

The scaffold is a one-function assignment in the layout of docs/assignment-format.md: a spec with
one visible and three hidden cases, their builder, a reference notebook whose solution line is a
placeholder to replace, and an empty mistake catalogue. Once the solution is written, `grader
release`, `grader expected` and `grader validate` accept it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.errors import SpecError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FUNCTION = "double"

SPEC = """\
# The spec of {name}: see docs/assignment-format.md (in the grader's repository).
name = "{name}"
title = "{title}"
notebook = "{notebook}"
files = []                          # helper modules and data students receive, beside the notebook
given = []                          # given functions graded ones call, taken from the released notebook

[functions.{function}]
timeout = 10

[[functions.{function}.cases]]
name = "example"
hidden = false
description = "the notebook's example"
inputs = "vector"
params = {{n = 3, seed = 1}}
points = 1
atol = 1e-12
{hidden}"""

HIDDEN = """
[[functions.{function}.cases]]
name = "{case}"
description = "{description}"
inputs = "vector"
params = {{n = {n}, seed = {seed}}}
points = 1
atol = 1e-12
"""

CASES = '''\
"""Builders of the case inputs of {name}: trusted code, run only by `grader expected`."""

import numpy as np


def vector(ref, n, seed):
    """A column vector of n standard normal entries."""
    rng = np.random.RandomState(seed)
    return {{"v": rng.randn(n, 1)}}
'''

MISTAKES = """\
# Typical mistakes of {name}, each a mutant of the reference (optional; see
# docs/assignment-format.md). For example:
#
# [[mistakes]]
# function = "{function}"
# id = "{function}-adds"
# description = "v + 2 instead of 2 * v"
# hint = "multiply every entry by two"
# replace = [["2 * v", "v + 2"]]
"""

FUNCTION_CELL = f'''\
# GRADED FUNCTION: {FUNCTION}

def {FUNCTION}(v):
    """Return v with every entry multiplied by two."""
    ### START CODE HERE ###
    out = None  # TODO: the solution, one assignment per line (`grader release` blanks it)
    ### END CODE HERE ###
    return out'''


def _notebook(title: str) -> dict[str, object]:
    def code(cell_id: str, source: str) -> dict[str, object]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": cell_id,
            "metadata": {},
            "outputs": [],
            "source": source,
        }

    return {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": f"# {title}"},
            code("imports", "import numpy as np"),
            code(f"graded-{FUNCTION}", FUNCTION_CELL),
            code("try-it", f"print({FUNCTION}(np.ones((2, 1))))"),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def new(name: str, *, root: Path, notebook: str | None = None) -> list[Path]:
    """Write a new assignment's files under `root`; refuse a name in use or not a lowercase word."""
    if not NAME.match(name):
        raise SpecError(f"{name!r}: an assignment's name is lowercase letters, digits and _")
    folder, reference = root / "assignments" / name, root / "reference" / name
    for taken in (folder, reference, root / "expected" / f"{name}.json"):
        if taken.exists():
            raise SpecError(f"{taken} exists already: choose another name")
    notebook = notebook or "".join(p.capitalize() for p in name.split("_") if p) + ".ipynb"
    if not notebook.endswith(".ipynb") or "/" in notebook:
        raise SpecError(f"{notebook!r}: the notebook is a file name ending in .ipynb")
    title = name.replace("_", " ").capitalize()
    hidden = "".join(
        HIDDEN.format(function=FUNCTION, case=case, description=words, n=n, seed=seed)
        for case, words, n, seed in (
            ("longer", "a longer vector", 7, 5),
            ("single", "a vector of one entry", 1, 2),
            ("wide", "a vector with large entries", 4, 9),
        )
    )
    files = {
        folder / "assignment.toml": SPEC.format(
            name=name, title=title, notebook=notebook, function=FUNCTION, hidden=hidden
        ),
        folder / "cases.py": CASES.format(name=name),
        reference / notebook: json.dumps(_notebook(title), indent=1, sort_keys=True) + "\n",
        reference / "mistakes.toml": MISTAKES.format(name=name, function=FUNCTION),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "expected").mkdir(exist_ok=True)
    return list(files)
