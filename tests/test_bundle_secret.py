"""The Gradescope bundle with a secret (issue 15): it carries the secret cases' expected document,
never the secret, and its run_autograder grades hidden cases by that document, so a lookup table
of the public answer key (expected/ and the reference's outputs) earns only the visible points
while the reference still scores full marks. Without a secret the bundle grades as before and
says so; a missing or stale secret document refuses the build in one line naming the command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.reading import assignment as spec
from tests import secretkit
from tests.test_formats import check_gradescope

ROOT = Path(__file__).resolve().parent.parent
GRADER = str(Path(sys.executable).parent / "grader")
NAME = "initialization"
MEMBER = f"expected/secret/{NAME}.json"


def _grader(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRADER, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def _env(config: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SECRET", "GRADER_ROOT")}
    return {**env, "XDG_CONFIG_HOME": str(config), **more}


def _unzip(zip_path: Path, top: Path) -> Path:
    """Unpack as Info-ZIP's unzip does on Gradescope: with the modes the zip records."""
    source = top / "source"
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, source))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))
    (top / "submission").mkdir()
    return source


def _autograde(top: Path, notebook: Path, config: Path) -> dict[str, Any]:
    """run_autograder on one submission, on a machine without the secret."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs student code only as a user of its own: that needs root")
    for old in (top / "submission").iterdir():
        old.unlink()
    (top / "submission" / f"{spec.load(NAME).notebook}").write_bytes(notebook.read_bytes())
    env = _env(config, AUTOGRADER_ROOT=str(top), GRADER=GRADER)
    subprocess.run(["bash", str(top / "source" / "run_autograder")], env=env, check=True,
                   capture_output=True, timeout=300)
    doc = json.loads((top / "results" / "results.json").read_text(encoding="utf-8"))
    check_gradescope(doc)
    return doc


@pytest.fixture(scope="module")
def lookup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A notebook that answers from a table of expected/ and the reference's own outputs."""
    a = spec.load(NAME)
    answers = secretkit.table([secretkit.reference_doc(a), spec.load_expected(a)])
    folder = tmp_path_factory.mktemp("lookup")
    return secretkit.lookup_notebook(folder / a.notebook, [f.name for f in a.functions], answers, guess=False)


def _points(hidden: bool) -> float:
    return sum(c.points for f in spec.load(NAME).functions for c in f.cases if c.hidden == hidden)


def _every_file(zip_path: Path, top: Path) -> list[tuple[str, bytes]]:
    files = [(p.relative_to(top).as_posix(), p.read_bytes()) for p in top.rglob("*") if p.is_file()]
    return [(zip_path.name, zip_path.read_bytes()), *files]


def test_the_bundle_carries_the_secret_cases_never_the_secret_and_grades_by_them(
    no_secret: Path, lookup: Path, tmp_path: Path
) -> None:
    env = _env(no_secret)
    assert _grader("secret", "init", env=env).returncode == 0
    made = _grader("expected", "--secret", NAME, env=env)
    assert made.returncode == 0, made.stderr
    built = _grader("gradescope-bundle", NAME, "--output", str(tmp_path / "ag.zip"), env=env)
    assert built.returncode == 0, built.stderr
    assert "hidden cases: the secret ones" in built.stdout

    zip_path, top = tmp_path / "ag.zip", tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(MEMBER)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o600
        assert zf.read(MEMBER) == (no_secret / "grader" / "expected" / f"{NAME}.json").read_bytes()
    source = _unzip(zip_path, top)
    assert stat.S_IMODE((source / MEMBER).stat().st_mode) == 0o600
    text = (no_secret / "grader" / "secret").read_text().strip()
    forms = {text.encode(), text.encode().hex().encode(), bytes.fromhex(text), bytes.fromhex(text).hex().encode()}
    for name, data in _every_file(zip_path, top):
        found = [f for f in forms if f in data or f.upper() in data]
        assert not found, f"the secret is in {name}"

    elsewhere = tmp_path / "gradescope-config"  # Gradescope's machine: no secret there
    elsewhere.mkdir()
    cheat = _autograde(top, lookup, elsewhere)
    hidden_passed = [t["name"] for t in cheat["tests"] if t["visibility"] != "visible" and t["status"] == "passed"]
    assert hidden_passed == [] and cheat["score"] == _points(hidden=False), cheat
    assert "Hidden cases: drawn with the course's secret." in cheat["output"]
    assert text not in json.dumps(cheat)
    full = _autograde(top, spec.load(NAME).reference_notebook, elsewhere)
    assert full["score"] == _points(hidden=False) + _points(hidden=True), full["output"]


def test_without_a_secret_the_bundle_grades_the_public_cases_and_says_so(
    no_secret: Path, lookup: Path, tmp_path: Path
) -> None:
    built = _grader("gradescope-bundle", NAME, "--output", str(tmp_path / "ag.zip"), env=_env(no_secret))
    assert built.returncode == 0, built.stderr
    assert "hidden cases: the public ones" in built.stdout and "no secret configured" in built.stdout
    with zipfile.ZipFile(tmp_path / "ag.zip") as zf:
        assert not any(n.startswith("expected/secret") for n in zf.namelist())
    top = tmp_path / "autograder"
    _unzip(tmp_path / "ag.zip", top)
    cheat = _autograde(top, lookup, no_secret)  # the table is worth everything here
    assert cheat["score"] == _points(hidden=False) + _points(hidden=True)
    assert "Hidden cases: the public ones" in cheat["output"]


def test_a_missing_or_stale_secret_document_refuses_the_build_in_one_line(
    no_secret: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "ag.zip")
    env = _env(no_secret, GRADER_SECRET="bundle-test-secret-one-0123456789")
    missing = _grader("gradescope-bundle", NAME, "--output", out, env=env)
    assert missing.returncode == 2 and "missing" in missing.stderr
    assert f"run `grader expected --secret {NAME}`" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and not Path(out).exists()
    assert _grader("expected", "--secret", NAME, env=env).returncode == 0
    assert _grader("gradescope-bundle", NAME, "--output", out, env=env).returncode == 0
    Path(out).unlink()
    other = {**env, "GRADER_SECRET": "bundle-test-secret-two-0123456789"}
    stale = _grader("gradescope-bundle", NAME, "--output", out, env=other)
    assert stale.returncode == 2 and "stale" in stale.stderr
    assert f"run `grader expected --secret {NAME}`" in stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1 and not Path(out).exists()


def test_a_bundle_whose_files_changed_after_it_was_built_refuses_to_grade(
    no_secret: Path, tmp_path: Path
) -> None:
    env = _env(no_secret, GRADER_SECRET="bundle-test-secret-one-0123456789")
    assert _grader("expected", "--secret", NAME, env=env).returncode == 0
    assert _grader("gradescope-bundle", NAME, "--output", str(tmp_path / "ag.zip"), env=env).returncode == 0
    source = _unzip(tmp_path / "ag.zip", tmp_path / "autograder")
    toml = source / "assignments" / NAME / "assignment.toml"
    toml.write_text(toml.read_text() + "\n# edited on the server\n")
    nb = spec.load(NAME).reference_notebook
    got = _grader("run", str(nb), "--fast", "--assignment", NAME, env=_env(no_secret, GRADER_ROOT=str(source)))
    assert got.returncode == 2 and "stale" in got.stderr and f"grader gradescope-bundle {NAME}" in got.stderr
