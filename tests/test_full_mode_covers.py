"""The full-notebook run of a batch or of `grader run ONE --output DIR` covers what function
grading covers: a top-level cell cannot read a classmate's submission or the reports folder
(the review's cell globbed both and raised their contents into its report)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import batch
from grader.grading import grade
from grader.sandbox import isolation
from tests.batchkit import toy, write
from tests.conftest import ROOT, make_notebook

PEEK = """import glob, json, os
found = []
for pattern in PATTERNS:
    for path in glob.glob(pattern, recursive=True):
        try:
            with open(path, errors="replace") as f:
                found.append((path, f.read(40)))
        except OSError:
            pass
raise RuntimeError("SEEN" + json.dumps(found) + "NEES")
"""


@pytest.fixture
def course() -> Iterator[Path]:
    """A class folder outside /tmp (the sandbox's /tmp is private anyway), world-readable."""
    base = ROOT if os.access(ROOT, os.W_OK) else Path.home()
    folder = Path(tempfile.mkdtemp(prefix=".covers-", dir=base))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _peeking(folder: Path, patterns: list[str]) -> Path:
    nb = toy(note="peek")
    nb["cells"].append(make_notebook([PEEK.replace("PATTERNS", repr(patterns))])["cells"][0])
    return write(folder, "Toy", nb)


def _seen(report: dict) -> list:
    errors = report["execution"]["errors"]
    assert errors, report["execution"]
    text = errors[-1]["evalue"]
    if "NEES" not in text:  # cut short (reports keep 300 characters): something was read
        return [text]
    return json.loads(text[text.index("SEEN") + 4 : text.index("NEES")])


def test_a_batch_full_run_reads_no_classmate_and_no_report(toy_root: Path, course: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("this machine gives the sandbox no mount namespace")
    bob = write(course / "class" / "bob", "Toy", toy(note="bob's own"))
    bob.chmod(0o644)
    out = course / "out"
    alice = _peeking(course / "class" / "alice", [f"{course}/class/bob/*", f"{out}/**/*"])
    plan = batch.Plan(jobs=1, fast=False, output=out, cell_timeout=30)
    batch.run_batch([bob, alice], grade.Options(), plan)  # bob first: his reports exist by then
    report = json.loads(next(p for p in out.glob("*.json") if "alice" in p.name).read_text())
    assert _seen(report) == []


def test_a_single_full_run_reads_no_earlier_report(toy_root: Path, course: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("this machine gives the sandbox no mount namespace")
    out = course / "reports"
    out.mkdir()
    (out / "earlier-student.json").write_text('{"score": 5}')
    (out / "earlier-student.json").chmod(0o644)
    out.chmod(0o755)
    path = _peeking(course / "mine", [f"{out}/*"])
    res = CliRunner().invoke(main, ["run", "--format", "json", "--output", str(out), str(path)])
    assert res.exit_code == 0, res.output
    assert _seen(json.loads(res.output)) == []
