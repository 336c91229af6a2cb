"""The gradebook's students: a grade made against an older expected/ is graded again for every
student and kept as history; a version-1 gradebook is migrated, a newer one refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import gradebook
from grader.course.gradebook import Gradebook
from grader.course.standings import standings
from grader.errors import GraderError
from grader.grading import grade
from tests.batchkit import toy, write

V1_SCHEMA = """
CREATE TABLE grades (hash TEXT PRIMARY KEY, assignment TEXT, status TEXT NOT NULL, message TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, mode TEXT NOT NULL, run TEXT NOT NULL,
    graded_at REAL NOT NULL, report TEXT NOT NULL);
CREATE TABLE function_scores (hash TEXT NOT NULL REFERENCES grades(hash) ON DELETE CASCADE,
    function TEXT NOT NULL, score REAL NOT NULL, max_score REAL NOT NULL, status TEXT NOT NULL,
    message TEXT NOT NULL, PRIMARY KEY (hash, function));
CREATE TABLE submissions (path TEXT PRIMARY KEY, hash TEXT NOT NULL, report_file TEXT, seen_at REAL NOT NULL);
"""


@pytest.fixture
def own_root(toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the toy assignment whose expected/ the test may change."""
    root = tmp_path / "root"
    shutil.copytree(toy_root, root)
    monkeypatch.setenv("GRADER_ROOT", str(root))
    grade.prepare.cache_clear()
    return root


def _run(folder: Path, out: Path, *extra: str) -> str:
    res = CliRunner().invoke(main, ["run", str(folder), "--fast", "-j", "1", "--output", str(out), *extra])
    assert res.exit_code == 0, res.output
    return res.stderr


def _class(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    write(folder / "ann", "Toy", toy(note="ann"))
    write(folder / "bob", "Toy", toy(scale="out = v * 2.0", note="bob"))
    return folder


def test_a_new_expected_regrades_every_student_and_keeps_the_history(own_root: Path, tmp_path: Path) -> None:
    folder, out = _class(tmp_path), tmp_path / "out"
    assert "graded 2," in _run(folder, out)
    assert "graded 0," in _run(folder, out)  # nothing changed: nothing graded again
    expected = own_root / "expected" / "toy.json"
    expected.write_text(json.dumps(json.loads(expected.read_text()), indent=1))  # same values, new file
    grade.prepare.cache_clear()
    assert "graded 2," in _run(folder, out)
    with Gradebook(out / gradebook.FILENAME) as book:
        rows = standings(book)
        assert [(s.student, s.score) for s in rows] == [("ann", 5.0), ("bob", 2.0)]
        for s in rows:
            [old] = book.history(s.counted["hash"])
            assert old["score"] == s.score and old["replaced_at"] >= old["graded_at"]
    assert "graded 0," in _run(folder, out)


def test_regrade_keeps_the_history(toy_root: Path, tmp_path: Path) -> None:
    folder, out = _class(tmp_path), tmp_path / "out"
    _run(folder, out)
    _run(folder, out, "--regrade")
    with Gradebook(out / gradebook.FILENAME) as book:
        assert all(len(book.history(s.counted["hash"])) == 1 for s in standings(book))


def test_a_version_1_gradebook_is_migrated_and_keeps_its_grades(toy_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "old" / gradebook.FILENAME
    path.parent.mkdir()
    with sqlite3.connect(path) as con:
        con.executescript(V1_SCHEMA)
        con.execute(
            "INSERT INTO grades VALUES ('h1', 'toy', 'graded', 'graded', 3, 5, 'fast', 'r1', 1.0, '{}')"
        )
    with Gradebook(path) as book:
        assert book.db.execute("PRAGMA user_version").fetchone() == (gradebook.SCHEMA_VERSION,)
        assert book.db.execute("SELECT hash, score, basis FROM grades").fetchall() == [("h1", 3.0, None)]
        assert book.graded({"h1"}, "fast") == {"h1"}
        assert book.graded({"h1"}, "fast", basis={"toy": "today"}) == set()  # unknown basis: graded again
        assert book.handins() == [] and book.adjustments() == []


V2_HISTORY = """
CREATE TABLE grade_history (hash TEXT NOT NULL, assignment TEXT, status TEXT NOT NULL, score REAL NOT NULL,
    max_score REAL NOT NULL, mode TEXT NOT NULL, run TEXT NOT NULL, graded_at REAL NOT NULL, basis TEXT,
    report TEXT NOT NULL, replaced_at REAL NOT NULL);
"""


def test_a_version_2_gradebook_gains_the_variant_and_keeps_it_through_a_regrade(tmp_path: Path) -> None:
    path = tmp_path / gradebook.FILENAME
    with sqlite3.connect(path) as con:
        con.executescript(V1_SCHEMA + V2_HISTORY + "ALTER TABLE grades ADD COLUMN basis TEXT;")
        con.execute("INSERT INTO grades VALUES ('h1', 'toy', 'graded', 'graded', 3, 5, 'fast', 'r1', 1.0, '{}', 'b')")
        con.execute("PRAGMA user_version = 2")
    report = {"assignment": "toy", "status": "graded", "message": "graded", "score": 4, "max_score": 5}
    with Gradebook(path) as book:
        assert book.db.execute("SELECT hash, variant FROM grades").fetchall() == [("h1", None)]
        book.record("h1", {**report, "variant": "v1"}, mode="fast", run="r2", files=[])
        book.record("h1", {**report, "variant": "v1", "score": 5}, mode="fast", run="r3", files=[])
        assert book.db.execute("SELECT variant, score FROM grades").fetchall() == [("v1", 5.0)]
        history = book.db.execute("SELECT run, variant FROM grade_history ORDER BY replaced_at").fetchall()
        assert history == [("r1", None), ("r2", "v1")]


def test_a_newer_gradebook_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / gradebook.FILENAME
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(GraderError, match="newer grader") as err:
        Gradebook(path)
    assert "\n" not in str(err.value) and "upgrade grader" in str(err.value)


def test_a_version_2_gradebook_gains_withdrawals_and_keeps_its_adjustments(tmp_path: Path) -> None:
    path = tmp_path / gradebook.FILENAME
    with Gradebook(path) as book:
        book.adjust("ann", "toy", "scale", 1.0, "why", "prof")
        book.db.execute("DROP TABLE withdrawals")
        book.db.execute("PRAGMA user_version = 2")
    with Gradebook(path) as book:
        assert book.db.execute("PRAGMA user_version").fetchone() == (3,)
        assert book.withdraw("ann", "toy", "scale", "prof") == [1]
        [a] = book.adjustments()
        assert (a["comment"], a["withdrawn_by"]) == ("why", "prof")
