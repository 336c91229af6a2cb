"""Judging never crashes and cannot be gamed: whatever value comes back is judged or refused with
a reason, and a check that answers "below the threshold" whatever it is given earns nothing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.grading import grade
from grader.judging import judge, prepared
from grader.judging.compare import judge as compare_judge
from grader.reading import notebook, selection
from grader.reading.assignment import Case
from grader.results import FunctionResult
from grader.sandbox import codec
from grader.sandbox.worker import Limits

GC = "gradient_checking"
FORGED = {"$": "ndarray", "dtype": "float64", "shape": [1], "data": [10**400]}

# ----------------------------------------------------------------------------- values that come back

NASTY: list[Any] = [
    10**400,
    -(10**400),
    10**4000,  # past float range, under str()'s digit limit
    float("nan"),
    float("inf"),
    -float("inf"),
    0.0,
    -1e-12,
    True,
    None,
    "1.0",
    np.array([]),
    np.zeros((0, 3)),
    np.array([np.nan, np.nan]),
    np.array([[np.nan]]),
    np.array([np.inf, -np.inf]),
    np.array(np.nan),
    np.array([1.0, 2.0]),
    np.array([True, False]),
    np.array([1, 2], dtype=np.uint64),
    np.array(["a", "b"]),
    [1.0, float("nan")],
    (float("inf"),),
    {"a": float("nan")},
    {1: 2.0, "a": 3.0},  # keys of mixed types: sorting them must not raise
    {"W1": np.array([[np.nan]])},
]

CASES = [
    Case(name="tol", inputs="x", atol=1e-7),
    Case(name="rel", inputs="x", atol=0.0, rtol=1e-3),
    Case(name="below", inputs="x", below=1e-7, at_least=0.0),
    Case(name="part", inputs="x", outputs=("0", "W1")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_any_expected_against_any_received_gives_a_verdict(case: Case) -> None:
    for exp, got in itertools.product(NASTY, NASTY):
        v = compare_judge(exp, got, case)
        assert isinstance(v.passed, bool) and isinstance(v.message(False), str), (exp, got)
        if not v.passed:
            assert v.reason, (exp, got)


def test_the_review_examples_are_judged_with_reasons() -> None:
    case = CASES[0]
    assert "not a finite number" in compare_judge(1.0, 10**400, case).message(True)
    all_nan = compare_judge(np.array([np.nan, np.nan]), np.array([1.0, 2.0]), case)
    assert not all_nan.passed and "2 of 2 entries wrong" in all_nan.reason
    assert compare_judge(np.array([]), np.array([]), case).passed
    assert compare_judge(float("nan"), float("nan"), case).passed  # an expected NaN is matched


# ----------------------------------------------------------------------------- judging a function


@pytest.fixture(scope="module")
def prep() -> prepared.Prepared:
    return prepared.prepare(GC)


def _answer(prep: prepared.Prepared, name: str) -> selection.Answer:
    parsed = notebook.parse(notebook.read(prep.assignment.reference_notebook))
    provided = frozenset(f.name for f in prep.assignment.functions) | frozenset(prep.assignment.given)
    return selection.answer(parsed, name, exclude=provided - {name})


def _judged(prep: prepared.Prepared, name: str, outputs: dict[str, Any]) -> FunctionResult:
    raw = {"cases": {c: {"ok": True, "output": o} for c, o in outputs.items()}}
    judge._VERDICTS.clear()
    return judge.function(prep.assignment.function(name), _answer(prep, name), raw, prep, Limits())


def _expected(prep: prepared.Prepared, name: str) -> dict[str, Any]:
    return {c.name: prep.expected["functions"][name][c.name]["output"] for c in prep.assignment.function(name).cases}


def test_a_forged_result_is_refused_not_a_crash(prep: prepared.Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = _expected(prep, "gradient_check_n")
    outputs["course"] = FORGED
    outputs["other_draw"] = codec.encode(10**400 // 10**300)  # a plain huge integer comes back as such
    real = codec.decode

    def overflowing(value: Any, **kw: Any) -> Any:  # as `codec.decode` did on the forged array
        if value == FORGED:
            raise OverflowError("int too large to convert to float")
        return real(value, **kw)

    monkeypatch.setattr(codec, "decode", overflowing)
    result = _judged(prep, "gradient_check_n", outputs)
    tests = {t.name: t for t in result.tests}
    assert not tests["course"].passed and "could not be read" in tests["course"].message
    assert not tests["other_draw"].passed


@pytest.mark.parametrize("name", ["gradient_check", "gradient_check_n"])
def test_the_reference_outputs_earn_full_marks(prep: prepared.Prepared, name: str) -> None:
    result = _judged(prep, name, _expected(prep, name))
    assert result.score == result.max_score and result.status == "passed", result


@pytest.mark.parametrize("name", ["gradient_check", "gradient_check_n"])
@pytest.mark.parametrize("constant", [0.0, -1.0, 1e-9, -1e-9])
def test_a_constant_answer_earns_nothing(prep: prepared.Prepared, name: str, constant: float) -> None:
    cases = prep.assignment.function(name).cases
    result = _judged(prep, name, {c.name: constant for c in cases})
    assert result.score == 0, result
    below = [t for t, c in zip(result.tests, cases, strict=True) if c.below is not None]
    assert below and not any(t.passed for t in below)
    if constant < 0:
        assert all("negative" in t.message for t in below), below
    else:
        assert all("cannot tell these cases apart" in t.message for t in below), below


@pytest.mark.parametrize("name", ["gradient_check", "gradient_check_n"])
def test_a_constant_that_is_some_cases_right_answer_earns_nothing(prep: prepared.Prepared, name: str) -> None:
    """Red team 2, finding 8: `return 1.0` is sign_error's right answer (the gradients point in
    opposite directions: a ratio of exactly 1), `return 0.28509315678` the visible course value;
    each earned that case's points. A constant equal to any value-judged case's answer earns
    nothing now: the same answer came back where the right answer differs."""
    f = prep.assignment.function(name)
    outputs = _expected(prep, name)
    for c in f.cases:
        if c.below is not None:
            continue
        constant = codec.decode(outputs[c.name])
        result = _judged(prep, name, {o.name: codec.encode(constant) for o in f.cases})
        assert result.score == 0, (c.name, result)
        mine = next(t for t in result.tests if t.name == c.name)
        assert "cannot tell these cases apart" in mine.message, mine


def test_flagging_every_gradient_earns_nothing_on_the_wrong_ones(prep: prepared.Prepared) -> None:
    """The right values on the wrong gradients, but "not below" on every right one too: the wrong
    gradients' points need a "below" on at least one right gradient."""
    outputs = _expected(prep, "gradient_check_n")
    cases = prep.assignment.function("gradient_check_n").cases
    for c in cases:
        if c.below is not None:
            outputs[c.name] = codec.encode(0.5)
    result = _judged(prep, "gradient_check_n", outputs)
    by_name = {t.name: t for t in result.tests}
    for c in ("l2_cost_plain_gradients", "perturbed_gradients"):
        assert not by_name[c].passed and "not below 2e-07" in by_name[c].message, by_name[c]
        assert "course_fixed" in by_name[c].message  # a hidden case names the hidden cases
    # named by no right-gradient case: judged by value alone (the given function's flawed
    # gradients are no contrast: see test_a_check_that_only_recognises_the_given_gradients...)
    for c in ("large_epsilon", "course", "other_draw"):
        assert by_name[c].passed, by_name[c]
    outputs["tanh_units"] = _expected(prep, "gradient_check_n")["tanh_units"]  # one "below" is enough
    result = _judged(prep, "gradient_check_n", outputs)
    assert all(t.passed for t in result.tests if t.name in ("l2_cost_plain_gradients", "perturbed_gradients"))


