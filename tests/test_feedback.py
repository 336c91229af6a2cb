"""The feedback notebook: the student's own notebook, each graded function's grade right before its
cell, made safe to hand back (grader/reports/feedback.py, safe.py, feedback_page.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from grader.cli import main
from grader.files import file_names
from grader.grading import grade
from grader.reading import notebook
from grader.reports import feedback, safe
from grader.results import Report
from tests.conftest import make_notebook, write_notebook
from tests.toykit import edit, toy_copy  # noqa: F401

WRONG_SCALE = "# GRADED FUNCTION: scale\n\ndef scale(v):\n    return v * FACTOR * 2"
RIGHT_UNIT = "# GRADED FUNCTION: unit\n\ndef unit(v):\n    return v / norm2(v)"
IMPORTS = "import numpy as np\nfrom toyutils import FACTOR"
GIVEN = "def norm2(v):\n    return float(np.sqrt(np.sum(v ** 2)))"


def _png() -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=20)
    fig.add_subplot().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


class Dangers(HTMLParser):
    """Everything in a page that could run script or load something."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in (
            "script",
            "iframe",
            "object",
            "embed",
            "svg",
            "link",
            "base",
            "form",
            "frame",
            "video",
            "audio",
        ):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in ("src", "href", "action", "xlink:href", "srcset", "poster", "data"):
                if v.startswith("javascript:") or (tag == "img" and not v.startswith("data:image/")):
                    self.found.append(f"{tag} {name}={v[:40]}")
                if name != "href" and v.startswith(("http:", "https:", "//")):
                    self.found.append(f"{tag} {name}={v[:40]} (loads)")
            if name == "http-equiv" and v == "refresh":
                self.found.append("meta refresh")


def dangers(page: str) -> list[str]:
    parser = Dangers()
    parser.feed(page)
    return parser.found


def _graded(nb: dict[str, Any], path: Path) -> Report:
    return grade.grade_path(write_notebook(path, nb), grade.Options())


def _ours(nb: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, c["metadata"]["grader"]) for i, c in enumerate(nb["cells"]) if "grader" in c["metadata"]]


# ----------------------------------------------------------------------------- annotation


def test_each_graded_function_is_annotated_right_before_its_cell(toy_root: Path, tmp_path: Path) -> None:
    cells = [("markdown", "# mine"), IMPORTS, GIVEN, "print('hello')", WRONG_SCALE, "x = 1", RIGHT_UNIT]
    report = _graded(make_notebook(cells), tmp_path / "s.ipynb")
    text, page = feedback.build(report, tmp_path / "s.ipynb")
    nb = json.loads(text)
    ours = _ours(nb)
    assert ours[0][0] == 0 and ours[0][1]["kind"] == "summary" and ours[0][1]["how"] == feedback.SAVED
    by_name = {a["name"]: i for i, a in ours if a["kind"] == "function"}
    assert set(by_name) == {"scale", "unit"}
    for name, i in by_name.items():
        assert f"def {name}(" in nb["cells"][i + 1]["source"], name
    scale = next(a for _, a in ours if a.get("name") == "scale")
    assert (
        scale["status"] == "failed" and scale["score"] == 0 and all(not t["passed"] for t in scale["tests"])
    )
    assert len(nb["cells"]) == len(cells) + 3  # the student's cells, all of them, and ours
    assert "not run it again" in page.replace("did not run it again", "not run it again")
    assert page.count('class="grader-note grader-function') == 2


def test_a_function_without_a_cell_is_annotated_after_the_summary(toy_root: Path, tmp_path: Path) -> None:
    report = _graded(make_notebook([IMPORTS, GIVEN, RIGHT_UNIT]), tmp_path / "s.ipynb")
    nb = json.loads(feedback.build(report, tmp_path / "s.ipynb")[0])
    ours = _ours(nb)
    assert [a.get("name") for _, a in ours] == [None, "scale", "unit"]
    assert ours[1][0] == 1 and ours[1][1]["found"] is False and ours[1][1]["status"] == "missing"


def test_a_hidden_case_is_told_in_its_words_never_its_values(toy_copy: Path, tmp_path: Path) -> None:  # noqa: F811
    toml = toy_copy / "assignments/toy/assignment.toml"
    edit(toml, 'name = "longer"', 'name = "longer"\ndescription = "a vector of seven entries"')
    report = _graded(make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT]), tmp_path / "s.ipynb")
    text, page = feedback.build(report, tmp_path / "s.ipynb")
    assert "a vector of seven entries" in page and "a vector of seven entries" in text
    expected = json.loads((toy_copy / "expected/toy.json").read_text())["functions"]["scale"]["longer"]
    from grader.sandbox import harness

    values = harness.decode(expected["output"]).ravel()
    for v in values:
        assert f"{v:.4g}" not in page and f"{v:.4g}" not in text


