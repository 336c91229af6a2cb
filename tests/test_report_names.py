"""Report file names: one scheme (`report.file_names`) for every writer; whatever the submissions
are called, every report lies inside --output and none overwrites another's or the grader's own."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from grader.course.gradebook import Gradebook
from grader.files import MAX_NAME, RESERVED_NAMES, file_names
from grader.reports import feedback, formats, html
from grader.results import Report
from tests.batchkit import toy, write

SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # never a leading "-": shells read it as an option
GRADER_FILES = {
    "gradebook.sqlite",
    "gradebook.csv",
    "gradebook.json",
    "summary.txt",
    "summary.png",
    "summary.json",
    "index.html",
    "junit.xml",
    "results.json",
}
PIECES = [
    "-rf",
    "--",
    "..",
    ".",
    "...",
    "__",
    "_",
    "-2",
    "-3",
    "a",
    "A",
    "b__c",
    "gradebook.sqlite",
    "gradebook",
    "GradeBook",
    "summary.txt",
    "summary",
    "SUMMARY",
    "index",
    "index.html",
    "results",
    "junit",
    "é",
    " ",
    "\x1b[31m",
    "\u202e",
    "x" * 150,
    ".ipynb_checkpoints",
    "Work",
]


def nasty_label(rng: random.Random) -> str:
    folders = [rng.choice(PIECES) + rng.choice(["", "", rng.choice(PIECES)]) for _ in range(rng.randrange(3))]
    stem = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 3)))
    return "/".join(["class", *folders, stem + ".ipynb"])


def check(labels: list[str]) -> list[str]:
    names = file_names(labels)
    assert len(names) == len(labels)
    assert len({n.lower() for n in names}) == len(names), (labels, names)  # apart, whatever the case
    for n in names:
        assert SAFE.match(n), n  # never ".", "..", a path or an extension
        assert n.lower() not in RESERVED_NAMES, n
        assert len(n) <= MAX_NAME + 8, n
    for f in GRADER_FILES:
        assert all(f"{n}.json" != f and f"{n}.html" != f and n != f for n in names)
    assert file_names(labels) == names  # the same batch gets the same names every time
    return names


def test_names_stay_apart_and_safe_over_many_nasty_batches() -> None:
    rng = random.Random(20261204)
    for _ in range(400):
        labels = [nasty_label(rng) for _ in range(rng.randrange(1, 12))]
        labels += rng.sample(labels, k=min(2, len(labels)))  # the same file named twice
        check(labels)


def test_the_review_examples() -> None:
    names = check(
        [
            "subs/...ipynb",
            "subs/gradebook.sqlite.ipynb",
            "subs/summary.txt.ipynb",
            "subs/summary.ipynb",
            "subs/a/b__c.ipynb",
            "subs/a__b/c.ipynb",
            "subs/a__b__c-2.ipynb",
            "subs/Index.ipynb",
            "subs/x/Alice.ipynb",
            "subs/x/alice.ipynb",
        ]
    )
    assert names[0] == "_" and "summary-2" in names and "Index-2" in names
    assert file_names(["/c/alice/Work.ipynb", "/c/bob/Work.ipynb", "/c/Other.ipynb", "/c/Other.ipynb"]) == [
        "alice__Work",
        "bob__Work",
        "Other",
        "Other-2",
    ]
    # a real repository's name began with "-": its reports did too
    assert file_names(["/c/-Deep-Networks/Initialization.ipynb", "/c/x/Initialization.ipynb", "/c/-v.ipynb"]) == [
        "_Deep-Networks__Initialization",
        "x__Initialization",
        "_v",
    ]


def _reports(labels: list[str]) -> list[Report]:
    return [Report(label, None, "invalid", "not a readable notebook") for label in labels]


def test_writers_stay_inside_output_and_never_clobber(tmp_path: Path) -> None:
    rng = random.Random(7)
    for round_ in range(25):
        out = tmp_path / f"out{round_}"
        out.mkdir()
        for f in GRADER_FILES:
            (out / f).write_text("the grader's own")
        labels = [nasty_label(rng) for _ in range(rng.randrange(2, 9))]
        reports = _reports(labels)
        written = formats.write_gradescope(reports, out) + html.write(reports, out)
        written += feedback.write(reports, [None] * len(reports), out)
        pages = [p for p in written if p.name != "index.html"]
        assert len(set(written)) == len(written) == 4 * len(labels) + 1
        for p in written:
            assert p.resolve().is_relative_to(out.resolve()) and p.is_file()
        assert len({str(p).lower() for p in pages}) == len(pages)
        for f in GRADER_FILES - {"index.html"}:
            assert (out / f).read_text() == "the grader's own", f


def test_a_batch_of_nasty_names_gives_each_student_their_own_files(toy_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "class"
    stems = ["..", "...", "gradebook.sqlite", "summary.txt", "summary", "Index", "a__b__c-2", "results"]
    for i, stem in enumerate(stems):
        write(folder, stem, toy(note=str(i)))
    write(folder / "a", "b__c", toy(note="x"))
    write(folder / "a__b", "c", toy(note="y"))
    out = tmp_path / "out"
    for fmt in ("gradescope", "html"):
        res = CliRunner().invoke(main, ["run", str(folder), "--fast", "--format", fmt, "--output", str(out), "-j", "1"])
        assert res.exit_code == 0, res.output
    assert not (tmp_path / "results.json").exists()
    results = sorted(out.glob("*/results.json"))
    assert len(results) == 10
    assert {json.loads(p.read_text())["score"] for p in results} == {5.0}
    assert (out / "summary.txt").read_text().startswith("batch: 10 submissions")
    with Gradebook(out / "gradebook.sqlite") as book:
        rows = book.db.execute("SELECT path, report_file FROM submissions").fetchall()
    assert len(rows) == 10 and len({f for _, f in rows}) == 10
    for _, f in rows:
        assert Path(f).parent == out and json.loads(Path(f).read_text())["status"] == "graded"


def test_one_notebook_named_dot_dot_stays_inside_output(toy_root: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "sub", "..", toy())  # ...ipynb: the stem is ".."
    out = tmp_path / "sub" / "out"
    grader = Path(sys.executable).parent / "grader"  # its own process: the worker ends with it
    argv = [str(grader), "run", str(path), "--fast", "--format", "html", "--output", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "GRADER_ROOT": str(toy_root)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_.feedback.html", "_.feedback.ipynb", "_.html", "_.json"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["...ipynb", "out"]
