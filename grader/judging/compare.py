"""Judging a decoded output against the expected one: pure functions, no kernel, no student code.

Everything compared here is plain data rebuilt by `codec.decode` in the grader's own process,
so no object a student defined can take part in deciding equality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.reading.assignment import Case

# What a failed case drawn with the secret may say: its inputs are the student's own secret, and
# anything the answer chose (a key, a shape, a length, a count, a value) could spell them out, so
# such a case says one of these fixed phrases and nothing else.
DRAWN = {
    "missing": "the output lacks a part it should have",
    "type": "the output, or a part of it, has the wrong type",
    "keys": "the output, or a dict in it, has the wrong keys",
    "length": "a list or tuple in the output has the wrong length",
    "shape": "an array in the output has the wrong shape",
    "dtype": "an array in the output has the wrong dtype",
    "finite": "the output holds a value that is not a finite number",
    "values": "the output's values are wrong (not close enough to the right ones)",
    "range": "the result is outside the range it can ever be in",
    "above": "the result should be below the threshold",
}
DRAWN_NOTE = "(details are not shown: this case's inputs are drawn for you)"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison: `reason` is safe for hidden cases, `detail` shows values;
    `word` (a key of DRAWN) is all a case drawn with the secret says."""

    passed: bool
    reason: str = ""
    detail: str = ""
    word: str = "values"

    def message(self, hidden: bool, drawn: bool = False) -> str:
        if self.passed:
            return "passed"
        if drawn:
            return f"{DRAWN[self.word]} {DRAWN_NOTE}"
        if hidden or not self.detail:
            return self.reason
        return f"{self.reason}: {self.detail}"


OK = Verdict(True)


def _fail(word: str, reason: str, detail: str = "") -> Verdict:
    return Verdict(False, reason, detail, word)


def kind(value: Any) -> str:
    """A word for a value's type, as a student would say it."""
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, bool):
        return "a bool"
    if value is None:
        return "None"
    return {
        tuple: "a tuple",
        list: "a list",
        dict: "a dict",
        str: "a string",
        int: "an int",
        float: "a float",
    }.get(type(value), type(value).__name__)


def select(value: Any, path: str) -> tuple[bool, Any]:
    """Follow a dot-separated path of indices and keys; (False, None) when it does not exist."""
    for part in path.split(".") if path else []:
        if isinstance(value, (tuple, list)) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(value) <= i < len(value):
                return False, None
            value = value[i]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def judge(expected: Any, got: Any, case: Case) -> Verdict:
    """Compare `got` with `expected` under the case's rules."""
    if case.below is not None:
        return _below(got, case)
    paths = case.outputs or ("",)
    for path in paths:
        _, exp = select(expected, path)
        found, val = select(got, path)
        where = _label(path)
        if not found:
            return _fail("missing", f"the output has no {where} (got {kind(got)})")
        verdict = compare(exp, val, case.atol, case.rtol, where)
        if not verdict.passed:
            return verdict
    return OK


def _label(path: str) -> str:
    if not path:
        return "output"
    parts = path.split(".")
    return "output" + "".join(f"[{p}]" if p.lstrip("-").isdigit() else f"[{p!r}]" for p in parts)


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf"


