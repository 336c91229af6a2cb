"""Plain folders: who a notebook is graded as. A folder holding one notebook is graded on its
student's variant (as in a batch), student folders named one by one (`subs/*`) are each a
student, and files that do share one id are said to, never silently merged (docs/handins.md)."""

from __future__ import annotations

import json
from pathlib import Path

from grader.reading import secret
from tests.test_variants import REF, _env, _grader, _with_secret


def _variants(stdout: str) -> list[str]:
    doc = json.loads(stdout)
    return [r["variant"] for r in (doc if isinstance(doc, list) else [doc])]


def test_a_folder_of_one_notebook_is_graded_on_its_students_variant_as_a_batch_is(
    no_secret: Path, tmp_path: Path
) -> None:
    env, key = _with_secret(no_secret)
    (tmp_path / "s2" / "alice").mkdir(parents=True)
    (tmp_path / "s2" / "alice" / "Initialization.ipynb").write_bytes(REF.read_bytes())
    (tmp_path / "s6").mkdir()
    (tmp_path / "s6" / "bob.ipynb").write_bytes(REF.read_bytes())
    for folder, who in (("s2", "alice"), ("s6", "bob")):
        args = ["run", str(tmp_path / folder), "--variants", "per-student", "--fast", "--format", "json"]
        one = _grader(*args, env=env)  # one notebook: the single-file path
        batch = _grader(*args, "--jobs", "1", env=env)  # --jobs: the batch path
        assert one.returncode == 0 and batch.returncode == 0, (one.stderr, batch.stderr)
        assert _variants(one.stdout) == _variants(batch.stdout) == [secret.variant_of(key, who)], folder


def test_student_folders_named_one_by_one_are_each_a_student(no_secret: Path, tmp_path: Path) -> None:
    env, key = _with_secret(no_secret)
    for who in ("alice", "bob"):  # `grader run subs/*`: each holds the assignment's one notebook
        (tmp_path / "subs" / who).mkdir(parents=True)
        (tmp_path / "subs" / who / "Initialization.ipynb").write_bytes(REF.read_bytes())
    out = tmp_path / "out"
    got = _grader(
        "run",
        str(tmp_path / "subs" / "alice"),
        str(tmp_path / "subs" / "bob"),
        "--variants",
        "per-student",
        "--fast",
        "--format",
        "json",
        "--output",
        str(out),
        env=env,
    )
    assert got.returncode == 0, got.stderr
    assert _variants(got.stdout) == [secret.variant_of(key, "alice"), secret.variant_of(key, "bob")]
    students = json.loads((out / "summary.json").read_text())["students"]
    assert students["students"] == ["alice", "bob"] and students["warnings"] == []
    assert "Students: 2 handed in" in (out / "summary.txt").read_text()
    assert "warning" not in got.stderr


def test_files_named_directly_that_share_an_id_are_said_to_in_one_line(
    no_secret: Path, tmp_path: Path
) -> None:
    for place in ("a", "b"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "Toy.ipynb").write_bytes(REF.read_bytes())
    out = tmp_path / "out"
    got = _grader(
        "run",
        str(tmp_path / "a" / "Toy.ipynb"),
        str(tmp_path / "b" / "Toy.ipynb"),
        "--fast",
        "--output",
        str(out),
        env=_env(no_secret),
    )
    assert got.returncode == 0, got.stderr
    lines = [line for line in got.stderr.splitlines() if "one student id" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "Toy:" in lines[0], got.stderr
    assert str(tmp_path / "a" / "Toy.ipynb") in lines[0] and str(tmp_path / "b" / "Toy.ipynb") in lines[0]
    students = json.loads((out / "summary.json").read_text())["students"]
    assert students["students"] == ["Toy"] and len(students["warnings"]) == 1
    assert "warning: several files take one student id" in (out / "summary.txt").read_text()


def test_class_folders_named_together_keep_their_notebooks_stems(no_secret: Path, tmp_path: Path) -> None:
    """`grader run week1/ week2/`, each holding a notebook per student at its top: the stems are
    the students (a folder given is a student only when it holds one notebook at its top)."""
    for week in ("week1", "week2"):
        (tmp_path / week).mkdir()
        for who in ("alice", "bob"):
            (tmp_path / week / f"{who}.ipynb").write_bytes(REF.read_bytes())
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "week1"), str(tmp_path / "week2"), "--fast", "--output", str(out)]
    got = _grader(*args, env=_env(no_secret))
    assert got.returncode == 0, got.stderr
    students = json.loads((out / "summary.json").read_text())["students"]
    assert students["students"] == ["alice", "bob"], students
