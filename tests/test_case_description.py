"""A failed hidden case says which case it is, in the words of its `description`, never its values."""

from __future__ import annotations

from pathlib import Path

from grader import grade
from tests import toykit
from tests.conftest import make_notebook, write_notebook
from tests.toykit import edit

toy_copy = toykit.toy_copy


def test_a_failed_hidden_case_carries_its_description(toy_copy: Path, tmp_path: Path) -> None:
    toml = toy_copy / "assignments/toy/assignment.toml"
    edit(toml, 'name = "longer"', 'name = "longer"\ndescription = "a vector of seven entries"')
    edit(toml, 'name = "course"', 'name = "course"\ndescription = "the notebook\'s example"')
    nb = make_notebook(
        [
            "import numpy as np\nfrom toyutils import FACTOR",
            "# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 2.0",
            "# GRADED FUNCTION: unit\ndef unit(v):\n    return v / norm2(v)",
        ]
    )
    report = grade.grade_path(write_notebook(tmp_path / "s.ipynb", nb), grade.Options())
    visible, hidden = report.functions[0].tests
    assert hidden.hidden and not hidden.passed
    assert hidden.message == "output has 7 of 7 entries wrong (case: a vector of seven entries)"
    assert "case:" not in visible.message and "expected" in visible.message  # visible: values shown
    assert all("case:" not in t.message for t in report.functions[1].tests)  # passed: nothing added
