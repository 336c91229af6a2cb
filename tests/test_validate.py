"""`grader validate` and `grader new`: a scaffold, once filled in, passes every check; each way of
breaking an assignment fails the check that names it (on copies of the toy)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from grader.authoring import expected, validate
from grader.grading import grade
from grader.reading import assignment as spec
from grader.sandbox import codec
from tests import scenarios, toykit
from tests.toykit import cli, edit

toy_copy = toykit.toy_copy


def _verdicts(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("ok", "FAIL", "skip") and ": " in rest:
            found[rest.strip().split(": ", 1)[1].split("  ", 1)[0]] = word
    return found


def test_a_scaffold_filled_in_passes_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "course"
    root.mkdir()
    monkeypatch.setenv("GRADER_ROOT", str(root))
    result = cli("new", "optimization")
    assert result.exit_code == 0, result.output
    a = spec.load("optimization")
    assert a.notebook == "Optimization.ipynb" and (root / "reference/optimization/mistakes.toml").is_file()
    source = a.reference_notebook.read_text()
    for marker in ("# GRADED FUNCTION: double", "### START CODE HERE ###", "### END CODE HERE ###"):
        assert marker in source
    assert cli("new", "optimization").exit_code != 0  # never over an assignment that exists
    for step in (["release", "optimization"], ["expected", "optimization"]):
        assert cli(*step).exit_code == 0
    unfilled = cli("validate", "optimization")
    assert unfilled.exit_code == 1 and _verdicts(unfilled.output)["reference-fast"] == "FAIL"
    edit(a.reference_notebook, "out = None  # TODO", "out = 2 * v  # TODO")  # fill in the solution
    for step in (["release", "optimization"], ["expected", "optimization"]):
        assert cli(*step).exit_code == 0
    result = cli("validate", "optimization")
    assert result.exit_code == 0, result.output
    verdicts = _verdicts(result.output)
    assert set(verdicts) == set(validate.CHECKS)
    assert verdicts.pop("reproduce") == "skip" and verdicts.pop("secret") == "skip"  # no secret here
    assert set(verdicts.values()) == {"ok"}
    assert "0 of 12 checks failed" in result.output
    for scenario in scenarios.SCENARIOS:  # and it meets what the test suite asks of an assignment
        report = grade.grade_path(scenarios.write(a, scenario, tmp_path / "scenarios"), grade.Options())
        expect = scenario.expect(a)
        for f in report.functions:
            assert (f.score == f.max_score) == (f.name not in expect.zero), (scenario.name, f)


def test_the_toy_passes_and_junit_says_so(toy_copy: Path) -> None:
    result = cli("validate", "--format", "junit")
    assert result.exit_code == 0, result.output
    xml = result.output[result.output.index("<?xml") : result.output.index("</testsuites>") + 13]
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None and suite.get("name") == "toy"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("12", "0", "2")  # reproduce, secret


def _nan_output(root: Path) -> None:
    a = spec.load("toy")
    doc = spec.load_expected(a)
    doc["functions"]["unit"]["noisy"]["output"] = codec.encode(np.full((4, 1), np.nan))
    expected.write(a, doc)


def _duplicate_mistakes(root: Path) -> None:
    entry = '[[mistakes]]\nfunction = "scale"\nid = "{id}"\ndescription = "d"\nhint = "h"\nreplace = [["{old}", "{new}"]]\n'
    (root / "reference/toy/mistakes.toml").write_text(
        entry.format(id="scale-plus", old="v * FACTOR", new="v * FACTOR + 1")
        + entry.format(id="scale-plus-again", old="v * FACTOR", new="1 + v * FACTOR")
    )


BREAKS: dict[str, Callable[[Path], None]] = {
    "spec": lambda root: (root / "reference/toy/mistakes.toml").write_text("[[mistakes]]\nid = 3\n"),
    "release": lambda root: edit(root / "reference/toy/Toy.ipynb", "Scale a vector", "Scale one vector"),
    "agreement": lambda root: edit(root / "assignments/toy/assignment.toml", '"longer"', '"early_step"'),
    "finite": _nan_output,
    "expected": lambda root: edit(root / "expected/toy.json", "4.873036090989725", "4.87303609"),
    "reference-fast": lambda root: edit(
        root / "reference/toy/Toy.ipynb", "out = v * FACTOR", "out = v * 2.0"
    ),
    "reference-full": lambda root: edit(
        root / "reference/toy/Toy.ipynb",
        "print(scale(np.ones((2, 1))))",
        "print(scale(np.ones((2, 1))) / undefined)",
    ),
    "blank": lambda root: edit(root / "assignments/toy/Toy.ipynb", "out = None", "out = v * FACTOR"),
    "descriptions": lambda root: edit(
        root / "assignments/toy/assignment.toml",
        'name = "longer"',
        'name = "longer"\ndescription = "about 1.32"',
    ),
    "mistakes": _duplicate_mistakes,
    "reproduce": lambda root: (root / "reference/toy/reproduce.py").write_text(
        "def steps(data):\n    return 1\n"
    ),
}


@pytest.mark.parametrize("check", list(BREAKS))
def test_each_way_of_breaking_fails_the_check_naming_it(toy_copy: Path, check: str) -> None:
    BREAKS[check](toy_copy)
    result = cli("validate", "toy")
    assert result.exit_code == 1, result.output
    verdicts = _verdicts(result.output)
    assert verdicts[check] == "FAIL", result.output
    assert f"toy: {check}" in result.output.splitlines()[-1]  # the summary names it
    assert "Traceback" not in result.output
    if check in ("reference-full", "release"):
        assert verdicts["reference-fast"] == "ok"  # a notebook that dies is not a wrong answer


def test_unknown_checks_are_a_usage_error(toy_copy: Path) -> None:
    result = cli("validate", "--only", "nope")
    assert result.exit_code == 2 and "unknown checks ['nope']" in result.output
    only = cli("validate", "--only", "release", "--only", "agreement", "--output", str(toy_copy / "v.txt"))
    assert only.exit_code == 0 and set(_verdicts(only.output)) == {"release", "agreement"}
    assert (toy_copy / "v.txt").read_text().count("\n") == 2
    assert json.loads((toy_copy / "expected/toy.json").read_text())["assignment"] == "toy"


def test_the_ci_example_runs_validate_with_junit() -> None:
    import yaml

    doc = yaml.safe_load((Path(__file__).parent.parent / "docs/ci-example.yml").read_text())
    steps = [s.get("run", "") for s in doc["jobs"]["validate"]["steps"]]
    assert any(s.startswith("grader validate --format junit --output") for s in steps)


@pytest.mark.parametrize("command", ["validate", "new"])
def test_each_new_command_has_an_example_in_its_help(command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Example: grader " + command in result.output