def test_one_wrong_case_costs_only_that_case(prep: prepared.Prepared) -> None:
    """A check off on one case, by a value that is no other case's answer, keeps the rest."""
    for name in ("gradient_check", "gradient_check_n"):
        f = prep.assignment.function(name)
        for c in f.cases:
            outputs = _expected(prep, name)
            outputs[c.name] = codec.encode(0.123456 if c.below is None else 0.5)
            result = _judged(prep, name, outputs)
            lost = {t.name for t in result.tests if not t.passed}
            if c.below is None:
                assert lost == {c.name}, (name, c.name, lost)
            else:
                assert c.name in lost and result.score == f.max_score - c.points, (name, c.name, lost)


def test_a_visible_case_does_not_name_hidden_ones(prep: prepared.Prepared) -> None:
    result = _judged(prep, "gradient_check", {c.name: 0.0 for c in prep.assignment.function("gradient_check").cases})
    course = next(t for t in result.tests if t.name == "course")
    assert "on hidden cases," in course.message and "wrong_derivative" not in course.message
    cubic = next(t for t in result.tests if t.name == "cubic")
    assert "wrong_derivative, sign_error" in cubic.message


def test_a_visible_message_says_nothing_the_hidden_stage_chose(prep: prepared.Prepared) -> None:
    """Red team 6: "the same answer came back on N hidden case(s)" let the hidden stage (which
    knows the drawn inputs) choose N, printed at once in the visible case's message. The visible
    case's words are now the same whichever hidden cases gave the answer back."""
    f = prep.assignment.function("gradient_check_n")
    right = _expected(prep, "gradient_check_n")
    values = [c.name for c in f.cases if c.hidden and c.below is None]
    assert len(values) >= 2
    said = set()
    for k in range(1, len(values) + 1):
        outputs = {**right, **{name: right["course"] for name in values[:k]}}
        course = next(t for t in _judged(prep, "gradient_check_n", outputs).tests if t.name == "course")
        assert not course.passed and "cannot tell these cases apart" in course.message, course
        said.add(course.message)
    assert len(said) == 1, said


