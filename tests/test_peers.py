"""A graded function that calls another graded function is judged with the reference's version
of the one it calls, never the student's own: two of about a hundred public Gradient Checking
notebooks write `backward_propagation` as `forward_propagation(x, theta) / theta` (right for every
theta but 0), and lost all its points to a NameError; and a wrong `forward_propagation` must cost
its own points only."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grader import assignment as spec
from grader import grade, notebook, run
from tests import scenarios

EDITIONS = {"older": scenarios.older_edition, "newer": scenarios.newer_edition}


def _submission(tmp_path: Path, edition: str, replace: dict[str, str]) -> Path:
    a = spec.load("gradient_checking")
    nb = EDITIONS[edition](a, copy.deepcopy(json.loads(a.reference_notebook.read_text(encoding="utf-8"))))
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for old, new in replace.items():
            source = source.replace(old, new)
        cell["source"] = source
    path = tmp_path / f"{edition}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _scores(path: Path) -> dict[str, tuple[float, float, str]]:
    report = grade.grade_path(path, grade.Options())
    assert report.status == "graded", report.message
    return {f.name: (f.score, f.max_score, f.message) for f in report.functions}


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_backward_through_forward_gets_full_marks(tmp_path: Path, edition: str) -> None:
    path = _submission(tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x, theta) / theta\n"})
    assert "forward_propagation(x, theta) / theta" in path.read_text()
    for name, (score, top, message) in _scores(path).items():
        assert score == top, (name, message)


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_a_wrong_forward_costs_only_its_own_points(tmp_path: Path, edition: str) -> None:
    path = _submission(
        tmp_path,
        edition,
        {
            "dtheta = x\n": "dtheta = forward_propagation(x, theta) / theta\n",
            "J = theta * x\n": "J = theta + x\n",
        },
    )
    scores = _scores(path)
    assert scores["forward_propagation"][0] < scores["forward_propagation"][1]
    for name in ("backward_propagation", "gradient_check", "gradient_check_n"):
        assert scores[name][0] == scores[name][1], (name, scores[name])


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_calling_another_graded_function_wrongly_still_loses_points(tmp_path: Path, edition: str) -> None:
    path = _submission(tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x, theta)\n"})
    score, top, message = _scores(path)["backward_propagation"]
    assert score < top and "NameError" not in message, message


def test_the_reference_versions_come_from_expected_and_only_those_called(tmp_path: Path) -> None:
    a = spec.load("gradient_checking")
    prep = grade.prepare("gradient_checking")
    assert set(prep.peers) == {f.name for f in a.functions}  # shipped in expected/, not read from reference/
    parsed = notebook.parse(notebook.read(_submission(tmp_path, "newer", {})))
    provided = frozenset(f.name for f in a.functions) | frozenset(a.given)
    ans = notebook.answer(parsed, "gradient_check", exclude=provided - {"gradient_check"})
    assert ans.calls == {"forward_propagation", "backward_propagation"}
    task = run.task_for(ans, prep.given, [], 10.0, prep.peers)
    names = [u.filename for u in task.units]
    assert any(n.startswith("reference:forward_propagation") for n in names)
    assert not any(n.startswith("reference:gradient_check") for n in names)  # never its own reference
    alone = notebook.answer(parsed, "forward_propagation", exclude=provided - {"forward_propagation"})
    assert not any(u.filename.startswith("reference:") for u in run.task_for(alone, (), [], 1.0, prep.peers).units)
