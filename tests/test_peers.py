"""A graded function that calls another graded function is judged with the reference's version
of the one it calls, whatever the student's own is worth: two of about a hundred public Gradient
Checking notebooks write `backward_propagation` as `forward_propagation(x, theta) / theta` (right
for every theta but 0), and lost all its points to a NameError, then to a wrong forward. The
reference's version runs in an oracle process apart from the student's code (the student's
process gets a stub that sends plain data), so its code never reaches the student. Functions
that call each other (a circle) cannot be judged apart and earn nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grader.grading import grade
from grader.judging.prepared import prepare
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
    path = _submission(
        tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x, theta) / theta\n"}
    )
    assert "forward_propagation(x, theta) / theta" in path.read_text()
    for name, (score, top, message) in _scores(path).items():
        assert score == top, (name, message)


@pytest.mark.parametrize("edition", sorted(EDITIONS))
@pytest.mark.parametrize(
    "forward", ["J = theta + x\n", "J = None  # unfinished, but not the template\nJ = J\n"]
)
def test_a_wrong_or_unfinished_callee_costs_its_caller_nothing(
    tmp_path: Path, edition: str, forward: str
) -> None:
    # a careful reader gives backward its points: it is right given a right forward (one the
    # student wrote, however wrong or unfinished: see the test below for one left as released)
    path = _submission(
        tmp_path,
        edition,
        {"dtheta = x\n": "dtheta = forward_propagation(x, theta) / theta\n", "J = theta * x\n": forward},
    )
    scores = _scores(path)
    assert scores["forward_propagation"][0] < scores["forward_propagation"][1]
    assert (
        "J = None  # unfinished" not in forward or "`= None` placeholders" in scores["forward_propagation"][2]
    )
    assert scores["backward_propagation"][0] == scores["backward_propagation"][1], scores[
        "backward_propagation"
    ]
    # the gradient checks get their collaborators from each case: a wrong forward costs them nothing
    for name in ("gradient_check", "gradient_check_n"):
        assert scores[name][0] == scores[name][1], (name, scores[name])


def _released_cell(a: spec.Assignment, name: str) -> str:
    nb = json.loads((a.folder / a.notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.startswith(f"# GRADED FUNCTION: {name}\n"):
            return source
    raise AssertionError(name)


def _rewrite(nb: dict, bodies: dict[str, str], cells: dict[str, str] | None = None) -> None:
    """Each graded initialisation function in `bodies` gets that body; each in `cells` becomes
    that whole cell."""
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for name, new in bodies.items():
            if f"# GRADED FUNCTION: {name}" in source:
                cell["source"] = f"# GRADED FUNCTION: {name}\nimport numpy as np\n\ndef {name}(layers_dims):\n{new}"
        for name, whole in (cells or {}).items():
            if f"# GRADED FUNCTION: {name}" in source:
                cell["source"] = whole


def _chain(tmp_path: Path, edition: str, he: str | None) -> dict[str, tuple[float, float, str]]:
    """Red team 6, finding 6: zeros is the course's random times 0, random the course's He
    rescaled, and He is `he` (the released template, or None: not defined at all)."""
    a = spec.load("initialization")
    nb = EDITIONS[edition](a, copy.deepcopy(json.loads(a.reference_notebook.read_text(encoding="utf-8"))))
    body = {
        "initialize_parameters_zeros": "    return {k: v * 0 for k, v in initialize_parameters_random(layers_dims).items()}\n",
        "initialize_parameters_random": (
            "    p = initialize_parameters_he(layers_dims)\n"
            "    for l in range(1, len(layers_dims)):\n"
            '        p["W%d" % l] = p["W%d" % l] / np.sqrt(2 / layers_dims[l - 1]) * 10\n'
            "    return p\n"
        ),
    }
    _rewrite(nb, body, {"initialize_parameters_he": he if he is not None else "# (left out)\n"})
    path = tmp_path / "chain.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return _scores(path)


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_the_courses_version_stands_in_only_for_a_callee_the_student_wrote(
    tmp_path: Path, edition: str
) -> None:
    """Before: 20/30 with no loop written (random = the course's He rescaled, He left blank).
    Now random runs with the student's own (template) He, as in their notebook, and says to write
    He first; zeros calls a random the student wrote, so the course's random answers for it."""
    a = spec.load("initialization")
    scores = _chain(tmp_path, edition, _released_cell(a, "initialize_parameters_he"))
    score, _, message = scores["initialize_parameters_random"]
    assert score == 0 and message.startswith(
        "it calls `initialize_parameters_he` (still the template as released): write it first"
    ), message
    assert "NoneType" in message  # the template's own None, as the notebook would raise
    assert scores["initialize_parameters_he"][0] == 0
    zeros = scores["initialize_parameters_zeros"]
    assert zeros[0] == zeros[1], zeros  # issue 11: a written callee, however wrong, costs nothing
    assert sum(s for s, _, _ in scores.values()) == 10
    gone = _chain(tmp_path, edition, None)
    score, _, message = gone["initialize_parameters_random"]
    assert (
        score == 0 and "`initialize_parameters_he` (not defined in the notebook): write it first" in message
    )
    assert "NameError" in message, message


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_calling_another_graded_function_wrongly_still_loses_points(tmp_path: Path, edition: str) -> None:
    path = _submission(tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x, theta)\n"})
    score, top, message = _scores(path)["backward_propagation"]
    assert score < top and "NameError" not in message, message


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_a_wrong_caller_of_a_wrong_callee_still_loses(tmp_path: Path, edition: str) -> None:
    path = _submission(
        tmp_path,
        edition,
        {
            "dtheta = x\n": "dtheta = forward_propagation(x, theta) * 2\n",
            "J = theta * x\n": "J = theta + x\n",
        },
    )
    scores = _scores(path)
    for name in ("forward_propagation", "backward_propagation"):
        assert scores[name][0] < scores[name][1], (name, scores[name])


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_a_callee_given_what_is_not_plain_data_says_so(tmp_path: Path, edition: str) -> None:
    path = _submission(
        tmp_path,
        edition,
        {
            "dtheta = x\n": "dtheta = forward_propagation(x, __import__('fractions').Fraction(1)) + 0 * theta\n"
        },
    )
    score, _, message = _scores(path)["backward_propagation"]
    assert score == 0
    assert "TypeError" in message and "plain data only" in message and "fractions.Fraction" in message, (
        message
    )


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_a_callee_that_raises_names_the_courses_version_and_nothing_of_its_code(
    tmp_path: Path, edition: str
) -> None:
    path = _submission(tmp_path, edition, {"dtheta = x\n": "dtheta = forward_propagation(x) / theta\n"})
    score, _, message = _scores(path)["backward_propagation"]
    assert score == 0
    assert "TypeError: the course's `forward_propagation` raised TypeError" in message, message
    assert "positional argument" not in message  # its message (which could quote its code) stays there


def test_the_reference_versions_come_from_expected_and_go_only_to_the_oracle(tmp_path: Path) -> None:
    a = spec.load("gradient_checking")
    prep = prepare("gradient_checking")
    assert set(prep.peers) == {f.name for f in a.functions}  # shipped in expected/, not read from reference/
    parsed = notebook.parse(notebook.read(_submission(tmp_path, "newer", {})))
    provided = frozenset(f.name for f in a.functions) | frozenset(a.given)
    ans = selection.answer(parsed, "gradient_check", exclude=provided - {"gradient_check"})
    assert ans.calls == {"forward_propagation", "backward_propagation"}
    task = task_for(ans, prep.given, [], 10.0, prep.peers)
    job = task.to_job()
    names = [u["filename"] for u in job["units"]]
    assert "oracle:forward_propagation" in names and "oracle:backward_propagation" in names
    assert not any(n.startswith("reference:") for n in names)  # the student's process gets stubs only
    oracle = [u["filename"] for u in job["oracle"]["units"]]
    assert any(n.startswith("reference:forward_propagation") for n in oracle)
    assert not any(n.startswith("reference:gradient_check") for n in oracle)  # never its own reference
    assert job["oracle"]["names"] == ["backward_propagation", "forward_propagation"]
    # trusted code (the reference, the catalogued mistakes) gets them in its own process
    inline = task_for(ans, prep.given, [], 10.0, prep.peers, trusted=True)
    assert not inline.oracle and any(u.filename.startswith("reference:forward") for u in inline.units)
    # the names every case's setup supplies get no stub and no oracle: no process is started for them
    gc = a.function("gradient_check")
    assert not task_for(
        ans, prep.given, [], 10.0, prep.peers, calls=grade._callees(gc, ans, frozenset(prep.peers))
    ).oracle
    alone = selection.answer(parsed, "forward_propagation", exclude=provided - {"forward_propagation"})
    assert not task_for(alone, (), [], 1.0, prep.peers).oracle


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_two_functions_defined_through_each_others_reference_earn_nothing(
    tmp_path: Path, edition: str
) -> None:
    a = spec.load("initialization")
    nb = EDITIONS[edition](a, copy.deepcopy(json.loads(a.reference_notebook.read_text(encoding="utf-8"))))
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
    _rewrite(nb, body)
    path = tmp_path / "circle.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    scores = _scores(path)
    for name, other in zip(body, reversed(list(body)), strict=True):
        score, _, message = scores[name]
        assert score == 0 and f"`{other}` call each other" in message, (name, message)
    assert scores["initialize_parameters_zeros"][0] == scores["initialize_parameters_zeros"][1]


def test_a_circle_is_a_strongly_connected_part_of_the_calls() -> None:
    calls = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a", "d"}),
        "d": frozenset(),
        "e": frozenset({"a"}),
    }
    assert grade.circle("a", calls) == ["b", "c"]
    assert grade.circle("d", calls) == [] and grade.circle("e", calls) == []
