"""Red team 6, finding 4: with root but no mount namespace (a container without CAP_SYS_ADMIN,
simulated with `capsh --drop`), student code ran as a user of its own but could read every file
any user may read: mallory's function read alice's notebook from the submissions folder, as
handed in (0644), ran her cell and scored 10/10. Landlock (see grader/sandbox/landlock.py) now
keeps student code to the sandbox's allow-list: the submissions, the reports, the answer key
(however readable), the home folders and the machine's other files are refused, to graded
functions and to the full run's kernel alike, and honest work still scores full marks.

Written as a student would: mallory knows where everything lies (paths are easy to guess or to
find in /proc) and tries to read it. Needs root, capsh and an interpreter a sandbox user can run
without mounts (GRADER_PUBLIC_PYTHON, see .ci/run).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, make_notebook, write_notebook
from tests.jailkit import observed, readable_by_all, without_landlock
from tests.redteam_scenarios import CORRECT, HE, IMPORTS, RANDOM, ZEROS, graded
from tests.test_bundle_isolation import _public_python

# tries each path (PATHS: a list) and raises what became of each: "read", or the error's name
PEEK = """    import json
    obs = {}
    for path in PATHS:
        try:
            with open(path) as f:
                f.read(16)
            obs[path] = "read"
        except OSError as exc:
            obs[path] = type(exc).__name__
    raise RuntimeError("OBS" + json.dumps(obs) + "SBO")
"""
# runs alice's own graded cell for this function and returns what it returns
STEAL = """    import json
    import numpy as np
    cells = json.load(open(ALICE))["cells"]
    ns = {"np": np}
    for cell in cells:
        source = "".join(cell["source"])
        if source.startswith("# GRADED FUNCTION: NAME"):
            exec(source, ns)
    return ns["NAME"](layers_dims)
