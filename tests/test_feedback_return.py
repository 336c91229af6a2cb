"""`grader feedback`: exactly one folder per student, with their counted hand-in's reports,
any feedback notebook, and grades.json (adjustments and their comments); nbgrader hand-ins go
back as feedback/<student>/<assignment>/."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from grader.course.feedback import safe
from tests.test_handin_layouts import DUE, canvas, nbgrader


def _cli(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_one_folder_per_student_with_reports_notebooks_and_grades(toy_root: Path, tmp_path: Path) -> None:
    sources, _ = canvas(tmp_path)
    out, back = tmp_path / "out", tmp_path / "returned"
    _cli(
        "run", *map(str, sources), "--fast", "-j", "1", "--output", str(out), "--format", "html", "--due", DUE
    )
    _cli("adjust", "1002", "toy", "scale", "--points", "1", "--comment", "late", "--gradebook", str(out))
    ann_report = next(out.glob("*Toy-1.json"))  # ann's resubmission: the counted one
    assert (out / f"{ann_report.stem}.feedback.html").is_file()  # written by --format html
    assert "wrote 4 student folders" in _cli("feedback", str(out), "--to", str(back))
    assert sorted(p.name for p in back.iterdir()) == ["1001", "1002", "1003", "1004"]
    ann = back / "1001"
    assert sorted(p.name for p in ann.iterdir()) == [
        "grades.json",
        "toy.feedback.html",
        "toy.feedback.ipynb",
        "toy.html",
        "toy.json",
    ]
    assert json.loads((ann / "toy.json").read_text())["score"] == 5.0
    bob = json.loads((back / "1002" / "grades.json").read_text())
    toy = bob["assignments"]["toy"]
    assert toy["score"] == 3.0 and toy["late"] and toy["adjustments"][0]["comment"] == "late"
    assert "report_file" not in json.dumps(bob)  # no paths of the instructor's machine


def test_nbgrader_hand_ins_go_back_in_nbgrader_layout(toy_root: Path, tmp_path: Path) -> None:
    sources, _ = nbgrader(tmp_path)
    out, back = tmp_path / "out", tmp_path / "course"
    _cli("run", *map(str, sources), "--fast", "-j", "1", "--output", str(out))
    _cli("feedback", str(out), "--to", str(back))
    students = sorted(p.name for p in (back / "feedback").iterdir())
    assert students == ["ann", "bob", "cat", "dan"]
    assert sorted(p.name for p in (back / "feedback" / "ann" / "toy").iterdir()) == ["Toy.json"]
    assert (back / "feedback" / "ann" / "grades.json").is_file()


def test_a_student_id_never_becomes_a_path() -> None:
    assert safe("../../etc") == "_.._etc" and "/" not in safe("a/b") and safe("..") == "_"
