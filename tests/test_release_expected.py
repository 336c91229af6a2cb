"""What CI proves about the generated files: student notebooks and expected values are current."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from grader.authoring import expected, release
from grader.cli import main
from grader.reading import assignment as spec

NAMES = spec.names()


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_is_released_from_the_reference(name: str) -> None:
    a = spec.load(name)
    assert release.is_current(a), f"{a.student_notebook} is out of date: run `grader release {name}`"
    text = a.student_notebook.read_text(encoding="utf-8")
    assert '"outputs": []' in text and '"execution_count": null' in text


@pytest.mark.parametrize("name", NAMES)
def test_expected_is_current(name: str) -> None:
    result = CliRunner().invoke(main, ["expected", "--check", name])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", NAMES)
def test_expected_holds_every_case_of_the_spec(name: str) -> None:
    a = spec.load(name)
    doc = expected.load(a)
    assert spec.mismatches(a, doc) == [], f"run `grader expected {name}`"
    for f in a.functions:
        hidden = [c for c in f.cases if c.hidden]
        assert len(hidden) >= 3, f"{f.name} needs at least three hidden cases"
