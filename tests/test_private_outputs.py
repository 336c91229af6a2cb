"""Red team round 2, finding 3: what the grader writes (reports, executed notebooks, the
gradebook and its -wal file) is its own user's only: a sandbox user (as root) or anyone else on
the machine must not read it where the covers do not reach. .ci/run runs this file as root and
as a plain user."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from grader.course.gradebook import Gradebook
from grader.files import write_atomic
from grader.reports import summary
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import IMPORTS


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_and_gradebooks_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "new" / "out"
        write_atomic(out / "alice.json", "{}")
        assert _mode(out / "alice.json") == 0o600
        assert _mode(out) == 0o700 and _mode(out.parent) == 0o700  # folders the grader made
        with Gradebook(tmp_path / "book" / "gradebook.sqlite") as book:
            book.db.execute("CREATE TABLE IF NOT EXISTS probe (x)")
            book.db.execute("INSERT INTO probe VALUES (1)")
            made = [p for p in (tmp_path / "book").iterdir()]
            assert made and all(_mode(p) == 0o600 for p in made), {p.name: oct(_mode(p)) for p in made}
    finally:
        os.umask(old)


def test_grader_run_output_folder_is_owner_only(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from grader.cli import main

    path = write_notebook(tmp_path / "alice.ipynb", make_notebook([IMPORTS]))
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        CliRunner().invoke(main, ["run", str(path), "--fast", "--output", str(out), "--format", "json"])
    finally:
        os.umask(old)
    assert _mode(out) == 0o700
    files = list(out.iterdir())
    assert files and all(_mode(p) == 0o600 for p in files), {p.name: oct(_mode(p)) for p in files}


SOME_REPORTS = [
    {"status": "graded", "assignment": "toy", "score": s, "max_score": 10, "functions": [
        {"name": "f", "status": "passed" if s == 10 else "failed", "message": "" if s == 10 else "wrong"}]}
    for s in (10, 4)
]  # fmt: skip


def test_the_batch_summary_figure_is_owner_only_like_every_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        written = summary.write(summary.summarise(SOME_REPORTS), out)
    finally:
        os.umask(old)
    assert {p.name for p in written} == {"summary.txt", "summary.json", "summary.png"}
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert {p.name: oct(_mode(p)) for p in out.iterdir()} == {p.name: oct(0o600) for p in written}


def test_a_summary_figure_that_fails_halfway_leaves_the_last_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    summary.write(summary.summarise(SOME_REPORTS), out)
    before = (out / "summary.png").read_bytes()

    def broken(self: Figure, target: Any, **kwargs: Any) -> None:  # a full disk, a killed grader
        if isinstance(target, (str, os.PathLike)):
            Path(target).write_bytes(b"\x89PNG half")
        else:
            target.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError):
        summary.write(summary.summarise(SOME_REPORTS[:1]), out)
    assert (out / "summary.png").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "summary.png", "summary.txt"]
