"""Feedback pages as a person sees them: headless Chromium loads each page, a console listener and a
canary (every attack sets the page's title) say whether anything ran, a screenshot says whether
anything shows.

The course's own notebooks: each assignment's reference, run in full mode by the `grader`
command, then a correct, a partly wrong (a catalogued mistake, so a named one) and a broken
(a graded cell that does not parse, a cell that raises) notebook of each edition built from that
run's notebook and graded as saved (fast mode).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.judging import mistakes
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reports import feedback
from tests import scenarios
from tests.conftest import make_notebook, write_notebook
from tests.test_feedback import GIVEN, IMPORTS, RIGHT_UNIT, WRONG_SCALE, _hostile, _png, dangers

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)
GRADER = [str(Path(sys.executable).parent / "grader")]
CANARY = "PWNED"  # what every attack would make the page's title


def browse(page: Path, png: Path) -> tuple[str, list[str], np.ndarray]:
    """The page's DOM once loaded (timers given 3 s of virtual time), what reached its console
    (messages, errors, refusals by the Content-Security-Policy), and a screenshot."""
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={png.parent / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=3000", f"--screenshot={png}", "--window-size=1200,2400",
            "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Content Security" in line]
    from PIL import Image

    with Image.open(png) as im:
        return proc.stdout, console, np.asarray(im.convert("RGB"))


def title(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, re.S)
    return found.group(1) if found else ""


def not_blank(pixels: np.ndarray) -> bool:
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    return len(colours) > 50 and (pixels.min(axis=2) < 200).mean() > 0.005


# ----------------------------------------------------------------------------- the listener itself


def test_the_listener_and_the_canary_see_a_script_that_runs(tmp_path: Path) -> None:
    script = f"<script>console.log('{CANARY}'); document.title = '{CANARY}';</script>"
    page = tmp_path / "control.html"
    page.write_text(f"<html><head><title>t</title></head><body>{script}<p>x</p></body></html>")
    dom, console, _ = browse(page, tmp_path / "control.png")
    assert title(dom) == CANARY and any(CANARY in line for line in console)
    # and our page's policy alone stops it, should a sanitiser ever let one through
    from grader.reports.feedback_page import CSP

    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    page.write_text(f"<html><head>{meta}<title>t</title></head><body>{script}<p>x</p></body></html>")
    dom, console, _ = browse(page, tmp_path / "csp.png")
    assert title(dom) == "t" and not any(f'"{CANARY}"' in line for line in console)
    assert any("Content Security Policy" in line for line in console)


# ----------------------------------------------------------------------------- attacks


ATTACK_CELLS = [
    "from IPython.display import HTML, SVG, Javascript, display",
    f"display(HTML(\"<script>document.title='{CANARY}'</script><b>bold</b>\"))",
    f"display(HTML('<img src=x onerror=\"document.title=&quot;{CANARY}&quot;\">'))",
    f"display(HTML('<a href=\"javascript:document.title=&quot;{CANARY}&quot;\">click</a>'))",
    'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="' + CANARY + '"</script>'
    '<circle r="5"/></svg>\'))',
    f"display(Javascript(\"document.title='{CANARY}'\"))",
    "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.show()",
    "print('A' * (50 * 1024 * 1024))",  # a 50 MB output (the run keeps none of it: execute.OUTPUT_CAP)
]


def _no_script_ran(page: Path, tmp_path: Path) -> np.ndarray:
    dom, console, pixels = browse(page, tmp_path / "attack.png")
    assert title(dom) != CANARY and not console, console  # nothing ran, nothing was even refused
    assert dangers(page.read_text(encoding="utf-8")) == []
    assert page.stat().st_size <= feedback.PAGE_CAP
    return pixels


def test_an_attack_notebook_run_in_full_mode_runs_no_script(toy_root: Path, tmp_path: Path) -> None:
    cells = [IMPORTS, GIVEN, WRONG_SCALE, RIGHT_UNIT, *ATTACK_CELLS]
    path = write_notebook(tmp_path / "attack.ipynb", make_notebook(cells))
    out = tmp_path / "out"
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.run(
        [*GRADER, "run", str(path), "--format", "feedback", "--output", str(out), "--timeout", "120"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = out / "attack.feedback.html"
    assert feedback.RAN in page.read_text() and 'src="data:image/png;base64,' in page.read_text()
    assert not_blank(_no_script_ran(page, tmp_path))


def test_an_attack_notebook_as_saved_runs_no_script(toy_root: Path, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "attack.ipynb", _hostile(_png()))
    out = tmp_path / "out"
    env = {**os.environ, "GRADER_ROOT": str(toy_root)}
    proc = subprocess.run(
        [*GRADER, "run", str(path), "--fast", "--format", "feedback", "--output", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not_blank(_no_script_ran(out / "attack.feedback.html", tmp_path))


# ----------------------------------------------------------------------------- the course's notebooks


def _cells_of(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return nb["cells"]


def _partly_wrong(a: spec.Assignment, nb: dict[str, Any]) -> dict[str, Any]:
    """The first catalogued mistake of the first graded function, made in its cell."""
    m = next(m for m in mistakes.load(a) if m.function == a.functions[0].name)
    cell = mistakes.mutant_cell(notebook.parse(notebook.read(a.reference_notebook)), m)
    _cells_of(nb)[cell.index - 1]["source"] = cell.source
    return nb


def _broken(a: spec.Assignment, nb: dict[str, Any]) -> dict[str, Any]:
    return scenarios.dies_early(a, scenarios.syntax_error(a, nb))


Change = Callable[[spec.Assignment, dict[str, Any]], dict[str, Any]]
EDITIONS: dict[str, Change] = {"older": scenarios.older_edition, "newer": scenarios.newer_edition}
VARIANTS = ("correct", "partly-wrong", "broken")


def _variant(a: spec.Assignment, nb: dict[str, Any], edition: str, variant: str) -> dict[str, Any]:
    """A variant in an edition's style (a cell that does not parse is broken last: an edition
    reads the graded cells' parameters)."""
    make = EDITIONS[edition]
    if variant == "broken":
        return _broken(a, make(a, nb))
    return make(a, _partly_wrong(a, nb) if variant == "partly-wrong" else nb)


