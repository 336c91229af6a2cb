"""The `grader run` contract: exit codes, the JSON shape, invalid files beside good ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grader.reading import assignment as spec
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import CORRECT, HE, IMPORTS, RANDOM, ZEROS, graded

GRADER = str(Path(sys.executable).parent / "grader")
REF = spec.load("initialization").reference_notebook
FUNCTION_KEYS = {"name": str, "score": (int, float), "max_score": (int, float), "status": str, "message": str, "tests": list}
TEST_KEYS = {"name": str, "hidden": bool, "passed": bool, "message": str}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRADER, "run", *args], capture_output=True, text=True, timeout=300)


def check_shape(report: dict) -> None:
    assert isinstance(report["submission"], str)
    assert report["assignment"] is None or isinstance(report["assignment"], str)
    assert report["status"] in ("graded", "invalid") and isinstance(report["message"], str)
    assert isinstance(report["score"], (int, float)) and isinstance(report["max_score"], (int, float))
    for f in report["functions"]:
        for key, kind in FUNCTION_KEYS.items():
            assert isinstance(f[key], kind), (key, f)
        assert f["status"] in ("passed", "failed", "error", "timeout", "missing", "killed")
        for t in f["tests"]:
            for key, kind in TEST_KEYS.items():
                assert isinstance(t[key], kind), (key, t)


def test_one_path_prints_one_object_and_writes_its_report(tmp_path: Path) -> None:
    proc = run("--fast", "--format", "json", "--output", str(tmp_path), str(REF))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    check_shape(report)
    assert report["score"] == report["max_score"] == 30
    on_disk = json.loads((tmp_path / f"{REF.stem}.json").read_text())
    assert on_disk["score"] == 30
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_invalid_files_are_reported_and_never_abort_the_others(tmp_path: Path) -> None:
    (tmp_path / "empty.ipynb").write_text("")
    (tmp_path / "page.ipynb").write_text("<html><body>404</body></html>")
    (tmp_path / "truncated.ipynb").write_text(REF.read_text()[:500])
    good = tmp_path / "good.ipynb"
    good.write_text(REF.read_text())
    proc = run("--fast", "--format", "json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    reports = {Path(r["submission"]).name: r for r in json.loads(proc.stdout)}
    for r in reports.values():
        check_shape(r)
    assert reports["good.ipynb"]["score"] == 30
    for name in ("empty.ipynb", "page.ipynb", "truncated.ipynb"):
        assert reports[name]["status"] == "invalid" and reports[name]["message"]
    assert "empty" in reports["empty.ipynb"]["message"] and "HTML" in reports["page.ipynb"]["message"]


def test_exit_codes() -> None:
    blank = spec.load("initialization").student_notebook
    assert run("--fast", str(blank)).returncode == 0
    assert run("--fast", "--fail-under", "50", str(blank)).returncode == 1
    assert run("--fast", "--fail-under", "50", str(REF)).returncode == 0
    assert run("--fast", "--assignment", "nope", str(REF)).returncode == 2
    assert run("--fast", "--format", "yaml", str(REF)).returncode == 2


def test_text_format_has_a_row_per_function_and_a_total() -> None:
    proc = run("--fast", str(REF))
    assert proc.returncode == 0
    for name in ("initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he"):
        assert name in proc.stdout
    assert "total: 30/30" in proc.stdout


def test_what_student_code_says_cannot_break_or_rewrite_the_output(tmp_path: Path) -> None:
    # an error message with a terminal escape, a bidirectional override, a NUL and lone surrogates
    raising = graded(ZEROS, "    raise ValueError('\\x1b[2J\\x1b[Hall tests passed \\u202e \\x00 \\ud800\\udfff')\n")
    path = write_notebook(tmp_path / "loud.ipynb", make_notebook([IMPORTS, raising, CORRECT[RANDOM], CORRECT[HE]]))
    text = run("--fast", str(path))
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout and "\u202e" not in text.stdout and "\\x1b[2J" in text.stdout
    for fmt in ("html", "junit", "gradescope"):
        out = tmp_path / fmt
        proc = run("--fast", "--format", fmt, "--output", str(out), str(path))
        assert proc.returncode == 0, proc.stderr
        for written in out.iterdir():
            content = written.read_text(encoding="utf-8")  # valid UTF-8: no lone surrogates
            assert "\x1b" not in content and "\x00" not in content, written
    assert json.loads(run("--fast", "--format", "json", str(path)).stdout)["score"] == 20


def test_an_output_that_cannot_be_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    for output in (taken, taken / "below"):
        proc = run("--fast", "--output", str(output), str(REF))
        assert proc.returncode == 2 and "not a folder reports can go in" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_timeout_must_be_positive_and_a_threshold_a_percent() -> None:
    for args in (("--timeout", "0"), ("--timeout", "-1"), ("--fail-under", "150")):
        proc = run("--fast", *args, str(REF))
        assert proc.returncode == 2 and "not in the range" in proc.stderr, (args, proc.stderr)
