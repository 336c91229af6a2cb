"""The gradebook: one row per content hash, resume after SIGKILL, skip and regrade, export."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from grader.course import batch, bookfiles, gradebook
from grader.grading import grade
from tests.batchkit import toy, write

OPTIONS = grade.Options()


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def _graded(db: Path) -> int:
    """Rows the gradebook holds so far (0 before it exists: connecting would create it)."""
    if not db.exists():
        return 0
    try:
        return int(_rows(db, "SELECT COUNT(*) FROM grades")[0][0])
    except sqlite3.Error:  # created, tables not there yet
        return 0


def _class(folder: Path, n: int, *, slow: float = 0.0) -> list[Path]:
    paths = []
    for i in range(n):
        wrong = i % 3 == 0  # a third lose the scale points
        body = f"out = v * {'2.0' if wrong else 'FACTOR'}"
        if slow:
            body = f"import time; time.sleep({slow}); {body}  # student {i}"
        paths.append(write(folder / f"s{i:02d}", "Toy", toy(scale=body, note=str(i))))
    return paths


def test_resume_after_sigkill_grades_each_submission_once(toy_root: Path, tmp_path: Path) -> None:
    n = 16
    paths = _class(tmp_path / "class", n, slow=0.15)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from grader.cli import entry; entry()", "run", str(tmp_path / "class")]
    cmd += ["--fast", "--jobs", "2"]
    cmd += ["--output", str(out), "--format", "json"]
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / gradebook.FILENAME
    deadline = time.monotonic() + 60
    while _graded(db) < 3 and time.monotonic() < deadline and proc.poll() is None:  # a report file
        time.sleep(0.02)  # comes before its gradebook row: wait for the rows
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = dict(_rows(db, "SELECT hash, run FROM grades"))
    assert 3 <= len(first) < n, "the kill must land half way"
    for report in out.glob("*.json"):  # atomic writes: never half a report
        json.loads(report.read_text())
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    reports = json.loads(again.stdout)
    assert len(reports) == n
    rows = _rows(db, "SELECT hash, run, score FROM grades")
    assert len(rows) == n == len({h for h, _, _ in rows})  # exactly one row per submission
    assert all(first[h] == r for h, r, _ in rows if h in first)  # graded before the kill: kept
    assert len({r for h, r, _ in rows if h not in first}) == 1  # the rest: graded by the rerun
    assert _rows(db, "SELECT COUNT(*), COUNT(DISTINCT path) FROM submissions") == [(n, n)]
    expected = {str(p): (2.0 if i % 3 == 0 else 5.0) for i, p in enumerate(paths)}
    assert {r["submission"]: r["score"] for r in reports} == expected
    assert _rows(db, "SELECT COUNT(*) FROM function_scores") == [(2 * n,)]


def test_rerun_skips_and_regrade_forces(toy_root: Path, tmp_path: Path) -> None:
    paths = _class(tmp_path / "class", 4)
    paths.append(write(tmp_path / "class" / "dup", "Toy", json.loads(paths[1].read_text())))  # same bytes
    plan = batch.Plan(jobs=2, output=tmp_path / "out")
    one = batch.run_batch(paths, OPTIONS, plan)
    assert (one.graded, one.skipped) == (5, 0)
    two = batch.run_batch(paths, OPTIONS, plan)
    assert (two.graded, two.skipped, two.tasks_sent) == (0, 5, 0)
    assert two.reports == one.reports
    three = batch.run_batch(paths, OPTIONS, batch.Plan(jobs=2, output=tmp_path / "out", regrade=True))
    assert three.graded == 5 and three.reports == one.reports
    db = tmp_path / "out" / gradebook.FILENAME
    assert _rows(db, "SELECT COUNT(*) FROM grades") == [(4,)]  # the duplicate shares its content's row
    assert _rows(db, "SELECT COUNT(*) FROM submissions") == [(5,)]
    # the same files named from another folder are the same submissions, not five more rows
    relative = [Path(os.path.relpath(p, tmp_path)) for p in paths]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        four = batch.run_batch(relative, OPTIONS, plan)
    finally:
        os.chdir(cwd)
    assert four.skipped == 5 and _rows(db, "SELECT COUNT(*) FROM submissions") == [(5,)]


def test_full_mode_regrades_what_fast_mode_graded(toy_root: Path, tmp_path: Path) -> None:
    paths = _class(tmp_path / "class", 2)
    with gradebook.Gradebook(tmp_path / "g.sqlite") as book:
        report = {"status": "graded", "message": "", "score": 1, "max_score": 5, "functions": []}
        book.record("h", report, mode="fast", run="r", files=[("x", None)])
        assert book.graded({"h"}, "fast") == {"h"} and book.graded({"h"}, "full") == set()
        book.record("h", report, mode="full", run="r2", files=[("x", None)])
        assert book.graded({"h"}, "fast") == {"h"} == book.graded({"h"}, "full")
        assert book.graded({"h"}, "fast", assignment="other") == set()
    assert paths


def test_export_has_one_column_per_function(toy_root: Path, tmp_path: Path) -> None:
    paths = _class(tmp_path / "class", 3)
    batch.run_batch(paths, OPTIONS, batch.Plan(jobs=1, output=tmp_path / "out"))
    written = bookfiles.export(tmp_path / "out")
    assert [p.name for p in written] == ["gradebook.csv", "gradebook.json"]
    rows = list(csv.DictReader(io.StringIO(written[0].read_text())))
    assert [r["submission"] for r in rows] == [str(p) for p in paths]
    assert [(r["scale"], r["unit"], r["score"]) for r in rows] == [
        ("0", "2", "2"),
        ("3", "2", "5"),
        ("3", "2", "5"),
    ]
    data = json.loads(written[1].read_text())
    assert data[0]["functions"]["scale"]["status"] == "failed" and data[1]["score"] == 5


def test_a_file_name_that_is_not_utf8_is_graded_with_the_rest(toy_root: Path, tmp_path: Path) -> None:
    paths = _class(tmp_path / "class", 2)
    odd = Path(os.fsdecode(bytes(tmp_path / "class") + b"/st\xffudent.ipynb"))  # Latin-1 bytes in a name
    odd.write_bytes(paths[0].read_bytes())
    outcome = batch.run_batch([*paths, odd], OPTIONS, batch.Plan(jobs=2, output=tmp_path / "out"))
    assert outcome.graded == 3 and outcome.reports[2]["submission"].endswith("st\\udcffudent.ipynb")
    db = tmp_path / "out" / gradebook.FILENAME
    assert _rows(db, "SELECT COUNT(*) FROM submissions") == [(3,)]
    json.dumps(outcome.reports, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


def test_a_fifo_or_endless_file_among_the_notebooks_is_reported_not_waited_for(
    toy_root: Path, tmp_path: Path
) -> None:
    paths = _class(tmp_path / "class", 2)
    fifo = tmp_path / "class" / "pipe.ipynb"
    os.mkfifo(fifo)  # opening it to read would block until someone writes
    endless = tmp_path / "class" / "zero.ipynb"
    endless.symlink_to("/dev/zero")  # reading it would never end
    cmd = [sys.executable, "-c", "from grader.launch import main; main()", "run", str(tmp_path / "class")]
    cmd += ["--fast", "--format", "json", "--output", str(tmp_path / "out")]
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reports = {Path(r["submission"]).name: r for r in json.loads(proc.stdout)}
    assert reports["pipe.ipynb"]["status"] == reports["zero.ipynb"]["status"] == "invalid"
    assert "not a regular file" in reports["pipe.ipynb"]["message"]
    assert [reports[p.name]["status"] for p in paths] == ["graded", "graded"]
