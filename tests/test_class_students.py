"""The class view counts students, not files: when the hand-ins name their students (every
layout), how many students made each mistake, the clusters of identical wrong outputs and the
identical answers count and name the hand-ins' ids, each student once, by the hand-in that counts
(`--policy`); a resubmission replaced by a later one counts for nobody, and students whose
notebooks share a file name stay apart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.reports import summary, wrong
from tests.batchkit import toy
from tests.test_handin_layouts import _put

# a wrong answer long enough to be compared across the class (grade.MIN_ANSWER_NODES)
LONG = "out = np.asarray([x * {k} for x in np.ravel(v)], dtype=float).reshape(np.shape(v)) + 0.0 * np.sum(np.abs(v))"
TWICE, FIVE = LONG.format(k="2.0"), LONG.format(k="5.0")
EARLY, LATER = "2024-10-01 10:00:00", "2024-10-02 10:00:00"

# (student, answer of scale or None for the right one, when): every notebook is Toy.ipynb
CLASS = [
    ("ann", TWICE, EARLY),
    ("ann", TWICE, LATER),  # the same wrong answer handed in again: ann is one student
    ("bob", TWICE, EARLY),
    ("cat", FIVE, EARLY),
    ("cat", FIVE, LATER),  # a wrong value only cat gave (twice): nobody's cluster
    ("dan", TWICE, EARLY),
    ("dan", None, LATER),  # fixed: the later hand-in counts, dan made no mistake
    ("eve", None, EARLY),
]


def _text(who: str, answer: str | None, when: str) -> str:
    scale = answer or "out = v * FACTOR"
    return json.dumps(toy(scale=scale, note=f"{who} at {when}"))


def _nbgrader(tmp: Path, extra: tuple[tuple[str, str | None, str], ...] = ()) -> Path:
    """Copied out of the exchange (graded with --no-check-owner), each notebook as old as its
    folder's name says, as nbgrader's submit keeps it."""
    root = tmp / "course"
    for who, answer, when in [*CLASS, *extra]:
        _put(root, f"inbound/{who}+toy+{when}.000000 UTC/Toy.ipynb", _text(who, answer, when), when)
    return root


def _plain(tmp: Path) -> Path:
    root = tmp / "class"
    seen: dict[str, int] = {}
    for who, answer, when in CLASS:
        seen[who] = seen.get(who, 0) + 1
        name = "Toy.ipynb" if seen[who] == 1 else f"Toy-{seen[who]}.ipynb"
        _put(root, f"{who}/{name}", _text(who, answer, when), when)
    return root


@pytest.mark.parametrize("build", [_nbgrader, _plain])
def test_the_class_view_counts_each_student_once(toy_root: Path, tmp_path: Path, build: Any) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main,
        ["run", str(build(tmp_path)), "--fast", "-j", "1", "--format", "html", "--output", str(out)]
        + (["--no-check-owner"] if build is _nbgrader else []),
    )
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["counted_by"] == "students" and (s["submissions"], s["graded"]) == (8, 8)
    scale = next(f for f in s["functions"] if f["name"] == "scale")
    assert (scale["passed"], scale["total"]) == (2, 5)  # dan and eve, of five students
    # the same wrong values from ann (her counted hand-in) and bob; cat's only from cat
    [cluster] = s["clusters"]
    assert cluster["function"] == "scale" and cluster["students"] == ["ann", "bob"]
    assert cluster["size"] == 2 and cluster["representative"] == "ann" and "x * 2.0" in cluster["code"]
    assert [(g["function"], g["students"]) for g in s["alike"]] == [("scale", ["ann", "bob"])]
    text = (out / "summary.txt").read_text()
    assert "scale on " in text and ": 2 students, e.g. ann" in text
    assert "scale: 2 students: ann, bob" in text and ", e.g. cat" not in text
    page = (out / "index.html").read_text()
    assert '<span class="count">2</span> students' in page and "ann, bob" in page
    # every file is a row; a replaced hand-in is named with its student and marked
    assert len(re.findall(r'<td><a href="', page)) == 8
    assert page.count("(not counted)") == 3  # ann's, cat's and dan's first hand-ins
    assert '<th data-key="student">' in page


@pytest.mark.parametrize(
    "policy, passed, cluster", [("latest", 2, ["ann", "bob", "fay"]), ("best", 3, ["ann", "bob"])]
)
def test_the_policy_decides_which_hand_in_counts(
    toy_root: Path, tmp_path: Path, policy: str, passed: int, cluster: list[str]
) -> None:
    fay = (("fay", None, EARLY), ("fay", TWICE, LATER))  # right first, then wrong
    out = tmp_path / "out"
    folder = _nbgrader(tmp_path, fay)
    res = CliRunner().invoke(
        main,
        ["run", str(folder), "--fast", "-j", "1", "--output", str(out), "--policy", policy, "--no-check-owner"],
    )
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    scale = next(f for f in s["functions"] if f["name"] == "scale")
    assert (scale["passed"], scale["total"]) == (passed, 6)
    assert [c["students"] for c in s["clusters"]] == [cluster]


def _report(mistake: str | None, digest: str, answer: str) -> dict[str, Any]:
    test = {"name": "c1", "passed": False, "output_digest": digest}
    if mistake:
        test["mistake"] = {"id": mistake, "description": mistake}
    function = {"name": "f", "status": "failed", "message": "", "tests": [test], "answer_digest": answer}
    return {"submission": "x", "assignment": "a", "status": "graded", "functions": [function]}


def test_who_decides_whom_each_report_counts_for() -> None:
    reports = [_report("m", "", "A"), _report("m", "", "A"), _report("m", "", "B")]
    assert wrong.named(reports, [[], ["ann"], ["bob"]])[("a", "f")][0].students == 2
    assert wrong.named(reports, [["ann"], ["ann"], ["bob"]])[("a", "f")][0].students == 2
    # a group's one hand-in counts for each member, yet is one answer: alike needs two
    assert wrong.alike(reports[:1], [["ann", "bob"]]) == ()
    assert wrong.alike(reports, [["ann", "bob"], ["cat"], []])[0].students == ("ann", "bob", "cat")
    unexplained = [_report(None, "d", "X"), _report(None, "d", "Y"), _report(None, "d", "Z")]
    assert wrong.clusters(unexplained, who=[["ann"], ["ann"], []]) == ()
    [c] = wrong.clusters(unexplained, who=[["ann"], [], ["bob"]])
    assert c.students == ("ann", "bob")
    # without `who`, a batch of files: each report is its own label (as before hand-ins)
    assert summary.summarise(unexplained).counted_by == "submissions"


def test_the_same_bytes_twice_from_one_student_is_no_copy(toy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "class"
    same = json.dumps(toy(note="same bytes"))
    _put(root, "ann/Toy.ipynb", same, EARLY)
    _put(root, "ann/Toy-2.ipynb", same, LATER)  # ann hands in the same file again
    _put(root, "bob/Toy.ipynb", json.dumps(toy(note="bob's")), EARLY)
    _put(root, "cat/Toy.ipynb", json.dumps(toy(note="bob's")), EARLY)  # cat hands in bob's file
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(root), "--fast", "-j", "1", "--output", str(out)])
    assert res.exit_code == 0, res.output
    copies = json.loads((out / "summary.json").read_text())["copies"]
    assert copies == [[str(root / "bob" / "Toy.ipynb"), str(root / "cat" / "Toy.ipynb")]]