def number(value: Any) -> float:
    """A number as a float; an integer too large for one becomes an infinity of its sign (a
    student's huge integer is then judged as not finite instead of crashing the comparison)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if int(value) > 0 else -math.inf


def _below(got: Any, case: Case) -> Verdict:
    if not _is_number(got):
        return _fail("type", f"expected a number, got {kind(got)}")
    x = number(got)
    if not np.isfinite(x):
        return _fail("finite", f"the result is {x}, not a finite number")
    if case.at_least is not None and x < case.at_least:
        what = "negative" if case.at_least == 0 else f"below {case.at_least:g}"
        return _fail("range", f"the result is {what}, which it can never be", f"got {x!r}")
    if not x < case.below:  # type: ignore[operator]  # only called for `below` cases
        return _fail("above", f"the result should be below {case.below:g}", f"got {x!r}")
    return OK


def flags(got: Any, threshold: float) -> bool:
    """Whether an output says "not below the threshold": a finite number at or above it."""
    if not _is_number(got):
        return False
    x = number(got)
    return bool(np.isfinite(x) and x >= threshold)


def compare(exp: Any, got: Any, atol: float, rtol: float, where: str) -> Verdict:
    """Recursive structural comparison; the first difference found is reported."""
    if (
        isinstance(exp, np.ndarray)
        and exp.shape == ()
        or (_is_number(exp) and not isinstance(exp, np.ndarray))
    ):
        return _scalar(exp, got, atol, rtol, where)
    if isinstance(exp, np.ndarray):
        return _array(exp, got, atol, rtol, where)
    if isinstance(exp, (tuple, list)):
        return _sequence(exp, got, atol, rtol, where)
    if isinstance(exp, dict):
        return _mapping(exp, got, atol, rtol, where)
    if type(got) is not type(exp) or got != exp:
        return _fail("values", f"{where} is wrong", f"expected {exp!r}, got {_short(got)}")
    return OK


def _short(value: Any) -> str:
    try:
        text = repr(value) if not isinstance(value, np.ndarray) else np.array2string(value, threshold=12)
    except ValueError:  # an integer past Python's digit limit for str()
        return f"an int of {value.bit_length()} bits" if isinstance(value, int) else kind(value)
    return text if len(text) < 200 else text[:200] + "..."


def _sequence(exp: Any, got: Any, atol: float, rtol: float, where: str) -> Verdict:
    if not isinstance(got, (tuple, list)):
        return _fail("type", f"{where} should be {kind(exp)}, got {kind(got)}", f"of {len(exp)} items")
    if len(got) != len(exp):
        return _fail(
            "length", f"{where} has {len(got)} items, not the number expected", f"expected {len(exp)}"
        )
    for i, (e, g) in enumerate(zip(exp, got, strict=True)):
        v = compare(e, g, atol, rtol, f"{where}[{i}]")
        if not v.passed:
            return v
    return OK


def _mapping(exp: dict[str, Any], got: Any, atol: float, rtol: float, where: str) -> Verdict:
    if not isinstance(got, dict):
        return _fail("type", f"{where} should be a dict, got {kind(got)}")
    missing = sorted(set(exp) - set(got), key=repr)
    extra = sorted(set(got) - set(exp), key=repr)  # a student's keys need not be strings
    if missing or extra:
        parts = ([f"missing keys {missing}"] if missing else []) + (
            [f"unexpected keys {extra}"] if extra else []
        )
        return _fail("keys", f"{where} has {' and '.join(parts)}")
    for key in exp:
        v = compare(exp[key], got[key], atol, rtol, f"{where}[{key!r}]")
        if not v.passed:
            return v
    return OK


def _scalar(exp: Any, got: Any, atol: float, rtol: float, where: str) -> Verdict:
    e = exp.item() if isinstance(exp, np.ndarray) else exp
    if isinstance(e, bool):
        if not (
            isinstance(got, bool) or isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind == "b"
        ):
            return _fail("type", f"{where} should be a bool, got {kind(got)}")
        return (
            OK if bool(got) == e else _fail("values", f"{where} is wrong", f"expected {e}, got {bool(got)}")
        )
    if not _is_number(got):
        hint = (
            " (a one-element array: use np.squeeze or float())"
            if isinstance(got, np.ndarray) and got.size == 1
            else ""
        )
        return _fail("type", f"{where} should be a number, got {kind(got)}{hint}")
    e, g = number(e), number(got)  # an expected or received integer past float range: an infinity
    if _close(np.float64(e), np.float64(g), atol, rtol):
        return OK
    if np.isfinite(e) and not np.isfinite(g):
        return _fail("finite", f"{where} is {g}, not a finite number")
    return _fail("values", f"{where} is wrong", f"expected {e!r}, got {g!r} (error {abs(g - e):.3g})")


def _close(e: Any, g: Any, atol: float, rtol: float) -> Any:
    with np.errstate(invalid="ignore", over="ignore"):
        same = (e == g) | (np.isnan(e) & np.isnan(g))
        return same | (np.abs(g - e) <= atol + rtol * np.abs(e))


def _array(exp: np.ndarray, got: Any, atol: float, rtol: float, where: str) -> Verdict:
    if not isinstance(got, np.ndarray):
        extra = " (convert it with np.array)" if isinstance(got, (list, tuple)) else ""
        return _fail(
            "type", f"{where} should be a numpy array, got {kind(got)}{extra}", f"of shape {exp.shape}"
        )
    if got.shape != exp.shape:
        # The expected shape is detail: on a hidden (secret) case it would tell the drawn sizes.
        hint = "; transposed?" if got.shape == exp.shape[::-1] and exp.ndim == 2 else ""
        if exp.ndim == 2 and exp.shape[1] == 1 and got.shape == exp.shape[:1]:
            hint = "; a column vector has two dimensions, e.g. np.zeros((n, 1))"
        return _fail(
            "shape", f"{where} has shape {got.shape}, not the expected shape{hint}", f"expected {exp.shape}"
        )
    if exp.dtype.kind == "b":
        return _mask(exp, got, where)
    if exp.dtype.kind not in "iuf":  # strings, say: equal or not, entry by entry
        if got.dtype.kind != exp.dtype.kind:
            return _fail("dtype", f"{where} has dtype {got.dtype}, expected dtype {exp.dtype}")
        return OK if np.array_equal(exp, got) else _fail("values", f"{where} is wrong")
    if exp.dtype.kind == "f" and got.dtype.kind != "f":
        return _fail("dtype", f"{where} has dtype {got.dtype}, expected floating point (dtype {exp.dtype})")
    if exp.dtype.kind in "iu" and got.dtype.kind not in "iuf":
        return _fail("dtype", f"{where} has dtype {got.dtype}, expected numbers")
    e, g = exp.astype(np.float64), got.astype(np.float64)
    bad_finite = np.isfinite(e) & ~np.isfinite(g)
    if bad_finite.any():
        idx = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        return _fail("finite", f"{where} contains {g[idx]} (not finite) at {list(idx)}")
    ok = _close(e, g, atol, rtol)
    if ok.all():
        return OK
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(ok, 0.0, np.abs(g - e))
    # NaN where an expected NaN met a number: the largest error of all (nanargmax would refuse
    # an all-NaN array)
    err = np.where(np.isnan(err), np.inf, err)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    n_bad = int((~ok).sum())
    reason = f"{where} has {n_bad} of {e.size} entries wrong"
    detail = f"largest error {err[idx]:.3g} at {list(idx)}: expected {float(e[idx])!r}, got {float(g[idx])!r}"
    return _fail("values", reason, detail)


def _mask(exp: np.ndarray, got: np.ndarray, where: str) -> Verdict:
    if got.dtype.kind == "b":
        g = got
    elif got.dtype.kind in "iuf" and np.isin(got, (0, 1)).all():
        g = got.astype(bool)
    else:
        return _fail("dtype", f"{where} should be a mask of booleans (or 0/1), got dtype {got.dtype}")
    wrong = g != exp
    if not wrong.any():
        return OK
    idx = [int(i) for i in np.argwhere(wrong)[0]]
    return _fail(
        "values", f"{where} has {int(wrong.sum())} of {exp.size} mask entries wrong", f"first at {idx}"
    )
