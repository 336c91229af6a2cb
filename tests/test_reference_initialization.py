"""The initialization reference against the course's printed figures, and its case design."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.authoring.reference import inside, load_module
from grader.judging import compare
from grader.reading import assignment as spec
from tests.conftest import reference_outputs, released_graded_sources

NAME = "initialization"
ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assignments" / NAME
REF_FOLDER = ROOT / "reference" / NAME
GRADED = ("initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he")
RNG_SEED = 0  # the harness starts every call from np.random.seed(0)

# The course's printed values (8 decimals).
RANDOM_321 = {
    "W1": [[17.88628473, 4.36509851, 0.96497468], [-18.63492703, -2.77388203, -3.54758979]],
    "W2": [[-0.82741481, -6.27000677]],
}
HE_241 = {
    "W1": [
        [1.78862847, 0.43650985],
        [0.09649747, -1.8634927],
        [-0.2773882, -0.35475898],
        [-0.08274148, -0.62700068],
    ],
    "W2": [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]],
}


_load = load_module


@pytest.fixture(scope="module")
def outputs(ns: dict[str, Any], a: spec.Assignment) -> dict[str, dict[str, tuple[Any, Any]]]:
    return reference_outputs(ns, a)


def _zeros_shapes(dims: list[int]) -> dict[str, tuple[int, int]]:
    shapes = {}
    for layer in range(1, len(dims)):
        shapes[f"W{layer}"] = (dims[layer], dims[layer - 1])
        shapes[f"b{layer}"] = (dims[layer], 1)
    return shapes


# ----------------------------------------------------------------------------- course values


def test_zeros_course(ns: dict[str, Any]) -> None:
    p = ns["initialize_parameters_zeros"]([3, 2, 1])
    assert set(p) == {"W1", "b1", "W2", "b2"}
    for key, shape in _zeros_shapes([3, 2, 1]).items():
        assert p[key].shape == shape and p[key].dtype.kind == "f"
        assert not p[key].any()


def test_random_course(ns: dict[str, Any]) -> None:
    np.random.seed(RNG_SEED)
    p = ns["initialize_parameters_random"]([3, 2, 1])
    assert set(p) == {"W1", "b1", "W2", "b2"}
    for key, value in RANDOM_321.items():
        assert np.allclose(p[key], value, rtol=0, atol=1e-8), key
    assert p["b1"].shape == (2, 1) and not p["b1"].any()
    assert p["b2"].shape == (1, 1) and not p["b2"].any()


def test_he_course(ns: dict[str, Any]) -> None:
    np.random.seed(RNG_SEED)
    p = ns["initialize_parameters_he"]([2, 4, 1])
    assert set(p) == {"W1", "b1", "W2", "b2"}
    for key, value in HE_241.items():
        assert np.allclose(p[key], value, rtol=0, atol=1e-8), key
    assert p["b1"].shape == (4, 1) and not p["b1"].any()
    assert p["b2"].shape == (1, 1) and not p["b2"].any()


def test_public_tests_pass_on_reference(ns: dict[str, Any]) -> None:
    pt = _load(FOLDER / "public_tests.py", "_public_tests_initialization")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for name in GRADED:
            getattr(pt, f"{name}_test")(ns[name])
    assert buf.getvalue().count("all tests passed") == 3


def test_public_tests_reject_wrong_answers() -> None:
    pt = _load(FOLDER / "public_tests.py", "_public_tests_initialization")

    def transposed(dims: list[int]) -> dict[str, np.ndarray]:
        return {k: np.zeros(s[::-1]) for k, s in _zeros_shapes(dims).items()}

    def xavier(dims: list[int]) -> dict[str, np.ndarray]:
        np.random.seed(3)
        p = {}
        for layer in range(1, len(dims)):
            n, n_prev = dims[layer], dims[layer - 1]
            p[f"W{layer}"] = np.random.randn(n, n_prev) * np.sqrt(1 / n_prev)
            p[f"b{layer}"] = np.zeros((dims[layer], 1))
        return p

    with pytest.raises(AssertionError, match="shape"):
        pt.initialize_parameters_zeros_test(transposed)
    with pytest.raises(AssertionError, match="wrong values"):
        pt.initialize_parameters_random_test(xavier)
    with pytest.raises(AssertionError, match="wrong values"):
        pt.initialize_parameters_he_test(xavier)


# ----------------------------------------------------------------------------- cases


def test_every_function_has_visible_and_three_hidden_cases(a: spec.Assignment) -> None:
    assert {f.name for f in a.functions} == set(GRADED)
    for f in a.functions:
        visible = [c for c in f.cases if not c.hidden]
        hidden = [c for c in f.cases if c.hidden]
        assert len(visible) == 1 and len(hidden) >= 3, f.name
        assert all(float(c.points).is_integer() for c in f.cases)
        assert 0.3 <= visible[0].points / f.max_score <= 0.5, f.name
        assert all(c.atol <= 1e-7 for c in f.cases)


def test_visible_cases_are_the_course_examples(outputs: dict[str, Any]) -> None:
    assert outputs["initialize_parameters_zeros"]["course"][0] == {"layers_dims": [3, 2, 1]}
    assert outputs["initialize_parameters_random"]["course"][0] == {"layers_dims": [3, 2, 1]}
    assert outputs["initialize_parameters_he"]["course"][0] == {"layers_dims": [2, 4, 1]}
    got = outputs["initialize_parameters_he"]["course"][1]
    assert np.allclose(got["W1"], HE_241["W1"], rtol=0, atol=1e-8)


def test_hidden_cases_differ_from_visible(a: spec.Assignment, outputs: dict[str, Any]) -> None:
    for f in a.functions:
        visible = next(c for c in f.cases if not c.hidden)
        v_args, v_out = outputs[f.name][visible.name]
        for c in f.cases:
            if not c.hidden:
                continue
            args, out = outputs[f.name][c.name]
            assert args != v_args, (f.name, c.name)
            assert not compare.judge(v_out, out, c).passed, (f.name, c.name)


def test_zeros_cases_have_the_right_shapes(outputs: dict[str, Any]) -> None:
    for args, out in outputs["initialize_parameters_zeros"].values():
        shapes = _zeros_shapes(args["layers_dims"])
        assert {k: v.shape for k, v in out.items()} == shapes
        assert all(v.dtype.kind == "f" and not v.any() for v in out.values())


# Half-right answers a student might write; each must lose marks on a hidden case.
def _init(
    dims: list[int],
    scale: Any,
    *,
    seed_each: bool = False,
    seed: bool = True,
    transpose: bool = False,
    flat_bias: bool = False,
    bias_draw: bool = False,
) -> dict[str, np.ndarray]:
    if seed:
        np.random.seed(3)
    p = {}
    for layer in range(1, len(dims)):
        if seed_each:
            np.random.seed(3)
        n, n_prev = dims[layer], dims[layer - 1]
        w = np.random.randn(n_prev, n).T if transpose else np.random.randn(n, n_prev)
        p[f"W{layer}"] = w * scale(n, n_prev)
        p[f"b{layer}"] = np.zeros(n) if flat_bias else np.zeros((n, 1))
        if bias_draw:
            p[f"b{layer}"] = np.random.randn(n, 1) * 0
    return p


def _two_layers_only(dims: list[int]) -> dict[str, np.ndarray]:
    p = {}
    for layer in (1, 2):
        if layer < len(dims):
            p[f"W{layer}"] = np.zeros((dims[layer], dims[layer - 1]))
            p[f"b{layer}"] = np.zeros((dims[layer], 1))
    return p


def _zeros_transposed(dims: list[int]) -> dict[str, np.ndarray]:
    return {k: np.zeros(s[::-1]) for k, s in _zeros_shapes(dims).items()}


def _zeros_flat_bias(dims: list[int]) -> dict[str, np.ndarray]:
    return {k: np.zeros(s[:1] if k[0] == "b" else s) for k, s in _zeros_shapes(dims).items()}


TEN = lambda n, n_prev: 10  # noqa: E731
HE = lambda n, n_prev: np.sqrt(2 / n_prev)  # noqa: E731
MUTANTS: dict[str, dict[str, Any]] = {
    "initialize_parameters_zeros": {
        "two layers only": _two_layers_only,
        "(n_prev, n) order": _zeros_transposed,
        "b of shape (n,)": _zeros_flat_bias,
    },
    "initialize_parameters_random": {
        "seed per layer": lambda d: _init(d, TEN, seed_each=True),
        "no seed": lambda d: _init(d, TEN, seed=False),
        "randn(n_prev, n).T": lambda d: _init(d, TEN, transpose=True),
        "biases drawn from the generator": lambda d: _init(d, TEN, bias_draw=True),
        "scale 0.01": lambda d: _init(d, lambda n, n_prev: 0.01),
    },
    "initialize_parameters_he": {
        "seed per layer": lambda d: _init(d, HE, seed_each=True),
        "no seed": lambda d: _init(d, HE, seed=False),
        "sqrt(1/n_prev)": lambda d: _init(d, lambda n, n_prev: np.sqrt(1 / n_prev)),
        "sqrt(2/n_l)": lambda d: _init(d, lambda n, n_prev: np.sqrt(2 / n)),
        "2/n_prev": lambda d: _init(d, lambda n, n_prev: 2 / n_prev),
        "input size everywhere": lambda d: _init(d, lambda n, n_prev: np.sqrt(2 / d[0])),
        "randn(n_prev, n).T": lambda d: _init(d, HE, transpose=True),
        "b of shape (n,)": lambda d: _init(d, HE, flat_bias=True),
    },
}


@pytest.mark.parametrize(("function", "mutant"), [(f, m) for f, ms in MUTANTS.items() for m in ms])
def test_half_right_answers_fail_a_hidden_case(
    a: spec.Assignment, outputs: dict[str, Any], function: str, mutant: str
) -> None:
    wrong = MUTANTS[function][mutant]
    failed = []
    for c in a.function(function).cases:
        args, expected = outputs[function][c.name]
        np.random.seed(RNG_SEED)
        got = wrong(*args.values())
        if not compare.judge(expected, got, c).passed:
            failed.append(c.name)
    assert any(name != "course" for name in failed), f"{mutant} passes every hidden case"


def test_equivalent_formulas_pass_every_case(a: spec.Assignment, outputs: dict[str, Any]) -> None:
    variants = {
        "initialize_parameters_random": lambda d: _init(d, lambda n, n_prev: 10.0),
        "initialize_parameters_he": lambda d: _init(d, lambda n, n_prev: 1 / np.sqrt(n_prev / 2)),
    }
    for function, right in variants.items():
        for c in a.function(function).cases:
            args, expected = outputs[function][c.name]
            np.random.seed(RNG_SEED)
            assert compare.judge(expected, right(*args.values()), c).passed, (function, c.name)


# ----------------------------------------------------------------------------- helpers, notebook


def test_helper_module_imports_lazily() -> None:
    code = (
        "import sys, init_utils, public_tests\n"
        "heavy = [m for m in ('matplotlib', 'sklearn', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FOLDER, check=True)


def test_dataset_and_network_helpers(ns: dict[str, Any]) -> None:
    with inside(FOLDER):
        train_X, train_Y, test_X, test_Y = ns["load_dataset"](plot=False)
    assert train_X.shape == (2, 300) and train_Y.shape == (1, 300)
    assert test_X.shape == (2, 100) and test_Y.shape == (1, 100)
    assert set(np.unique(train_Y)) == {0, 1} and train_Y.sum() == 150
    np.random.seed(RNG_SEED)
    p = ns["initialize_parameters_he"]([2, 10, 5, 1])
    a3, cache = ns["forward_propagation"](train_X, p)
    assert a3.shape == (1, 300) and len(cache) == 12
    cost = ns["compute_loss"](a3, train_Y)
    assert math.isclose(cost, 0.8830537463419761, rel_tol=0, abs_tol=1e-12)
    grads = ns["backward_propagation"](train_X, train_Y, cache)
    for k in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert grads["d" + k].shape == p[k].shape
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        pred = ns["predict"](train_X, train_Y, p)
    assert pred.shape == (1, 300) and buf.getvalue().startswith("Accuracy: ")
    assert np.array_equal(ns["predict_dec"](p, train_X), a3 > 0.5)


def test_reference_notebook_shape(a: spec.Assignment) -> None:
    _, _, blanked = released_graded_sources(a, GRADED)
    assert len(blanked) == 3
    for source in blanked.values():
        assert "np.random.randn" not in source and "np.zeros" not in source
        assert 'parameters["W" + str(l)] = None' in source


# ----------------------------------------------------------------------------- reproduce


def test_reproduce_matches_the_course(ns: dict[str, Any], a: spec.Assignment) -> None:
    repro = _load(REF_FOLDER / "reproduce.py", "_reproduce_initialization")
    ticks = []
    with inside(FOLDER):
        figures = repro.run(ns, None, ticks.append)
    assert sum(ticks) == repro.steps(None)
    assert set(figures) == {r.figure for r in a.reproduce}
    for r in a.reproduce:
        got = figures[r.figure]
        if math.isinf(r.course):
            assert got == r.course, r.figure
        else:
            assert abs(got - r.course) <= r.tol, (r.figure, got, r.course)
    # The reference's own values: accuracies exactly, full-precision costs to 1e-12. These are
    # stable: nine OpenBLAS kernels (Haswell, SkylakeX, Sandybridge, Nehalem, Prescott, Atom, Zen,
    # Cooperlake, SapphireRapids) give the same accuracies and costs, except the last printed
    # digit of He at 14000 (...363 in the course, ...363 to ...372 here: 8e-17 apart, so 1e-12
    # leaves a margin of 10^4). The x10 weights' costs are not: log of outputs saturated at 0 or 1
    # amplifies the kernel's last bits (0.6231 to 0.6244 at 1000, 0.38275 to 0.38278 at 14000),
    # hence the course's 4 printed digits and the spec's tolerances for them.
    accuracies = {
        "zeros_train_acc": 0.5,
        "zeros_test_acc": 0.5,
        "random_train_acc": 0.83,
        "random_test_acc": 0.86,
        "he_train_acc": 0.9933333333333333,
        "he_test_acc": 0.96,
    }
    for fid, value in accuracies.items():
        assert figures[fid] == value, fid
    costs = {
        "zeros_cost_0": 0.6931471805599453,
        "zeros_cost_1000": 0.6931471805599453,
        "zeros_cost_14000": 0.6931471805599453,
        "he_cost_0": 0.8830537463419761,
        "he_cost_1000": 0.6879825919728063,
        "he_cost_14000": 0.07357895962677363,
    }
    for fid, value in costs.items():
        assert math.isclose(figures[fid], value, rel_tol=0, abs_tol=1e-12), (fid, figures[fid])
    assert abs(figures["random_cost_1000"] - 0.6243) < 3e-3
    assert abs(figures["random_cost_14000"] - 0.3828) < 1e-3
    assert figures["random_cost_0"] == math.inf
    assert ns["compute_loss"] is not None and ns["compute_loss"].__module__ == "init_utils"
