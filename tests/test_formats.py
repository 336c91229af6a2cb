"""The formats instructors plug into: Gradescope's results.json, JUnit XML, the HTML report, and the
Gradescope autograder zip."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from grader.authoring import bundle
from grader.cli import main
from grader.grading import grade
from grader.judging import mistakes
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reports import formats, html
from grader.results import Report
from grader.sandbox import execute
from tests.conftest import make_notebook

# Written from Gradescope's autograder specification
# (https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format").
_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "test_output_format": _FORMAT,
        "test_name_format": _FORMAT,
        "visibility": _VISIBILITY,
        "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": _FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": _FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": _VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
            },
        },
    },
    # the score is required at the top level unless every test carries one
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}


def check_gradescope(doc: dict[str, Any]) -> None:
    jsonschema.validate(doc, GRADESCOPE_SCHEMA)
    for t in doc["tests"]:
        assert 0 <= t["score"] <= t["max_score"]


@pytest.fixture(scope="module")
def mutant_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The initialization reference with He scaled by the wrong layer's size."""
    a = spec.load("initialization")
    (m,) = [m for m in mistakes.load(a) if m.id == "he-fan-out"]
    cell = mistakes.mutant_cell(notebook.parse(notebook.read(a.reference_notebook)), m)
    nb = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    nb["cells"][cell.index - 1]["source"] = cell.source
    path = tmp_path_factory.mktemp("nb") / "alice.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return grade.grade_path(path, grade.Options())


def test_gradescope_results_follow_the_specification(mutant_report: Report) -> None:
    doc = formats.gradescope(mutant_report, execution_time=1.5)
    check_gradescope(doc)
    assert doc["score"] == mutant_report.score == sum(t["score"] for t in doc["tests"])
    cases = [(f, t) for f in mutant_report.functions for t in f.tests]
    assert len(doc["tests"]) == len(cases)
    for entry, (f, t) in zip(doc["tests"], cases, strict=True):
        assert entry["visibility"] == ("after_published" if t.hidden else "visible")
        assert entry["status"] == ("passed" if t.passed else "failed")
        assert entry["name"] == f"{f.name}: {t.name}"
    he = [e for e in doc["tests"] if e["name"] == "initialize_parameters_he: course"][0]
    assert "Looks like He scaling by the size of layer l" in he["output"] and "Hint:" in he["output"]


def test_an_invalid_submission_still_gives_valid_results() -> None:
    doc = formats.gradescope(Report("x.ipynb", None, "invalid", "not a readable notebook: empty"))
    check_gradescope(doc)
    assert doc["score"] == 0 and "not a readable notebook" in doc["output"]


