"""Comparison is pure: structures, shapes, dtypes, masks, tolerances, and words for each miss."""

from __future__ import annotations

import numpy as np

from grader.judging.compare import judge
from grader.reading.assignment import Case

CASE = Case(name="c", inputs="x", atol=1e-7)


def msg(exp: object, got: object, case: Case = CASE, hidden: bool = False) -> str:
    v = judge(exp, got, case)
    assert not v.passed
    return v.message(hidden)


def test_equal_within_tolerance_passes() -> None:
    e = {"W1": np.ones((2, 3)), "b1": np.zeros((2, 1))}
    assert judge(e, {"W1": np.ones((2, 3)) + 5e-8, "b1": np.zeros((2, 1))}, CASE).passed


def test_shape_messages() -> None:
    assert "transposed" in msg(np.ones((2, 3)), np.ones((3, 2)))
    assert "np.zeros((n, 1))" in msg(np.zeros((2, 1)), np.zeros(2))
    assert "expected (2, 1)" in msg(np.zeros((2, 1)), np.zeros(2))


def test_hidden_shape_messages_name_no_expected_size() -> None:
    """A secret case's drawn sizes are part of its answer: a hidden miss names only what came back."""
    for exp, got in [
        (np.zeros((7, 5)), np.zeros((5, 7))),
        (np.zeros((7, 1)), np.zeros(7)),
        (np.zeros((7, 5)), [[0.0] * 5] * 7),
        ((1.0,) * 7, (1.0,) * 4),
        ((1.0,) * 7, np.zeros(3)),
    ]:
        said = judge(exp, got, CASE).message(hidden=True)
        assert said and "7" not in said.replace("(5, 7)", "").replace("(7,)", ""), said


def test_keys_types_and_dtypes() -> None:
    assert "missing keys ['b1']" in msg({"W1": 1.0, "b1": 2.0}, {"W1": 1.0})
    assert "unexpected keys ['x']" in msg({"W1": 1.0}, {"W1": 1.0, "x": 2})
    assert "convert it with np.array" in msg(np.ones(3), [1.0, 1.0, 1.0])
    assert "dtype int64" in msg(np.zeros((2, 2)), np.zeros((2, 2), dtype=np.int64))
    assert "should be a tuple" in msg((1.0, 2.0), {"a": 1})


def test_masks_compare_exactly_but_accept_integers() -> None:
    mask = np.array([[True, False], [False, True]])
    assert judge(mask, mask.astype(np.int64), CASE).passed
    assert "mask entries wrong" in msg(mask, ~mask)
    assert "mask of booleans" in msg(mask, mask * 0.5)


def test_non_finite_and_largest_error() -> None:
    e = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "not finite" in msg(e, np.array([[1.0, np.nan], [3.0, 4.0]]))
    text = msg(e, np.array([[1.0, 2.0], [3.5, 4.1]]))
    assert "2 of 4 entries wrong" in text and "[1, 0]" in text


def test_hidden_messages_never_show_values() -> None:
    text = msg(np.array([1.2345678]), np.array([9.87654321]), hidden=True)
    assert "1.2345678" not in text and "9.876" not in text


def test_scalars_and_threshold() -> None:
    assert judge(8, np.float64(8.0), CASE).passed
    assert "np.squeeze" in msg(1.5, np.array([[1.5]]))
    below = Case(name="c", inputs="x", below=1e-7)
    assert judge(None, 3e-10, below).passed
    assert "below" in msg(None, 0.2, below)
    assert "not a finite" in msg(None, float("nan"), below)
    assert "expected a number" in msg(None, "1e-10", below)


def test_selected_output_paths() -> None:
    case = Case(name="c", inputs="x", outputs=("0", "1.1"))
    exp = (np.ones(2), (np.zeros(1), np.array([True, False])))
    assert judge(exp, (np.ones(2), (np.ones(1), np.array([1, 0]))), case).passed
    assert "has no output[1][1]" in msg(exp, (np.ones(2),), case)
