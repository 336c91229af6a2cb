"""The regularization reference against the course's printed figures, and its case design."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from grader.authoring.reference import inside, load_module
from grader.judging import compare
from grader.reading import assignment as spec
from tests.conftest import reference_outputs, released_graded_sources

NAME = "regularization"
ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "assignments" / NAME
REF_FOLDER = ROOT / "reference" / NAME
COURSE_DATA = ROOT.parent / "shared" / "data" / "regularization_data.mat"
GRADED = (
    "compute_cost_with_regularization",
    "backward_propagation_with_regularization",
    "forward_propagation_with_dropout",
    "backward_propagation_with_dropout",
)
RNG_SEED = 0  # the harness starts every call from np.random.seed(0)
GRAD_KEYS = {"dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1"}

# The course's printed values (8 decimals, except the cost).
COST = 1.7864859451590758
L2_GRADS = {
    "dW1": [[-0.25604646, 0.12298827, -0.28297129], [-0.17706303, 0.34536094, -0.4410571]],
    "dW2": [[0.79276486, 0.85133918], [-0.0957219, -0.01720463], [-0.13100772, -0.03750433]],
    "dW3": [[-1.77691347, -0.11832879, -0.09397446]],
}
DROPOUT_A3 = [[0.36974721, 0.00305176, 0.04565099, 0.49683389, 0.36974721]]
DROPOUT_GRADS = {
    "dA1": [[0.36544439, 0, -0.00188233, 0, -0.17408748], [0.65515713, 0, -0.00337459, 0, 0]],
    "dA2": [
        [0.58180856, 0, -0.00299679, 0, -0.27715731],
        [0, 0.53159854, 0, 0.53159854, -0.34089673],
        [0, 0, -0.00292733, 0, 0],
    ],
}
# The course built the dropout-backward example from a cache rounded to 8 decimals, so its last
# printed digit may be one unit off (-0.00188233 where the exact cache gives -0.0018823360).
DROPOUT_GRADS_ATOL = 1e-8 + 5e-9
COURSE_FIGURES = {
    "noreg": (
        0.6557412523481002,
        0.16329987525724218,
        0.13851642423267105,
        0.9478672985781991,
        0.915,
    ),
    "l2": (0.6974484493131264, 0.2684918873282239, 0.26809163371273004, 0.9383886255924171, 0.93),
    "dropout": (
        0.6543912405149825,
        0.061016986574905584,
        0.060582435798513114,
        0.9289099526066351,
        0.95,
    ),
}
# The bundled data set's figures on the development machine (OpenBLAS's Haswell and SkylakeX
# kernels agree on all but the first model's accuracies), as the reference notebook's prose quotes
# them. Thirty thousand iterations of the over-fitting first model amplify the last bits of the
# BLAS kernel: its accuracies after training are 0.938 to 0.962 (train) and 0.85 to 0.875 (test)
# across OpenBLAS's kernels (Haswell, SkylakeX, Sandybridge, Nehalem, Prescott, Atom, Zen,
# Cooperlake, SapphireRapids). So the test checks what the figures show, not their digits; see
# test_reproduce_on_the_bundled_data.
BUNDLED_FIGURES = {
    "noreg": (
        0.6608983907515976,
        0.15462317770591308,
        0.12198359606525842,
        0.9383886255924171,
        0.85,
    ),
    "l2": (0.7026055877166238, 0.25517798944082765, 0.2551704224837161, 0.9241706161137441, 0.905),
    "dropout": (
        0.6592369960181028,
        0.03876139746312584,
        0.03779592060366045,
        0.9289099526066351,
        0.885,
    ),
}
# One forward pass from the seeded initial weights: the kernels agree to the last digit (a sum of
# 211 terms in another order could move it by a few ulp, hence 1e-12 rather than equality).
BUNDLED_COST_0_TOL = 1e-12
# Costs after 10000 and 20000 iterations: the kernels differ by up to 1.4e-12 (no regularization,
# at 20000); we allow 1e-6, a million times the measured spread and still far below any difference
# between the models (>= 0.08) or between a cost and the next one printed.
BUNDLED_COST_TOL = 1e-6
# Accuracies of the two regularized models: identical on every kernel (a smooth boundary keeps
# away from the points); we allow two points of the 200 or 211, so that a kernel we have not
# measured may move one point, not the story.
BUNDLED_ACC_TOL = 2 / 200
SUFFIXES = ("cost_0", "cost_10000", "cost_20000", "train_acc", "test_acc")


def _load(path: Path, name: str) -> ModuleType:
    with inside(path.parent):  # helper modules import their neighbours (testCases)
        return load_module(path, name)


@pytest.fixture(scope="module")
def tc() -> ModuleType:
    return _load(FOLDER / "testCases.py", "_testcases_regularization")


@pytest.fixture(scope="module")
def outputs(ns: dict[str, Any], a: spec.Assignment) -> dict[str, dict[str, tuple[Any, Any]]]:
    return reference_outputs(ns, a)


def _close(got: Any, want: Any, atol: float) -> bool:
    got = np.asarray(got)
    return got.shape == np.shape(want) and bool(np.allclose(got, want, rtol=0, atol=atol))


# ----------------------------------------------------------------------------- course values


def test_cost_course(ns: dict[str, Any], tc: ModuleType) -> None:
    A3, Y, parameters = tc.compute_cost_with_regularization_test_case()
    cost = ns["compute_cost_with_regularization"](A3, Y, parameters, 0.1)
    assert abs(cost - COST) <= 1e-10


def test_l2_backward_course(ns: dict[str, Any], tc: ModuleType) -> None:
    X, Y, cache = tc.backward_propagation_with_regularization_test_case()
    grads = ns["backward_propagation_with_regularization"](X, Y, cache, 0.7)
    assert set(grads) == GRAD_KEYS
    for key, want in L2_GRADS.items():
        assert _close(grads[key], want, 1e-8), key


def test_dropout_forward_course(ns: dict[str, Any], tc: ModuleType) -> None:
    X, parameters = tc.forward_propagation_with_dropout_test_case()
    A3, cache = ns["forward_propagation_with_dropout"](X, parameters, 0.7)
    assert _close(A3, DROPOUT_A3, 1e-8)
    assert len(cache) == 14
    assert cache[1].dtype == bool and cache[1].shape == (2, 5)
    assert cache[6].dtype == bool and cache[6].shape == (3, 5)


def test_dropout_backward_course(ns: dict[str, Any], tc: ModuleType) -> None:
    X, Y, cache = tc.backward_propagation_with_dropout_test_case()
    grads = ns["backward_propagation_with_dropout"](X, Y, cache, 0.8)
    assert set(grads) == GRAD_KEYS
    for key, want in DROPOUT_GRADS.items():
        assert _close(grads[key], want, DROPOUT_GRADS_ATOL), key
    assert abs(grads["dA1"][0, 2] - -0.00188233) > 5e-9  # the course's one-unit rounding quirk


def test_test_cases_follow_the_seeded_recipe(tc: ModuleType, ns: dict[str, Any]) -> None:
    np.random.seed(1)
    X = np.random.randn(3, 5)
    shapes = {"W1": (2, 3), "b1": (2, 1), "W2": (3, 2), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    params = {k: np.random.randn(*s) for k, s in shapes.items()}
    Y = np.array([[1, 1, 0, 1, 0]])

    A3, Y1, p1 = tc.compute_cost_with_regularization_test_case()
    np.random.seed(1)
    p_no_x = {k: np.random.randn(*s) for k, s in shapes.items()}
    assert np.array_equal(Y1, Y) and all(np.array_equal(p1[k], p_no_x[k]) for k in shapes)
    assert np.array_equal(A3, [[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])

    X2, Y2, cache = tc.backward_propagation_with_regularization_test_case()
    assert np.array_equal(X2, X) and np.array_equal(Y2, Y) and len(cache) == 12
    _, plain = ns["forward_propagation"](X, params)
    assert all(np.array_equal(u, v) for u, v in zip(cache, plain, strict=True))

    X3, p3 = tc.forward_propagation_with_dropout_test_case()
    assert np.array_equal(X3, X) and all(np.array_equal(p3[k], params[k]) for k in shapes)

    X4, Y4, cache4 = tc.backward_propagation_with_dropout_test_case()
    _, dropped = ns["forward_propagation_with_dropout"](X, params, 0.5)
    assert np.array_equal(X4, X) and np.array_equal(Y4, Y) and len(cache4) == 14
    assert all(np.array_equal(u, v) for u, v in zip(cache4, dropped, strict=True))


def test_public_tests_pass_on_reference(ns: dict[str, Any]) -> None:
    pt = _load(FOLDER / "public_tests.py", "_public_tests_regularization")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for name in GRADED:
            getattr(pt, f"{name}_test")(ns[name])
    assert buf.getvalue().count("all tests passed") == len(GRADED)


def test_public_tests_reject_wrong_answers() -> None:
    pt = _load(FOLDER / "public_tests.py", "_public_tests_regularization")
    with pytest.raises(AssertionError, match="expected cost"):
        pt.compute_cost_with_regularization_test(
            lambda A3, Y, p, lambd: _cost(A3, Y, p, lambd, scale=LAMBD_M)
        )
    with pytest.raises(AssertionError, match="wrong values in dW"):
        pt.backward_propagation_with_regularization_test(
            lambda X, Y, cache, lambd: _l2_backward(X, Y, cache, lambd, scale=LAMBD_2M)
        )
    with pytest.raises(AssertionError, match="wrong values in A3"):
        pt.forward_propagation_with_dropout_test(
            lambda X, p, kp: _dropout_forward(X, p, kp, rescale=(1, 0))
        )
    with pytest.raises(AssertionError, match="wrong values in dA"):
        pt.backward_propagation_with_dropout_test(
            lambda X, Y, cache, kp: _dropout_backward(X, Y, cache, kp, rescale=(0, 0))
        )


# ----------------------------------------------------------------------------- cases


def test_every_function_has_visible_and_three_hidden_cases(a: spec.Assignment) -> None:
    assert [f.name for f in a.functions] == list(GRADED)
    for f in a.functions:
        visible = [c for c in f.cases if not c.hidden]
        hidden = [c for c in f.cases if c.hidden]
        assert len(visible) == 1 and visible[0].name == "course" and len(hidden) >= 3, f.name
        assert all(float(c.points).is_integer() for c in f.cases)
        assert 0.3 <= visible[0].points / f.max_score <= 0.5, f.name
        assert all(c.atol <= 1e-7 and c.rtol == 0 for c in f.cases), f.name
    assert a.function("compute_cost_with_regularization").cases[0].atol <= 1e-10
    assert a.function("backward_propagation_with_dropout").cases[0].atol >= DROPOUT_GRADS_ATOL
    for c in a.function("forward_propagation_with_dropout").cases:
        assert c.outputs == ("0", "1.1", "1.6"), c.name  # A3 and the masks D1, D2


def test_hidden_cases_cover_the_edges(outputs: dict[str, Any]) -> None:
    def values(function: str, key: str) -> set[float]:
        return {args[key] for name, (args, _) in outputs[function].items() if name != "course"}

    for function in (
        "compute_cost_with_regularization",
        "backward_propagation_with_regularization",
    ):
        assert {0.0, 5.0} <= values(function, "lambd"), function
    assert {1.0, 0.6, 0.9} <= values("forward_propagation_with_dropout", "keep_prob")
    assert {1.0, 0.6, 0.9} <= values("backward_propagation_with_dropout", "keep_prob")
    for function in GRADED:
        ms = {args["Y" if "Y" in args else "X"].shape[1] for args, _ in outputs[function].values()}
        assert 1 in ms and len(ms) >= 3, function


def test_visible_cases_are_the_course_examples(outputs: dict[str, Any]) -> None:
    args, cost = outputs["compute_cost_with_regularization"]["course"]
    assert args["lambd"] == 0.1 and abs(cost - COST) <= 1e-10
    args, grads = outputs["backward_propagation_with_regularization"]["course"]
    assert args["lambd"] == 0.7 and _close(grads["dW1"], L2_GRADS["dW1"], 1e-8)
    args, (A3, _) = outputs["forward_propagation_with_dropout"]["course"]
    assert args["keep_prob"] == 0.7 and _close(A3, DROPOUT_A3, 1e-8)
    args, grads = outputs["backward_propagation_with_dropout"]["course"]
    assert args["keep_prob"] == 0.8 and _close(
        grads["dA2"], DROPOUT_GRADS["dA2"], DROPOUT_GRADS_ATOL
    )


def test_hidden_cases_differ_from_visible(a: spec.Assignment, outputs: dict[str, Any]) -> None:
    for f in a.functions:
        _, v_out = outputs[f.name]["course"]
        for c in f.cases:
            if c.hidden:
                _, out = outputs[f.name][c.name]
                assert not compare.judge(v_out, out, c).passed, (f.name, c.name)
                assert not compare.judge(out, v_out, c).passed, (f.name, c.name)


def test_edge_cases_have_the_expected_meaning(ns: dict[str, Any], outputs: dict[str, Any]) -> None:
    args, cost = outputs["compute_cost_with_regularization"]["no_penalty"]
    assert cost == ns["compute_cost"](args["A3"], args["Y"])
    args, grads = outputs["backward_propagation_with_regularization"]["no_penalty"]
    plain = ns["backward_propagation"](args["X"], args["Y"], args["cache"])
    assert all(np.allclose(grads[k], plain[k], rtol=0, atol=1e-15) for k in GRAD_KEYS)
    args, (A3, cache) = outputs["forward_propagation_with_dropout"]["keep_all"]
    assert cache[1].all() and cache[6].all()
    assert np.allclose(
        A3, ns["forward_propagation"](args["X"], args["parameters"])[0], rtol=0, atol=1e-15
    )
    for name in ("wide", "one_example"):  # units kept and units dropped in both layers
        _, (_, cache) = outputs["forward_propagation_with_dropout"][name]
        for mask in (cache[1], cache[6]):
            assert mask.any() and not mask.all(), name
        args, _ = outputs["backward_propagation_with_dropout"][name]
        for mask in (args["cache"][1], args["cache"][6]):
            assert mask.any() and not mask.all(), name
    args, grads = outputs["backward_propagation_with_dropout"]["keep_all"]
    without_masks = tuple(v for i, v in enumerate(args["cache"]) if i not in (1, 6))
    plain = ns["backward_propagation"](args["X"], args["Y"], without_masks)
    assert all(np.allclose(grads[k], plain[k], rtol=0, atol=1e-15) for k in GRAD_KEYS)


# Half-right answers a student might write; each must lose marks on a hidden case.
LAMBD_2M = lambda lambd, m: lambd / (2 * m)  # noqa: E731
LAMBD_M = lambda lambd, m: lambd / m  # noqa: E731
WEIGHTS = ("W1", "W2", "W3")


def _cost(
    A3: np.ndarray,
    Y: np.ndarray,
    parameters: dict,
    lambd: float,
    *,
    scale: Callable = LAMBD_2M,
    keys: tuple[str, ...] = WEIGHTS,
    m: int | None = None,
    squares: Callable = lambda W: np.sum(np.square(W)),
    cross_entropy: bool = True,
) -> float:
    m = Y.shape[1] if m is None else m
    with np.errstate(divide="ignore", invalid="ignore"):
        ce = 1.0 / Y.shape[1] * np.nansum(-Y * np.log(A3) - (1 - Y) * np.log(1 - A3))
    penalty = scale(lambd, m) * sum(squares(parameters[k]) for k in keys)
    return float((ce if cross_entropy else 0.0) + penalty)


def _backward(
    X: np.ndarray,
    Y: np.ndarray,
    layers: tuple,
    *,
    m: int | None = None,
    dW_extra: Callable = lambda layer, W: 0.0,
    db_extra: Callable = lambda layer, b: 0.0,
    on_dA2: Callable = lambda dA: dA,
    on_dA1: Callable = lambda dA: dA,
) -> dict[str, np.ndarray]:
    """Plain backprop of the 3-layer network with hooks for the L2 term and the dropout step."""
    m = X.shape[1] if m is None else m
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = layers
    dZ3 = A3 - Y
    dW3 = np.dot(dZ3, A2.T) / m + dW_extra(3, W3)
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m + db_extra(3, b3)
    dA2 = on_dA2(np.dot(W3.T, dZ3))
    dZ2 = dA2 * (A2 > 0)
    dW2 = np.dot(dZ2, A1.T) / m + dW_extra(2, W2)
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m + db_extra(2, b2)
    dA1 = on_dA1(np.dot(W2.T, dZ2))
    dZ1 = dA1 * (A1 > 0)
    dW1 = np.dot(dZ1, X.T) / m + dW_extra(1, W1)
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m + db_extra(1, b1)
    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def _l2_backward(
    X: np.ndarray,
    Y: np.ndarray,
    cache: tuple,
    lambd: float,
    *,
    scale: Callable = LAMBD_M,
    m: int | None = None,
    layers: tuple[int, ...] = (1, 2, 3),
    biases: bool = False,
) -> dict[str, np.ndarray]:
    mm = X.shape[1] if m is None else m
    return _backward(
        X,
        Y,
        cache,
        m=m,
        dW_extra=lambda layer, W: scale(lambd, mm) * W if layer in layers else 0.0,
        db_extra=lambda layer, b: scale(lambd, mm) * b if biases else 0.0,
    )


def _dropout_forward(
    X: np.ndarray,
    parameters: dict,
    keep_prob: float,
    *,
    seed: bool = True,
    reseed_each: bool = False,
    draw: Callable = lambda shape: np.random.rand(*shape),
    keep: Callable = lambda r, kp: r < kp,
    rescale: tuple[int, int] = (1, 1),
    divide: Callable = lambda A, kp: A / kp,
    drop_output: bool = False,
) -> tuple[np.ndarray, tuple]:
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    if seed:
        np.random.seed(1)
    Z1 = np.dot(W1, X) + b1
    A1 = np.maximum(0, Z1)
    if reseed_each:
        np.random.seed(1)
    D1 = keep(draw(A1.shape), keep_prob)
    A1 = A1 * D1
    A1 = divide(A1, keep_prob) if rescale[0] else A1
    Z2 = np.dot(W2, A1) + b2
    A2 = np.maximum(0, Z2)
    if reseed_each:
        np.random.seed(1)
    D2 = keep(draw(A2.shape), keep_prob)
    A2 = A2 * D2
    A2 = divide(A2, keep_prob) if rescale[1] else A2
    Z3 = np.dot(W3, A2) + b3
    A3 = 1 / (1 + np.exp(-Z3))
    if drop_output:
        A3 = A3 * (np.random.rand(*A3.shape) < keep_prob) / keep_prob
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def _dropout_backward(
    X: np.ndarray,
    Y: np.ndarray,
    cache: tuple,
    keep_prob: float,
    *,
    mask: tuple[int, int] = (1, 1),
    rescale: tuple[int, int] = (1, 1),
    divide: Callable = lambda dA, kp: dA / kp,
) -> dict[str, np.ndarray]:
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache

    def step(dA: np.ndarray, D: np.ndarray, i: int) -> np.ndarray:
        dA = dA * D if mask[i] else dA
        return divide(dA, keep_prob) if rescale[i] else dA

    layers = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return _backward(
        X, Y, layers, on_dA2=lambda dA: step(dA, D2, 1), on_dA1=lambda dA: step(dA, D1, 0)
    )


MUTANTS: dict[str, dict[str, Callable]] = {
    "compute_cost_with_regularization": {
        "lambd/m instead of lambd/(2m)": lambda A3, Y, p, lambd: _cost(
            A3, Y, p, lambd, scale=LAMBD_M
        ),
        "biases penalised too": lambda A3, Y, p, lambd: _cost(
            A3, Y, p, lambd, keys=tuple(sorted(p))
        ),
        "m fixed at 5": lambda A3, Y, p, lambd: _cost(A3, Y, p, lambd, m=5),
        "m = A3.shape[0]": lambda A3, Y, p, lambd: _cost(A3, Y, p, lambd, m=A3.shape[0]),
        "lambd fixed at 0.1": lambda A3, Y, p, lambd: _cost(A3, Y, p, 0.1),
        "penalty without lambd": lambda A3, Y, p, lambd: _cost(A3, Y, p, 1.0),
        "square of the sum": lambda A3, Y, p, lambd: _cost(
            A3, Y, p, lambd, squares=lambda W: np.sum(W) ** 2
        ),
        "W3 left out": lambda A3, Y, p, lambd: _cost(A3, Y, p, lambd, keys=("W1", "W2")),
        "penalty only": lambda A3, Y, p, lambd: _cost(A3, Y, p, lambd, cross_entropy=False),
        "the course's number": lambda A3, Y, p, lambd: COST,
    },
    "backward_propagation_with_regularization": {
        "lambd/(2m) instead of lambd/m": lambda X, Y, c, lambd: _l2_backward(
            X, Y, c, lambd, scale=LAMBD_2M
        ),
        "2 lambd/m": lambda X, Y, c, lambd: _l2_backward(
            X, Y, c, lambd, scale=lambda lam, m: 2 * lam / m
        ),
        "lambd without /m": lambda X, Y, c, lambd: _l2_backward(
            X, Y, c, lambd, scale=lambda lam, m: lam
        ),
        "biases penalised too": lambda X, Y, c, lambd: _l2_backward(X, Y, c, lambd, biases=True),
        "m fixed at 5": lambda X, Y, c, lambd: _l2_backward(X, Y, c, lambd, m=5),
        "lambd fixed at 0.7": lambda X, Y, c, lambd: _l2_backward(X, Y, c, 0.7),
        "penalty on dW3 only": lambda X, Y, c, lambd: _l2_backward(X, Y, c, lambd, layers=(3,)),
        "no penalty": lambda X, Y, c, lambd: _l2_backward(X, Y, c, 0.0),
    },
    "forward_propagation_with_dropout": {
        "mask from randn": lambda X, p, kp: _dropout_forward(
            X, p, kp, draw=lambda s: np.random.randn(*s)
        ),
        "mask with >": lambda X, p, kp: _dropout_forward(X, p, kp, keep=lambda r, k: r > k),
        "mask with > 1 - keep_prob": lambda X, p, kp: _dropout_forward(
            X, p, kp, keep=lambda r, k: r > 1 - k
        ),
        "no rescale": lambda X, p, kp: _dropout_forward(X, p, kp, rescale=(0, 0)),
        "rescale layer 1 only": lambda X, p, kp: _dropout_forward(X, p, kp, rescale=(1, 0)),
        "rescale layer 2 only": lambda X, p, kp: _dropout_forward(X, p, kp, rescale=(0, 1)),
        "multiply by keep_prob": lambda X, p, kp: _dropout_forward(
            X, p, kp, divide=lambda A, k: A * k
        ),
        "no seed": lambda X, p, kp: _dropout_forward(X, p, kp, seed=False),
        "seed before each mask": lambda X, p, kp: _dropout_forward(X, p, kp, reseed_each=True),
        "mask drawn transposed": lambda X, p, kp: _dropout_forward(
            X, p, kp, draw=lambda s: np.random.rand(*s[::-1]).T
        ),
        "shapes of the example": lambda X, p, kp: _dropout_forward(
            X, p, kp, draw=lambda s: np.random.rand(2, 5) if s[0] == 2 else np.random.rand(3, 5)
        ),
        "keep_prob fixed at 0.7": lambda X, p, kp: _dropout_forward(X, p, 0.7),
        "dropout on the output too": lambda X, p, kp: _dropout_forward(X, p, kp, drop_output=True),
    },
    "backward_propagation_with_dropout": {
        "no rescale": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp, rescale=(0, 0)),
        "rescale dA2 only": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp, rescale=(0, 1)),
        "rescale dA1 only": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp, rescale=(1, 0)),
        "no masks": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp, mask=(0, 0)),
        "mask on dA2 only": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp, mask=(0, 1)),
        "multiply by keep_prob": lambda X, Y, c, kp: _dropout_backward(
            X, Y, c, kp, divide=lambda d, k: d * k
        ),
        "keep_prob fixed at 0.8": lambda X, Y, c, kp: _dropout_backward(X, Y, c, 0.8),
        "divide by 1 - keep_prob": lambda X, Y, c, kp: _dropout_backward(
            X, Y, c, kp, divide=lambda d, k: d / (1 - k)
        ),
    },
}
EQUIVALENT: dict[str, Callable] = {
    "compute_cost_with_regularization": lambda A3, Y, p, lambd: _cost(
        A3,
        Y,
        p,
        lambd,
        scale=lambda lam, m: lam * 0.5 / m,
        squares=lambda W: np.linalg.norm(W) ** 2,
    ),
    "backward_propagation_with_regularization": lambda X, Y, c, lambd: _l2_backward(X, Y, c, lambd),
    "forward_propagation_with_dropout": lambda X, p, kp: _dropout_forward(
        X, p, kp, keep=lambda r, k: (r < k).astype(int), divide=lambda A, k: A * (1 / k)
    ),
    "backward_propagation_with_dropout": lambda X, Y, c, kp: _dropout_backward(X, Y, c, kp),
}


def _judge(
    a: spec.Assignment, outputs: dict[str, Any], function: str, answer: Callable
) -> list[str]:
    """Names of the cases that `answer` fails (an exception fails the case)."""
    failed = []
    for c in a.function(function).cases:
        args, expected = outputs[function][c.name]
        np.random.seed(RNG_SEED)
        try:
            with np.errstate(all="ignore"):
                got = answer(*args.values())
        except Exception:
            failed.append(c.name)
            continue
        if not compare.judge(expected, got, c).passed:
            failed.append(c.name)
    return failed


@pytest.mark.parametrize(("function", "mutant"), [(f, m) for f, ms in MUTANTS.items() for m in ms])
def test_half_right_answers_fail_a_hidden_case(
    a: spec.Assignment, outputs: dict[str, Any], function: str, mutant: str
) -> None:
    failed = _judge(a, outputs, function, MUTANTS[function][mutant])
    assert any(name != "course" for name in failed), f"{mutant} passes every hidden case"


@pytest.mark.parametrize("function", GRADED)
def test_equivalent_formulas_pass_every_case(
    a: spec.Assignment, outputs: dict[str, Any], function: str
) -> None:
    assert _judge(a, outputs, function, EQUIVALENT[function]) == []


def test_reference_scores_every_case_in_the_sandbox(a: spec.Assignment) -> None:
    from grader.authoring import expected

    doc = expected.build(a)
    assert set(doc["functions"]) == set(GRADED)
    masks = doc["functions"]["forward_propagation_with_dropout"]["course"]["output"]
    assert json.dumps(masks).count('"bool"') == 2  # D1 and D2 travel as boolean arrays


# ------------------------------------------------------------------------- helpers, data, notebook


def test_helper_modules_import_lazily() -> None:
    code = (
        "import sys, reg_utils, testCases, public_tests\n"
        "from testCases import *\n"
        "heavy = [m for m in ('matplotlib', 'sklearn', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "names = {n for n in dir() if not n.startswith('_')}\n"
        "assert not {'forward_propagation', 'relu', 'sigmoid'} & names, names\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FOLDER, check=True)


def test_network_helpers(ns: dict[str, Any]) -> None:
    parameters = ns["initialize_parameters"]([2, 20, 3, 1])
    np.random.seed(3)
    W1 = np.random.randn(20, 2) / np.sqrt(2)
    W2 = np.random.randn(3, 20) / np.sqrt(20)
    assert np.array_equal(parameters["W1"], W1) and np.array_equal(parameters["W2"], W2)
    assert (
        parameters["W3"].shape == (1, 3)
        and not parameters["b2"].any()
        and parameters["b2"].shape == (3, 1)
    )
    with inside(FOLDER):
        train_X, train_Y, test_X, test_Y = ns["load_2D_dataset"](plot=False)
    assert train_X.shape == (2, 211) and train_Y.shape == (1, 211) and train_Y.dtype == np.uint8
    assert test_X.shape == (2, 200) and test_Y.shape == (1, 200)
    a3, cache = ns["forward_propagation"](train_X, parameters)
    assert a3.shape == (1, 211) and len(cache) == 12
    grads = ns["backward_propagation"](train_X, train_Y, cache)
    assert set(grads) == GRAD_KEYS
    assert all(grads["d" + k].shape == parameters[k].shape for k in parameters)
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        pred = ns["predict"](train_X, train_Y, parameters)
    assert pred.shape == (1, 211) and buf.getvalue().startswith("Accuracy: ")
    assert np.array_equal(ns["predict_dec"](parameters, train_X), a3 > 0.5)


def test_bundled_data_is_generated_and_shaped_like_the_courses() -> None:
    import scipy.io

    make = _load(REF_FOLDER / "make_data.py", "_make_data_regularization")
    assert make.OUT == FOLDER / "datasets" / "data.mat"
    assert make.build() == make.OUT.read_bytes(), "run reference/regularization/make_data.py"
    ours = scipy.io.loadmat(make.OUT)
    layout = {
        "X": ((211, 2), np.float64),
        "y": ((211, 1), np.uint8),
        "Xval": ((200, 2), np.float64),
        "yval": ((200, 1), np.uint8),
    }
    for key, (shape, dtype) in layout.items():
        assert ours[key].shape == shape and ours[key].dtype == dtype, key
    for key in ("y", "yval"):
        assert set(np.unique(ours[key])) == {0, 1} and 0.4 < ours[key].mean() < 0.6
    lo, hi = ours["X"].min(axis=0), ours["X"].max(axis=0)
    assert np.all(lo > [-0.61, -0.67]) and np.all(hi < [0.31, 0.58])
    assert np.all(lo < [-0.55, -0.6]) and np.all(hi > [0.25, 0.5])
    if COURSE_DATA.is_file():
        course = scipy.io.loadmat(COURSE_DATA)
        for key in layout:
            assert ours[key].shape == course[key].shape and ours[key].dtype == course[key].dtype, (
                key
            )
        assert not np.array_equal(ours["X"], course["X"])


def test_reference_notebook_shape(a: spec.Assignment) -> None:
    raw, _, blanked = released_graded_sources(a, GRADED)
    assert "L2_regularization_cost = None" in blanked["compute_cost_with_regularization"]
    assert "lambd /" not in blanked["backward_propagation_with_regularization"]
    assert "np.random.rand" not in blanked["forward_propagation_with_dropout"]
    assert "np.random.seed(1)" in blanked["forward_propagation_with_dropout"]
    assert "* D" not in blanked["backward_propagation_with_dropout"]
    for figure in ("1.7864859451590758", "0.9478672985781991", "0.93", "0.95"):
        assert any(
            figure in "".join(c["source"]) for c in raw["cells"] if c["cell_type"] == "markdown"
        )


# ----------------------------------------------------------------------------- reproduce


def _reproduce(ns: dict[str, Any], data: Path | None) -> dict[str, float]:
    repro = _load(REF_FOLDER / "reproduce.py", "_reproduce_regularization")
    ticks: list[int] = []
    with inside(FOLDER):
        figures = repro.run(ns, data, ticks.append)
    assert sum(ticks) == repro.steps(data)
    return figures


# On the course's data the figures are stable: the course's own machine and nine OpenBLAS kernels
# here give the same accuracies and costs within 3e-13, so the course's accuracies are asserted
# exactly and its costs within the spec's 1e-9.
@pytest.mark.skipif(not COURSE_DATA.is_file(), reason="the course's data file is not available")
def test_reproduce_matches_the_course(ns: dict[str, Any], a: spec.Assignment) -> None:
    figures = _reproduce(ns, COURSE_DATA)
    assert set(figures) == {r.figure for r in a.reproduce}
    for r in a.reproduce:
        assert r.course_data and not r.platform_sensitive, r.figure
        assert abs(figures[r.figure] - r.course) <= r.tol, (r.figure, figures[r.figure], r.course)
    course = {r.figure: r.course for r in a.reproduce}
    for model, values in COURSE_FIGURES.items():
        for suffix, value in zip(SUFFIXES, values, strict=True):
            fid = f"{model}_{suffix}"
            assert course[fid] == value, fid  # the spec quotes the course's values
            if suffix.endswith("acc"):
                assert figures[fid] == value, fid
            else:
                assert math.isclose(figures[fid], value, rel_tol=0, abs_tol=1e-9), fid


def test_reproduce_on_the_bundled_data(ns: dict[str, Any]) -> None:
    figures = _reproduce(ns, None)
    for model, values in BUNDLED_FIGURES.items():
        quoted = dict(zip(SUFFIXES, values, strict=True))
        got = {suffix: figures[f"{model}_{suffix}"] for suffix in SUFFIXES}
        assert abs(got["cost_0"] - quoted["cost_0"]) <= BUNDLED_COST_0_TOL, (model, got)
        for suffix in ("cost_10000", "cost_20000"):
            assert abs(got[suffix] - quoted[suffix]) <= BUNDLED_COST_TOL, (model, suffix, got)
        # the cost falls as the model trains
        assert got["cost_0"] > got["cost_10000"] >= got["cost_20000"], (model, got)
        assert got["train_acc"] > got["test_acc"], (model, got)
        if model != "noreg":
            for suffix in ("train_acc", "test_acc"):
                assert abs(got[suffix] - quoted[suffix]) <= BUNDLED_ACC_TOL, (model, suffix, got)
    # The first model over-fits: the best fit of the training set, the largest gap to the test set
    # and the worst test accuracy; both kinds of regularization trade training accuracy for test
    # accuracy. This is what the figures show on every kernel, whatever their last digits.
    acc = {m: (figures[f"{m}_train_acc"], figures[f"{m}_test_acc"]) for m in BUNDLED_FIGURES}
    gap = {m: train - test for m, (train, test) in acc.items()}
    for model in ("l2", "dropout"):
        assert acc["noreg"][0] > acc[model][0], (model, acc)
        assert acc["noreg"][1] < acc[model][1], (model, acc)
        assert gap["noreg"] > gap[model], (model, gap)
    assert 0.9 <= acc["noreg"][0] < 1 and 0.8 <= acc["noreg"][1] < 0.9, acc  # over-fits, not stuck
    assert ns["compute_cost"].__module__ == "reg_utils"  # run() put the originals back