def test_junit_parses_and_counts(mutant_report: Report, tmp_path: Path) -> None:
    invalid = Report("broken.ipynb", None, "invalid", "not valid JSON \x1b[31m")
    (path,) = formats.write_junit([mutant_report, invalid], tmp_path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [mutant_report.submission, "broken.ipynb"]
    failed = sum(1 for f in mutant_report.functions for t in f.tests if not t.passed)
    assert suites[0].get("failures") == str(failed) and len(suites[0].findall("testcase")) == 15
    assert root.get("tests") == "16" and root.get("errors") == "1"
    he = suites[0].find("testcase[@classname='initialization.initialize_parameters_he'][@name='course']")
    assert he is not None
    failure = he.find("failure")
    assert failure is not None and failure.get("type") == "he-fan-out"
    assert suites[1].find("testcase/error") is not None


def test_html_page_shows_results_mistake_and_values(mutant_report: Report) -> None:
    page = html.page(mutant_report)
    assert "initialize_parameters_he" in page and "he-fan-out" in page
    assert "expected and received" in page and 'class="wrong"' in page
    assert page.count("data:image/png;base64,") >= 1  # the error matrix
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained


def test_html_escapes_what_the_notebook_wrote() -> None:
    report = Report(
        "<b>x</b>.ipynb",
        "toy",
        "graded",
        "graded",
        extra={
            "execution": {
                "status": "completed",
                "seconds": 1.0,
                "errors": [{"cell": 3, "ename": "E", "evalue": "<script>alert(1)</script>", "source": "<i>"}],
                "images": [{"cell": 2, "png": '"><script>alert(1)</script>'}],
            }
        },
    )
    page = html.page(report)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page


def test_batch_index_links_every_page(mutant_report: Report, tmp_path: Path) -> None:
    other = Report("dir/alice.ipynb", None, "invalid", "no graded function")
    written = html.write([mutant_report, other], tmp_path)
    # the same stem: each page is named with its folder (files.file_names, as every report is)
    names = [p.name for p in written]
    assert names[0] == f"{Path(mutant_report.submission).parent.name}__alice.html"
    assert names[1:] == ["dir__alice.html", "index.html"]
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert f'href="{names[0]}"' in index and 'href="dir__alice.html"' in index and "he-fan-out" in index


def test_run_writes_each_format(mutant_report: Report, tmp_path: Path) -> None:
    nb = Path(mutant_report.submission)
    for fmt, produced in (("gradescope", "results.json"), ("junit", "junit.xml"), ("html", "alice.html")):
        out = tmp_path / fmt
        result = CliRunner().invoke(main, ["run", str(nb), "--fast", "--format", fmt, "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert (out / produced).is_file()
    check_gradescope(json.loads((tmp_path / "gradescope" / "results.json").read_text(encoding="utf-8")))
    result = CliRunner().invoke(main, ["run", str(nb), "--fast", "--format", "junit"])
    assert result.exit_code == 2 and "--output" in result.output


# ----------------------------------------------------------------------------- the page in Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MAGENTA = (255, 0, 255)  # the plot's colour: appears nowhere in the page's own styles

PLOT_CELL = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot([0, 1, 2, 3], [3, 1, 2, 0], color="#ff00ff", linewidth=12)
ax.set_title("cost")
plt.show()"""


def screenshot(page: Path, png: Path, height: int = 2400) -> np.ndarray:
    assert CHROMIUM is not None
    profile = png.parent / "profile"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size=1200,{height}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    with Image.open(png) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture
def toy_full_report(toy_root: Path, tmp_path: Path) -> Iterator[Report]:
    """A toy submission with a wrong `scale`, a plot and a cell that raises, graded in full mode."""
    nb = make_notebook(
        [
            "import numpy as np\nfrom toyutils import FACTOR",
            "def norm2(v):\n    return float(np.sqrt(np.sum(v ** 2)))",
            "# GRADED FUNCTION: scale\n\ndef scale(v):\n    ### START CODE HERE ###\n"
            "    out = v * FACTOR * 2\n    ### END CODE HERE ###\n    return out",
            "# GRADED FUNCTION: unit\n\ndef unit(v):\n    ### START CODE HERE ###\n"
            "    n = norm2(v)\n    u = v / n\n    ### END CODE HERE ###\n    return u",
            PLOT_CELL,
            "raise ValueError('this cell raised on purpose')",
        ]
    )
    path = tmp_path / "bob.ipynb"  # saved as some Windows editors do: a byte order mark, CRLF
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(nb, indent=1).replace("\n", "\r\n").encode())
    report = grade.grade_path(path, grade.Options())
    outcome = execute.run_notebook(path, "toy", output=None, cell_timeout=60, images=True)
    assert outcome["status"] == "completed", outcome
    yield replace(report, extra={"execution": outcome})


def test_full_mode_keeps_figures_and_failing_cells(toy_full_report: Report) -> None:
    ex = toy_full_report.extra["execution"]
    assert len(ex["images"]) == 1 and ex["images"][0]["cell"] == 5
    assert ex["errors"][0]["ename"] == "ValueError" and "raised on purpose" in ex["errors"][0]["source"]
    page = html.page(toy_full_report)
    assert "Figures the notebook drew" in page and "Cells that raised" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_page_screenshot_shows_results_and_the_notebooks_plot(
    toy_full_report: Report, tmp_path: Path
) -> None:
    (page,) = html.write([toy_full_report], tmp_path / "site")
    pixels = screenshot(page, tmp_path / "shot.png")
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 100, "the page looks blank"
    assert (pixels.min(axis=2) < 200).mean() > 0.02, "almost nothing is drawn on the page"
    magenta = np.all(np.abs(pixels.astype(int) - MAGENTA) < 40, axis=2)
    assert magenta.sum() > 200, "the notebook's own plot is not on the page"
    red = np.all(np.abs(pixels.astype(int) - (207, 34, 46)) < 30, axis=2)  # the failed badge
    assert red.sum() > 50, "the failed result is not shown"


# ----------------------------------------------------------------------------- the Gradescope zip


def test_bundle_holds_what_grading_needs_and_no_solutions(tmp_path: Path) -> None:
    a = spec.load("regularization")
    path = bundle.write(a, tmp_path / "ag.zip")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "pyproject.toml", "grader/cli/__init__.py"} <= names
    assert "grader/reports/templates/report.html.j2" in names and "expected/regularization.json" in names
    assert "assignments/regularization/Regularization.ipynb" in names
    assert "assignments/regularization/datasets/data.mat" in names
    assert not any(n.startswith("reference/") or "mistakes.toml" in n for n in names)
    assert not any("__pycache__" in n for n in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert bundle.write(a, tmp_path / "again.zip").read_bytes() == path.read_bytes()  # reproducible


def test_run_autograder_grades_a_submission_as_gradescope_would(
    mutant_report: Report, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["gradescope-bundle", "initialization", "--output", str(tmp_path / "ag.zip")]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "ag.zip") as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    shutil.copy(mutant_report.submission, root / "submission" / "Initialization.ipynb")
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "GRADER": str(Path(sys.executable).parent / "grader"),
    }
    script = root / "source" / "run_autograder"
    for name in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(root / "source" / name)], check=True)
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=300)
    doc = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_gradescope(doc)
    assert doc["score"] == mutant_report.score
    (root / "submission" / "Initialization.ipynb").unlink()
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=300)
    doc = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_gradescope(doc)
    assert doc["score"] == 0 and "No notebook" in doc["output"]
    # red team 3: a folder whose name holds a line break and a path made `find | sort | head` pick
    # a solved notebook elsewhere in the container; a link to it is not followed either
    elsewhere = tmp_path / "a-elsewhere"  # sorts before the upload: what the old `sort | head` took
    elsewhere.mkdir()
    shutil.copy(mutant_report.submission, elsewhere / "Initialization.ipynb")
    trap = root / "submission" / f"x\n{elsewhere}"
    trap.mkdir(parents=True)
    shutil.copy(spec.load("initialization").student_notebook, trap / "Initialization.ipynb")
    (root / "submission" / "a.ipynb").symlink_to(elsewhere / "Initialization.ipynb")
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=300)
    doc = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert mutant_report.score > 0 and doc["score"] == 0, doc


def test_gradescope_visible_output_reveals_no_hidden_result(mutant_report: Report) -> None:
    """The top-level `output` is always shown; hidden cases are `after_published` tests."""
    doc = formats.gradescope(mutant_report)
    assert any(t.hidden and not t.passed for f in mutant_report.functions for t in f.tests)
    out = doc["output"]
    assert "Score" not in out and _fmt_score(mutant_report) not in out
    for f in mutant_report.functions:
        assert f"{f.score:g} / {f.max_score:g}" not in out and f"({f.status})" not in out
        shown = [t for t in f.tests if not t.hidden]
        assert f"{f.name}: {sum(t.passed for t in shown)} of {len(shown)} visible cases passed" in out
    assert "shown once grades are published" in out
    visible_only = Report(
        mutant_report.submission,
        mutant_report.assignment,
        "graded",
        "graded",
        tuple(replace(f, tests=tuple(t for t in f.tests if not t.hidden)) for f in mutant_report.functions),
    )
    assert formats.gradescope(visible_only)["output"].startswith("Score: ")  # nothing hidden: all shown


def _fmt_score(r: Report) -> str:
    return f"{r.score:g} / {r.max_score:g}"


def test_the_autograder_picks_a_regular_file_inside_the_upload(tmp_path: Path) -> None:
    outside = tmp_path / "outside.ipynb"
    outside.write_text("{}", encoding="utf-8")
    upload = tmp_path / "submission"
    (upload / "deep" / "er").mkdir(parents=True)
    (upload / "Initialization.ipynb").symlink_to(outside)  # a link is never picked
    (upload / "linked").symlink_to(tmp_path, target_is_directory=True)  # nor a linked folder's files
    assert bundle.pick(upload, "Initialization.ipynb") is None
    (upload / "deep" / "er" / "Initialization.ipynb").write_text("{}", encoding="utf-8")
    (upload / "deep" / "Other.ipynb").write_text("{}", encoding="utf-8")
    assert bundle.pick(upload, "Initialization.ipynb") == upload / "deep" / "er" / "Initialization.ipynb"
    assert bundle.pick(upload, "Missing.ipynb") == upload / "deep" / "Other.ipynb"  # the shallowest
