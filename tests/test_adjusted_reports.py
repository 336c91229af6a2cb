"""Reports follow adjustments: after `grader adjust`, every report already written for that
student (JSON, HTML page, feedback notebook and page, Gradescope results) and the batch's summary,
index page and junit.xml show the adjusted points and the comment, rendered from the stored
results (nothing graded again) and in agreement with the exports; no other student's file
changes by a byte; `grader adjust --remove` undoes it, back to the very bytes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grader.cli import main
from grader.course import gradebook
from grader.course.gradebook import Gradebook
from tests.test_handin_layouts import DUE, canvas

BOB = "1002"  # bob's right answer: 5 of 5, scale worth 3
COMMENT = "late: 2 points off <b>really</b>"
BATCH_FILES = {"summary.txt", "summary.json", "summary.png", "index.html", "junit.xml"}


def _cli(*args: str) -> Result:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


def _files(out: Path) -> dict[str, bytes]:
    skip = {"handins", "gradebook.sqlite", "gradebook.sqlite-wal", "gradebook.sqlite-shm"}
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.relative_to(out).parts[0] not in skip
    }


@pytest.fixture
def graded(toy_root: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A Canvas download graded with every file format written into one OUT."""
    sources, _ = canvas(tmp_path)
    out = tmp_path / "out"
    run = ["run", *map(str, sources), "--fast", "-j", "1", "--output", str(out), "--due", DUE]
    for fmt in ("html", "gradescope", "junit"):
        _cli(*run, "--format", fmt)
    return out, run


def _bob(files: dict[str, bytes]) -> set[str]:
    return {name for name in files if "_1002_" in name}


def test_every_written_report_follows_an_adjustment_and_its_removal(graded: tuple[Path, list[str]]) -> None:
    out, _ = graded
    before = _files(out)
    mine = _bob(before)
    [report] = [n for n in mine if n.endswith(".json") and "/" not in n]
    name = report.removesuffix(".json")
    assert mine == {
        report,
        f"{name}.html",
        f"{name}.feedback.html",
        f"{name}.feedback.ipynb",
        f"{name}/results.json",
    }
    res = _cli("adjust", BOB, "toy", "scale", "--points", "1", "--comment", COMMENT, "--gradebook", str(out))
    assert "rendered" in res.stdout
    after = _files(out)
    # nobody else's file changed; every one of bob's did, and the batch's own files
    changed = {n for n in before if before[n] != after[n]}
    assert changed == mine | BATCH_FILES
    data = json.loads(after[report])
    scale = next(f for f in data["functions"] if f["name"] == "scale")
    assert (data["score"], scale["score"]) == (3.0, 1.0)
    assert scale["adjustment"]["was"] == 3.0 and scale["adjustment"]["comment"] == COMMENT
    escaped = "late: 2 points off &lt;b&gt;really&lt;/b&gt;"  # the comment is text in every page
    page = after[f"{name}.html"].decode()
    assert '<div class="score">3 / 5</div>' in page and escaped in page and "<b>really" not in page
    assert (
        escaped in after[f"{name}.feedback.html"].decode()
        and "<b>really" not in after[f"{name}.feedback.html"].decode()
    )
    notebook = json.loads(after[f"{name}.feedback.ipynb"])
    notes = [c for c in notebook["cells"] if c["metadata"].get("grader", {}).get("name") == "scale"]
    assert notes and notes[0]["metadata"]["grader"]["adjustment"]["comment"] == COMMENT
    assert notebook["cells"][0]["metadata"]["grader"]["score"] == 3.0
    gradescope = json.loads(after[f"{name}/results.json"])
    assert gradescope["score"] == 3.0 and COMMENT in gradescope["output"]
    # the batch's files agree with the exports
    summary = json.loads(after["summary.json"])
    percents = sorted(round(p, 3) for p in summary["percents"])
    assert 60.0 in percents and 100.0 in percents  # bob now 3/5; ann still 5/5
    assert "1002" in after["index.html"].decode() and ">3 / 5</td>" in after["index.html"].decode()
    assert 'name="score" value="3"' in after["junit.xml"].decode()
    exported = _cli("export", str(out), "--to", "csv").stdout.split("wrote ", 1)[1].strip()
    [bob] = [r for r in csv.DictReader(io.StringIO(Path(exported).read_text())) if r["student"] == BOB]
    assert (bob["toy"], bob["toy:scale"]) == ("3", "1") == (f"{data['score']:g}", f"{scale['score']:g}")
    # withdrawn: every file back to the very bytes it had, the adjustment listed as withdrawn
    res = _cli("adjust", BOB, "toy", "scale", "--remove", "--gradebook", str(out))
    assert "withdrawn, back to 3 (graded)" in res.stdout
    assert "[withdrawn " in _cli("adjust", "--list", "--gradebook", str(out)).stdout
    again = _files(out)
    assert {n for n in before if before[n] != again[n]} <= {"summary.png"}
    assert json.loads(again[report])["score"] == 5.0
    with Gradebook(out / gradebook.FILENAME) as book:
        assert [a["withdrawn_at"] is not None for a in book.adjustments()] == [True]


def test_a_regrade_writes_the_reports_adjusted(graded: tuple[Path, list[str]]) -> None:
    out, run = graded
    _cli("adjust", BOB, "toy", "scale", "--points", "0", "--comment", "copied", "--gradebook", str(out))
    _cli(*run, "--format", "html", "--regrade")
    files = _files(out)
    [report] = [n for n in _bob(files) if n.endswith(".json") and "/" not in n]
    assert json.loads(files[report])["score"] == 2.0
    assert "copied" in files[report.replace(".json", ".html")].decode()
    assert ">2 / 5</td>" in files["index.html"].decode()


def test_remove_without_an_adjustment_says_so(graded: tuple[Path, list[str]]) -> None:
    out, _ = graded
    res = CliRunner().invoke(main, ["adjust", BOB, "toy", "scale", "--remove", "--gradebook", str(out)])
    assert res.exit_code != 0 and "no adjustment in force" in str(res.exception)
