"""A hand-in is its student's, as the download can prove it, and only what was handed in is
graded. Made as an attacker would: a GitHub username built to be cut into a classmate's
(`mal-alice`), an nbgrader inbound folder named after someone else or with a back-dated
timestamp, zips that share a name or hold a plain class, and reports left inside the class."""

from __future__ import annotations

import json
import os
import pwd
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grader.cli import entry, main
from grader.course.gradebook import Gradebook
from grader.course.standings import standings
from tests.batchkit import toy

RIGHT = json.dumps(toy(note="right"))  # 5 points
WRONG = json.dumps(toy(scale="out = v * 2.0", note="wrong"))  # 2 points
EARLY, DUE, AFTER = "2024-10-01 10:00:00", "2024-10-03T00:00:00+00:00", "2024-10-05 10:00:00"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _put(path: Path, text: str, when: str = EARLY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (_epoch(when), _epoch(when)))
    return path


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["run", "--fast", "-j", "1", *map(str, args)])


def _scores(out: Path) -> dict[str, float]:
    with Gradebook(out / "gradebook.sqlite") as book:
        return {s.student: s.score for s in standings(book)}


def _clone(root: Path, name: str, text: str) -> None:
    _put(root / name / "Toy.ipynb", text)
    (root / name / ".git").mkdir()


# ----------------------------------------------------------------------------- GitHub Classroom


def test_a_username_holding_a_hyphen_is_not_cut_into_a_classmates(toy_root: Path, tmp_path: Path) -> None:
    week1, week2 = tmp_path / "week1", tmp_path / "week2"
    _clone(week1, "hw-alice", RIGHT)
    _clone(week1, "hw-zed", RIGHT)
    _clone(week2, "hw-mal-alice", WRONG)  # Mallory's username is mal-alice
    out = tmp_path / "out"
    res = _run("--layout", "classroom", week1, week2, "--output", out)
    assert res.exit_code == 0, res.output
    assert _scores(out) == {"alice": 5.0, "zed": 5.0, "mal-alice": 2.0}


