"""Real students' habits and both editions of the course, for every assignment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader import assignment as spec
from grader import grade
from tests import scenarios

CASES = [(a, s) for a in spec.load_all() for s in scenarios.SCENARIOS]
IDS = [f"{a.name}-{s.name}" for a, s in CASES]
GRADER = str(Path(sys.executable).parent / "grader")


@pytest.mark.parametrize(("a", "scenario"), CASES, ids=IDS)
def test_scenario_files_are_current(a: spec.Assignment, scenario: scenarios.Scenario) -> None:
    path = scenarios.path(a, scenario)
    assert path.is_file() and path.read_text(encoding="utf-8") == scenarios.render(
        scenarios.build(a, scenario)
    ), "regenerate with: python -m tests.scenarios"


@pytest.mark.parametrize(("a", "scenario"), CASES, ids=IDS)
def test_scenario_grades_as_expected(a: spec.Assignment, scenario: scenarios.Scenario) -> None:
    report = grade.grade_path(scenarios.path(a, scenario), grade.Options())
    assert report.status == "graded" and report.assignment == a.name, report.message
    expect = scenario.expect(a)
    for f in report.functions:
        if f.name in expect.zero:
            assert f.score < f.max_score and expect.zero[f.name] in f.message, f
        else:
            assert f.score == f.max_score, f
        assert "Traceback" not in f.message
        if f.name in expect.warn:
            assert f.warnings, f


@pytest.mark.parametrize("a", spec.load_all(), ids=lambda a: a.name)
def test_both_modes_give_the_same_scores(a: spec.Assignment, tmp_path: Path) -> None:
    path = scenarios.path(a, next(s for s in scenarios.SCENARIOS if s.name == "newer-edition"))
    outs = []
    for extra in (["--fast"], ["--output", str(tmp_path)]):
        proc = subprocess.run(
            [GRADER, "run", "--format", "json", *extra, str(path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    fast, full = outs
    assert [f["score"] for f in fast["functions"]] == [f["score"] for f in full["functions"]]
    assert full["execution"]["status"] == "completed", full["execution"]
    assert (tmp_path / f"{path.stem}.executed.ipynb").is_file() and (tmp_path / f"{path.stem}.json").is_file()
