"""Notebooks the way real students leave them, written from the reference by rules.

Each scenario turns an assignment's reference notebook into a submission in the style of one
edition of the course, or with one of the oddities students produce, and states what grading
it must give. tests/test_scenarios.py builds every scenario of every assignment (the toy's too)
into a temporary folder at test time, so a new assignment needs nothing generated beforehand. To
look at them by hand:

    python -m tests.scenarios OUTPUT_DIR [ASSIGNMENT...]
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.reading import assignment as spec
from grader.reading import notebook

Notebook = dict[str, Any]


@dataclass(frozen=True)
class Expect:
    """What grading a scenario must give: full marks except `zero` (function -> message part)."""

    zero: dict[str, str] = field(default_factory=dict)
    warn: tuple[str, ...] = ()  # functions whose result must carry a warning


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[spec.Assignment, Notebook], Notebook]
    expect: Callable[[spec.Assignment], Expect]


def _src(cell: dict[str, Any]) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _graded(nb: Notebook) -> dict[str, dict[str, Any]]:
    out = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            for name in notebook.MARKER.findall(_src(cell)):
                out[name] = cell
    return out


def _code(source: str, **meta: Any) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": dict(meta),
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def _first_graded(a: spec.Assignment) -> str:
    return a.functions[0].name


def _last_graded(a: spec.Assignment) -> str:
    return a.functions[-1].name


def _insert_after(nb: Notebook, cell: dict[str, Any], new: dict[str, Any]) -> None:
    nb["cells"].insert(nb["cells"].index(cell) + 1, new)


def _def(source: str, name: str) -> ast.FunctionDef:
    for node in ast.parse(notebook.neutralise(source)).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise ValueError(name)


def _params(source: str, name: str) -> list[str]:
    return [a.arg for a in _def(source, name).args.args]


# ----------------------------------------------------------------------------- editions


def older_edition(a: spec.Assignment, nb: Notebook) -> Notebook:
    """nbformat 4.0, sources as lists of lines, no cell ids, `%matplotlib inline`."""
    nb["nbformat_minor"] = 0
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell["source"] = _src(cell).splitlines(keepends=True)
    nb["cells"].insert(0, _code("%matplotlib inline\nimport numpy as np"))
    return nb


def older_edition_v3(a: spec.Assignment, nb: Notebook) -> Notebook:
    """The same, saved as nbformat 3 (worksheets, `input`, heading cells)."""
    cells = []
    for cell in older_edition(a, nb)["cells"]:
        if cell["cell_type"] == "code":
            cells.append(
                {
                    "cell_type": "code",
                    "input": cell["source"],
                    "language": "python",
                    "metadata": {},
                    "outputs": [],
                    "collapsed": False,
                }
            )
        else:
            cells.append({"cell_type": "markdown", "source": cell["source"], "metadata": {}})
    return {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [{"cells": cells, "metadata": {}}],
    }


def newer_edition(a: spec.Assignment, nb: Notebook) -> Notebook:
    """nbformat 4.5 with nbgrader cell identities, public_tests, autoreload, print_msg keywords."""
    nb["nbformat_minor"] = 5
    nb["cells"].insert(
        0, _code("%load_ext autoreload\n%autoreload 2\nfrom public_tests import *", id="setup-newer")
    )
    for i, (name, cell) in enumerate(_graded(nb).items()):
        source = _src(cell)
        if "epsilon" in _params(source, name):  # the newer edition's extra keyword
            source = re.sub(rf"(def {name}\([^)]*epsilon\s*=\s*1e-7)\)", r"\1, print_msg=False)", source)
        cell["source"] = source
        cell["metadata"] = {
            "deletable": False,
            "nbgrader": {
                "grade": False,
                "grade_id": f"cell-{i:04x}",
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            },
        }
        _insert_after(nb, cell, _code(f"{name}_test({name})", id=f"test-{i}"))
    return nb


# ----------------------------------------------------------------------------- oddities


def missing_markers(a: spec.Assignment, nb: Notebook) -> Notebook:
    for cell in _graded(nb).values():
        cell["source"] = "\n".join(ln for ln in _src(cell).split("\n") if not notebook.MARKER.match(ln))
    return nb


def code_outside_markers(a: spec.Assignment, nb: Notebook) -> Notebook:
    for cell in _graded(nb).values():
        lines = [
            ln for ln in _src(cell).split("\n") if not (notebook.START.match(ln) or notebook.END.match(ln))
        ]
        cell["source"] = "\n".join(lines)
    return nb


def crlf_and_indented_markers(a: spec.Assignment, nb: Notebook) -> Notebook:
    for cell in _graded(nb).values():
        cell["source"] = (
            _src(cell).replace("# GRADED FUNCTION:", "   #GRADED FUNCTION:").replace("\n", "\r\n")
        )
    return nb


NUDGE = '''

def {name}(*args, **kwargs):
    """A scratch copy that scales every float it returns: a wrong answer."""
    return _scale({original}(*args, **kwargs))


def _scale(value):
    if isinstance(value, dict):
        return {{k: _scale(v) for k, v in value.items()}}
    if isinstance(value, (tuple, list)):
        return type(value)(_scale(v) for v in value)
    if hasattr(value, "dtype") and value.dtype.kind == "f" or isinstance(value, float):
        return value * 1.5 + 0.25
    return value
'''


def _wrong_copy(nb: Notebook, name: str, *, before: bool, graded_cell_identity: bool = False) -> Notebook:
    cell = _graded(nb)[name]
    original = f"_kept_{name}"
    helper = _code(
        _src(cell).replace(f"def {name}(", f"def {original}(").replace("# GRADED FUNCTION:", "# copy of")
    )
    wrong = _code(NUDGE.format(name=name, original=original))
    if graded_cell_identity:
        cell["metadata"] = {"nbgrader": {"grade_id": "cell-graded", "solution": True, "grade": False}}
    pos = nb["cells"].index(cell)
    nb["cells"][pos:pos] = [helper] + ([wrong] if before else [])
    if not before:
        nb["cells"].insert(nb["cells"].index(cell) + 1, wrong)
    return nb


def duplicate_wrong_first(a: spec.Assignment, nb: Notebook) -> Notebook:
    return _wrong_copy(nb, _first_graded(a), before=True)


def duplicate_wrong_last(a: spec.Assignment, nb: Notebook) -> Notebook:
    return _wrong_copy(nb, _first_graded(a), before=False)


def duplicate_graded_cell_wins(a: spec.Assignment, nb: Notebook) -> Notebook:
    return _wrong_copy(nb, _first_graded(a), before=False, graded_cell_identity=True)


def helpers_in_other_cells(a: spec.Assignment, nb: Notebook) -> Notebook:
    for name, cell in _graded(nb).items():
        params = _params(_src(cell), name)
        signature = ast.unparse(_def(_src(cell), name).args)  # defaults kept
        body = _src(cell).replace(f"def {name}(", f"def _my_{name}_helper(")
        cell["source"] = (
            f"# GRADED FUNCTION: {name}\ndef {name}({signature}):\n    return _my_{name}_helper({', '.join(params)})\n"
        )
        nb["cells"].insert(nb["cells"].index(cell), _code(body.replace("# GRADED FUNCTION:", "# helper for")))
    return nb


def test_calls_in_graded_cells(a: spec.Assignment, nb: Notebook) -> Notebook:
    for name, cell in _graded(nb).items():
        cell["source"] = _src(cell) + f"\n\nprint({name})\nraise RuntimeError('a test call that fails')\n"
    return nb


def untouched_template(a: spec.Assignment, nb: Notebook) -> Notebook:
    return json.loads(a.student_notebook.read_text(encoding="utf-8"))


def syntax_error(a: spec.Assignment, nb: Notebook) -> Notebook:
    cell = _graded(nb)[_last_graded(a)]
    cell["source"] = _src(cell).replace("return", "return (", 1)
    return nb


def uses_a_global(a: spec.Assignment, nb: Notebook) -> Notebook:
    name = _first_graded(a)
    cell = _graded(nb)[name]
    first = _params(_src(cell), name)[0]
    nb["cells"].insert(nb["cells"].index(cell), _code(f"{first}_global = None"))
    cell["source"] = re.sub(
        rf"(def {name}\([^)]*\):[^\n]*\n)", rf"\1    {first} = {first}_global\n", _src(cell), count=1
    )
    return nb


def dies_early(a: spec.Assignment, nb: Notebook) -> Notebook:
    nb["cells"].insert(2, _code("raise RuntimeError('this notebook stops here when run top to bottom')"))
    return nb


def _full() -> Callable[[spec.Assignment], Expect]:
    return lambda a: Expect()


SCENARIOS = [
    Scenario("older-edition", older_edition, _full()),
    Scenario("older-edition-nbformat3", older_edition_v3, _full()),
    Scenario("newer-edition", newer_edition, _full()),
    Scenario("missing-markers", missing_markers, _full()),
    Scenario("code-outside-markers", code_outside_markers, _full()),
    Scenario("crlf-and-indented-markers", crlf_and_indented_markers, _full()),
    Scenario("duplicate-wrong-first", duplicate_wrong_first, lambda a: Expect(warn=(_first_graded(a),))),
    Scenario(
        "duplicate-wrong-last",
        duplicate_wrong_last,
        lambda a: Expect({_first_graded(a): ""}, (_first_graded(a),)),
    ),
    Scenario(
        "duplicate-graded-cell-wins", duplicate_graded_cell_wins, lambda a: Expect(warn=(_first_graded(a),))
    ),
    Scenario("helpers-in-other-cells", helpers_in_other_cells, _full()),
    Scenario("test-calls-in-graded-cells", test_calls_in_graded_cells, _full()),
    Scenario(
        "untouched-template",
        untouched_template,
        lambda a: Expect({f.name: "not implemented yet" for f in a.functions}),
    ),
    Scenario("syntax-error", syntax_error, lambda a: Expect({_last_graded(a): "syntax error"})),
    Scenario("uses-a-global", uses_a_global, lambda a: Expect({_first_graded(a): "global"})),
    Scenario("dies-early", dies_early, _full()),
]


def build(a: spec.Assignment, scenario: Scenario) -> Notebook:
    """A scenario's notebook for an assignment."""
    reference = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    return scenario.build(a, copy.deepcopy(reference))


def render(nb: Notebook) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def write(a: spec.Assignment, scenario: Scenario, folder: Path) -> Path:
    """Write a scenario's notebook for an assignment as `folder/<scenario>.ipynb`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scenario.name}.ipynb"
    path.write_text(render(build(a, scenario)), encoding="utf-8")
    return path


def main(argv: list[str]) -> None:
    """Write every scenario of the named assignments (all by default) under OUTPUT_DIR."""
    if not argv:
        sys.exit("usage: python -m tests.scenarios OUTPUT_DIR [ASSIGNMENT...]")
    out, names = Path(argv[0]), argv[1:]
    for a in [spec.load(n) for n in names] or spec.load_all():
        for s in SCENARIOS:
            print(f"wrote {write(a, s, out / a.name)}")


if __name__ == "__main__":
    main(sys.argv[1:])
