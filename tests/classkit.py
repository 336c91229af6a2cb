"""A class of Initialization hand-ins whose mistakes are known, for the class view's tests.

Every student hands in the reference notebook with at most one graded function changed: a right
answer (as it is, or with the student's own comments), a catalogued mistake (the catalogue's
mutant, reference/initialization/mistakes.toml), one of three bugs of our own that the catalogue
does not know (each made by several students, one of them written two ways that compute the same
values), a bug made once, a right answer in a form of its own copied by a few students, or the
released template left blank. Each file differs (a note with the student's name), so neither the
batch nor the copy check merges them; the answers themselves repeat, as in a real class.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.judging import mistakes
from grader.reading import assignment as spec
from grader.reading import notebook

ASSIGNMENT = "initialization"
ZEROS, RANDOM, HE = "initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he"
HE_DRAW = "np.random.randn(layers_dims[l], layers_dims[l - 1]) * np.sqrt(2 / layers_dims[l - 1])"

# Our own bugs, which the catalogue does not know: (function, edits of the reference's def).
# "uniform-he" (rand for randn, catalogued for the random weights but not for He's) is written
# two ways that compute the same values up to the last bits (`np.sqrt` against `** 0.5`).
BUGS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "uniform-he": (HE, [(HE_DRAW, "np.random.rand(layers_dims[l], layers_dims[l - 1]) * np.sqrt(2 / layers_dims[l - 1])")]),
    "uniform-he-again": (HE, [(HE_DRAW, "np.random.rand(layers_dims[l], layers_dims[l - 1]) * (2 / layers_dims[l - 1]) ** 0.5")]),
    "ones-bias": (ZEROS, [("np.zeros((layers_dims[l], 1))", "np.ones((layers_dims[l], 1))")]),
    "small-weights": (RANDOM, [("layers_dims[l - 1]) * 10", "layers_dims[l - 1]) * 0.01")]),
    "once": (HE, [(HE_DRAW, "np.random.randn(layers_dims[l - 1], layers_dims[l]).T * np.sqrt(2 / layers_dims[l - 1])")]),
}  # fmt: skip

# a right answer in a form of its own, handed in by several students
OWN_FORM = '''def initialize_parameters_he(layers_dims):
    """{doc}"""
    np.random.seed(3)  # {comment}
    parameters = {{}}
    sizes = list(zip(layers_dims[:-1], layers_dims[1:]))
    for l, (n_in, n_out) in enumerate(sizes, start=1):
        parameters[f"W{{l}}"] = np.random.randn(n_out, n_in) * np.sqrt(2.0 / n_in)
        parameters[f"b{{l}}"] = np.zeros((n_out, 1))
    return parameters'''

# kind -> how many students
CLASS: dict[str, int] = {
    "correct": 80,
    "restyled": 20,
    "mistake:zeros-shape-order": 12,
    "mistake:zeros-bias-1d": 8,
    "mistake:random-not-scaled": 15,
    "mistake:random-uniform": 6,
    "mistake:he-sqrt-1-over-n": 10,
    "mistake:he-fan-out": 7,
    "bug:uniform-he": 8,
    "bug:uniform-he-again": 6,
    "bug:ones-bias": 9,
    "bug:small-weights": 11,
    "bug:once": 1,
    "own-form": 4,
    "blank": 3,
}


@dataclass(frozen=True)
class Student:
    name: str
    kind: str
    path: Path
    function: str | None  # the graded function changed, if any
    code: str | None  # that function's code as handed in


def _src(cell: dict[str, Any]) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def _graded_cell(nb: dict[str, Any], function: str) -> dict[str, Any]:
    (cell,) = [
        c for c in nb["cells"] if c["cell_type"] == "code" and function in notebook.MARKER.findall(_src(c))
    ]
    return cell


def _definition(source: str, function: str) -> str:
    """The `def` of `function` in a cell's source."""
    lines = source.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines))
    return "\n".join(lines[start:end]).rstrip("\n")


def _replace_def(nb: dict[str, Any], function: str, new: str) -> None:
    cell = _graded_cell(nb, function)
    source = _src(cell)
    cell["source"] = source.replace(_definition(source, function), new)


def build(folder: Path, seed: int = 0) -> list[Student]:
    """Write the class under `folder` (one folder per student, as hand-ins come), in a shuffled
    order of kinds; the students in input order (their folders sort as they are numbered)."""
    a = spec.load(ASSIGNMENT)
    reference = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    released = json.loads(a.student_notebook.read_text(encoding="utf-8"))
    catalogue = {m.id: m for m in mistakes.load(a)}
    kinds = [kind for kind, n in CLASS.items() for _ in range(n)]
    random.Random(seed).shuffle(kinds)
    students = []
    for i, kind in enumerate(kinds):
        name = f"s{i:03d}"
        nb = copy.deepcopy(reference)
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": f"Hand-in of student {name}"})
        function: str | None = None
        code: str | None = None
        group, _, what = kind.partition(":")
        if group == "mistake":
            m = catalogue[what]
            function = m.function
            code = mistakes.mutant_source(m, _definition(_src(_graded_cell(nb, function)), function))
        elif group == "bug":
            function, edits = BUGS[what]
            code = _definition(_src(_graded_cell(nb, function)), function)
            for old, new in edits:
                assert old in code, (what, old)
                code = code.replace(old, new)
        elif kind == "own-form":
            function = HE
            code = OWN_FORM.format(doc=f"He initialisation ({name}).", comment=f"as asked, {name}")
        elif kind == "restyled":
            function = RANDOM
            code = _definition(_src(_graded_cell(nb, function)), function).replace(
                "* 10\n", f"* 10  # large on purpose ({name})\n"
            )
        elif kind == "blank":
            for f in a.functions:
                _graded_cell(nb, f.name)["source"] = _src(_graded_cell(released, f.name))
        if function is not None and code is not None:
            _replace_def(nb, function, code)
        path = folder / name / a.notebook
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb), encoding="utf-8")
        students.append(Student(name, kind, path, function, code))
    return students
