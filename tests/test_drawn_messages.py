"""Red team 6, finding 1: a failed case drawn with the secret repeated what the answer returned
(dict keys, an array's shape, a list's length, a count of wrong entries, a value), so an answer
that returned its inputs as keys or as the dimensions of an empty array read every hidden case's
inputs in its own feedback, and a lookup table then scored full marks. Now every verdict of a
drawn case is one of a few fixed phrases: these tests return, on every drawn case of every
assignment, values built to carry the case's inputs through every path of the comparison, and
check that nothing of them (no digit at all) comes back in any message."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import numpy as np
import pytest

from grader.judging import judge, prepared
from grader.judging.compare import DRAWN, DRAWN_NOTE
from grader.judging.compare import judge as compare_judge
from grader.reading import notebook, selection
from grader.reading.assignment import Case, Function
from grader.results import mistake_message
from grader.sandbox import codec
from grader.sandbox.worker import Limits

ASSIGNMENTS = ("initialization", "regularization", "gradient_checking")
FIXED = {f"{p} {DRAWN_NOTE}" for p in DRAWN.values()} | {
    "returned None: is the `return` statement missing?",
    "passed",
}


def _marker(args: Any) -> list[int]:
    """The drawn inputs as small positive integers (what an attacker would spell out)."""
    text = repr(codec.decode(args))
    return [int(d) % 9 + 2 for d in re.findall(r"\d", text)][:3] or [7]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _put(value[head], rest, new)}
    items = list(value)
    items[head] = _put(items[head], rest, new)
    return type(value)(items)


def _wrong_leaf(leaf: Any, dims: list[int]) -> list[Any]:
    """Wrong versions of one expected value, each carrying `dims` another way."""
    n = int(np.prod(dims))
    out: list[Any] = [np.zeros((*dims, 0)), list(range(n)), float(n) + 0.125, n, f"leak {dims}", {f"k{n}": n}]
    if isinstance(leaf, np.ndarray) and leaf.size:
        flat = leaf.astype(np.float64).ravel().copy()
        flat[: min(n, flat.size)] += 1.0  # as many entries wrong as the attacker likes
        out.append(flat.reshape(leaf.shape))
        nan = leaf.astype(np.float64).ravel().copy()
        nan[min(n, nan.size) - 1] = np.nan  # a non-finite entry where the attacker likes
        out.append(nan.reshape(leaf.shape))
        out.append(leaf.astype(np.int64) + n if leaf.dtype.kind == "f" else leaf.astype(np.float64) + 0.5)
        out.append(np.zeros(tuple(dims)))
        if leaf.dtype.kind == "b":
            flipped = leaf.ravel().copy()
            flipped[: min(n, flipped.size)] ^= True
            out.append(flipped.reshape(leaf.shape))
    return out


def _attacks(expected: Any, dims: list[int]) -> list[Any]:
    n = int(np.prod(dims))
    whole = [np.zeros((*dims, 0), dtype=bool), {"leak_" + "_".join(map(str, dims)): 0}, [0] * n, float(n)]
    if isinstance(expected, dict):
        whole.append({**expected, f"leak_{n}": 0})
        whole.append({k: v for k, v in list(expected.items())[: n % max(len(expected), 1)]})
    if isinstance(expected, (list, tuple)):
        whole.append(type(expected)([*expected, *range(n)]))
    return whole + [
        _put(expected, p, w) for p in _leaves(expected) for w in _wrong_leaf(_get(expected, p), dims)
    ]


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _drawn(name: str) -> list[tuple[prepared.Prepared, Function, Case]]:
    prep = dataclasses.replace(prepared.prepare(name), variant="mallory")  # a student's secret variant
    return [(prep, f, c) for f in prep.assignment.functions for c in f.cases if c.hidden and c.vary]


@functools.cache
def _answer(assignment: str, name: str) -> selection.Answer:
    a = prepared.prepare(assignment).assignment
    parsed = notebook.parse(notebook.read(a.reference_notebook))
    provided = frozenset(f.name for f in a.functions) | frozenset(a.given)
    return selection.answer(parsed, name, exclude=provided - {name})


def _message(prep: prepared.Prepared, f: Function, c: Case, result: dict[str, Any]) -> str:
    """What the case says (a case judged on some parts of its output may pass: "passed")."""
    judge._VERDICTS.clear()
    got = judge.function(
        f, _answer(prep.assignment.name, f.name), {"cases": {c.name: result}}, prep, Limits()
    )
    t = next(t for t in got.tests if t.name == c.name)
    if t.passed:
        return "passed"
    said = t.message.removesuffix(f" (case: {c.description})")  # the spec's words
    if t.mistake:  # a named mistake: the catalogue's words around the verdict
        head = mistake_message(t.mistake, "")[:-1]
        assert said.startswith(head) and said.endswith(")"), said
        said = said[len(head) : -1]
    return said


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_a_drawn_case_says_nothing_the_answer_returned(name: str) -> None:
    seen: set[str] = set()
    count = 0
    for prep, f, c in _drawn(name):
        dims = _marker(prep.args(f.name, c.name))
        for attack in _attacks(prep.outputs(f.name, c.name), dims):
            said = _message(prep, f, c, {"ok": True, "output": codec.encode(attack)})
            assert said in FIXED and not re.search(r"\d", said), (f.name, c.name, attack, said)
            seen.add(said)
            count += 1
    assert count > 100
    # the attacks reached the paths they aim at: keys, shapes, lengths or types, values, non-finite
    assert {f"{DRAWN[w]} {DRAWN_NOTE}" for w in ("type", "values")} <= seen, seen
    wanted = {"initialization": ("keys", "shape", "finite", "dtype"), "regularization": ("missing",)}
    assert {f"{DRAWN[w]} {DRAWN_NOTE}" for w in wanted.get(name, ())} <= seen, seen


def test_a_drawn_below_case_says_neither_the_value_nor_its_kind() -> None:
    for prep, f, c in _drawn("gradient_checking"):
        if c.below is None:
            continue
        for attack in (
            np.zeros((3, 1, 4, 1, 5, 0), dtype=bool),
            12345.5,
            -0.25,
            np.array([2.5]),
            float("nan"),
        ):
            said = _message(prep, f, c, {"ok": True, "output": codec.encode(attack)})
            assert said in FIXED and not re.search(r"\d", said), (c.name, attack, said)


def test_a_drawn_case_that_raises_or_cannot_be_read_says_no_text_of_the_answer() -> None:
    prep, f, c = _drawn("initialization")[0]
    secret = "leak_2_3_7_1_12"
    frames = [{"cell": f"cell {secret}", "line": 12, "function": secret, "code": secret}]
    for result in (
        {
            "ok": False,
            "error": {"type": "ValueError", "qualname": secret, "message": secret, "frames": frames},
        },
        {"ok": False, "setup": True, "error": {"type": secret, "message": secret, "frames": frames}},
        {"ok": False, "unencodable": secret},
        {"ok": True, "output": {"__forged__": secret}},
    ):
        said = _message(prep, f, c, result)
        assert secret not in said and not re.search(r"\d", said), said


def test_public_and_visible_cases_keep_their_helpful_words() -> None:
    prep = prepared.prepare("initialization")  # no variant: the hidden cases are the course's own
    f = prep.assignment.function("initialize_parameters_zeros")
    hidden = next(c for c in f.cases if c.hidden and c.vary)
    visible = next(c for c in f.cases if not c.hidden)
    for c in (hidden, visible):
        said = _message(prep, f, c, {"ok": True, "output": codec.encode({"leak_2_3": 0})})
        assert "unexpected keys ['leak_2_3']" in said, said


def test_every_verdict_of_the_comparison_has_a_fixed_drawn_phrase() -> None:
    """Paths no drawn case of the course reaches today (a whole list judged, say) say fixed words too."""
    _, _, case = _drawn("initialization")[0]
    case = dataclasses.replace(case, outputs=())
    pairs = [
        ([1.0, 2.0], [0.0] * 919),
        ([1.0, 2.0], (919,)),
        ({"a": [1, 2]}, {"a": [1, 2, 919]}),
        (np.array(["x", "y"]), np.array(["x", "z919"])),
        (np.array([True, False]), np.array([919, 0])),
        (np.float64(1.5), np.array([919.5])),
        (True, 919),
        ("text", "text919"),
    ]
    for expected, got in pairs:
        said = compare_judge(expected, got, case).message(True, drawn=True)
        assert said in FIXED and not re.search(r"\d", said), (expected, got, said)
        helpful = compare_judge(expected, got, case).message(False)
        assert said != helpful and helpful, helpful
