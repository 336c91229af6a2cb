"""A graded function that calls another graded function is judged with the reference's version
of the one it calls, once the student's own earns full marks: two of about a hundred public
Gradient Checking notebooks write `backward_propagation` as `forward_propagation(x, theta) / theta`
(right for every theta but 0), and lost all its points to a NameError. The reference's code is
readable to the function that gets it (a red team raised it into its own report), so it goes
only to a student who has shown the callee right; two functions defined through each other's
reference earn nothing."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from grader.grading import grade
from grader.judging import prepared
from grader.reading import assignment as spec
from grader.reading import notebook, selection
from grader.sandbox.tasks import task_for
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
def test_a_wrong_callee_is_named_and_the_reference_never_given(tmp_path: Path, edition: str) -> None:
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
    score, _, message = scores["backward_propagation"]
    assert score == 0 and "fix `forward_propagation` first" in message, message
    # the gradient checks get their collaborators from each case: a wrong forward costs them nothing
    for name in ("gradient_check", "gradient_check_n"):
        assert scores[name][0] == scores[name][1], (name, scores[name])


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_calling_another_graded_function_wrongly_still_loses_points(tmp_path: Path, edition: str) -> None:
    path = _submission(tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x, theta)\n"})
    score, top, message = _scores(path)["backward_propagation"]
    assert score < top and "NameError" not in message, message


def test_the_reference_versions_come_from_expected_and_only_those_called(tmp_path: Path) -> None:
    a = spec.load("gradient_checking")
    prep = prepared.prepare("gradient_checking")
    assert set(prep.peers) == {f.name for f in a.functions}  # shipped in expected/, not read from reference/
    parsed = notebook.parse(notebook.read(_submission(tmp_path, "newer", {})))
    provided = frozenset(f.name for f in a.functions) | frozenset(a.given)
    ans = selection.answer(parsed, "gradient_check", exclude=provided - {"gradient_check"})
    assert ans.calls == {"forward_propagation", "backward_propagation"}
    task = task_for(ans, prep.given, [], 10.0, prep.peers)
    names = [u.filename for u in task.units]
    assert any(n.startswith("reference:forward_propagation") for n in names)
    assert not any(n.startswith("reference:gradient_check") for n in names)  # never its own reference
    alone = selection.answer(parsed, "forward_propagation", exclude=provided - {"forward_propagation"})
    assert not any(u.filename.startswith("reference:") for u in task_for(alone, (), [], 1.0, prep.peers).units)


LEAK = "import linecache\n\n" + """
def backward_propagation(x, theta):
    dtheta = x
    if x == 2:  # the visible case: raise whatever of the reference this process can see
        seen = [l for f, v in linecache.cache.items() if "reference" in f for l in v[2]]
        raise RuntimeError("LEAK" + "".join(seen) + repr(globals().get("forward_propagation")))
    return dtheta
"""


def test_the_reference_never_reaches_a_student_who_has_not_solved_the_callee(tmp_path: Path) -> None:
    # the student's forward is unfinished and their backward merely names it: nothing of the
    # reference's forward may reach their process (it did, and came back in the report)
    nb_path = _submission(tmp_path, "newer", {"J = theta * x\n": "J = None\n"})
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        if "def backward_propagation" in cell["source"]:
            cell["source"] = "# GRADED FUNCTION: backward_propagation\n" + LEAK.replace("dtheta = x\n", "dtheta = x\n    forward_propagation\n", 1)
    nb_path.write_text(json.dumps(nb))
    report = grade.grade_path(nb_path, grade.Options())
    text = json.dumps(report.to_dict())
    assert not re.search(r"LEAK(?!None)", text), text  # nothing of the reference was seen


def test_two_functions_defined_through_each_others_reference_earn_nothing(tmp_path: Path) -> None:
    a = spec.load("initialization")
    nb = scenarios.newer_edition(a, copy.deepcopy(json.loads(a.reference_notebook.read_text(encoding="utf-8"))))
    body = {
        "initialize_parameters_random": (
            "    p = initialize_parameters_he(layers_dims)\n"
            "    return {k: (v * 10 / np.sqrt(2.0 / layers_dims[int(k[1:]) - 1]) if k[0] == 'W' else v)"
            " for k, v in p.items()}\n"
        ),
        "initialize_parameters_he": (
            "    p = initialize_parameters_random(layers_dims)\n"
            "    return {k: (v / 10 * np.sqrt(2.0 / layers_dims[int(k[1:]) - 1]) if k[0] == 'W' else v)"
            " for k, v in p.items()}\n"
        ),
    }
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for name, new in body.items():
            if f"# GRADED FUNCTION: {name}" in source:
                cell["source"] = f"# GRADED FUNCTION: {name}\nimport numpy as np\n\ndef {name}(layers_dims):\n{new}"
    path = tmp_path / "circle.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    scores = _scores(path)
    for name in body:
        assert scores[name][0] == 0 and "first" in scores[name][2], (name, scores[name])
