"""The gradient-checking reference against the course's printed figures, and its case design.

Cases are run the way the grader runs a student: only the graded function's own cell and the
imports it needs, the given functions taken from the released notebook, then the case's setup
code (harness.run_case, in this process, instead of in the sandbox).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.authoring import release
from grader.authoring.reference import as_object, inside, load_module
from grader.judging import compare
from grader.reading import assignment as spec
from grader.reading import notebook, selection
from grader.sandbox import codec, harness
from grader.sandbox.tasks import task_for
from tests.conftest import released_graded_sources

NAME = "gradient_checking"
ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assignments" / NAME
GRADED = ("forward_propagation", "backward_propagation", "gradient_check", "gradient_check_n")

# The course's printed values, and this project's machines (single-threaded BLAS, as in the
# sandbox). The network's difference divides each cost's rounding (a few ulp of a cost near 1,
# through BLAS matrix products) by 2 * epsilon = 2e-7, so its digits past the tenth depend on the
# BLAS kernel: OpenBLAS's Haswell, SkylakeX, Zen, Cooperlake and SapphireRapids kernels give
# 0.2850931567761623 (or ...624), its Sandybridge, Nehalem, Prescott and Atom ones the course's
# 0.28509315678069896 (or ...0699), 4.5e-12 apart. OURS_TOL is 200 times that spread and ten times
# tighter than the course check's 1e-8 (the grader's own tolerance for this case).
COURSE_BUGGY = 0.28509315678069896
OURS_BUGGY = 0.2850931567761623
OURS_TOL = 1e-9
COURSE_1D = 2.919335883291695e-10
FIXED_ABOUT = 1.19e-07

IMPORTS = (
    "import numpy as np\n"
    "from gc_utils import sigmoid, relu, dictionary_to_vector, vector_to_dictionary, "
    "gradients_to_vector\n"
)


_load = load_module


def _quiet(f: Any, *args: Any) -> tuple[Any, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = f(*args)
    return out, buf.getvalue()


@pytest.fixture(scope="module")
def given(a: spec.Assignment) -> tuple[notebook.Unit, ...]:
    raw = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    student = release.released(raw, a.notebook)
    parsed = notebook.parse(notebook.loads(json.dumps(student).encode()))
    return selection.given_units(parsed, a.given)


@pytest.fixture(scope="module")
def inputs(ns: dict[str, Any], a: spec.Assignment) -> dict[str, dict[str, dict[str, Any]]]:
    """Every case's call arguments, built the way `grader expected` builds them."""
    builders = _load(FOLDER / "cases.py", "_cases_gradient_checking")
    ref = as_object(ns)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with inside(FOLDER):
        for f in a.functions:
            for c in f.cases:
                out.setdefault(f.name, {})[c.name] = getattr(builders, c.inputs)(ref, **c.params)
    return out


def _units(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], cells: list[str], function: str
) -> list[dict[str, str]]:
    """The units the grader would run for `function` from a notebook made of `cells`."""
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": s, "outputs": [],
             "execution_count": None}
            for s in cells
        ],
    }
    parsed = notebook.parse(notebook.loads(json.dumps(nb).encode()))
    graded = frozenset(GRADED) | frozenset(a.given)
    ans = selection.answer(parsed, function, exclude=graded - {function})
    assert ans.definition is not None, function
    return task_for(ans, given, [], 10.0).to_job()["units"]


def _call(units: list[dict[str, str]], function: str, args: dict[str, Any], setup: str) -> Any:
    """harness.run_case on plain arguments: the raw result (encoded output or error)."""
    job = {"name": "case", "args": [codec.encode(v) for v in args.values()], "setup": setup}
    with inside(FOLDER), contextlib.redirect_stdout(io.StringIO()):
        return harness.run_case(units, function, job)


def _run(units: list[dict[str, str]], function: str, args: dict[str, Any], case: spec.Case) -> Any:
    result = _call(units, function, args, case.setup)
    assert result.get("ok"), (function, case.name, result)
    return codec.decode(result["output"])


