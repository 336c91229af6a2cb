"""An internal error of the grader is reported as such: status "error" (never "invalid", never a
traceback), not stored in the gradebook (a rerun retries it), counted apart in the summary, and
`grader run` exits 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course.gradebook import Gradebook
from grader.judging import judge
from grader.reports import summary as summary_mod
from tests.batchkit import toy, write


def _broken(*args: Any, **kw: Any) -> Any:
    raise RuntimeError("a bug in judging")


def test_an_internal_error_is_its_own_status_never_recorded_and_exits_3(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "class"
    write(folder / "ann", "Toy", toy())
    write(folder / "ben", "Toy", toy(scale="out = v"))
    out = tmp_path / "out"
    real = judge.function
    monkeypatch.setattr(judge, "function", _broken)
    res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", "json", "--output", str(out), "-j", "1"])
    assert res.exit_code == 3, res.output
    data = json.loads(res.stdout)
    assert [d["status"] for d in data] == ["error", "error"]
    assert all("internal error in the grader: RuntimeError: a bug in judging" in d["message"] for d in data)
    assert "0 invalid, 2 internal errors" in (out / "summary.txt").read_text()
    assert json.loads((out / "summary.json").read_text())["errors"] == 2
    with Gradebook(out / "gradebook.sqlite") as book:
        assert book.rows() == []  # nothing recorded: a rerun retries them
    monkeypatch.setattr(judge, "function", real)
    again = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", "json", "--output", str(out), "-j", "1"])
    assert again.exit_code == 0, again.output
    assert [d["status"] for d in json.loads(again.stdout)] == ["graded", "graded"]


def test_one_notebook_with_an_internal_error_exits_3(toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "Toy", toy())
    monkeypatch.setattr(judge, "function", _broken)
    # not --fast: a --fast run leaves its worker to the process's exit, and this process goes on
    res = CliRunner().invoke(main, ["run", str(path), "--format", "json"])
    assert res.exit_code == 3, res.output
    report = json.loads(res.stdout)
    assert report["status"] == "error" and "Traceback" not in res.output
    text = CliRunner().invoke(main, ["run", str(path)])
    assert text.exit_code == 3 and "ERROR (the grader's, not the submission's" in text.stdout


def test_the_summary_counts_errors_apart() -> None:
    s = summary_mod.summarise(
        [
            {"status": "graded", "score": 1.0, "max_score": 2.0, "functions": []},
            {"status": "invalid", "message": "not a notebook"},
            {"status": "error", "message": "internal error in the grader: X"},
        ]
    )
    assert (s.graded, s.invalid, s.errors) == (1, 1, 1)
    assert "1 invalid, 1 internal errors" in summary_mod.to_text(s)


def test_every_renderer_says_internal_error_not_invalid() -> None:
    from grader.reports import formats, html
    from grader.reports.text import to_text
    from grader.results import Report

    r = Report("a.ipynb", "toy", "error", "internal error in the grader: RuntimeError: [red]x")
    assert "Not graded" not in formats.gradescope(r)["output"]
    assert "autograder failed" in formats.gradescope(r)["output"]
    assert 'type="internal-error"' in formats.junit([r])
    assert "internal error of the grader" in html.page(r)
    assert "[red]x" in to_text(r)  # the message as it is, no markup applied


def test_grader_check_says_internal_error_and_exits_3(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "Toy", toy())
    monkeypatch.setattr(judge, "function", _broken)
    res = CliRunner().invoke(main, ["check", str(path)])
    assert res.exit_code == 3 and res.exc_info is not None and res.exc_info[0] is SystemExit
    assert "internal error in the grader: RuntimeError" in res.output
