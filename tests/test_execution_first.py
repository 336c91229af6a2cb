"""The whole notebook runs before any of its functions is graded: no hidden case has run yet, so
nothing one leaves behind (a counter of the machine's, such as inode or process numbers, which no
wipe resets) can reach the notebook's outputs, which the student reads (red team 6, finding 5).
One submission alone and a batch alike."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import grader
from grader.sandbox import execute, run

REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "initialization" / "Initialization.ipynb"


@pytest.fixture
def order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What ran, in order: the notebook ("notebook", stood in for) and each function job."""
    seen: list[str] = []
    real = run.execute

    def notebook(*args: Any, **kw: Any) -> dict[str, Any]:
        seen.append("notebook")
        return {"status": "completed", "message": "", "errors": [], "figures": 0, "seconds": 0.0}

    def functions(*args: Any, **kw: Any) -> Any:
        seen.append("functions")
        return real(*args, **kw)

    monkeypatch.setattr(execute, "run_notebook", notebook)
    monkeypatch.setattr(run, "execute", functions)
    return seen


def test_one_notebook_runs_whole_before_its_functions(order: list[str], tmp_path: Path) -> None:
    report = grader.grade(REFERENCE, fast=False)
    assert report.score == report.max_score
    assert report.extra["execution"]["status"] == "completed"
    assert order and order[0] == "notebook" and order.count("notebook") == 1, order


def test_each_notebook_of_a_batch_runs_whole_before_its_functions(order: list[str], tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("a", "bb"):
        shutil.copy(REFERENCE, subs / f"{name}.ipynb")
        (subs / f"{name}.ipynb").write_text((subs / f"{name}.ipynb").read_text() + " " * len(name))
    outcome = grader.grade_many([subs], fast=False, jobs=1, output=tmp_path / "out")
    assert all(r["score"] == r["max_score"] for r in outcome.reports)
    assert all(r["execution"]["status"] == "completed" for r in outcome.reports), outcome.reports[0].keys()
    assert order[::2] == ["notebook"] * 2 and set(order[1::2]) == {"functions"}, order
