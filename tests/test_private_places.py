"""Red team round 2, findings 2 and 3: no cover is ever dropped, and home folders are covered. Each must hold as root and as a plain user:
.ci/run runs this file as both.

Student code reports what it saw by raising it (`OBS{json}SBO`), as in test_isolation_layers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import isolation
from grader.sandbox.limits import Limits
from grader.sandbox.root import SYSTEM
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from tests.jailkit import (
    ROOTLESS,
    changeable,
    in_jail,
    mounts_or_skip,
    observed,
    readable_by_all,
    saw_in_cell,
    saw_in_function,
    submission,
)
from tests.redteam_scenarios import ROOT


def _home_base() -> Path:
    """Where a home folder's files live: /home as root, the user's own home without."""
    return Path.home() if ROOTLESS else Path("/home")


@pytest.fixture
def in_home() -> Iterator[Path]:
    """A world-readable folder in a home folder (a course folder, last week's batch)."""
    folder = Path(tempfile.mkdtemp(prefix=".private-places-", dir=_home_base()))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- finding 2


def test_a_folder_holding_a_needed_path_is_covered_all_but_that_path(in_home: Path) -> None:
    # the README's layout: the course folder holds the virtualenv, the notebooks and out/
    mounts_or_skip()
    course = in_home / "course"
    venv, alice, out = course / ".venv", course / "alice.ipynb", course / "out"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    out.mkdir()
    alice.write_text("CANARY")
    (out / "alice.json").write_text("CANARY")
    readable_by_all(in_home)

    def inside() -> int:
        code = 0 if (venv / "bin" / "python").exists() else 3  # the venv is there,
        code = code or (4 if alice.exists() or out.exists() or os.listdir(course) != [".venv"] else 0)
        return code or (5 if changeable((course, venv)) else 0)  # and neither it nor the way to it changes

    assert in_jail(inside, shown=[venv], hide=[course]) == 0  # the course never uncovered for the venv


def test_a_folder_the_interpreter_needs_is_refused_not_left_uncovered() -> None:
    scratch = prepare_scratch(Path("."), ())
    try:
        with pytest.raises(ValueError, match="cannot hide"):
            isolation.jail_config(scratch, Limits(), isolation.strongest(), [sys.prefix])
    finally:
        remove_scratch(scratch)


LIST_COURSE = """
obs["course"] = sorted(os.listdir(COURSE))
obs["read"] = []
for d in (COURSE, COURSE + "/out"):
    for name in (os.listdir(d) if os.path.isdir(d) else []):
        try:
            obs["read"].append(open(os.path.join(d, name)).read()[:20])
        except OSError:
            pass
"""


def _venv_in(course: Path) -> Path | None:
    """A real virtualenv in `course`, with our interpreter's packages (hard-linked), or None."""
    venv = course / ".venv"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / ver / "site-packages"
    shutil.rmtree(site)
    ours = Path(isolation.site_dirs()[0])
    if subprocess.run(["cp", "-al", str(ours), str(site)], capture_output=True).returncode != 0:
        return None  # another filesystem: no hard links
    return venv


def test_grader_run_with_the_virtualenv_beside_the_notebooks(in_home: Path) -> None:
    # the red team's repro: `grader run mallory.ipynb` from ~/course/.venv read alice.ipynb
    mounts_or_skip()
    course = in_home / "course"
    course.mkdir()
    venv = _venv_in(course)
    if venv is None:
        pytest.skip("cannot hard-link our site-packages into a new virtualenv here")
    (course / "alice.ipynb").write_text("CANARY_ALICE")
    (course / "out").mkdir()
    (course / "out" / "alice.json").write_text("CANARY_REPORT")
    submission(course, LIST_COURSE.replace("COURSE", repr(str(course))), "mallory.ipynb")
    readable_by_all(in_home)
    cli = "import sys; sys.argv[0] = 'grader'; from grader.cli import main; main()"
    env = {**os.environ, "GRADER_ROOT": str(ROOT)}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", cli, "run", "mallory.ipynb", "--fast", "--format", "json"],
        cwd=course, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    got = json.loads(done.stdout)
    got = got[0] if isinstance(got, list) else got
    seen = observed(got["functions"][0]["message"])
    assert seen == {"course": [".venv"], "read": []}, seen


# ----------------------------------------------------------------------------- finding 3b: home folders


PEEK_HOME = """
obs["read"] = []
for name in NAMES:
    try:
        obs["read"].append(open(name).read())
    except OSError:
        pass
obs["listed"] = os.path.isdir(FOLDER) and bool(os.listdir(FOLDER))
"""


def test_home_folders_are_covered_in_both_modes(in_home: Path, tmp_path: Path) -> None:
    # last week's batch and the grader user's own files, world-readable in a home folder
    mounts_or_skip()
    old = in_home / "last-week"
    old.mkdir()
    (old / "bob.ipynb").write_text("CANARY_BOB")
    (old / "gradebook.sqlite").write_text("CANARY_BOOK")
    readable_by_all(in_home)
    names = [str(old / "bob.ipynb"), str(old / "gradebook.sqlite")]
    code = PEEK_HOME.replace("NAMES", repr(names)).replace("FOLDER", repr(str(old)))
    assert saw_in_function(code, tmp_path / "fn") == {"read": [], "listed": False}
    assert saw_in_cell(code, tmp_path / "nb") == {"read": [], "listed": False}


def test_no_home_folder_is_on_the_allow_list() -> None:
    # the sandbox's root shows of the host only what this list names: no home folder, nor a
    # folder holding one, nor anything in one but the interpreter's own paths
    scratch = prepare_scratch(Path("."), ())
    try:
        cfg = isolation.jail_config(scratch, Limits(), isolation.strongest(), isolation.hidden(()))
        isolation.release_uid(cfg["uid"])
    finally:
        remove_scratch(scratch)
    homes = [Path.home().resolve()] if ROOTLESS else [Path("/home"), Path("/root")]
    for shown in map(Path, cfg["system"] + cfg["needed"]):
        for home in homes:
            assert not home.is_relative_to(shown), shown
            assert not shown.is_relative_to(home) or str(shown) in isolation._needed(), shown


# the top-level folders the sandbox's root has of its own, besides the system's it shows
SYSTEM_TOPS = {Path(p).parts[1] for p in SYSTEM} | {"dev", "proc", "tmp", "var"}


PEEK_ELSEWHERE = """
obs["read"] = []
for name in NAMES:
    try:
        obs["read"].append(open(name).read()[:20])
    except OSError:
        pass
obs["listed"] = []
for d in sorted(set(os.listdir("/")) - set(SYSTEM)):
    try:
        if os.path.isdir("/" + d) and os.listdir("/" + d):
            obs["listed"].append(d)
    except OSError:
        pass
"""


def test_other_top_level_folders_are_covered_in_both_modes(tmp_path: Path) -> None:
    # a checkout, last week's batch in /srv or /work: world-readable, outside any home folder
    mounts_or_skip()
    if ROOT.parts[1] in SYSTEM_TOPS:
        pytest.skip("the checkout is in one of the system's folders here")
    names = [str(ROOT / "README.md"), str(ROOT / "pyproject.toml")]
    code = PEEK_ELSEWHERE.replace("NAMES", repr(names)).replace("SYSTEM", repr(sorted(SYSTEM_TOPS)))
    for seen in (saw_in_function(code, tmp_path / "fn"), saw_in_cell(code, tmp_path / "nb")):
        assert seen["read"] == [], seen
        # what is left in the covered folders is the way to the interpreter, nothing else
        tops = {Path(p).parts[1] for p in isolation._needed() if Path(p).parts[1] not in SYSTEM_TOPS}
        assert set(seen["listed"]) <= tops, seen
