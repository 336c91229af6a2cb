"""A stale or mismatched expected/ (a case renamed without rerunning `grader expected`) is one
line naming the command to run, in run, check and batch: never a KeyError's traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.errors import SpecError
from grader.grading import grade
from grader.reading import assignment as spec
from tests import toykit
from tests.toykit import cli, edit

toy_copy = toykit.toy_copy


def _rename_a_case(root: Path) -> None:
    edit(root / "assignments/toy/assignment.toml", 'name = "longer"', 'name = "early_step"')


def _one_line(output: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output and "KeyError" not in output, output
    assert "toy.json does not match" in lines[0] and "run `grader expected toy`" in lines[0], output


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--fast"],
        ["run", "--fast", "--format", "json", "--assignment", "toy"],
        ["check"],
        ["batch"],
    ],
    ids=["run", "run-json", "check", "batch"],
)
def test_a_renamed_case_is_one_line_naming_grader_expected(
    toy_copy: Path, tmp_path: Path, args: list[str]
) -> None:
    _rename_a_case(toy_copy)
    notebook = toy_copy / "reference/toy/Toy.ipynb"
    if args == ["batch"]:
        folder = tmp_path / "class"
        folder.mkdir()
        for who in ("alice", "bob"):
            shutil.copy(notebook, folder / f"{who}.ipynb")
        args = ["run", "--fast", str(folder), "--output", str(tmp_path / "out")]
    else:
        args = [*args, str(notebook)]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    _one_line(result.output)
    assert "early_step" in result.output or "longer" in result.output


def test_a_missing_function_and_a_bare_nan_say_the_same(toy_copy: Path) -> None:
    path = toy_copy / "expected/toy.json"
    path.write_text(path.read_text().replace('"unit"', '"unit_old"'))
    result = cli("check", str(toy_copy / "reference/toy/Toy.ipynb"))
    assert result.exit_code == 2
    _one_line(result.output)
    assert "unit: not in expected/" in result.output


def test_the_library_raises_the_same_error_not_a_keyerror(toy_copy: Path) -> None:
    _rename_a_case(toy_copy)
    with pytest.raises(SpecError, match=r"scale/early_step: not in expected/.*run `grader expected toy`"):
        grade.grade_path(toy_copy / "reference/toy/Toy.ipynb", grade.Options())
    assert spec.mismatches(spec.load("toy"), {"assignment": "toy", "functions": {}}) == [
        "scale: not in expected/",
        "unit: not in expected/",
    ]
