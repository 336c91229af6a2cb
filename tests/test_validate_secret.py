"""`grader validate`'s `secret` check (issue 15), on a copy of the initialization assignment: with
a secret configured, the secret document must exist and be current, hold a secret case for every
hidden case that declares `vary`, and tell every catalogued mistake apart from the reference on
at least one secret case of its function; each problem is a line of its own, and validate exits 1.
The reference and the mutants run in this process (tests/secretkit.py), so a document takes
seconds."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from grader.authoring import expected
from grader.reading import assignment as spec
from grader.reading import secret
from grader.sandbox import run
from tests import secretkit
from tests.conftest import ROOT
from tests.toykit import cli

NAME = "initialization"
KEY = "validate-secret-check-0123456789"


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the initialization assignment, made the grader's root, trusted code in-process."""
    root = tmp_path / "course"
    for part in (f"assignments/{NAME}", f"reference/{NAME}"):
        shutil.copytree(ROOT / part, root / part)
    (root / "expected").mkdir()
    shutil.copy(ROOT / "expected" / f"{NAME}.json", root / "expected")
    monkeypatch.setenv("GRADER_ROOT", str(root))
    monkeypatch.setattr(run, "execute", secretkit.in_process)
    return root


def _build(key: str) -> Path:
    """`grader expected --secret` for the assignment, as it is now, under `key`."""
    a = spec.load(NAME)
    return expected.write(a, expected.build(a, draw=expected.Draw(key.encode())))


def _secret_lines(*extra: str) -> tuple[int, list[str]]:
    result = cli("validate", NAME, "--only", "secret", *extra)
    lines = [line for line in result.output.splitlines() if line.split(" ", 1)[0] in ("ok", "FAIL", "skip")]
    return result.exit_code, lines


def test_without_a_secret_it_is_skipped_and_current_secret_cases_pass(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = _secret_lines()
    assert code == 0 and len(lines) == 1 and lines[0].startswith("skip") and "no secret configured" in lines[0]
    monkeypatch.setenv("GRADER_SECRET", KEY)
    _build(KEY)
    code, lines = _secret_lines()
    assert code == 0 and len(lines) == 1 and lines[0].startswith(f"ok   {NAME}: secret"), lines


def test_a_missing_or_stale_document_is_one_line_naming_the_command(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", KEY)
    code, lines = _secret_lines()
    assert code == 1 and len(lines) == 1 and "is missing" in lines[0], lines
    assert f"run `grader expected --secret {NAME}`" in lines[0]
    _build(KEY)
    monkeypatch.setenv("GRADER_SECRET", KEY + "-another")
    code, lines = _secret_lines()
    assert code == 1 and len(lines) == 1 and "is stale" in lines[0], lines
    assert f"run `grader expected --secret {NAME}`" in lines[0]
    monkeypatch.setenv("GRADER_SECRET", KEY)  # the spec changed since: stale too
    toml = course / "assignments" / NAME / "assignment.toml"
    toml.write_text(toml.read_text() + "\n# an edit since `grader expected --secret`\n")
    code, lines = _secret_lines()
    assert code == 1 and len(lines) == 1 and "is stale" in lines[0], lines


def test_each_hidden_case_with_vary_but_no_secret_case_is_a_line_of_its_own(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", KEY)
    path = _build(KEY)
    doc = json.loads(path.read_text())
    del doc["functions"]["initialize_parameters_he"]["wide_hidden"]  # cut short, stamp intact
    del doc["functions"]["initialize_parameters_zeros"]["deep"]["drawn"]  # the public case's inputs
    path.write_text(json.dumps(doc))
    code, lines = _secret_lines()
    assert code == 1 and len(lines) == 2, lines
    assert all(line.startswith(f"FAIL {NAME}: secret") for line in lines)
    assert "initialize_parameters_zeros/deep declares `vary`" in lines[0]  # in the spec's order
    assert "initialize_parameters_he/wide_hidden declares `vary`" in lines[1]
    junit = cli("validate", NAME, "--only", "secret", "--format", "junit")
    assert junit.exit_code == 1 and junit.output.count("<failure") == 2


def test_a_mistake_told_apart_only_on_visible_cases_is_named(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crafted spec: He's hidden cases all draw one square layer, where fan-in is fan-out (and one
    seed or one per layer are the same), so those two mistakes show on the visible case only."""
    toml = course / "assignments" / NAME / "assignment.toml"
    sections = r"(?=\[functions\.initialize_parameters_he\]|\[\[reproduce\]\])"
    head, he, tail = re.split(sections, toml.read_text(), maxsplit=2)
    widths = iter(range(2, 10))  # a square layer of its own per case: drawn inputs never repeat
    square = lambda _: f"vary = {{ dims = {{ each = [{(k := next(widths))}, {k}] }} }}"  # noqa: E731
    he = re.sub(r"^vary = .*$", square, he, flags=re.M)
    toml.write_text(head + he + tail)
    monkeypatch.setenv("GRADER_SECRET", KEY)
    doc = json.loads(_build(KEY).read_text())  # `grader expected --secret` accepts it
    course_case = doc["functions"]["initialize_parameters_he"]["course"]
    assert "he-fan-out" in course_case["mistakes"]
    code, lines = _secret_lines()
    named = sorted(re.findall(r"mistake '([a-z0-9-]+)'", "\n".join(lines)))
    assert code == 1 and named == ["he-fan-out", "he-seed-per-layer"], lines
    assert all("told apart from the reference on no secret case" in line for line in lines)
    assert secret.expected_path(NAME).is_file()