def _reference_cells(a: spec.Assignment) -> list[str]:
    raw = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in raw["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def outputs(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], inputs: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The reference's output on every case, run with only what the grader provides."""
    cells = _reference_cells(a)
    out: dict[str, dict[str, Any]] = {}
    for f in a.functions:
        units = _units(a, given, cells, f.name)
        for c in f.cases:
            out.setdefault(f.name, {})[c.name] = _run(units, f.name, inputs[f.name][c.name], c)
    return out


# ----------------------------------------------------------------------------- course values


def test_one_parameter_course_values(ns: dict[str, Any]) -> None:
    assert ns["forward_propagation"](2, 4) == 8
    assert ns["backward_propagation"](2, 4) == 2
    difference, printed = _quiet(ns["gradient_check"], 2, 4)
    assert math.isclose(difference, COURSE_1D, rel_tol=1e-9, abs_tol=0)
    assert "passed" in printed and "FAILED" not in printed


def test_network_course_values(ns: dict[str, Any]) -> None:
    X, Y, parameters = ns["gradient_check_n_test_case"]()
    _, cache = ns["forward_propagation_n"](X, Y, parameters)
    gradients = ns["backward_propagation_n"](X, Y, cache)
    difference, printed = _quiet(ns["gradient_check_n"], parameters, gradients, X, Y)
    assert abs(difference - COURSE_BUGGY) <= 1e-8
    assert abs(difference - OURS_BUGGY) <= OURS_TOL
    assert "FAILED" in printed


def test_network_with_the_bugs_fixed(ns: dict[str, Any]) -> None:
    builders = _load(FOLDER / "cases.py", "_cases_gradient_checking")
    X, Y, parameters = ns["gradient_check_n_test_case"]()
    _, cache = ns["forward_propagation_n"](X, Y, parameters)
    flawed = ns["backward_propagation_n"](X, Y, cache)
    right = builders.backward(X, Y, parameters)
    # The given backward pass has exactly the two deliberate mistakes.
    for key in right:
        factor = {"dW2": 2, "db1": 4}.get(key, 1)
        assert np.allclose(flawed[key], factor * right[key], rtol=1e-12, atol=1e-15), key
    difference, printed = _quiet(ns["gradient_check_n"], parameters, right, X, Y)
    assert abs(difference - FIXED_ABOUT) <= 0.005e-7 and difference < 2e-7
    assert "passed" in printed


def test_test_case_inputs(ns: dict[str, Any]) -> None:
    X, Y, parameters = ns["gradient_check_n_test_case"]()
    np.random.seed(1)
    assert np.array_equal(X, np.random.randn(4, 3))
    assert np.array_equal(Y, [1, 1, 0]) and Y.shape == (3,)
    for key, shape in (("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)),
                       ("W3", (1, 3)), ("b3", (1, 1))):
        assert np.array_equal(parameters[key], np.random.randn(*shape)), key
    cost, _ = ns["forward_propagation_n"](X, Y, parameters)
    assert np.isfinite(cost)


def test_vector_helpers(ns: dict[str, Any]) -> None:
    _, _, parameters = ns["gradient_check_n_test_case"]()
    theta, keys = ns["dictionary_to_vector"](parameters)
    order = ("W1", "b1", "W2", "b2", "W3", "b3")
    assert theta.shape == (47, 1) and len(keys) == 47
    assert keys == [k for k in order for _ in range(parameters[k].size)]
    assert np.array_equal(theta[:, 0], np.concatenate([parameters[k].ravel() for k in order]))
    back = ns["vector_to_dictionary"](theta)
    assert list(back) == list(order)
    for k in order:
        assert np.array_equal(back[k], parameters[k]) and back[k].shape == parameters[k].shape
    gradients = {"d" + k: v + 1 for k, v in parameters.items()} | {"dZ3": np.zeros((1, 3))}
    assert np.array_equal(ns["gradients_to_vector"](gradients), theta + 1)


def test_public_tests_pass_on_reference(ns: dict[str, Any]) -> None:
    with inside(FOLDER):
        pt = _load(FOLDER / "public_tests.py", "_public_tests_gradient_checking")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            for name in GRADED:
                getattr(pt, f"{name}_test")(ns[name])
    assert buf.getvalue().count("all tests passed") == 4


def test_public_tests_reject_wrong_answers(ns: dict[str, Any]) -> None:
    with inside(FOLDER):
        pt = _load(FOLDER / "public_tests.py", "_public_tests_gradient_checking")
        with pytest.raises(AssertionError, match="expected 8"):
            pt.forward_propagation_test(lambda x, theta: theta + x)
        with pytest.raises(AssertionError, match="expected 2"):
            pt.backward_propagation_test(lambda x, theta: theta)
        with pytest.raises(AssertionError, match="below 1e-7"):
            pt.gradient_check_test(lambda x, theta, epsilon=1e-7: 0.5)
        with pytest.raises(AssertionError, match="flawed"):
            pt.gradient_check_n_test(lambda p, g, X, Y, epsilon=1e-7: 1e-9)


def test_public_tests_take_the_older_copies_extra_arguments(ns: dict[str, Any]) -> None:
    # some copies of the newer notebook call gradient_check_test(gradient_check, difference) and
    # gradient_check_n_test(gradient_check_n, parameters, gradients, X, Y)
    with inside(FOLDER):
        pt = _load(FOLDER / "public_tests.py", "_public_tests_gradient_checking")
        tc = _load(FOLDER / "testCases.py", "_test_cases_gradient_checking")
        with contextlib.redirect_stdout(io.StringIO()):
            pt.gradient_check_test(ns["gradient_check"], ns["gradient_check"](2, 4))
            X, Y, parameters = tc.gradient_check_n_test_case()
            _, cache = ns["forward_propagation_n"](X, Y, parameters)
            flawed = ns["backward_propagation_n"](X, Y, cache)
            pt.gradient_check_n_test(ns["gradient_check_n"], parameters, flawed, X, Y)
            with pytest.raises(AssertionError, match="printed above"):
                pt.gradient_check_test(ns["gradient_check"], 0.5)
            with pytest.raises(AssertionError, match="gradients passed are wrong"):
                pt.gradient_check_n_test(lambda p, g, X, Y, epsilon=1e-7: 1e-9, parameters, flawed, X, Y)


# ----------------------------------------------------------------------------- cases


def test_every_function_has_visible_and_three_hidden_cases(a: spec.Assignment) -> None:
    assert {f.name for f in a.functions} == set(GRADED)
    assert a.given == ("forward_propagation_n", "backward_propagation_n")
    assert not a.reproduce
    for f in a.functions:
        visible = [c for c in f.cases if not c.hidden]
        hidden = [c for c in f.cases if c.hidden]
        assert len(visible) == 1 and visible[0].name == "course" and len(hidden) >= 3, f.name
        assert all(float(c.points).is_integer() for c in f.cases)
        assert 0.3 <= visible[0].points / f.max_score <= 0.5, f.name
        assert all(c.atol <= 1e-7 for c in f.cases)


def test_visible_cases_are_the_course_examples(
    ns: dict[str, Any], inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    for name in ("forward_propagation", "backward_propagation", "gradient_check"):
        assert inputs[name]["course"] == {"x": 2, "theta": 4}, name
    assert outputs["forward_propagation"]["course"] == 8
    assert outputs["backward_propagation"]["course"] == 2
    assert math.isclose(outputs["gradient_check"]["course"], COURSE_1D, rel_tol=1e-9)
    args = inputs["gradient_check_n"]["course"]
    X, Y, parameters = ns["gradient_check_n_test_case"]()
    assert list(args) == ["parameters", "gradients", "X", "Y"]
    assert np.array_equal(args["X"], X) and np.array_equal(args["Y"], Y)
    assert all(np.array_equal(args["parameters"][k], v) for k, v in parameters.items())
    assert abs(outputs["gradient_check_n"]["course"] - COURSE_BUGGY) <= 1e-8


def _same_args(x: dict[str, Any], y: dict[str, Any]) -> bool:
    return json.dumps({k: codec.encode(v) for k, v in x.items()}) == json.dumps(
        {k: codec.encode(v) for k, v in y.items()}
    )


def test_hidden_cases_differ_from_visible(
    a: spec.Assignment, inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    for f in a.functions:
        visible = next(c for c in f.cases if not c.hidden)
        v_out = outputs[f.name][visible.name]
        for c in f.cases:
            if not c.hidden:
                continue
            differs = not _same_args(inputs[f.name][c.name], inputs[f.name][visible.name])
            assert differs or c.setup != visible.setup, (f.name, c.name)
            if c.below is None:  # a lookup of the visible answer fails this case
                assert not compare.judge(outputs[f.name][c.name], v_out, c).passed, (f.name, c.name)
        # and a lookup of the visible answer fails at least one hidden case
        hidden = [c for c in f.cases if c.hidden]
        assert not all(compare.judge(outputs[f.name][c.name], v_out, c).passed for c in hidden)


def test_reference_passes_its_own_cases(a: spec.Assignment, outputs: dict[str, Any]) -> None:
    for f in a.functions:
        for c in f.cases:
            out = outputs[f.name][c.name]
            assert compare.judge(out, out, c).passed, (f.name, c.name, out)
            if c.below is not None and c.name != "course_fixed":  # the course's own is 1.19e-7
                assert float(out) < c.below / 10, (f.name, c.name, out)  # well inside


def test_case_values(outputs: dict[str, Any]) -> None:
    gc, gcn = outputs["gradient_check"], outputs["gradient_check_n"]
    assert abs(gc["wrong_derivative"] - 7 / 27) <= 1e-9  # |10.2 - 17.34| / (10.2 + 17.34)
    assert abs(gc["sign_error"] - 1.0) <= 1e-12
    assert abs(gc["large_epsilon"] - 1e-6 / (1.5 + 1e-6)) <= 1e-12  # eps^2 / (6 theta^2 + eps^2)
    assert gcn["course_fixed"] < 2e-7 and gcn["course_fixed"] > 1e-7
    assert abs(gcn["large_epsilon"] - 1.68e-6) <= 0.01e-6  # O(eps^2) with eps = 1e-2
    assert gcn["other_draw"] > 0.1 and gcn["l2_cost_plain_gradients"] > 0.1
    assert gcn["perturbed_gradients"] > 1e-3  # one entry moved: far above the threshold


def test_the_contrast_gradients_come_from_no_function_a_student_can_call(
    inputs: dict[str, Any], ns: dict[str, Any]
) -> None:
    """Red team 6: the contrast of the "below" cases must not be told apart by comparing the
    gradients with the given backward_propagation_n's (its flaws)."""
    for c in spec.load("gradient_checking").function("gradient_check_n").cases:
        for name in c.contrast:
            args = inputs["gradient_check_n"][name]
            _, cache = ns["forward_propagation_n"](args["X"], args["Y"], args["parameters"])
            flawed = ns["gradients_to_vector"](ns["backward_propagation_n"](args["X"], args["Y"], cache))
            assert not np.allclose(flawed, ns["gradients_to_vector"](args["gradients"])), (c.name, name)


def test_hidden_networks_exercise_many_parameters(
    inputs: dict[str, Any], ns: dict[str, Any]
) -> None:
    """No dead network: most gradient entries are non-zero, so every entry must be checked."""
    for name in ("other_draw", "single_example", "l2_cost", "tanh_units"):
        grad = ns["gradients_to_vector"](inputs["gradient_check_n"][name]["gradients"])
        assert np.count_nonzero(grad) >= 20, name


# Half-right answers a student might write; each must lose marks on a hidden case.
GC_TEMPLATE = '''
def gradient_check(x, theta, epsilon=1e-7):
    J_plus = {plus}
    J_minus = {minus}
    gradapprox = {approx}
    grad = {grad}
    difference = {difference}
    return difference
'''
GC_RIGHT = {
    "plus": "forward_propagation(x, theta + epsilon)",
    "minus": "forward_propagation(x, theta - epsilon)",
    "approx": "(J_plus - J_minus) / (2 * epsilon)",
    "grad": "backward_propagation(x, theta)",
    "difference": "np.linalg.norm(grad - gradapprox)"
    " / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))",
}
GC_MUTANTS = {
    "one-sided difference": {
        "minus": "forward_propagation(x, theta)", "approx": "(J_plus - J_minus) / epsilon",
    },
    "J = theta * x written out": {
        "plus": "(theta + epsilon) * x", "minus": "(theta - epsilon) * x",
    },
    "J and dtheta written out": {
        "plus": "(theta + epsilon) * x", "minus": "(theta - epsilon) * x", "grad": "x",
    },
    "epsilon fixed at 1e-7": {
        "plus": "forward_propagation(x, theta + 1e-7)",
        "minus": "forward_propagation(x, theta - 1e-7)",
        "approx": "(J_plus - J_minus) / 2e-7",
    },
    "divides by epsilon, not 2 epsilon": {"approx": "(J_plus - J_minus) / epsilon"},
    "absolute difference": {"difference": "np.linalg.norm(grad - gradapprox)"},
    "norm of the sum below": {
        "difference": "np.linalg.norm(grad - gradapprox) / np.linalg.norm(grad + gradapprox)",
    },
    "relative to grad only": {
        "difference": "np.linalg.norm(grad - gradapprox) / np.linalg.norm(grad)",
    },
    "signed, no norms": {"difference": "(grad - gradapprox) / (grad + gradapprox)"},
}

GCN_TEMPLATE = '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7):
    theta, _ = dictionary_to_vector(parameters)
    grad = {grad}
    n = theta.shape[0]
    gradapprox = np.zeros((n, 1))
    for i in range({count}):
        theta_plus = {copy}
        theta_plus[i, 0] += {plus_step}
        J_plus = {cost}(theta_plus)
        theta_minus = {copy}
        theta_minus[i, 0] -= {minus_step}
        J_minus = {cost}(theta_minus)
        gradapprox[i] = (J_plus - J_minus) / ({divisor})
    return np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))


def cost_of(theta):
    return forward_propagation_n(X_, Y_, vector_to_dictionary(theta))[0]


def own_cost(theta):
    p = vector_to_dictionary(theta)
    m = X_.shape[1]
    A1 = relu(np.dot(p["W1"], X_) + p["b1"])
    A2 = relu(np.dot(p["W2"], A1) + p["b2"])
    A3 = sigmoid(np.dot(p["W3"], A2) + p["b3"])
    return 1.0 / m * np.sum(-Y_ * np.log(A3) - (1 - Y_) * np.log(1 - A3))
'''
GCN_RIGHT = {
    "grad": "gradients_to_vector(gradients)",
    "count": "n",
    "copy": "np.copy(theta)",
    "cost": "cost_of",
    "plus_step": "epsilon",
    "minus_step": "epsilon",
    "divisor": "2 * epsilon",
}
GCN_MUTANTS = {
    "re-implements the forward pass": {"cost": "own_cost"},
    "perturbs theta in place (no copy)": {"copy": "theta"},
    "skips the last entries": {"count": "n - 5"},
    "one-sided difference": {"minus_step": "0", "divisor": "epsilon"},
    "epsilon fixed at 1e-7": {"plus_step": "1e-7", "minus_step": "1e-7", "divisor": "2e-7"},
    "recomputes the gradients with the given backward pass": {
        "grad": "gradients_to_vector("
        "backward_propagation_n(X, Y, forward_propagation_n(X, Y, parameters)[1]))",
    },
}


def _source(template: str, right: dict[str, str], change: dict[str, str]) -> str:
    src = template.format(**{**right, **change})
    if "X_" in src:  # the helpers read X and Y from the call
        head = "    theta, _ = dictionary_to_vector"
        src = src.replace(head, "    global X_, Y_\n    X_, Y_ = X, Y\n" + head)
    return textwrap.dedent(src)


def _scores(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], inputs: dict[str, Any],
    outputs: dict[str, Any], function: str, source: str,
) -> dict[str, bool]:
    units = _units(a, given, [IMPORTS, f"# GRADED FUNCTION: {function}\n{source}"], function)
    passed = {}
    for c in a.function(function).cases:
        result = _call(units, function, inputs[function][c.name], c.setup)
        passed[c.name] = bool(result.get("ok")) and compare.judge(
            outputs[function][c.name], codec.decode(result["output"]), c
        ).passed
    return passed


@pytest.mark.parametrize(
    ("function", "template", "right", "change"),
    [("gradient_check", GC_TEMPLATE, GC_RIGHT, {})]
    + [("gradient_check_n", GCN_TEMPLATE, GCN_RIGHT, {})]
    + [("gradient_check", GC_TEMPLATE, GC_RIGHT, {"approx": "(J_plus - J_minus) / 2 / epsilon"})],
    ids=["gradient_check", "gradient_check_n", "gradient_check, other rounding"],
)
def test_equivalent_answers_pass_every_case(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], inputs: dict[str, Any],
    outputs: dict[str, Any], function: str, template: str, right: dict[str, str],
    change: dict[str, str],
) -> None:
    scores = _scores(a, given, inputs, outputs, function, _source(template, right, change))
    assert all(scores.values()), scores


@pytest.mark.parametrize(
    ("function", "mutant"),
    [("gradient_check", m) for m in GC_MUTANTS] + [("gradient_check_n", m) for m in GCN_MUTANTS],
)
def test_half_right_answers_fail_a_hidden_case(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], inputs: dict[str, Any],
    outputs: dict[str, Any], function: str, mutant: str,
) -> None:
    if function == "gradient_check":
        source = _source(GC_TEMPLATE, GC_RIGHT, GC_MUTANTS[mutant])
    else:
        source = _source(GCN_TEMPLATE, GCN_RIGHT, GCN_MUTANTS[mutant])
    scores = _scores(a, given, inputs, outputs, function, source)
    failed = [name for name, ok in scores.items() if not ok]
    assert any(name != "course" for name in failed), f"{mutant} passes every hidden case: {scores}"


def test_one_parameter_mutants_fail_a_hidden_case(inputs: dict[str, Any], outputs: dict[str, Any],
                                                  a: spec.Assignment) -> None:
    wrong = {
        "forward_propagation": [
            lambda x, t: t + x, lambda x, t: 8, lambda x, t: 2 * t, lambda x, t: x * x,
        ],
        "backward_propagation": [
            lambda x, t: t, lambda x, t: 2, lambda x, t: t * x, lambda x, t: x + 1e-3,
        ],
    }
    for function, mutants in wrong.items():
        for k, f in enumerate(mutants):
            failed = []
            for c in a.function(function).cases:
                got = f(*inputs[function][c.name].values())
                if not compare.judge(outputs[function][c.name], got, c).passed:
                    failed.append(c.name)
            assert any(name != "course" for name in failed), (function, k)


def test_gradient_check_visible_setup_is_needed(
    a: spec.Assignment, given: tuple[notebook.Unit, ...], inputs: dict[str, Any]
) -> None:
    """The grader runs gradient_check alone: without the case's setup it has no collaborators."""
    units = _units(a, given, _reference_cells(a), "gradient_check")
    assert not any("def forward_propagation(" in u["source"] for u in units)
    result = _call(units, "gradient_check", inputs["gradient_check"]["course"], "")
    assert not result.get("ok") and result["error"]["type"] == "NameError"


# ----------------------------------------------------------------------------- sandbox


def test_expected_through_the_sandbox(a: spec.Assignment, outputs: dict[str, Any]) -> None:
    """`grader expected` runs every case in the sandbox; outputs agree with the in-process run."""
    from grader.authoring import expected

    doc = expected.build(a)
    for f in a.functions:
        for c in f.cases:
            got = codec.decode(doc["functions"][f.name][c.name]["output"])
            assert compare.judge(outputs[f.name][c.name], got, c).passed, (f.name, c.name)
    course = float(codec.decode(doc["functions"]["gradient_check_n"]["course"]["output"]))
    assert abs(course - OURS_BUGGY) <= OURS_TOL and abs(course - COURSE_BUGGY) <= 1e-8


def test_expected_check_allows_another_blas_kernel(a: spec.Assignment) -> None:
    """`grader expected --check` compares outputs within each case's tolerance, inputs to the bit.

    Another BLAS kernel moves the finite-difference outputs by up to 5e-9 (half the 1e-8 of their
    cases) and the noise-sized differences of right gradients by up to 18% of themselves, far
    from their 2e-7 threshold (measured with OPENBLAS_CORETYPE set inside the sandbox).
    """
    from grader.authoring import expected

    doc = expected.load(a)

    def moved(function: str, case: str, key: str, by: Any) -> list[str]:
        new = json.loads(json.dumps(doc))
        entry = new["functions"][function][case]
        if key.startswith("mistake "):
            holder, field = entry["mistakes"], key.removeprefix("mistake ")
        else:
            holder, field = entry, key
        holder[field] = codec.encode(by(codec.decode(holder[field])))
        return expected.diff(doc, new, a)

    assert expected.diff(doc, doc, a) == []
    drift = {
        ("course", "output"): lambda x: x + 4.5e-12,  # Sandybridge against Haswell
        ("course_fixed", "output"): lambda x: x + 5e-12,
        ("tanh_units", "output"): lambda x: x * 1.18,  # 3.3e-9 of rounding noise, below 2e-7
        ("other_draw", "mistake check-n-no-denominator"): lambda x: x + 5e-9,
    }
    for (case, key), by in drift.items():
        assert moved("gradient_check_n", case, key, by) == [], (case, key)
    stale = {
        ("course", "output"): lambda x: x + 2e-8,  # more than the case's 1e-8
        ("course_fixed", "output"): lambda x: x + 1e-8,  # 1% of the 2e-7 threshold is 2e-9
        ("other_draw", "mistake check-n-no-denominator"): lambda x: x + 2e-8,
        ("course", "args"): lambda args: [args[0], args[1], args[2] * (1 + 1e-10), args[3]],
    }
    for (case, key), by in stale.items():
        assert moved("gradient_check_n", case, key, by) == [f"gradient_check_n/{case}: {key} changed"]


# ----------------------------------------------------------------------------- helpers, notebook


def test_helper_modules_import_lazily() -> None:
    code = (
        "import sys, gc_utils, testCases, public_tests\n"
        "heavy = [m for m in ('matplotlib', 'sklearn', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FOLDER, check=True)


def test_reference_notebook_shape(a: spec.Assignment) -> None:
    _, sources, blanked = released_graded_sources(a, GRADED)
    assert "J = None" in blanked["forward_propagation"]
    assert "dtheta = None" in blanked["backward_propagation"]
    check_n = blanked["gradient_check_n"]
    assert "forward_propagation_n(" not in check_n and "np.copy" not in check_n
    assert "difference = None" in check_n and "gradapprox[i] = None" in check_n
    # the given cells keep the two deliberate mistakes
    backward = next(s for s in sources if s.startswith("def backward_propagation_n"))
    assert "np.dot(dZ2, A1.T) * 2" in backward and "db1 = 4.0 / m" in backward


def test_reference_namespace_comes_from_helpers(ns: dict[str, Any]) -> None:
    helpers = (
        "sigmoid", "relu", "dictionary_to_vector", "vector_to_dictionary", "gradients_to_vector",
    )
    for name in helpers:
        assert ns[name].__module__ == "gc_utils", name
    assert ns["gradient_check_n_test_case"].__module__ == "testCases"