def test_a_check_that_flags_wrong_gradients_keeps_its_below_points(prep: prepared.Prepared) -> None:
    """A check with a bug elsewhere (a value off on the wrong gradients) still tells right from
    wrong: its "below" cases count."""
    outputs = _expected(prep, "gradient_check")
    outputs["wrong_derivative"] = 0.3
    outputs["sign_error"] = 0.9
    result = _judged(prep, "gradient_check", outputs)
    by_name = {t.name: t for t in result.tests}
    assert by_name["course"].passed and by_name["cubic"].passed
    assert not by_name["wrong_derivative"].passed and not by_name["sign_error"].passed


def test_a_negative_difference_fails_with_its_own_message(prep: prepared.Prepared) -> None:
    outputs = _expected(prep, "gradient_check")
    outputs["course"] = -2.9e-10
    result = _judged(prep, "gradient_check", outputs)
    course = next(t for t in result.tests if t.name == "course")
    assert not course.passed and course.message.startswith("the result is negative"), course


def test_constant_checks_in_a_notebook_score_nothing_on_them(tmp_path: Path) -> None:
    a = prepared.prepare(GC).assignment
    nb = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        for name in ("gradient_check", "gradient_check_n"):
            if cell["cell_type"] == "code" and f"# GRADED FUNCTION: {name}\n" in src + "\n":
                head = src.index(f"def {name}(")
                body = src.index(":\n", head) + 2
                cell["source"] = src[:body] + "    return 0.0\n"
    path = tmp_path / "constant.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = grade.grade_path(path, grade.Options())
    scores = {f.name: f.score for f in report.functions}
    assert scores["gradient_check"] == scores["gradient_check_n"] == 0, report.to_dict()
    assert scores["forward_propagation"] == 5 and scores["backward_propagation"] == 5


def test_a_check_with_one_blind_spot_loses_only_that_case(prep: grade.Prepared) -> None:
    """A real student's gradient_check took the absolute value of each gradient before comparing:
    right everywhere but on sign_error, where it says "below". It tells right from wrong on the
    other wrong gradient, so its "below" cases count (3/10 before: every contrast had to be
    flagged); sign_error is lost by its value."""
    f = prep.assignment.function("gradient_check")
    outputs = _expected(prep, "gradient_check")
    outputs["sign_error"] = codec.encode(1e-12)
    result = _judged(prep, "gradient_check", outputs)
    lost = {t.name for t in result.tests if not t.passed}
    assert lost == {"sign_error"}, result
    assert result.score == f.max_score - next(c.points for c in f.cases if c.name == "sign_error")


def test_a_named_mistake_leads_the_functions_message(prep: grade.Prepared) -> None:
    """Six real gradient checks hard-coded both J = theta * x and dtheta = x: the mistake was
    named on the hidden cases, while the function's message was the visible case's generic "cannot
    tell these cases apart". The catalogued mistake's own outputs (the reference's where it agrees)
    are what such a check returns."""
    entries = prep.expected["functions"]["gradient_check"]
    outputs = {
        name: entry.get("mistakes", {}).get("check-hardcoded-both", entry["output"]) for name, entry in entries.items()
    }
    result = _judged(prep, "gradient_check", outputs)
    named = [t for t in result.tests if t.mistake and t.mistake["id"] == "check-hardcoded-both"]
    assert named and result.score < result.max_score, result
    assert result.message.startswith(f"{named[0].name}: looks like a gradient check that hard-codes"), result.message