def test_student_text_in_an_annotation_is_text(toy_root: Path, tmp_path: Path) -> None:
    evil = "<script>document.title='PWNED'</script><img src=x onerror=alert(1)> **bold** [a](javascript:alert(1))"
    scale = f"# GRADED FUNCTION: scale\n\ndef scale(v):\n    raise ValueError({evil!r})"
    report = _graded(make_notebook([IMPORTS, GIVEN, scale, RIGHT_UNIT]), tmp_path / "s.ipynb")
    assert "<script>" in report.functions[0].message  # the student's own words reach the report
    text, page = feedback.build(report, tmp_path / "s.ipynb")
    assert dangers(page) == []
    assert "&lt;script&gt;document.title=" in page  # shown, as text
    ours = next(
        c for c in json.loads(text)["cells"] if c["metadata"].get("grader", {}).get("name") == "scale"
    )
    assert "<script" not in ours["source"] and "&lt;script&gt;" in ours["source"]
    assert "\\*\\*bold\\*\\*" in ours["source"] and "](javascript" not in ours["source"]


# ----------------------------------------------------------------------------- what the notebook shows


def _hostile(png: str) -> dict[str, Any]:
    """A notebook whose saved outputs try everything a page must not do."""
    huge = "A" * (50 * 1024 * 1024)  # a 50 MB output
    outputs = [
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": "<b>t</b><script>document.title='PWNED'</script>"},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": '<img src="x" onerror="document.title=\'PWNED\'">'},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": "<a href=\"javascript:document.title='PWNED'\">go</a>"},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "text/html": '<img src="https://example.invalid/track.png"><iframe src="https://example.invalid/"></iframe><link rel="stylesheet" href="https://example.invalid/s.css">'
            },
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="PWNED"</script></svg>'
            },
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/javascript": "document.title='PWNED'", "text/plain": "<js>"},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}},
        },
        {
            "output_type": "display_data",
            "metadata": {"image/png": {"width": "1 onerror=document.title='PWNED'"}},
            "data": {"image/png": png},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"image/png": "PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"},
        },  # base64 of an SVG, called a PNG
        {"output_type": "stream", "name": "stdout", "text": huge},
        {
            "output_type": "error",
            "ename": "E",
            "evalue": "<script>x</script>",
            "traceback": ["\x1b[31m<script>document.title='PWNED'</script>\x1b[0m"],
        },
    ]
    cells = [
        (
            "markdown",
            "# hi <script>document.title='PWNED'</script>\n\n![t](https://example.invalid/t.png) <iframe src=x></iframe> [l](javascript:alert(1))",
        ),
        {
            "cell_type": "code",
            "metadata": {"tags": ['" onmouseover="x']},
            "source": "print(1)",
            "outputs": outputs,
            "execution_count": 1,
        },
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": "x",
            "attachments": {"a.png": {"image/png": png}},
        },
        IMPORTS,
        GIVEN,
        WRONG_SCALE,
        RIGHT_UNIT,
    ]
    nb = make_notebook(cells)
    nb["metadata"]["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {"</script><script>x": 1}}
    }
    return nb


def test_hostile_saved_outputs_make_a_page_with_nothing_that_runs_or_loads(
    toy_root: Path, tmp_path: Path
) -> None:
    png = _png()
    path = write_notebook(tmp_path / "attack.ipynb", _hostile(png))
    assert path.stat().st_size > 50 * 1024 * 1024
    report = grade.grade_path(path, grade.Options())
    text, page = feedback.build(report, path)
    assert dangers(page) == []
    assert len(page.encode()) <= feedback.PAGE_CAP and len(text.encode()) <= feedback.PAGE_CAP
    assert f"data:image/png;base64,{png}" in page  # the real figure is kept
    assert "PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+" not in page  # the forged one is not
    assert "more characters of this output not shown here" in page  # the 50 MB output, cut
    assert "&lt;script&gt;document.title=" in page  # the traceback, as text
    assert "<b>t</b>" in page  # harmless HTML stays HTML
    for word in ("javascript:", "<script", "onerror", "onmouseover", "example.invalid", "<iframe", "<svg"):
        assert word not in page.lower().replace("&lt;script", "").replace("&lt;iframe", ""), word
    nb = json.loads(text)  # sources stay as the student wrote them (Jupyter renders them untrusted)
    shown = [o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", [])]
    assert {m for d in shown for m in d} == {"text/html", "text/plain", "image/png"}  # text is text
    assert [d["text/html"] for d in shown if "text/html" in d] == [
        "<b>t</b>",
        "",
        '<a rel="noopener noreferrer nofollow">go</a>',
        "",
    ]
    assert "widgets" not in nb["metadata"] and not any("attachments" in c for c in nb["cells"])
    assert all(c["metadata"] == {} or "grader" in c["metadata"] for c in nb["cells"])


def test_the_size_cap_holds_when_even_the_sources_are_huge(toy_root: Path, tmp_path: Path) -> None:
    # code that highlights into a span per character: the normal budget renders too large
    cells = [IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT] + ["a+" * 10_000 + "a"] * 60
    report = _graded(make_notebook(cells), tmp_path / "s.ipynb")
    text, page = feedback.build(report, tmp_path / "s.ipynb")
    assert len(page.encode()) <= feedback.PAGE_CAP
    assert page.count('class="grader-note grader-function') == 2  # the grades are always there


def test_an_invalid_png_and_hostile_metadata_never_reach_the_notebook() -> None:
    out = {
        "output_type": "display_data",
        "metadata": {"image/png": {"width": "1 onerror=x"}},
        "data": {"image/png": "bm90IGEgcG5n"},
    }
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [out], "metadata": {"x": 1}}]}
    built = safe.notebook(nb)["cells"][0]
    assert built["metadata"] == {} and all("image/png" not in o.get("data", {}) for o in built["outputs"])
    assert "not a valid image" in built["outputs"][0]["text"]


