"""A student's install (issue 15): only assignments/<name>/ (no expected/, no reference/) runs
`grader check` on the visible cases, and holds no hidden case's inputs or outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.reading import assignment as spec
from grader.sandbox import harness

ROOT = Path(__file__).resolve().parent.parent
GRADER = str(Path(sys.executable).parent / "grader")


def _floats(value: Any) -> set[float]:
    """The distinctive numbers of a value: floats of five significant digits or more (0.5 or 3.0
    are in any file; 0.28509315678 is in the answer key only)."""
    if isinstance(value, dict):
        return set().union(*(_floats(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_floats(v) for v in value)) if value else set()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        return set()
    return {float(x) for x in arr.ravel() if np.isfinite(x) and len(f"{abs(x):.15g}".replace(".", "").strip("0")) >= 5}


def _hidden_numbers(name: str) -> set[float]:
    """Every number of a hidden case's output (the reference's, the mistakes') that no visible
    case has. (The spec in assignments/ names the public hidden cases' parameters, a seed or a
    lambd: worthless once a secret is configured, when every hidden case is drawn.)"""
    a = spec.load(name)
    doc = spec.load_expected(a)
    hidden: set[float] = set()
    shown: set[float] = set()
    for f in a.functions:
        for c in f.cases:
            entry = doc["functions"][f.name][c.name]
            values = [entry["output"], *entry.get("mistakes", {}).values()]
            found = set().union(*(_floats(harness.decode(v)) for v in values))
            (hidden if c.hidden else shown).update(found)
    return hidden - shown


@pytest.mark.parametrize("name", ["initialization", "regularization", "gradient_checking"])
def test_a_student_install_checks_the_visible_cases_and_holds_no_hidden_one(name: str, tmp_path: Path) -> None:
    a = spec.load(name)
    install = tmp_path / "course"
    shutil.copytree(a.folder, install / "assignments" / name)
    work = tmp_path / "work"
    work.mkdir()
    solved = shutil.copy(a.reference_notebook, work / a.notebook)  # a student who got it all right
    blank = shutil.copy(a.student_notebook, work / ("blank-" + a.notebook))
    env = {**os.environ, "GRADER_ROOT": str(install)}
    ok = subprocess.run([GRADER, "check", str(solved)], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    shown = sum(1 for f in a.functions for c in f.cases if not c.hidden)
    assert f"{len(a.functions)} of {len(a.functions)} functions pass" in ok.stdout, ok.stdout
    bad = subprocess.run([GRADER, "check", str(blank)], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stdout + bad.stderr
    texts = [p.read_bytes().decode("utf-8", "replace") for p in install.rglob("*") if p.is_file()]
    numbers = _hidden_numbers(name)
    assert numbers and shown
    leaked = [x for x in numbers if any(json.dumps(x) in t or repr(x) in t for t in texts)]
    assert not leaked, leaked[:5]
    released = json.loads((install / "assignments" / name / "expected-visible.json").read_text())
    assert "peers" not in released  # the reference's code stays with the instructor
    assert all(not c.hidden or c.name not in released["functions"].get(f.name, {}) for f in a.functions for c in f.cases)
