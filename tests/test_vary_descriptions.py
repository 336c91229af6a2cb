"""A hidden case's description is shown in feedback whatever its inputs were (issue 15): a case
that declares `vary` is graded on drawn inputs under a secret, so its description must not quote
the public case's values of the params that vary (a seed, a size, lambd, keep_prob, x, theta):
they are wrong for the drawn case, and they tell a student what the public case was."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from grader.reading import assignment as spec

WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen twenty".split()


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def varied_values(params: dict[str, Any], vary: dict[str, Any]) -> set[float]:
    """The public values of the params (and of the parts of a list param) that a draw changes."""
    out: set[float] = set()
    for name, form in vary.items():
        public = params.get(name)
        if public is None:
            continue
        if isinstance(form, dict) and "each" in form:  # element by element: a kept one does not vary
            for value, item in zip(public, form["each"], strict=False):
                if isinstance(item, (list, dict)) or item != value:
                    out.update(_numbers(value))
        elif isinstance(form, (list, dict)) or form != public:
            out.update(_numbers(public))
    return out


# a number standing on its own: not glued to a name (W1, dA2) nor an exponent (theta^3)
NUMBER = re.compile(r"(?<![\w.^])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w]|\.\d)", re.I)


def quoted(description: str, values: set[float]) -> list[str]:
    """The numbers (in digits, 0.6, 5.0, 1e-2, or in words, five) of the description that are
    among `values`."""
    found = [m.group() for m in NUMBER.finditer(description) if float(m.group()) in values]
    for word in re.findall(r"[a-z]+", description.lower()):
        if word in WORDS and WORDS.index(word) in values:
            found.append(word)
    return sorted(set(found))


def test_the_check_finds_a_quoted_value() -> None:
    assert quoted("ten inputs into one unit: W1 is (1, 10)", {10}) == ["10", "ten"]
    assert quoted("keep_prob = 0.6 on wider layers", {0.6}) == ["0.6"]
    assert quoted("epsilon = 1e-2, x = -3.0", {0.01, -3}) == ["-3.0", "1e-2"]
    assert quoted("W1..W4 and dA2, theta^3, epsilon = 1e-3", {1, 4, 2, 3}) == []
    assert varied_values({"dims": [10, 1], "m": 5}, {"dims": {"each": [[6, 16], 1]}}) == {10}
    assert varied_values({"x": 3.0, "epsilon": 0.001}, {"x": [1.0, 5.0]}) == {3.0}


@pytest.mark.parametrize("name", spec.names())
def test_no_description_of_a_varied_case_quotes_its_public_values(name: str) -> None:
    found = []
    for f in spec.load(name).functions:
        for c in f.cases:
            if c.vary and c.description:
                shown = quoted(c.description, varied_values(c.params, c.vary))
                if shown:
                    found.append(f"{f.name}/{c.name}: {', '.join(shown)} in {c.description!r}")
    assert not found, "\n".join(found)