def test_one_clone_with_no_prefix_to_go_by_is_refused_not_guessed(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clone(tmp_path / "week2", "hw-mal-alice", WRONG)
    args = [
        "run",
        "--fast",
        "--layout",
        "classroom",
        str(tmp_path / "week2"),
        "--output",
        str(tmp_path / "out"),
    ]
    monkeypatch.setattr("sys.argv", ["grader", *args])
    with pytest.raises(SystemExit) as exit_:
        entry()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--assignment-prefix" in err and "hw-mal-alice" in err
    assert not (tmp_path / "out" / "gradebook.sqlite").exists()

    res = _run(
        "--layout", "classroom", tmp_path / "week2", "--assignment-prefix", "hw", "--output", tmp_path / "o2"
    )
    assert res.exit_code == 0, res.output
    assert _scores(tmp_path / "o2") == {"mal-alice": 2.0}


# ----------------------------------------------------------------------------- nbgrader's exchange


def _me_and_another() -> tuple[str, str]:
    me = pwd.getpwuid(os.getuid()).pw_name
    for other in ("root", "nobody", "daemon"):
        if other != me and _exists(other):
            return me, other
    pytest.skip("no second local user")


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def test_an_inbound_folder_in_another_students_name_is_not_theirs(toy_root: Path, tmp_path: Path) -> None:
    me, other = _me_and_another()  # this test's files are owned by `me`: `other` did not hand in
    inbound = tmp_path / "course" / "inbound"
    _put(inbound / f"{me}+toy+{EARLY}.000000 UTC+r1" / "Toy.ipynb", RIGHT)
    _put(inbound / f"{other}+toy+{AFTER}.000000 UTC+r2" / "Toy.ipynb", WRONG)
    _put(inbound / f"no-such-user-x9+toy+{EARLY}.000000 UTC+r3" / "Toy.ipynb", WRONG)
    out = tmp_path / "out"
    res = _run(tmp_path / "course", "--output", out)
    assert res.exit_code == 0, res.output
    assert _scores(out) == {me: 5.0}
    skipped = json.loads((out / "summary.json").read_text())["students"]["skipped"]
    why = {Path(s["file"]).parent.name.split("+")[0]: s["why"] for s in skipped}
    assert set(why) == {other, "no-such-user-x9"}
    assert f"owned by {me!r}" in why[other] and "no local user" in why["no-such-user-x9"]

    res = _run(tmp_path / "course", "--output", tmp_path / "o2", "--no-check-owner")  # copied folders
    assert res.exit_code == 0, res.output
    assert _scores(tmp_path / "o2") == {me: 5.0, other: 2.0, "no-such-user-x9": 2.0}


def test_a_back_dated_inbound_folder_counts_when_its_notebook_was_changed(
    toy_root: Path, tmp_path: Path
) -> None:
    me, _ = _me_and_another()
    folder = tmp_path / "course" / "inbound" / f"{me}+toy+{EARLY}.000000 UTC"
    _put(folder / "Toy.ipynb", RIGHT, when=AFTER)  # written after the due date, named before it
    out = tmp_path / "out"
    res = _run(tmp_path / "course", "--output", out, "--due", DUE)
    assert res.exit_code == 0, res.output
    with Gradebook(out / "gradebook.sqlite") as book:
        (row,) = standings(book)
    assert row.late and row.counted["handed_at"] == _epoch(AFTER)
    notes = json.loads((out / "summary.json").read_text())["students"]["notes"]
    assert len(notes) == 1 and "the later time counts" in notes[0]["note"]
    assert "note " in res.stderr and "2024-10-05 10:00:00 UTC" in res.stderr


# ----------------------------------------------------------------------------- zips


def _zip(path: Path, entries: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return path


def test_a_plain_zip_is_graded_as_its_notebooks_not_as_itself(toy_root: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "class.zip", {"ann/Toy.ipynb": RIGHT, "bob/Toy.ipynb": WRONG})
    out = tmp_path / "out"
    res = _run(archive, "--output", out, "--format", "json")
    assert res.exit_code == 0, res.output
    reports = json.loads(res.stdout)
    assert sorted((Path(r["submission"]).parent.name, r["status"]) for r in reports) == [
        ("ann", "graded"),
        ("bob", "graded"),
    ]
    assert _scores(out) == {"ann": 5.0, "bob": 2.0}


def test_two_zips_of_one_name_unpack_side_by_side(toy_root: Path, tmp_path: Path) -> None:
    first = _zip(tmp_path / "a" / "class.zip", {"ann/Toy.ipynb": RIGHT})
    second = _zip(tmp_path / "b" / "class.zip", {"bob/Toy.ipynb": WRONG})
    out = tmp_path / "out"
    for _ in range(2):  # and again: each zip unpacks into the same folder as before
        res = _run(first, second, "--output", out, "--format", "json", "--regrade")
        assert res.exit_code == 0, res.output
        assert [r["status"] for r in json.loads(res.stdout)] == ["graded", "graded"]
        assert _scores(out) == {"ann": 5.0, "bob": 2.0}
        assert len(list((out / "handins").iterdir())) == 2


# ----------------------------------------------------------------------------- --output inside


@pytest.mark.parametrize("layout", ["auto", "plain"])
def test_reports_inside_the_graded_folder_are_not_graded_again(
    toy_root: Path, tmp_path: Path, layout: str
) -> None:
    folder = tmp_path / "class"
    _put(folder / "alice" / "Toy.ipynb", RIGHT)
    _put(folder / "bob" / "Toy.ipynb", WRONG)
    out = folder / "reports"
    for _ in range(2):
        res = _run(folder, "--output", out, "--format", "feedback", "--layout", layout, "--regrade")
        assert res.exit_code == 0, res.output
        assert "batch: 2 submissions, 2 graded" in res.stdout
    assert any(out.glob("*.feedback.ipynb"))  # there to be found, and not graded


def test_reports_inside_a_classroom_folder_leave_its_clones_recognised(
    toy_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "week1"
    _clone(folder, "hw-alice", RIGHT)
    _clone(folder, "hw-bob", WRONG)
    out = folder / "reports"
    for _ in range(2):
        res = _run(folder, "--output", out, "--format", "feedback", "--regrade")
        assert res.exit_code == 0, res.output
        assert _scores(out) == {"alice": 5.0, "bob": 2.0}
