"""`grader reproduce`: every figure of the course's tables, next to the course's value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.authoring.reproduce import NOTES, how, verdict
from grader.reading.assignment import Reproduction

GRADER = str(Path(sys.executable).parent / "grader")
COURSE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "regularization_data.mat"


def reproduce(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRADER, "reproduce", *args], capture_output=True, text=True, timeout=600)


def test_verdicts() -> None:
    fixed = Reproduction("f", "f", 0.5, tol=1e-9)
    assert verdict(fixed, 0.5, course_data=False) == ("ok", False)
    assert verdict(fixed, 0.51, course_data=False) == ("MISS", True)
    assert verdict(fixed, None, course_data=False) == ("MISSING", True)
    assert verdict(Reproduction("i", "i", float("inf")), float("inf"), course_data=False) == ("ok", False)
    sensitive = Reproduction("s", "s", 0.6243, tol=1e-4, platform_sensitive=True)
    assert verdict(sensitive, 0.6235, course_data=False) == ("differs (platform-sensitive)", False)
    on_course_data = Reproduction("c", "c", 0.915, course_data=True)
    assert verdict(on_course_data, 0.85, course_data=False) == ("own data", False)
    assert verdict(on_course_data, 0.85, course_data=True) == ("MISS", True)


def test_each_figure_says_how_it_is_checked() -> None:
    assert how(Reproduction("i", "i", float("inf")), course_data=False) == ("exact", "exact")
    assert how(Reproduction("a", "a", 0.96, tol=1e-12), course_data=False) == (
        "last bits (±1e-12)",
        "last bits",
    )
    assert how(Reproduction("c", "c", 0.16, tol=1e-9), course_data=False) == ("±1e-09", "tolerance")
    sensitive = Reproduction("s", "s", 0.6243, tol=3e-3, platform_sensitive=True)
    assert how(sensitive, course_data=False) == ("±0.003, not judged", "sensitive")
    on_course_data = Reproduction("d", "d", 0.915, course_data=True)
    assert how(on_course_data, course_data=False) == ("not judged", "own data")
    assert how(on_course_data, course_data=True) == ("±1e-09", "tolerance")


def test_initialization_reproduces_every_figure() -> None:
    proc = reproduce("initialization")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all figures reproduced" in proc.stdout and "MISS" not in proc.stdout
    # the output says how each figure is checked, and why the x10 weights' costs are not judged
    text = " ".join(proc.stdout.split())  # the table wraps at the terminal's width
    assert "checked" in text and "0.07357895962677363" in text and "last bits" in text
    assert NOTES["sensitive"][:40] in text


@pytest.mark.skipif(not COURSE_DATA.is_file(), reason=f"the course's data file is not at {COURSE_DATA}")
def test_regularization_on_the_course_data() -> None:
    proc = reproduce("regularization", "--data", str(COURSE_DATA))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" ok ") >= 15 and "own data" not in proc.stdout
    assert "not judged" not in proc.stdout  # on the course's data every figure is judged


def test_regularization_on_the_bundled_data_reports_its_own_figures() -> None:
    proc = reproduce("regularization")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" own data ") == 15  # the verdicts
    assert NOTES["own data"][:40] in " ".join(proc.stdout.split())  # and why
    assert "0.6608983907515976" in proc.stdout  # figures are printed in full


def test_unknown_assignment_is_a_clean_error() -> None:
    proc = reproduce("nope")
    assert proc.returncode == 2 and "no assignment" in proc.stderr and "Traceback" not in proc.stderr
