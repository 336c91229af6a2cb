"""A failed hidden case says which case it is, in the words of its `description`, never its values."""

from __future__ import annotations

from pathlib import Path

from grader.grading import grade
from grader.results import Report
from tests import toykit
from tests.conftest import make_notebook, write_notebook
from tests.toykit import edit

toy_copy = toykit.toy_copy


def _graded_with_scale_wrong(tmp_path: Path) -> Report:
    """A submission whose `scale` is wrong on every case and whose `unit` is right."""
    nb = make_notebook(
        [
            "import numpy as np\nfrom toyutils import FACTOR",
            "# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 2.0",
            "# GRADED FUNCTION: unit\ndef unit(v):\n    return v / norm2(v)",
        ]
    )
    return grade.grade_path(write_notebook(tmp_path / "s.ipynb", nb), grade.Options())


def test_a_failed_hidden_case_carries_its_description(toy_copy: Path, tmp_path: Path) -> None:
    toml = toy_copy / "assignments/toy/assignment.toml"
    edit(toml, 'name = "longer"', 'name = "longer"\ndescription = "a vector of seven entries"')
    edit(toml, 'name = "course"', 'name = "course"\ndescription = "the notebook\'s example"')
    report = _graded_with_scale_wrong(tmp_path)
    visible, hidden = report.functions[0].tests
    assert hidden.hidden and not hidden.passed
    assert hidden.message == "output has 7 of 7 entries wrong (case: a vector of seven entries)"
    assert "case:" not in visible.message and "expected" in visible.message  # visible: values shown
    assert all("case:" not in t.message for t in report.functions[1].tests)  # passed: nothing added


def test_a_description_that_gives_the_answer_away_is_never_shown(toy_copy: Path, tmp_path: Path) -> None:
    toml = toy_copy / "assignments/toy/assignment.toml"
    edit(toml, 'name = "longer"', 'name = "longer"\ndescription = "seven entries, the first 1.32"')
    report = _graded_with_scale_wrong(tmp_path)
    hidden = report.functions[0].tests[1]
    assert hidden.message == "output has 7 of 7 entries wrong"  # 1.32 is its expected output[0, 0]


def test_gives_away_reads_numbers_as_written() -> None:
    import numpy as np

    from grader.judging.feedback import gives_away

    assert gives_away("should report about 0.259", 0.2588190451) == ["0.259"]
    assert gives_away("dtheta is x (-3), not theta", -3.0) == ["-3"]
    assert gives_away("epsilon = 1e-3 gives about 6.67e-7", (6.666e-7, True)) == ["6.67e-7"]
    assert gives_away("a vector of 3 entries, seed 7", np.array([[2.7], [7.4]])) == []
    assert gives_away("theta^3 with its derivative", {"d": np.zeros((2, 2))}) == []
