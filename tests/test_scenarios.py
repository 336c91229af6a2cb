"""Real students' habits and both editions of the course, for every assignment (the toy's too).

Each scenario's notebook is built from the assignment's reference at test time, into a temporary
folder: a new assignment needs nothing generated or committed beforehand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.grading import grade
from grader.reading import assignment as spec
from tests import scenarios
from tests.conftest import TOY

ASSIGNMENTS = [(a, None) for a in spec.load_all()] + [(a, TOY) for a in spec.load_all(root=TOY)]
CASES = [(a, root, s) for a, root in ASSIGNMENTS for s in scenarios.SCENARIOS]
IDS = [f"{a.name}-{s.name}" for a, _, s in CASES]
GRADER = str(Path(sys.executable).parent / "grader")


@pytest.mark.parametrize(("a", "root", "scenario"), CASES, ids=IDS)
def test_scenario_grades_as_expected(
    a: spec.Assignment, root: Path | None, scenario: scenarios.Scenario, tmp_path: Path
) -> None:
    path = scenarios.write(a, scenario, tmp_path)
    report = grade.grade_path(path, grade.Options(root=root))
    assert report.status == "graded" and report.assignment == a.name, report.message
    expect = scenario.expect(a)
    assert [f.name for f in report.functions] == [f.name for f in a.functions]
    for f in report.functions:
        if f.name in expect.zero:
            assert f.score < f.max_score and expect.zero[f.name] in f.message, f
        else:
            assert f.score == f.max_score, f
        assert "Traceback" not in f.message
        if f.name in expect.warn:
            assert f.warnings, f


@pytest.mark.parametrize(("a", "root"), ASSIGNMENTS, ids=[a.name for a, _ in ASSIGNMENTS])
def test_both_modes_give_the_same_scores(a: spec.Assignment, root: Path | None, tmp_path: Path) -> None:
    newer = next(s for s in scenarios.SCENARIOS if s.name == "newer-edition")
    path = scenarios.write(a, newer, tmp_path / "in")
    env = {**os.environ, **({"GRADER_ROOT": str(root)} if root else {})}
    outs = []
    for extra in (["--fast"], ["--output", str(tmp_path / "out")]):
        proc = subprocess.run(
            [GRADER, "run", "--format", "json", *extra, str(path)],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    fast, full = outs
    assert fast.get("status") == full.get("status") == "graded", (fast, full)
    assert [f["score"] for f in fast["functions"]] == [f["score"] for f in full["functions"]]
    assert full.get("execution", {}).get("status") == "completed", full
    out = tmp_path / "out"
    assert (out / f"{path.stem}.executed.ipynb").is_file() and (out / f"{path.stem}.json").is_file()
