"""The public API in grader/__init__.py: what `import grader` costs, what help(grader) shows, that
`grade` and `grade_many` give what the command prints, and that the command goes through them."""

from __future__ import annotations

import json
import pydoc
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import grader
from grader import results
from grader.cli import main
from grader.course.plan import Outcome
from grader.reading import assignment as spec
from grader.results import Report

REF = spec.load("initialization").reference_notebook
GRADER = str(Path(sys.executable).parent / "grader")


def test_importing_grader_imports_nothing_else() -> None:
    code = "import sys; before = set(sys.modules); import grader; print(sorted(set(sys.modules) - before))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == ["grader"]


def test_help_shows_the_public_api_typed_and_documented() -> None:
    text = pydoc.render_doc(grader, renderer=pydoc.plaintext)
    assert "grade(path: 'str | PathLike[str]', *, assignment: 'str | None' = None" in text
    assert "-> 'Report'" in text and "-> 'Outcome'" in text and "grade_many(paths:" in text
    for name in grader.__all__:
        value = getattr(grader, name)
        assert value.__doc__ and len(value.__doc__) > 20, name
        assert (f"class {name}(" in text) if isinstance(value, type) else (f"{name}(" in text), name
    assert (grader.Report, grader.FunctionResult, grader.TestResult) == (Report, results.FunctionResult, results.TestResult)
    assert grader.Outcome is Outcome and issubclass(grader.SpecError, grader.GraderError)
    with pytest.raises(AttributeError):
        grader.no_such_name  # noqa: B018


def test_grade_gives_the_report_the_command_prints(tmp_path: Path) -> None:
    report = grader.grade(str(REF), fast=True)
    assert isinstance(report, Report) and report.status == "graded" and report.score == report.max_score == 30
    proc = subprocess.run([GRADER, "run", "--fast", "--format", "json", str(REF)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == report.to_dict()


def test_grade_never_raises_for_the_notebook(tmp_path: Path) -> None:
    page = tmp_path / "page.ipynb"
    page.write_text("<html><body>404</body></html>")
    report = grader.grade(page, fast=True)
    assert report.status == "invalid" and "HTML" in report.message
    assert grader.grade(tmp_path / "missing.ipynb", fast=True).status == "invalid"


def test_grade_many_grades_a_folder_into_reports_and_a_gradebook(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(REF, folder / "alice.ipynb")
    shutil.copy(spec.load("initialization").student_notebook, folder / "bob.ipynb")
    (folder / "carol.ipynb").write_text("not json")
    out = tmp_path / "out"
    outcome = grader.grade_many([folder], fast=True, jobs=2, output=out)
    scores = {Path(r.submission).name: (r.status, r.score) for r in outcome.results()}
    assert scores == {"alice.ipynb": ("graded", 30), "bob.ipynb": ("graded", 0), "carol.ipynb": ("invalid", 0)}
    assert outcome.graded == 3 and outcome.errors == 0 and (out / "gradebook.sqlite").is_file()
    again = grader.grade_many([folder], fast=True, output=out)
    assert again.skipped == 3 and [r["score"] for r in again.reports] == [r["score"] for r in outcome.reports]


def test_the_command_grades_through_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[str, Any]] = []

    def grade(path: Any, **options: Any) -> Report:
        calls.append(("grade", (str(path), options)))
        return Report(str(path), "initialization", "graded", "graded")

    def grade_many(paths: Any, **options: Any) -> Outcome:
        calls.append(("grade_many", ([str(p) for p in paths], options)))
        return Outcome([Report("a.ipynb", None, "invalid", "stand-in").to_dict()] * 2)

    monkeypatch.setattr(grader, "grade", grade)
    monkeypatch.setattr(grader, "grade_many", grade_many)
    one = CliRunner().invoke(main, ["run", "--fast", "--timeout", "5", str(REF)])
    assert one.exit_code == 0, one.output
    assert calls == [("grade", (str(REF), {"assignment": None, "fast": True, "timeout": 5.0, "output": None, "images": False, "student": None}))]
    calls.clear()
    shutil.copy(REF, tmp_path / "a.ipynb")
    shutil.copy(REF, tmp_path / "b.ipynb")
    many = CliRunner().invoke(main, ["run", "--fast", "--jobs", "2", str(tmp_path)])
    assert many.exit_code == 0, many.output
    assert [c[0] for c in calls] == ["grade_many"] and calls[0][1][0] == [str(tmp_path)]
    assert calls[0][1][1]["jobs"] == 2 and "stand-in" in many.output
