"""Secret cases (issue 15): a table of the public answer key passes every hidden case without a
secret and none with one; the secret and its cases never reach a report or the repository; a
changed secret or spec is one line naming the command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.reading import assignment as spec
from grader.sandbox import harness
from tests import secretkit

ROOT = Path(__file__).resolve().parent.parent
GRADER = [str(Path(sys.executable).parent / "grader")]


def _grader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One lookup-table notebook per assignment, built from expected/*.json and reference/."""
    folder = tmp_path_factory.mktemp("lookup")
    out = []
    for a in spec.load_all():
        answers = secretkit.table([secretkit.reference_doc(a), spec.load_expected(a)])
        names = [f.name for f in a.functions]
        out.append(secretkit.lookup_notebook(folder / a.notebook, names, answers))
    return out


def _run(paths: list[Path], env: dict[str, str]) -> list[dict[str, Any]]:
    got = _grader("run", *map(str, paths), "--fast", "--format", "json", "--jobs", "2", env=env)
    assert got.returncode in (0, 1), got.stderr
    return json.loads(got.stdout)


def _hidden_points(report: dict[str, Any]) -> float:
    return sum(t["points"] for f in report["functions"] for t in f["tests"] if t["hidden"])


def _visible_max(report: dict[str, Any]) -> float:
    return sum(t["max_points"] for f in report["functions"] for t in f["tests"] if not t["hidden"])


def test_a_table_of_the_answer_key_passes_public_hidden_cases_and_no_secret_one(
    attack: list[Path], no_secret: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(no_secret)}
    before = _run(attack, env)
    for r in before:  # the public answer key is worth everything today
        assert r["status"] == "graded" and r["score"] == r["max_score"], r
        assert "no secret configured" in r["hidden_cases"]
    assert _grader("secret", "init", env=env).returncode == 0
    made = _grader("expected", "--secret", env=env)
    assert made.returncode == 0, made.stderr
    after = _run(attack, env)
    for r in after:
        assert r["hidden_cases"].startswith("hidden cases: drawn with this installation's secret"), r
        assert _hidden_points(r) == 0, [(f["name"], t["name"]) for f in r["functions"] for t in f["tests"]
                                        if t["hidden"] and t["passed"]]
        assert r["score"] <= _visible_max(r)  # (repeating a visible answer elsewhere can cost it too)
    # feedback on a secret case shows no value of it, and nothing of the secret
    key = (no_secret / "grader" / "secret").read_text().strip()
    text = json.dumps(after)
    assert key not in text and "evidence" not in json.dumps(
        [t for r in after for f in r["functions"] for t in f["tests"] if t["hidden"]]
    )
    for doc_path in (no_secret / "grader" / "expected").glob("*.json"):
        doc = json.loads(doc_path.read_text())
        for cases in doc["functions"].values():
            for entry in cases.values():
                value = harness.decode(entry["output"])
                if entry.get("drawn") and isinstance(value, float) and value != 0.0:
                    assert f"{value:.6g}" not in text, value


def test_the_secret_and_its_cases_are_owner_only_and_outside_the_repository(no_secret: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(no_secret)}
    assert _grader("secret", "init", env=env).returncode == 0
    again = _grader("secret", "init", env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    made = _grader("expected", "--secret", "initialization", env=env)
    assert made.returncode == 0, made.stderr
    key_file = no_secret / "grader" / "secret"
    written = no_secret / "grader" / "expected" / "initialization.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    status = subprocess.run(["git", "status", "--porcelain", "expected"], cwd=ROOT, capture_output=True, text=True)
    assert status.stdout == ""  # expected/ untouched
    doc = json.loads(written.read_text())
    assert key_file.read_text().strip() not in written.read_text()
    drawn = [(f, c) for f, cases in doc["functions"].items() for c, e in cases.items() if e.get("drawn")]
    hidden = [(f.name, c.name) for f in spec.load("initialization").functions for c in f.cases if c.hidden]
    assert sorted(drawn) == sorted(hidden)
    public = spec.load_expected(spec.load("initialization"))
    for f, c in drawn:  # no secret case has the inputs of a public one
        assert doc["functions"][f][c]["args"] != public["functions"][f][c]["args"]


def test_a_stale_secret_file_is_one_line_naming_the_command(no_secret: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(no_secret)}
    nb = ROOT / "reference" / "initialization" / "Initialization.ipynb"
    assert _grader("secret", "init", env=env).returncode == 0
    missing = _grader("run", str(nb), "--fast", env=env)
    assert missing.returncode == 2 and "grader expected --secret" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert _grader("expected", "--secret", "initialization", env=env).returncode == 0
    assert _grader("run", str(nb), "--fast", "--assignment", "initialization", env=env).returncode == 0
    other = {**env, "GRADER_SECRET": "another-secret-than-the-file-0123"}  # (init --force removes the files)
    stale = _grader("run", str(nb), "--fast", "--assignment", "initialization", env=other)
    assert stale.returncode == 2 and "stale" in stale.stderr and "grader expected --secret" in stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1
