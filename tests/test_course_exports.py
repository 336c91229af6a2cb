"""Adjustments and the LMS exports of a class handed in through Canvas: each export checked
against what its vendor's import documentation requires; an adjustment survives --regrade and
shows in every export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grader.cli import main
from tests.test_handin_layouts import DUE, _roster, canvas

ANN, BOB, CAT, DAN = "1001", "1002", "1003", "1004"


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def graded(toy_root: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """OUT of a graded Canvas download, and the command that graded it."""
    sources, ids = canvas(tmp_path)
    roster = _roster(tmp_path / "r", {k: v for k, v in ids.items() if k != "dan"})
    out = tmp_path / "out"
    run = ["run", *map(str, sources), "--fast", "-j", "1", "--output", str(out), "--roster", str(roster)]
    run += ["--due", DUE]
    assert _cli(*run).exit_code == 0
    return out, run


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _export(out: Path, to: str) -> str:
    res = _cli("export", str(out), "--to", to)
    assert res.exit_code == 0, res.output
    return Path(res.stdout.split("wrote ", 1)[1].strip()).read_text()


def test_an_adjustment_survives_regrade_and_shows_everywhere(graded: tuple[Path, list[str]]) -> None:
    out, run = graded
    res = _cli(
        "adjust",
        BOB,
        "toy",
        "scale",
        "--points",
        "1",
        "--comment",
        "late: 2 points off",
        "--by",
        "prof",
        "--gradebook",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == f"{BOB} toy scale: 3 -> 1 of 3 (late: 2 points off)"
    listed = _cli("adjust", "--list", "--gradebook", str(out)).stdout
    assert "by prof" in listed and f"{BOB} toy scale = 1 (late: 2 points off)" in listed
    assert _cli(*run, "--regrade").exit_code == 0
    for to, id_col, score_col in (("canvas", 1, 5), ("moodle", 0, 3), ("csv", 0, 4)):
        [bob] = [r for r in _rows(_export(out, to)) if r[id_col] == BOB]
        assert bob[score_col] == "3", (to, bob)
    [bob] = [s for s in json.loads(_export(out, "json")) if s["student"] == BOB]
    toy = bob["assignments"]["toy"]
    assert toy["score"] == 3.0 and toy["functions"]["scale"]["adjusted"] is True
    assert toy["adjustments"][0]["who"] == "prof" and toy["adjustments"][0]["comment"] == "late: 2 points off"
    assert toy["late"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        ([BOB, "toy", "nosuch", "--points", "1", "--comment", "x"], "no graded function 'nosuch'"),
        ([BOB, "toy", "scale", "--points", "4", "--comment", "x"], "worth 0 to 3 points"),
        ([BOB, "toy", "scale", "--points", "1", "--comment", " "], "--comment is required"),
        (["9999", "toy", "scale", "--points", "1", "--comment", "x"], "no hand-in by '9999'"),
    ],
)
def test_an_adjustment_that_cannot_apply_is_refused(
    graded: tuple[Path, list[str]], args: list[str], message: str
) -> None:
    out, _ = graded
    res = _cli("adjust", *args, "--gradebook", str(out))
    assert res.exit_code != 0 and message in str(res.exception), res.exception
    assert _cli("adjust", "--list", "--gradebook", str(out)).stdout.strip() == "no adjustments"


def test_canvas_export_has_the_columns_canvas_import_requires(graded: tuple[Path, list[str]]) -> None:
    # Canvas's "import grades" guide: an identifying column (Student name, ID or SIS User ID),
    # SIS Login ID and Section, then one column per assignment; "Points Possible" as row 2
    head, points, *students = _rows(_export(graded[0], "canvas"))
    assert head[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] and head[5:] == ["toy"]
    assert points[0].strip() == "Points Possible" and points[5] == "5"
    assert sorted(r[1] for r in students) == [ANN, BOB, CAT, DAN]  # Canvas user ids from the file names
    assert all(r[0] for r in students)  # every row identifies its student
    scores = {r[1]: r[5] for r in students}
    assert scores == {ANN: "5", BOB: "5", CAT: "0", DAN: "5"}
    assert {r[1]: (r[3], r[4]) for r in students}[ANN] == ("ann@uni.edu", "A1")


def test_moodle_export_has_an_identifier_column_and_grade_columns(graded: tuple[Path, list[str]]) -> None:
    # Moodle's "Grade import" (CSV): a header row; an identifier column mapped to a user field
    # (ID number -> useridnumber, Email address -> useremail); one column per grade item, numeric
    head, *students = _rows(_export(graded[0], "moodle"))
    assert head[:2] == ["ID number", "Email address"] and head[3:] == ["Assignment: toy (Real)"]
    ids = [r[0] for r in students]
    assert sorted(ids) == [ANN, BOB, CAT, DAN] and len(set(ids)) == len(ids)
    emails = [r[1] for r in students if r[1]]
    assert len(set(emails)) == len(emails) == 3  # dan is not on the roster: no email, still his id
    assert all(float(r[3]) >= 0 for r in students)


def test_csv_and_json_exports_and_the_per_file_exports_still_work(graded: tuple[Path, list[str]]) -> None:
    out, _ = graded
    head, *rows = _rows(_export(out, "csv"))
    assert head[:8] == ["student", "name", "email", "section", "toy", "toy max", "toy late", "toy:scale"]
    assert {r[0]: r[6] for r in rows} == {ANN: "", BOB: "late", CAT: "", DAN: ""}
    [ann] = [s for s in json.loads(_export(out, "json")) if s["student"] == ANN]
    assert [h["score"] for h in ann["assignments"]["toy"]["handins"]] == [2.0, 5.0]
    res = _cli("export", str(out), "--csv", str(out / "files.csv"))
    assert res.exit_code == 0 and _rows((out / "files.csv").read_text())[0][0] == "submission"
