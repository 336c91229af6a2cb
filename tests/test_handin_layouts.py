"""Each download layout, built the way its vendor lays it out: three students on the roster
(one resubmits, one is late, one hands in an unreadable file), one student the roster does not
know and one on the roster who handed in nothing. Graded end to end through `grader run`."""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course.gradebook import Gradebook
from grader.course.standings import standings
from tests.batchkit import toy

RIGHT = json.dumps(toy(note="right"))  # 5 points
WRONG = json.dumps(toy(scale="out = v * 2.0", note="wrong"))  # 2 points
UNREADABLE = "{ this is not a notebook"
DUE = "2024-10-03T00:00:00+00:00"
EARLY, LATER, AFTER_DUE = "2024-10-01 10:00:00", "2024-10-02 10:00:00", "2024-10-05 10:00:00"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _zip_time(text: str) -> tuple[int, int, int, int, int, int]:
    t = time.localtime(_epoch(text))  # a zip keeps local time: what the grader reads back
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _zip(path: Path, entries: list[tuple[str, str, str]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text, when in entries:
            zf.writestr(zipfile.ZipInfo(name, _zip_time(when)), text)
    return path


def _put(root: Path, name: str, text: str, when: str | None = None) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if when:
        os.utime(path, (_epoch(when), _epoch(when)))
    return path


def _roster(tmp: Path, ids: dict[str, str]) -> Path:
    lines = ["id,name,email,section"] + [f"{i},{who.title()} Lee,{who}@uni.edu,A1" for who, i in ids.items()]
    return _put(tmp, "roster.csv", "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- the layouts


def nbgrader(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """The exchange's inbound/<student>+<assignment>+<timestamp>/ (resubmissions kept), copied
    here (so owned by whoever runs the test: graded with --no-check-owner); nbgrader's submit
    keeps a notebook's time, never later than the folder's."""
    root = tmp / "course"
    for who, text, when in [("ann", WRONG, EARLY), ("ann", RIGHT, LATER), ("bob", RIGHT, AFTER_DUE)]:
        _put(root, f"inbound/{who}+toy+{when}.000000 UTC/Toy.ipynb", text, when)
    _put(root, f"inbound/cat+toy+{EARLY}.000000 UTC/Toy.ipynb", UNREADABLE, EARLY)
    _put(root, f"inbound/dan+toy+{EARLY}.000000 UTC/Toy.ipynb", RIGHT, EARLY)
    return [root], {"ann": "ann", "bob": "bob", "cat": "cat", "eve": "eve", "dan": "dan"}


def canvas(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """lastfirst[_LATE]_userid_submissionid_file, a resubmitted file name gets -1."""
    entries = [
        ("leeann_1001_5001_Toy.ipynb", WRONG, EARLY),
        ("leeann_1001_5002_Toy-1.ipynb", RIGHT, EARLY),  # same time: Canvas's order decides
        ("leebob_LATE_1002_5003_Toy.ipynb", RIGHT, AFTER_DUE),
        ("leecat_1003_5004_Toy.ipynb", UNREADABLE, EARLY),
        ("leedan_1004_5005_Toy.ipynb", RIGHT, EARLY),
    ]
    return [_zip(tmp / "submissions.zip", entries)], {
        "ann": "1001",
        "bob": "1002",
        "cat": "1003",
        "eve": "1005",
        "dan": "1004",
    }


def moodle(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """A folder per participant: Full Name_<id>_assignsubmission_file_/."""
    entries = [
        ("Ann Lee_701_assignsubmission_file_/Toy.ipynb", WRONG, EARLY),
        ("Ann Lee_701_assignsubmission_file_/Toy v2.ipynb", RIGHT, LATER),
        ("Bob Lee_702_assignsubmission_file_/Toy.ipynb", RIGHT, AFTER_DUE),
        ("Cat Lee_703_assignsubmission_file_/Toy.ipynb", UNREADABLE, EARLY),
        ("Dan Lee_704_assignsubmission_file_/Toy.ipynb", RIGHT, EARLY),
    ]
    return [_zip(tmp / "Toy-download.zip", entries)], {
        "ann": "701",
        "bob": "702",
        "cat": "703",
        "eve": "705",
        "dan": "704",
    }


GRADESCOPE_META = """\
submission_11:
  :submitters:
  - :name: Ann Lee
    :sid: '5501'
    :email: ann@uni.edu
  :created_at: {early}.000000000 +00:00
  :score: 2.0
submission_15:
  :submitters:
  - :name: Ann Lee
    :sid: '5501'
    :email: ann@uni.edu
  :created_at: {later}.000000000 +00:00
submission_12:
  :submitters:
  - :name: Bob Lee
    :sid: '5502'
    :email: bob@uni.edu
  :created_at: {after}.123456789 +00:00
submission_13:
  :submitters:
  - :name: Cat Lee
    :sid: '5503'
    :email: cat@uni.edu
  :created_at: {early}.000000000 +00:00
submission_14:
  :submitters:
  - :name: Dan Lee
    :sid: '5504'
    :email: dan@uni.edu
  :created_at: {early}.000000000 +00:00
"""


def gradescope(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """assignment_<id>_export/: submission_<id>/ folders and submission_metadata.yml."""
    meta = GRADESCOPE_META.format(early=EARLY, later=LATER, after=AFTER_DUE)
    base = "assignment_9_export/"
    entries = [(base + "submission_metadata.yml", meta, EARLY)]
    for sub, text in [(11, WRONG), (15, RIGHT), (12, RIGHT), (13, UNREADABLE), (14, RIGHT)]:
        entries.append((f"{base}submission_{sub}/Toy.ipynb", text, EARLY))
    return [_zip(tmp / "gradescope.zip", entries)], {
        "ann": "5501",
        "bob": "5502",
        "cat": "5503",
        "eve": "5505",
        "dan": "5504",
    }


def _clone(root: Path, user: str, text: str, when: str) -> None:
    _put(root, f"toy-{user}/Toy.ipynb", text)
    head = f"0000 1111 {user} <{user}@uni.edu> {int(_epoch(when))} +0000\tclone: from github\n"
    _put(root, f"toy-{user}/.git/logs/HEAD", head)


def classroom(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """<assignment>-<username>/ clones; a student's resubmission is a later clone."""
    first, second = tmp / "week1", tmp / "week2"
    for user, text, when in [("ann", WRONG, EARLY), ("bob", RIGHT, AFTER_DUE), ("cat", UNREADABLE, EARLY)]:
        _clone(first, user, text, when)
    _clone(first, "dan", RIGHT, EARLY)
    _clone(second, "ann", RIGHT, LATER)
    _clone(second, "cat", UNREADABLE, EARLY)
    return [first, second], {"ann": "ann", "bob": "bob", "cat": "cat", "eve": "eve", "dan": "dan"}


def plain(tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """A folder per student (or a notebook per student at the top): times are the files'."""
    root = tmp / "class"
    _put(root, "ann/Toy.ipynb", WRONG, EARLY)
    _put(root, "ann/Toy-again.ipynb", RIGHT, LATER)
    _put(root, "bob/Toy.ipynb", RIGHT, AFTER_DUE)
    _put(root, "cat/Toy.ipynb", UNREADABLE, EARLY)
    _put(root, "dan.ipynb", RIGHT, EARLY)
    return [root], {"ann": "ann", "bob": "bob", "cat": "cat", "eve": "eve", "dan": "dan"}


LAYOUTS: dict[str, Callable[[Path], tuple[list[Path], dict[str, str]]]] = {
    "nbgrader": nbgrader,
    "canvas": canvas,
    "moodle": moodle,
    "gradescope": gradescope,
    "classroom": classroom,
    "plain": plain,
}


def _tree(root: Path, skip: Path) -> dict[str, float]:
    return {str(p): p.lstat().st_mtime for p in root.rglob("*") if not p.is_relative_to(skip)}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("named", [False, True], ids=["detected", "named"])
def test_a_class_in_each_layout(toy_root: Path, tmp_path: Path, layout: str, named: bool) -> None:
    sources, ids = LAYOUTS[layout](tmp_path)
    roster_ids = {k: v for k, v in ids.items() if k != "dan"}  # dan is not on the roster
    roster = _roster(tmp_path / "r", roster_ids)
    out = tmp_path / "out"
    before = _tree(tmp_path, out)
    args = ["run", *map(str, sources), "--fast", "-j", "1", "--output", str(out), "--roster", str(roster)]
    args += ["--due", DUE, "--format", "json"] + (["--layout", layout] if named else [])
    args += ["--no-check-owner"] if layout == "nbgrader" else []
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert _tree(tmp_path, out) == before  # nothing written (or touched) outside --output

    with Gradebook(out / "gradebook.sqlite") as book:
        rows = {s.student: s for s in standings(book)}
    ann, bob, cat, dan, eve = (ids[k] for k in ("ann", "bob", "cat", "dan", "eve"))
    assert set(rows) == {ann, bob, cat, dan}
    assert {s.assignment for s in rows.values()} == {"toy"}
    assert len(rows[ann].handins) == 2 and rows[ann].score == 5.0  # the resubmission counts
    assert [h["score"] for h in rows[ann].handins] == [2.0, 5.0]
    assert rows[bob].late and not rows[ann].late and not rows[dan].late
    assert rows[cat].counted["status"] == "invalid" and rows[cat].score == 0
    assert "not a readable notebook" in rows[cat].counted["message"]
    assert rows[ann].name == "Ann Lee" and rows[ann].email == "ann@uni.edu" and rows[ann].section == "A1"

    summary = json.loads((out / "summary.json").read_text())["students"]
    assert summary["unknown"] == [dan] and summary["missing"] == [eve]
    assert summary["late"] == [bob]
    assert set(summary["layouts"].values()) == {layout}
    text = (out / "summary.txt").read_text()
    assert f"not on the roster: {dan}" in text and f"on the roster, no hand-in: {eve}" in text


def test_best_policy_counts_the_highest_scoring_hand_in(toy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "class"
    _put(root, "ann/Toy.ipynb", RIGHT, EARLY)
    _put(root, "ann/Toy-again.ipynb", WRONG, LATER)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["run", str(root), "--fast", "-j", "1", "--output", str(out), "--layout", "plain"]
    )
    assert res.exit_code == 0, res.output
    with Gradebook(out / "gradebook.sqlite") as book:
        assert [s.score for s in standings(book)] == [2.0]
        assert [s.score for s in standings(book, "best")] == [5.0]


def test_nbgrader_submitted_folder_and_its_timestamp(toy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "course" / "submitted"
    _put(root, "ann/ps1/Toy.ipynb", RIGHT)
    _put(root, "ann/ps1/timestamp.txt", f"{AFTER_DUE}.000000 UTC")
    _put(root, "bob/ps1/Toy.ipynb", RIGHT)
    _put(root, "bob/ps1/timestamp.txt", f"{EARLY}.5 UTC")
    _put(root, "stray.ipynb", RIGHT)  # not student/assignment/notebook: listed, not guessed
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["run", str(tmp_path / "course"), "--fast", "-j", "1", "--output", str(out), "--due", DUE]
    )
    assert res.exit_code == 0, res.output
    with Gradebook(out / "gradebook.sqlite") as book:
        rows = {s.student: s for s in standings(book)}
    assert set(rows) == {"ann", "bob"} and rows["ann"].late and not rows["bob"].late
    assert rows["ann"].counted["handed_at"] == _epoch(AFTER_DUE)
    skipped = json.loads((out / "summary.json").read_text())["students"]["skipped"]
    assert [s["file"] for s in skipped] == [str(root / "stray.ipynb")]


def test_canvas_names_as_its_content_zipper_writes_them(tmp_path: Path) -> None:
    # Canvas's lib/content_zipper.rb: [sortable name lowercased, word characters only (underscores
    # kept), "LATE" when late, the user id] joined by "_", or graded anonymously
    # [LATE, "anon_<anonymous id>"]; then "_<attachment id>_<file name>"
    from grader.course.handins import layouts

    root = tmp_path / "download"
    for name in (
        "van_derjan_1010_7003_Toy.ipynb",  # a name holding an underscore
        "o_neill_LATE_1011_7004_Toy.ipynb",
        "anon_x7Kq2_7001_Toy.ipynb",  # anonymous grading: no name, no user id
        "LATE_anon_Zb9aa_7002_Toy-1.ipynb",
    ):
        _put(root, name, RIGHT)
    assert layouts.detect(root) == "canvas"
    found = layouts.read("canvas", root)
    assert found.skipped == []
    got = {(h.student, h.name, h.late) for h in found.handins}
    assert got == {
        ("1010", "van_derjan", False),
        ("1011", "o_neill", True),
        ("anon_x7Kq2", "", False),
        ("anon_Zb9aa", "", True),
    }
