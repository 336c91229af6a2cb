"""Notebook fields a hostile or broken notebook sets to what nbformat's schema refuses (a negative
or boolean execution count, a metadata list, a number for an output's text, lone surrogates),
through the pages handed back: every submission gets its pages, the class its index, and a page
that still fails to draw (a bug of ours) costs that page alone (reports/safe.py, feedback.py,
html.py, unbuilt.py; red team, round 4)."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.reports import feedback, feedback_page, html, safe
from grader.results import Report
from tests.conftest import make_notebook, write_notebook
from tests.test_feedback import GIVEN, IMPORTS, RIGHT_UNIT, WRONG_SCALE

GRADER = [str(Path(sys.executable).parent / "grader")]
# what a notebook's JSON can hold where nbformat wants an execution count (an integer >= 0 or null)
COUNTS: list[Any] = [-1, -(2**40), True, False, 1.5, "3", [], {}, None, 0, 7]
# what it can hold where nbformat wants text, a name, an object or a list
ODD: list[Any] = [None, True, -1, 2.5, "x\ud800y\udcff", ["a\udcffb", 3, None], {"k": "\ud800"}, []]


def _hostile_cells() -> list[Any]:
    """Cells with every schema field of cells and outputs set to each odd value in turn."""
    cells: list[Any] = []
    for count, odd in itertools.zip_longest(COUNTS, ODD, fillvalue="\udcff"):
        outputs = [
            {
                "output_type": "execute_result",
                "execution_count": count,
                "data": {"text/plain": odd},
                "metadata": odd,
            },
            {"output_type": "execute_result", "execution_count": count, "data": odd, "metadata": {}},
            {"output_type": "display_data", "data": {"text/html": odd, "text/markdown": odd, "x/\ud800": 1}},
            {"output_type": "stream", "name": odd, "text": odd},
            {"output_type": "error", "ename": odd, "evalue": odd, "traceback": odd},
            {"output_type": "error", "ename": "E", "evalue": "v", "traceback": [odd, "t\ud800"]},
            {"output_type": odd, "data": {"text/plain": "?"}},
            odd,
        ]
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count,
                "metadata": odd,
                "source": odd,
                "outputs": outputs,
            }
        )
        cells.append(
            {"cell_type": "code", "execution_count": count, "metadata": {}, "source": "x", "outputs": odd}
        )
        cells.append({"cell_type": odd, "metadata": odd, "source": odd, "attachments": odd, "id": odd})
        cells.append({"cell_type": "markdown", "metadata": {}, "source": ["# title \udcff", odd], "id": "-1"})
        cells.append(odd)
    return cells


def test_every_odd_field_value_makes_a_notebook_nbformat_accepts_and_a_page() -> None:
    rebuilt = safe.notebook({"cells": _hostile_cells()})
    nbformat.validate(nbformat.from_dict(rebuilt))  # what nbconvert's exporter checks, and raised on
    json.dumps(rebuilt, ensure_ascii=False).encode("utf-8")  # no lone surrogate left anywhere
    counts = [c.get("execution_count") for c in rebuilt["cells"] if c["cell_type"] == "code"]
    counts += [o.get("execution_count") for c in rebuilt["cells"] for o in c.get("outputs", [])]
    assert {c for c in counts if c is not None} <= {0, 7}  # bools and negatives are no counts
    page = feedback_page.render(rebuilt, "odd")
    assert (
        "# title \\udcff" not in page and "title \\udcff" in page
    )  # the markdown, its surrogate shown as escape


def test_student_html_with_a_lone_surrogate_is_sanitised_not_raised() -> None:
    assert safe.html("<b>a\ud800</b><script>x</script>") == "<b>a\\ud800</b>"


def _notebook(*extra: dict[str, Any] | str | tuple[str, str]) -> dict[str, Any]:
    return make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT, *extra])


def _code(count: Any, outputs: list[Any] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {},
        "source": "x",
        "outputs": outputs or [],
    }


def _run(toy_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    return subprocess.run([*GRADER, "run", *args], capture_output=True, text=True, env=env, timeout=600)


def test_a_class_with_a_negative_execution_count_gets_every_page_and_its_index(
    toy_root: Path, tmp_path: Path
) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    cls.mkdir()
    write_notebook(cls / "alice.ipynb", _notebook())
    write_notebook(cls / "mallory.ipynb", _notebook(_code(-1)))
    result = {
        "output_type": "execute_result",
        "execution_count": True,
        "data": {"text/plain": "1"},
        "metadata": {},
    }
    write_notebook(cls / "trudy.ipynb", _notebook(_code(True, [result])))
    proc = _run(toy_root, str(cls), "--fast", "--format", "html", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "could not be drawn" not in proc.stderr
    for name in ("alice", "mallory", "trudy"):
        assert "2 / 5" in (out / f"{name}.html").read_text(encoding="utf-8")
        assert "feedback-link" in (out / f"{name}.html").read_text(encoding="utf-8")
        assert feedback.SAVED in (out / f"{name}.feedback.html").read_text(encoding="utf-8")
    assert "mallory.html" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["feedback", "html"])
def test_lone_surrogates_in_a_markdown_cell_and_an_output_are_shown_escaped(
    toy_root: Path, tmp_path: Path, fmt: str
) -> None:
    stream = {"output_type": "stream", "name": "stdout", "text": "out \ud800 put\n"}
    nb = _notebook(("markdown", "# title \udcff"), _code(3, [stream]))
    path = tmp_path / "sur.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")  # json.dumps writes them as \ud800: valid JSON
    proc = _run(toy_root, str(path), "--fast", "--format", fmt, "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "out" / "sur.feedback.html").read_text(encoding="utf-8")
    assert "title \\udcff" in page and "out \\ud800 put" in page
    json.loads((tmp_path / "out" / "sur.feedback.ipynb").read_text(encoding="utf-8"))


def test_a_kernel_that_sets_a_negative_count_and_shows_a_surrogate_is_graded_in_full_mode(
    toy_root: Path, tmp_path: Path
) -> None:
    nb = _notebook(("markdown", "# title \udcff"), "get_ipython().execution_count = -10", "print(1)")
    path = tmp_path / "full.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    proc = _run(toy_root, str(path), "--format", "html", "--output", str(tmp_path / "out"), "--timeout", "60")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "full.json").read_text(encoding="utf-8"))
    assert report["status"] == "graded" and report["execution"]["status"] == "completed", report
    page = (tmp_path / "out" / "full.feedback.html").read_text(encoding="utf-8")
    assert feedback.RAN in page and "title \\udcff" in page


# ----------------------------------------------------------------------------- one page, one try


def _breaks_on(name: str, real: Any) -> Any:
    def render(nb: dict[str, Any], title: str) -> str:
        if name in title:
            raise RuntimeError(f"a bug met drawing {name}")
        return str(real(nb, title))

    return render


def test_a_page_that_cannot_be_drawn_costs_that_page_alone(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    cls.mkdir()
    for name in ("alice", "mallory", "zed"):
        write_notebook(cls / f"{name}.ipynb", _notebook())
    monkeypatch.setattr(feedback_page, "render", _breaks_on("mallory", feedback_page.render))
    real_page = html.page
    monkeypatch.setattr(
        html, "page", lambda r, link=None: real_page(r, link) if "zed" not in r.submission else 1 / 0
    )
    result = CliRunner().invoke(main, ["run", str(cls), "--fast", "--format", "html", "--output", str(out)])
    assert result.exit_code == 3, result.output  # the grader's own failure, said as such
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "mallory.ipynb: its feedback page could not be drawn" in result.output
    assert "RuntimeError: a bug met drawing mallory" in result.output
    assert "zed.ipynb: its page could not be drawn" in result.output and "ZeroDivisionError" in result.output
    assert (
        "2 / 5" in (out / "alice.html").read_text()
        and feedback.SAVED in (out / "alice.feedback.html").read_text()
    )
    assert (
        "2 / 5" in (out / "mallory.html").read_text() and "2 / 5" in (out / "zed.feedback.html").read_text()
    )
    for broken in ("mallory.feedback.html", "zed.html"):
        assert "could not be drawn" in (out / broken).read_text() and "2 / 5" in (out / broken).read_text()
    assert (
        json.loads((out / "mallory.feedback.ipynb").read_text())["cells"][0]["metadata"]["grader"]["score"]
        == 2
    )
    assert "zed.html" in (out / "index.html").read_text()


def test_an_index_that_cannot_be_drawn_still_lists_every_page(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    cls.mkdir()
    for name in ("alice", "<i>bob"):
        write_notebook(cls / f"{name}.ipynb", _notebook())
    monkeypatch.setattr(html, "index", lambda *args: 1 / 0)
    result = CliRunner().invoke(main, ["run", str(cls), "--fast", "--format", "html", "--output", str(out)])
    assert result.exit_code == 3 and "the index could not be drawn" in result.output, result.output
    index = (out / "index.html").read_text()
    assert 'href="alice.html"' in index and 'href="_i_bob.html"' in index and "<i>bob" not in index
    assert "2 / 5" in (out / "alice.html").read_text()


def test_a_bug_outside_any_submission_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import grader.cli

    def broken(**kwargs: Any) -> None:
        raise KeyError("\x1b[2Jforged")

    monkeypatch.setattr(grader.cli, "main", broken)
    with pytest.raises(SystemExit) as exit_:
        grader.cli.entry()
    err = capsys.readouterr().err
    assert exit_.value.code == 3 and err.count("\n") == 1 and "\x1b" not in err, err
    assert err.startswith("error: internal error of the grader (at __init__.py:")  # the innermost of ours
    assert "KeyError" in err and "GRADER_TRACEBACK=1" in err
    monkeypatch.setenv("GRADER_TRACEBACK", "1")
    with pytest.raises(KeyError):
        grader.cli.entry()


def test_the_stand_in_page_escapes_what_it_shows() -> None:
    from grader.reports import unbuilt

    report = Report("<img src=x onerror=alert(1)>.ipynb", "toy", "invalid", "<script>x</script>")
    page = unbuilt.page(report, "its page", ValueError("<b>\ud800"))
    assert "<img" not in page and "<script>" not in page and "<b>" not in page
    page.encode("utf-8")


# ----------------------------------------------------------------------------- names and numbers


def test_a_file_name_in_latin1_bytes_is_graded_stored_and_exported_with_the_class(
    toy_root: Path, tmp_path: Path
) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    cls.mkdir()
    write_notebook(cls / "alice.ipynb", _notebook())
    renee = Path(os.fsdecode(os.fsencode(cls) + b"/ren\xe9e.ipynb"))  # as an unzipped Windows zip leaves it
    write_notebook(renee, _notebook("y = 2"))
    for fmt in ("html", "feedback", "gradescope", "junit", "text"):
        proc = _run(toy_root, str(cls), "--fast", "--format", fmt, "--output", str(out))
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "already in the gradebook 2" in proc.stderr  # stored the first time: never graded again
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        assert sorted(db.execute("SELECT student FROM handins")) == [("alice",), ("ren\\udce9e",)]
    assert "ren_udce9e.html" in (out / "index.html").read_text(encoding="utf-8")
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    export = subprocess.run(
        [*GRADER, "export", str(out), "--to", "csv"], capture_output=True, text=True, env=env
    )
    assert export.returncode == 0, export.stderr
    rows = (out / "gradebook-students.csv").read_text(encoding="utf-8")
    assert "ren\\udce9e" in rows and "alice" in rows
    typed = os.fsdecode(b"ren\xe9e")  # the id as a shell passes those bytes
    adjust = [
        *GRADER,
        "adjust",
        typed,
        "toy",
        "scale",
        "--points",
        "1",
        "--comment",
        "c",
        "--gradebook",
        str(out),
    ]
    proc = subprocess.run(adjust, capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "ren\\udce9e toy scale: 0 -> 1" in proc.stdout, proc.stdout + proc.stderr


def test_a_handin_keeps_its_path_and_names_what_any_output_can_hold() -> None:
    from grader.course.handins import Handin

    path = Path(os.fsdecode(b"/x/ren\xe9e.ipynb"))
    h = Handin(os.fsdecode(b"ren\xe9e"), path, os.fsdecode(b"d/ren\xe9e.ipynb"), name="\ud800")
    assert (h.student, h.label, h.name, h.path) == ("ren\\udce9e", "d/ren\\udce9e.ipynb", "\\ud800", path)
    assert h == Handin(os.fsdecode(b"ren\xe9e"), path, os.fsdecode(b"d/ren\xe9e.ipynb"), name="\ud800")


LONG = "9" * 5000  # past Python's 4,300 digits: json.loads raises ValueError, not JSONDecodeError


def _with_long_number(where: str) -> str:
    nb = _notebook()
    if where == "execution_count":
        nb["cells"][0]["execution_count"] = 12345
        return json.dumps(nb).replace("12345", LONG)
    nb["metadata"]["n"] = 12345
    return json.dumps(nb).replace("12345", f"-{LONG}")


@pytest.mark.parametrize("where", ["execution_count", "metadata"])
def test_a_number_too_long_to_read_makes_the_notebook_invalid_with_the_reason(
    toy_root: Path, tmp_path: Path, where: str
) -> None:
    path = tmp_path / "long.ipynb"
    path.write_text(_with_long_number(where), encoding="utf-8")
    proc = _run(toy_root, str(path), "--fast", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "invalid" and "number too long" in report["message"], report
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    check = subprocess.run([*GRADER, "check", str(path)], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "number too long" in check.stdout + check.stderr, check.stderr


def test_a_number_too_long_in_a_class_is_stored_invalid_not_retried(toy_root: Path, tmp_path: Path) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    cls.mkdir()
    write_notebook(cls / "alice.ipynb", _notebook())
    (cls / "long.ipynb").write_text(_with_long_number("execution_count"), encoding="utf-8")
    for seen in (0, 2):
        proc = _run(toy_root, str(cls), "--fast", "--format", "html", "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        assert f"already in the gradebook {seen}" in proc.stderr and "internal error" not in proc.stderr
    report = json.loads((out / "long.json").read_text(encoding="utf-8"))
    assert report["status"] == "invalid" and "number too long" in report["message"]


def test_gradescope_metadata_with_a_number_too_long_is_refused_in_one_line(tmp_path: Path) -> None:
    from grader.course.handins import layouts

    (tmp_path / "submission_1").mkdir()
    write_notebook(tmp_path / "submission_1" / "Toy.ipynb", _notebook())
    (tmp_path / "submission_metadata.yml").write_text(f"submission_1:\n  :submitters: []\n  :n: {LONG}\n")
    with pytest.raises(layouts.LayoutError, match="is not YAML"):
        layouts.read("gradescope", tmp_path)
