"""Every assignment: the reference scores full marks, the blank scores a clean zero, and breaking
one function costs exactly that function's points (so one bug never cascades)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.grading import grade
from grader.reading import assignment as spec
from grader.reading import notebook
from tests.conftest import NUDGE

NAMES = spec.names()
PAIRS = [(a.name, f.name) for a in spec.load_all() for f in a.functions]
OPTIONS = grade.Options()

def _cells(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES)
def test_reference_full_marks_and_blank_clean_zero(name: str) -> None:
    a = spec.load(name)
    ref = grade.grade_path(a.reference_notebook, OPTIONS)
    assert ref.status == "graded" and ref.score == ref.max_score == a.max_score, ref.to_dict()
    blank = grade.grade_path(a.student_notebook, OPTIONS)
    assert blank.status == "graded" and blank.score == 0
    for f in blank.functions:
        assert f.status == "failed" and "not implemented yet" in f.message
        assert "Traceback" not in f.message


@pytest.mark.parametrize(("name", "function"), PAIRS)
def test_breaking_one_function_costs_only_its_points(name: str, function: str, tmp_path: Path) -> None:
    a = spec.load(name)
    nb = _cells(a.reference_notebook)
    graded = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and function in notebook.MARKER.findall("".join(c["source"]))
    ]
    assert len(graded) == 1
    source = "".join(graded[0]["source"]).replace(f"def {function}(", f"def _reference_{function}(")
    graded[0]["source"] = source + NUDGE.format(name=function)
    path = tmp_path / f"{function}-wrong.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = grade.grade_path(path, OPTIONS)
    by_name = {f.name: f for f in report.functions}
    broken = by_name.pop(function)
    assert broken.score < broken.max_score and broken.status == "failed", broken
    for other in by_name.values():
        assert other.score == other.max_score, other