def _grader(*args: str) -> None:
    proc = subprocess.run([*GRADER, *args], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]


def course_pages(work: Path) -> dict[str, tuple[Path, spec.Assignment, int]]:
    """Each page by its notebook's stem: (page, assignment, figures the notebook's run drew)."""
    full, saved = work / "full", work / "saved"
    assignments = spec.load_all()
    for a in assignments:
        (full / a.name).mkdir(parents=True)
        shutil.copy(a.reference_notebook, full / a.name / a.notebook)
    _grader("run", str(full), "--format", "html", "--output", str(work / "out-full"), "--jobs", "2")
    pages: dict[str, tuple[Path, spec.Assignment, int]] = {}
    saved.mkdir()
    for a in assignments:
        stem = Path(a.notebook).stem
        executed = json.loads((work / "out-full" / f"{stem}.executed.ipynb").read_text(encoding="utf-8"))
        figures = sum(
            "image/png" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", [])
        )
        pages[stem] = (work / "out-full" / f"{stem}.feedback.html", a, figures)
        for edition in EDITIONS:
            for variant in VARIANTS:
                name = f"{a.name}-{edition}-{variant}"
                nb = _variant(a, json.loads(json.dumps(executed)), edition, variant)
                (saved / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
                pages[name] = (work / "out-saved" / f"{name}.feedback.html", a, figures)
    _grader(
        "run", str(saved), "--fast", "--format", "html", "--output", str(work / "out-saved"), "--jobs", "2"
    )
    return pages


def _check_page(stem: str, page: Path, a: spec.Assignment, figures: int, png: Path) -> None:
    dom, console, pixels = browse(page, png)
    assert not console, console
    notes = re.findall(r'<section class="grader-note grader-function card (\w+)" data-function="(\w+)"', dom)
    assert sorted(name for _, name in notes) == sorted(f.name for f in a.functions)
    shown = len(re.findall(r'<img alt="a figure the notebook drew" src="data:image/png;base64,', dom))
    assert shown == figures and (figures > 0 or a.name == "gradient_checking")  # its notebook draws none
    assert len(re.findall(r'class="jp-Cell jp-CodeCell', dom)) > 5  # the student's own cells
    assert not_blank(pixels), "the page looks blank"
    status = {name: s for s, name in notes}
    first, last = a.functions[0].name, a.functions[-1].name
    if stem.endswith("partly-wrong"):
        assert status[first] == "failed" and "Looks like" in dom and "Hint:" in dom
    elif stem.endswith("broken"):
        assert status[last] == "error" and "syntax error" in dom and "this notebook stops here" in dom
    else:
        assert set(status.values()) == {"passed"}
    assert (feedback.SAVED if stem.count("-") >= 2 else feedback.RAN) in dom


def test_each_course_notebook_s_feedback_page_shows_its_cells_figures_and_grades(tmp_path: Path) -> None:
    # one test, not one per page: the full runs behind them are made once, on one xdist worker
    pages = course_pages(tmp_path)
    assert len(pages) == 3 * (1 + len(EDITIONS) * len(VARIANTS))
    failed = []
    for stem, (page, a, figures) in pages.items():
        try:
            _check_page(stem, page, a, figures, tmp_path / f"{stem}.png")
        except AssertionError as exc:
            failed.append(f"{stem}: {str(exc)[:500]}")
    assert not failed, "\n".join(failed)
