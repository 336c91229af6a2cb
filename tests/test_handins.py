"""What is handed in is graded as itself: a symbolic link (to another student's notebook, to the
reference) or a file reached through a linked folder is reported invalid and never read; files
with identical bytes are listed as possible copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import batch, handins
from grader.grading import grade
from grader.reading import notebook
from tests.batchkit import toy, write


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the grader reads a notebook from."""
    seen: list[Path] = []
    real_bytes, real_read = notebook.read_bytes, notebook.read

    def read_bytes(path: Path, *a: Any, **kw: Any) -> bytes:
        seen.append(Path(path))
        return real_bytes(path, *a, **kw)

    def read(path: Path, *a: Any, **kw: Any) -> Any:
        seen.append(Path(path))
        return real_read(path, *a, **kw)

    monkeypatch.setattr(notebook, "read_bytes", read_bytes)
    monkeypatch.setattr(notebook, "read", read)
    return seen


def _class(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    write(folder / "alice", "Toy", toy())
    (folder / "mallory").mkdir()
    (folder / "mallory" / "Toy.ipynb").symlink_to("../alice/Toy.ipynb")
    secret = write(tmp_path / "answers", "Toy", toy(note="the key"))
    (folder / "eve").mkdir()
    (folder / "eve" / "Toy.ipynb").symlink_to(secret)
    (folder / "trudy").symlink_to(tmp_path / "answers")  # a linked folder
    return folder


def test_links_in_a_class_folder_are_invalid_and_never_read(
    toy_root: Path, tmp_path: Path, reads: list[Path]
) -> None:
    folder = _class(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", "json", "--output", str(out), "-j", "1"])
    assert res.exit_code == 0, res.output
    reports = {str(Path(r["submission"]).relative_to(folder)): r for r in json.loads(res.stdout)}
    assert set(reports) == {"alice/Toy.ipynb", "eve/Toy.ipynb", "mallory/Toy.ipynb", "trudy"}
    assert reports["alice/Toy.ipynb"]["status"] == "graded" and reports["alice/Toy.ipynb"]["score"] == 5
    for name in ("eve/Toy.ipynb", "mallory/Toy.ipynb", "trudy"):
        r = reports[name]
        assert r["status"] == "invalid" and r["score"] == 0, r
        assert "symbolic link" in r["message"] and "never followed" in r["message"], r
    read = {p.resolve() for p in reads if p.resolve().is_relative_to(tmp_path.resolve())}
    assert read == {(folder / "alice" / "Toy.ipynb").resolve()}  # never the links' targets


def test_a_link_named_on_the_command_line_is_invalid(
    toy_root: Path, tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _class(tmp_path)
    for target in (folder / "mallory" / "Toy.ipynb", folder / "trudy" / "Toy.ipynb"):
        res = CliRunner().invoke(main, ["run", str(target), "--fast", "--format", "json"])
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        assert report["status"] == "invalid" and "symbolic link" in report["message"], report
    assert reads == []
    monkeypatch.chdir(folder)  # a relative path through a linked folder
    res = CliRunner().invoke(main, ["run", "trudy/Toy.ipynb", "--fast", "--format", "json"])
    assert json.loads(res.stdout)["status"] == "invalid"
    assert "reached through trudy" in json.loads(res.stdout)["message"]


def test_grade_path_never_reads_a_link(toy_root: Path, tmp_path: Path, reads: list[Path]) -> None:
    folder = _class(tmp_path)
    report = grade.grade_path(folder / "mallory" / "Toy.ipynb", grade.Options())
    assert report.status == "invalid" and "symbolic link" in report.message and reads == []


def test_collect_refuses_what_lies_behind_links(tmp_path: Path) -> None:
    folder = _class(tmp_path)
    files, refused = handins.collect([folder])
    assert [f.relative_to(folder).as_posix() for f in files] == [
        "alice/Toy.ipynb",
        "eve/Toy.ipynb",
        "mallory/Toy.ipynb",
        "trudy",
    ]
    assert set(refused) == {folder / "eve" / "Toy.ipynb", folder / "mallory" / "Toy.ipynb", folder / "trudy"}
    linked = tmp_path / "linked-class"
    linked.symlink_to(folder)  # the folder named may itself be a link: the instructor chose it
    files, refused = handins.collect([linked / "alice"])
    assert files == [linked / "alice" / "Toy.ipynb"] and refused == {}


def test_identical_files_are_listed_as_possible_copies(toy_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "class"
    for who in ("ann", "bob", "cat"):
        write(folder / who, "Toy", toy(note="same" if who != "cat" else "own"))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["run", str(folder), str(folder / "cat"), "--fast", "--output", str(out), "-j", "1"]
    )
    assert res.exit_code == 0, res.output
    text = (out / "summary.txt").read_text()
    assert "possible copies" in text
    ann, bob = str(folder / "ann" / "Toy.ipynb"), str(folder / "bob" / "Toy.ipynb")
    assert f"{ann} = {bob}" in text
    data = json.loads((out / "summary.json").read_text())
    assert data["copies"] == [[ann, bob]]  # cat named twice is not a copy of itself
    assert batch.copies(batch.survey([folder / "cat" / "Toy.ipynb", folder / "cat" / "Toy.ipynb"])) == []