# ----------------------------------------------------------------------------- full mode's notebook


def _executed(path: Path, run: Path, digest: str) -> None:
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"] = [
                {"output_type": "stream", "name": "stdout", "text": "printed by the grader's run\n"}
            ]
    nb["metadata"][notebook.RUN_OF] = digest
    run.write_text(json.dumps(nb))


def test_the_grader_s_run_is_shown_only_for_the_bytes_it_ran(toy_root: Path, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "s.ipynb", make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT]))
    report = grade.grade_path(path, grade.Options())
    full = replace(report, extra={"execution": {"status": "completed", "seconds": 1.0, "message": ""}})
    run = tmp_path / "s.executed.ipynb"
    _executed(path, run, hashlib.sha256(path.read_bytes()).hexdigest())
    text, page = feedback.build(full, path, run)
    assert (
        "printed by the grader" in page
        and json.loads(text)["cells"][0]["metadata"]["grader"]["how"] == feedback.RAN
    )
    _executed(path, run, hashlib.sha256(b"another submission").hexdigest())  # a run of other bytes
    text, page = feedback.build(full, path, run)
    assert "printed by the grader" not in page and feedback.NOT_KEPT in text
    run.unlink()
    assert feedback.NOT_KEPT in feedback.build(full, path, run)[0]


# ----------------------------------------------------------------------------- the command


def test_format_feedback_writes_just_the_feedback_owner_only(toy_root: Path, tmp_path: Path) -> None:
    nb = make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT])
    a = write_notebook((tmp_path / "a").mkdir() or tmp_path / "a" / "alice.ipynb", nb)
    b = write_notebook((tmp_path / "b").mkdir() or tmp_path / "b" / "alice.ipynb", nb)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(a), str(b), "--fast", "--format", "feedback", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    names = file_names([str(a), str(b)])
    assert names == ["a__alice", "b__alice"]
    made = {p.name for p in out.iterdir() if ".feedback." in p.name}
    assert made == {f"{n}.feedback.{ext}" for n in names for ext in ("ipynb", "html")}
    assert not any(p.name.endswith(".html") and ".feedback." not in p.name for p in out.iterdir())
    for name in made:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert "alice.ipynb" in (out / "a__alice.feedback.html").read_text()


def test_the_html_report_links_each_feedback_page(toy_root: Path, tmp_path: Path) -> None:
    nb = make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT])
    files = [write_notebook(tmp_path / f"{n}.ipynb", nb) for n in ("ann", "bob")]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", *map(str, files), "--fast", "--format", "html", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    for n in ("ann", "bob"):
        assert (
            f'href="{n}.feedback.html"' in index
            and f'href="{n}.feedback.html"' in (out / f"{n}.html").read_text()
        )
        assert (out / f"{n}.feedback.html").is_file() and (out / f"{n}.feedback.ipynb").is_file()


# ----------------------------------------------------------------------------- the run itself


def test_the_full_run_goes_through_nbconvert_and_keeps_the_kernel_quiet(
    toy_root: Path, tmp_path: Path
) -> None:
    from nbconvert.preprocessors import ExecutePreprocessor

    from grader.sandbox import execute

    assert issubclass(execute._client_classes()[1], ExecutePreprocessor)
    path = write_notebook(
        tmp_path / "s.ipynb",
        make_notebook([IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT, "print(scale(np.ones(2)))"]),
    )
    code = (
        "import sys; from pathlib import Path; from grader.sandbox import execute\n"
        "r = execute.run_notebook(Path(sys.argv[1]), 'toy', output=Path(sys.argv[2]), cell_timeout=60, name='s')\n"
        "print(r['status'])"
    )
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert (proc.stdout, proc.stderr) == ("completed\n", "")  # nothing of the kernel's own reaches ours
    executed = json.loads((tmp_path / "out" / "s.executed.ipynb").read_text())
    assert executed["metadata"][notebook.RUN_OF] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "[6. 6.]" in json.dumps(executed["cells"][-1]["outputs"])
