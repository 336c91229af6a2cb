"""Non-finite expected outputs: refused by `grader expected` unless the case allows them, and
never stored as bare NaN (expected/ is strict JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grader.authoring import expected
from grader.errors import SpecError
from grader.reading import assignment as spec
from grader.sandbox import codec
from tests import toykit
from tests.conftest import make_notebook, write_notebook
from tests.toykit import cli, edit

toy_copy = toykit.toy_copy

ZERO_NORM = """[[mistakes]]
function = "unit"
id = "unit-zero-norm"
description = "a norm of zero"
hint = "divide by the norm of v"
replace = [["n = norm2(v)", "n = 0.0 * norm2(v)"]]
"""


def _strict(text: str) -> object:
    def refuse(word: str) -> None:
        raise AssertionError(f"bare {word} in expected/")

    return json.loads(text, parse_constant=refuse)


def test_dumps_writes_strict_json_that_decodes_to_the_same_values() -> None:
    doc = {
        "output": codec.encode((math.nan, np.array([[1.0, -math.inf], [math.nan, 2.0]]), math.inf)),
        "finite": codec.encode(np.array([1.5, 2.5])),
    }
    text = expected.dumps(doc)
    back = _strict(text)
    assert isinstance(back, dict)
    nan, arr, inf = codec.decode(back["output"])
    assert math.isnan(float(nan)) and inf == math.inf
    np.testing.assert_array_equal(arr, np.array([[1.0, -math.inf], [math.nan, 2.0]]))
    assert back["finite"] == doc["finite"]  # finite arrays keep their readable lists
    assert expected.diff({"functions": {}, **back}, {"functions": {}, **doc}) == []


def test_a_bare_nan_in_expected_is_one_line_naming_the_command(toy_copy: Path) -> None:
    path = toy_copy / "expected/toy.json"
    path.write_text(path.read_text().replace("4.873036090989725", "NaN", 1))
    with pytest.raises(SpecError, match=r"not valid .*NaN.*run `grader expected toy`"):
        spec.load_expected(spec.load("toy"))


def test_a_mistake_with_a_nonfinite_output_is_refused_by_name(toy_copy: Path) -> None:
    (toy_copy / "reference/toy/mistakes.toml").write_text(ZERO_NORM)
    before = (toy_copy / "expected/toy.json").read_text()
    result = cli("expected", "toy")
    assert result.exit_code != 0
    message = str(result.exception)
    assert "unit/course: mistake 'unit-zero-norm''s output[0, 0]: inf is not finite" in message, message
    assert "allow_nonfinite = true" in message
    assert (toy_copy / "expected/toy.json").read_text() == before  # nothing written


def test_allowed_nonfinite_outputs_are_stored_strictly_and_judged(toy_copy: Path, tmp_path: Path) -> None:
    (toy_copy / "reference/toy/mistakes.toml").write_text(ZERO_NORM)
    toml = toy_copy / "assignments/toy/assignment.toml"
    edit(toml, 'inputs = "vector"', 'inputs = "vector"\nallow_nonfinite = true')  # every case
    result = cli("expected", "toy")
    assert result.exit_code == 0, result.output
    text = (toy_copy / "expected/toy.json").read_text()
    _strict(text)
    assert "NaN" not in text and "Infinity" not in text
    assert cli("expected", "--check", "toy").exit_code == 0
    # a finite but wrong answer is judged (never a crash); the mistake itself is named
    for body, named in (("return v / norm2(v) * 1.5", None), ("return v / (0.0 * norm2(v))", "unit-zero-norm")):
        nb = make_notebook(
            ["import numpy as np\nfrom toyutils import FACTOR",
             "# GRADED FUNCTION: scale\ndef scale(v):\n    return v * FACTOR",
             f"# GRADED FUNCTION: unit\ndef unit(v):\n    {body}"]
        )
        path = write_notebook(tmp_path / "student.ipynb", nb)
        out = cli("run", "--fast", "--format", "json", str(path))
        assert out.exit_code == 0, out.output
        unit = json.loads(out.output)["functions"][1]
        assert unit["score"] == 0 and unit["status"] == "failed"
        assert {t.get("mistake", {}).get("id") for t in unit["tests"]} == {named}
