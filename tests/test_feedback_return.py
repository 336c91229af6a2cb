"""`grader feedback`: exactly one folder per student, with their counted hand-in's reports,
any feedback notebook, and grades.json (adjustments and their comments); nbgrader hand-ins go
back as feedback/<student>/<assignment>/."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from grader.course.feedback import safe
from tests.batchkit import toy
from tests.test_class_students import TWICE
from tests.test_handin_layouts import DUE, EARLY, RIGHT, _zip, canvas, nbgrader


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
    _cli("run", *map(str, sources), "--fast", "-j", "1", "--output", str(out), "--no-check-owner")
    _cli("feedback", str(out), "--to", str(back))
    students = sorted(p.name for p in (back / "feedback").iterdir())
    assert students == ["ann", "bob", "cat", "dan"]
    assert sorted(p.name for p in (back / "feedback" / "ann" / "toy").iterdir()) == ["Toy.json"]
    assert (back / "feedback" / "ann" / "grades.json").is_file()


def test_a_student_id_never_becomes_a_path() -> None:
    assert safe("../../etc") == "_.._etc" and "/" not in safe("a/b") and safe("..") == "_"


def test_what_a_student_gets_holds_nothing_of_the_instructors(toy_root: Path, tmp_path: Path) -> None:
    wrong = json.dumps(toy(scale=TWICE, note="eve"))  # long enough to get an answer digest
    zipped = _zip(
        tmp_path / "submissions.zip",
        [("leeeve_2001_6001_Toy.ipynb", wrong, EARLY), ("leefay_2002_6002_Toy.ipynb", RIGHT, EARLY)],
    )
    out, back = tmp_path / "out", tmp_path / "returned"
    _cli("run", str(zipped), "--fast", "-j", "1", "--output", str(out), "--format", "html")
    graded = json.loads(next(out.glob("leeeve*.json")).read_text())
    internal = json.dumps(graded)
    assert "output_digest" in internal and "answer_digest" in internal and str(tmp_path) in internal
    _cli("feedback", str(out), "--to", str(back))
    eve = back / "2001"
    assert sorted(p.name for p in eve.iterdir()) == [
        "grades.json",
        "toy.feedback.html",
        "toy.feedback.ipynb",
        "toy.html",
        "toy.json",
    ]
    for path in eve.iterdir():
        text = path.read_text()
        for word in ("output_digest", "answer_digest", "isolation", "report_file", str(tmp_path), "/out/"):
            assert word not in text, (path.name, word)
    mine = json.loads((eve / "toy.json").read_text())
    assert mine["submission"] == "leeeve_2001_6001_Toy.ipynb" and mine["score"] == graded["score"] < 5
    assert [f["score"] for f in mine["functions"]] == [f["score"] for f in graded["functions"]]
    assert 'href="toy.feedback.html"' in (eve / "toy.html").read_text()  # the page links its notebook


def test_a_students_feedback_shows_no_python_or_sandbox_path_of_the_instructors(
    toy_root: Path, tmp_path: Path
) -> None:
    import sys

    nb = toy(note="raises")
    nb["cells"].append(  # full mode: a traceback from inside numpy, and the sandbox's folder printed
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "import os, sys\nprint(os.getcwd(), sys.executable, sys.path)\nnp.linalg.inv(np.zeros((2, 2)))"}
    )
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "Toy.ipynb").write_text(json.dumps(nb))
    out, back = tmp_path / "out", tmp_path / "returned"
    _cli("run", str(tmp_path / "class"), "-j", "1", "--output", str(out), "--format", "html")
    executed = next(out.glob("*.executed.ipynb")).read_text()
    assert "site-packages/numpy" in executed and "/grader-" in executed  # the instructor's run has them
    _cli("feedback", str(out), "--to", str(back))
    shown = {p.name: p.read_text() for p in (back / "alice").iterdir()}
    assert "toy.feedback.ipynb" in shown and "toy.feedback.html" in shown
    assert "numpy/linalg" in shown["toy.feedback.ipynb"] and "LinAlgError" in shown["toy.feedback.html"]
    for name, text in shown.items():
        for word in ("site-packages", sys.prefix, "/grader-"):
            assert word not in text, (name, word)
    assert "<python>/numpy/linalg" in shown["toy.feedback.ipynb"] and "<sandbox>" in shown["toy.feedback.ipynb"]
    assert "&lt;python&gt;/numpy/linalg" in shown["toy.feedback.html"]


def test_the_variant_never_reaches_the_students_folder() -> None:
    from grader.course import feedback
    from grader.judging import hidden

    note = hidden.SECRET_NOTE + " (variant 02bfb039af68420b)"
    report = {"submission": "/home/prof/x/alice/Toy.ipynb", "variant": "02bfb039af68420b",
              "functions": [{"name": "f", "hidden_cases": note}]}
    mine = feedback.for_student(report, {"label": "alice/Toy.ipynb", "path": "/home/prof/x/alice/Toy.ipynb"},
                                Path("/home/prof/out"))
    assert "02bfb039af68420b" not in json.dumps(mine) and mine["functions"][0]["hidden_cases"] == hidden.SECRET_NOTE
    row = {"hash": "94d964b2d635" * 5 + "@02bfb039af68420b", "variant": "02bfb039af68420b", "score": 1.0}
    grades = feedback._for_student({"counted": dict(row), "handins": [dict(row)]})
    assert "02bfb039af68420b" not in json.dumps(grades) and grades["counted"]["hash"] == "94d964b2d635" * 5
