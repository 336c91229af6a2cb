"""`grader export`: writes exactly the files asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import gradebook


@pytest.fixture
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    report = {"assignment": "toy", "status": "graded", "message": "graded", "score": 3.0, "max_score": 5.0}
    report["functions"] = [
        {"name": "scale", "score": 3.0, "max_score": 3.0, "status": "passed", "message": ""}
    ]
    with gradebook.Gradebook(folder / gradebook.FILENAME) as b:
        b.record("h1", report, mode="fast", run="r", files=[("a.ipynb", None)])
    return folder


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("flags", "made"),
    [
        (["--csv", "grades.csv"], {"grades.csv"}),
        (["--json", "grades.json"], {"grades.json"}),
        (["--csv", "grades.csv", "--json", "grades.json"], {"grades.csv", "grades.json"}),
        ([], {"gradebook.csv", "gradebook.json"}),
    ],
)
def test_export_writes_only_the_files_named(
    book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], made: set[str]
) -> None:
    monkeypatch.chdir(book)
    before = _files(book)
    res = CliRunner().invoke(main, ["export", str(book), *flags])
    assert res.exit_code == 0, res.output
    assert _files(book) - before == made
    assert res.output.count("wrote ") == len(made)
    for name in made & {"grades.json", "gradebook.json"}:
        assert json.loads((book / name).read_text())[0]["score"] == 3.0
    for name in made & {"grades.csv", "gradebook.csv"}:
        assert (book / name).read_text().startswith("submission,assignment,status,score,max_score")
