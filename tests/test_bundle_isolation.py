"""The Gradescope bundle in a container without CAP_SYS_ADMIN (Docker's default, how Gradescope
runs autograders): no namespace at all, yet student code runs as a user of its own, cannot read
the answer key (expected/, and the secret cases' document the bundle carries) nor write the
results, and the missing layers are shown with the results; where
even the user switch is impossible, the bundle refuses to run student code. Simulated with
`capsh --drop`; needs root and an interpreter a sandbox user can run without mounts
(GRADER_PUBLIC_PYTHON, see .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.authoring import bundle
from grader.reading import assignment as spec
from tests.conftest import make_notebook, write_notebook
from tests.jailkit import observed, reachable, reporting_body
from tests.redteam_scenarios import IMPORTS, ZEROS, graded


def _public_python() -> str | None:
    """An interpreter with our dependencies that a sandbox user can run without mounts."""
    exe = os.environ.get("GRADER_PUBLIC_PYTHON") or sys.executable
    return exe if reachable(exe) else None


@pytest.fixture
def autograder(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """The Gradescope bundle, built with a secret, unpacked as Gradescope does (in a folder any
    user may traverse: only the bundle's own permissions keep the answer key from student code),
    and a `grader`."""
    exe = _public_python()
    if os.geteuid() != 0 or shutil.which("capsh") is None or exe is None:
        pytest.skip("needs root, capsh and an interpreter others may run (GRADER_PUBLIC_PYTHON)")
    monkeypatch.setenv("GRADER_SECRET", "bundle-isolation-secret-0123456789")
    made = subprocess.run([exe, "-c", "from grader.launch import main; main()", "expected", "--secret", "initialization"],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    base = Path(tempfile.mkdtemp(prefix="autograder-"))
    base.chmod(0o755)
    top = base / "autograder"
    with zipfile.ZipFile(bundle.write(spec.load("initialization"), base / "ag.zip")) as zf:
        zf.extractall(top / "source")
    (top / "source" / "run_autograder").chmod(0o755)
    (top / "submission").mkdir()
    # Gradescope's own files beside them: earlier uploads' whole results, hidden tests included
    (top / "submission_metadata.json").write_text(json.dumps({"previous_submissions": [{"results": "HIDDEN"}]}))
    (top / "grader-test-extra").mkdir()  # and whatever else a platform may put there
    (top / "grader-test-extra" / "notes.txt").write_text("HIDDEN")
    for d in [base, *base.rglob("*")]:  # as an unzip leaves them
        d.chmod(0o755 if d.is_dir() else d.stat().st_mode | 0o444)
    wrapper = base / "grader"
    wrapper.write_text(f'#!/bin/sh\nexec {exe} -c "from grader.launch import main; main()" "$@"\n')
    wrapper.chmod(0o755)
    yield top, str(wrapper)
    shutil.rmtree(base, ignore_errors=True)


STEAL = """
obs["uid"] = os.getuid()
obs["key"] = []
for path in [ROOT + "/source/expected/initialization.json", ROOT + "/source/expected/secret/initialization.json",
             ROOT + "/results", ROOT + "/submission_metadata.json", ROOT + "/grader-test-extra/notes.txt"]:
    try:
        if os.path.isdir(path):
            open(os.path.join(path, "mine.json"), "w").write("{}")
        else:
            open(path).read(1)
        obs["key"].append(path)
    except OSError:
        pass
"""


def _autograde(top: Path, grader_cmd: str, drop: str) -> dict[str, Any]:
    body = reporting_body(STEAL.replace("ROOT", repr(str(top))))
    write_notebook(top / "submission" / "Initialization.ipynb", make_notebook([IMPORTS, graded(ZEROS, body)]))
    env = {**os.environ, "AUTOGRADER_ROOT": str(top), "GRADER": grader_cmd, "PYTHON": _public_python() or ""}
    env.pop("GRADER_ROOT", None)
    env.pop("GRADER_SECRET", None)  # Gradescope's machine has the bundle's document, not the secret
    cmd = ["capsh", f"--drop={drop}", "--", "-c", str(top / "source" / "run_autograder")]
    subprocess.run(cmd, env=env, check=True, timeout=300, capture_output=True)
    return json.loads((top / "results" / "results.json").read_text())


def test_without_cap_sys_admin_student_code_still_runs_as_a_user_of_its_own(
    autograder: tuple[Path, str],
) -> None:
    top, grader_cmd = autograder
    assert (top / "source" / "expected" / "secret" / "initialization.json").is_file()  # there to steal
    results = _autograde(top, grader_cmd, "cap_sys_admin")
    zeros = next(t for t in results["tests"] if ZEROS in t["name"])
    seen = observed(zeros["output"])
    assert seen["uid"] not in (0, os.getuid()) and seen["key"] == [], seen
    assert "no mount namespace" in results["output"]  # the missing layers are shown
    assert "Hidden cases: drawn with the course's secret." in results["output"]


def test_the_bundle_refuses_to_run_student_code_as_root(autograder: tuple[Path, str]) -> None:
    top, grader_cmd = autograder
    results = _autograde(top, grader_cmd, "cap_sys_admin,cap_setuid,cap_setgid")
    assert results["score"] == 0 and results["tests"] == []
    assert "as a user of its own" in results["output"]