"""


@pytest.fixture
def batch() -> Iterator[dict[str, Path]]:
    """A course checkout, a batch folder (submissions and a report folder that pre-exists) and
    private files elsewhere on the machine, all readable by any user as they commonly are."""
    if os.geteuid() != 0 or shutil.which("capsh") is None or _public_python() is None:
        pytest.skip("needs root, capsh and an interpreter others may run (GRADER_PUBLIC_PYTHON)")
    base = Path(tempfile.mkdtemp(prefix="landlock-"))
    course, subs, out = base / "course", base / "batch" / "subs", base / "batch" / "out"
    for part in ("assignments/initialization", "reference/initialization", "expected/initialization.json"):
        (course / part).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
        copy(ROOT / part, course / part)
    subs.mkdir(parents=True)
    out.mkdir()
    (out / "earlier.json").write_text('{"score": 30}')  # an earlier run's report
    tag = secrets.token_hex(4)
    home, etc = Path(f"/home/landlock-{tag}"), Path(f"/etc/landlock-{tag}")
    home.mkdir()
    (home / "notes.txt").write_text("a user's notes")
    etc.write_text("a machine secret, readable by all")
    for top in (base, home):
        readable_by_all(top)
    etc.chmod(0o644)
    try:
        yield {
            "base": base,
            "course": course,
            "subs": subs,
            "out": out,
            "home": home / "notes.txt",
            "etc": etc,
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        etc.unlink(missing_ok=True)


def _grade(
    places: dict[str, Path], notebooks: dict[str, list[str]], *options: str, landlock: bool = True
) -> dict[str, Any]:
    """Grade the notebooks (name -> cells) in one batch with CAP_SYS_ADMIN dropped (no namespace
    at all): each report by name. `landlock=False`: as on a kernel without it."""
    for name, cells in notebooks.items():
        write_notebook(places["subs"] / f"{name}.ipynb", make_notebook(cells)).chmod(0o644)
    grader = [str(_public_python()), "-c", "from grader.launch import main; main()"]
    run = [*grader, "run", *options, "--jobs", "1", "--format", "json", "--output", str(places["out"])]
    command = ["capsh", "--drop=cap_sys_admin", "--", "-c", shlex.join([*run, str(places["subs"])])]
    done = subprocess.run(
        command if landlock else without_landlock(command),
        env={**os.environ, "GRADER_ROOT": str(places["course"])},
        capture_output=True, text=True, timeout=600, cwd=places["base"],
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return {name: json.loads((places["out"] / f"{name}.json").read_text()) for name in notebooks}


def _function(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["functions"] if f["name"] == name)


def _targets(places: dict[str, Path]) -> list[str]:
    return [
        str(places["subs"] / "a_alice.ipynb"),  # a classmate's notebook, as handed in
        str(places["out"] / "earlier.json"),  # the report folder
        str(places["course"] / "expected" / "initialization.json"),  # the answer key, readable by all
        str(places["course"] / "reference" / "initialization" / "Initialization.ipynb"),
        str(places["home"]),
        str(places["etc"]),
        "/etc/passwd",  # the machine's users (the sandbox's root has its own)
        "/root/.bashrc",
    ]


def _mallory(places: dict[str, Path]) -> list[str]:
    alice = repr(str(places["subs"] / "a_alice.ipynb"))
    return [
        IMPORTS,
        graded(ZEROS, PEEK.replace("PATHS", repr(_targets(places)))),
        graded(RANDOM, STEAL.replace("ALICE", alice).replace("NAME", RANDOM)),
        graded(HE, STEAL.replace("ALICE", alice).replace("NAME", HE)),
    ]


ALICE = [IMPORTS, CORRECT[ZEROS], CORRECT[RANDOM], CORRECT[HE]]


def test_mallory_reads_nothing_of_alice_the_reports_the_answer_key_or_the_machine(
    batch: dict[str, Path],
) -> None:
    reports = _grade(batch, {"a_alice": ALICE, "b_mallory": _mallory(batch)}, "--fast")
    seen = observed(_function(reports["b_mallory"], ZEROS)["message"])
    assert set(seen) == set(_targets(batch)), seen
    assert [p for p, what in seen.items() if what != "PermissionError"] == [], seen
    for name in (RANDOM, HE):  # alice's cells, run as mallory's: never reached
        stolen = _function(reports["b_mallory"], name)
        assert stolen["score"] == 0 and "PermissionError" in stolen["message"], stolen
    assert reports["a_alice"]["score"] == reports["a_alice"]["max_score"] == 30, reports["a_alice"]
    assert not any("no Landlock" in n for n in reports["b_mallory"]["isolation"])


def test_without_landlock_the_same_batch_is_an_open_book_and_the_report_says_so(
    batch: dict[str, Path],
) -> None:
    # the control: what Landlock holds back here (on a kernel without it, permissions alone)
    reports = _grade(batch, {"a_alice": ALICE, "b_mallory": _mallory(batch)}, "--fast", landlock=False)
    seen = observed(_function(reports["b_mallory"], ZEROS)["message"])
    assert seen[str(batch["subs"] / "a_alice.ipynb")] == "read" and seen[str(batch["etc"])] == "read", seen
    assert _function(reports["b_mallory"], RANDOM)["score"] == 10  # alice's work, mallory's points
    notes = reports["b_mallory"]["isolation"]
    assert any(n.startswith("no Landlock (") and "only file permissions" in n for n in notes), notes


KERNEL = """import json
obs = {}
for path in PATHS:
    try:
        open(path).read(16)
        obs[path] = "read"
    except OSError as exc:
        obs[path] = type(exc).__name__
raise RuntimeError("OBS" + json.dumps(obs) + "SBO")
"""


def test_the_full_runs_kernel_reads_none_of_it_either(batch: dict[str, Path]) -> None:
    cells = [KERNEL.replace("PATHS", repr(_targets(batch))), *ALICE]
    _grade(batch, {"a_alice": ALICE, "b_mallory": cells})
    executed = json.loads((batch["out"] / "b_mallory.executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    seen = observed(errors[0]["evalue"])
    assert set(seen) == set(_targets(batch)) and set(seen.values()) == {"PermissionError"}, seen
