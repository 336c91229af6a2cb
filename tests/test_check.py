"""`grader check`: the students' self-check runs the grader's own harness on the visible cases only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.grading import check, grade
from grader.judging import mistakes
from grader.reading import assignment as spec
from grader.reading import notebook


def _mutant(name: str, mistake_id: str, path: Path) -> Path:
    a = spec.load(name)
    (m,) = [m for m in mistakes.load(a) if m.id == mistake_id]
    cell = mistakes.mutant_cell(notebook.parse(notebook.read(a.reference_notebook)), m)
    nb = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    nb["cells"][cell.index - 1]["source"] = cell.source
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", spec.names())
def test_the_reference_passes_every_visible_check(name: str) -> None:
    result = CliRunner().invoke(main, ["check", str(spec.load(name).reference_notebook)])
    assert result.exit_code == 0, result.output
    n = len(spec.load(name).functions)
    assert f"{n} of {n} functions pass their visible checks" in result.output


def test_a_mistake_is_named_with_its_hint(tmp_path: Path) -> None:
    path = _mutant("regularization", "dropout-mask-greater", tmp_path / "student.ipynb")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert "[XX] forward_propagation_with_dropout" in result.output
    assert "looks like a dropout mask compared with > keep_prob" in result.output
    assert "hint: keep a unit when its number is below keep_prob" in result.output
    assert "3 of 4 functions pass" in result.output


def test_check_and_grader_agree_on_every_visible_case(tmp_path: Path) -> None:
    path = _mutant("initialization", "he-fan-out", tmp_path / "student.ipynb")
    checked = check.check_path(path, grade.Options())
    graded = grade.grade_path(path, grade.Options())
    seen = {(f.name, t.name): t for f in checked.functions for t in f.tests}
    assert seen and all(not t.hidden for t in seen.values())
    visible = {(f.name, t.name): t for f in graded.functions for t in f.tests if not t.hidden}
    assert seen == visible


def test_blank_and_unreadable_notebooks(tmp_path: Path) -> None:
    blank = CliRunner().invoke(main, ["check", str(spec.load("gradient_checking").student_notebook)])
    assert blank.exit_code == 1 and "not implemented yet" in blank.output
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 1 and "Could not check" in result.output and "not valid JSON" in result.output
