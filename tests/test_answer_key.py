"""The answer key where no mount hides it: a checkout's expected/*.json are 0644, and with root but
no mount namespace (a container without CAP_SYS_ADMIN) student code runs as a user of its own that
could read them. `grader expected` writes them owner-only; grading names every private folder a
sandbox user could read in `isolation`, `--require-isolation` refuses with that reason, and once
the files are owner-only student code really cannot read them.

The end-to-end tests run the grader under `capsh --drop=cap_sys_admin` (as test_bundle_isolation
does), and as on a kernel without Landlock (which keeps the key from student code whatever its
mode: see test_landlock_attacks.py): they need root, capsh and an interpreter a sandbox user can
run without mounts (GRADER_PUBLIC_PYTHON, see .ci/run).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.sandbox import exposure
from tests.conftest import ROOT, TOY, make_notebook, write_notebook
from tests.jailkit import observed, readable_by_all, reporting_body, without_landlock
from tests.redteam_scenarios import IMPORTS, ZEROS, graded
from tests.test_bundle_isolation import _public_python

KEY_NOTE = "answer key readable by the sandbox user: chmod 600 expected/*.json or run with mount namespaces"


def _as_a_checkout(folder: Path) -> None:
    """Modes as `git clone` leaves them under umask 022, in a folder any user may traverse."""
    readable_by_all(folder)


@pytest.fixture
def open_place() -> Iterator[Path]:
    """A folder any user may traverse, outside any home folder."""
    base = Path(tempfile.mkdtemp(prefix="answer-key-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


# ----------------------------------------------------------------------------- what is readable


def test_readable_follows_the_bits_of_the_file_and_of_every_folder_above(open_place: Path) -> None:
    (open_place / "expected" / "sub").mkdir(parents=True)
    shown, hidden, deep = (open_place / "expected" / n for n in ("a.json", "b.json", "sub/c.json"))
    for f in (shown, hidden, deep):
        f.write_text("{}")
    _as_a_checkout(open_place)
    assert sorted(exposure.readable(open_place / "expected")) == [shown, hidden, deep]
    hidden.chmod(0o600)
    (open_place / "expected" / "sub").chmod(0o700)
    assert list(exposure.readable(open_place / "expected")) == [shown]
    open_place.chmod(0o700)  # a folder above that others may not search hides everything
    assert list(exposure.readable(open_place / "expected")) == []


def test_a_file_of_the_sandbox_users_group_is_read_by_its_group_bits(open_place: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to group nogroup needs root")
    key = open_place / "expected" / "a.json"
    key.parent.mkdir()
    key.write_text("{}")
    _as_a_checkout(open_place)
    os.chown(key, 0, exposure.NOGROUP)
    key.chmod(0o604)  # others may read, but the sandbox user is in the file's group
    assert list(exposure.readable(key.parent)) == []
    key.chmod(0o640)
    assert list(exposure.readable(key.parent)) == [key]


def test_grader_expected_writes_the_answer_key_owner_only(
    open_place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = open_place / "course"
    shutil.copytree(TOY, course)
    _as_a_checkout(course)
    assert KEY_NOTE in exposure.notes(course)
    monkeypatch.setenv("GRADER_ROOT", str(course))
    res = CliRunner().invoke(main, ["expected", "toy"])
    assert res.exit_code == 0, res.output
    assert (course / "expected" / "toy.json").stat().st_mode & 0o777 == 0o600
    assert (course / "expected").stat().st_mode & 0o777 == 0o700
    assert KEY_NOTE not in exposure.notes(course)


# ----------------------------------------------------------------------------- end to end

STEAL = """
try:
    obs["key"] = open(KEY).read(20)
except OSError as exc:
    obs["key"] = exc.strerror
obs["uid"] = os.getuid()
"""


@pytest.fixture
def course(open_place: Path) -> Path:
    """A checkout of the grader's assignment folders (initialization only), as git leaves it."""
    if os.geteuid() != 0 or shutil.which("capsh") is None or _public_python() is None:
        pytest.skip("needs root, capsh and an interpreter others may run (GRADER_PUBLIC_PYTHON)")
    course = open_place / "course"
    for part in ("assignments/initialization", "reference/initialization"):
        shutil.copytree(ROOT / part, course / part)
    (course / "expected").mkdir()
    shutil.copy(ROOT / "expected" / "initialization.json", course / "expected")
    _as_a_checkout(course)
    return course


def _grade_without_mounts(course: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`grader run` on a submission that tries to read the answer key, in a root that may not
    make namespaces (CAP_SYS_ADMIN dropped), on a kernel without Landlock: the sandbox switches
    user, nothing hides files."""
    key = course / "expected" / "initialization.json"
    body = reporting_body(STEAL.replace("KEY", repr(str(key))))
    sub = course.parent / "submission"
    sub.mkdir(exist_ok=True)
    sub.chmod(0o755)
    path = write_notebook(sub / "Initialization.ipynb", make_notebook([IMPORTS, graded(ZEROS, body)]))
    grader = [str(_public_python()), "-c", "from grader.launch import main; main()"]
    command = shlex.join([*grader, "run", "--fast", "--format", "json", *options, str(path)])
    env = {**os.environ, "GRADER_ROOT": str(course)}
    return subprocess.run(
        without_landlock(["capsh", "--drop=cap_sys_admin", "--", "-c", command]),
        env=env, capture_output=True, text=True, timeout=300, cwd=course.parent,
    )  # fmt: skip


def _report(done: subprocess.CompletedProcess[str]) -> tuple[list[str], dict[str, Any]]:
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    zeros = next(f for f in report["functions"] if f["name"] == ZEROS)
    return report["isolation"], observed(zeros["message"])


def test_require_isolation_refuses_naming_the_readable_answer_key(course: Path) -> None:
    done = _grade_without_mounts(course, "--require-isolation")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert KEY_NOTE in done.stderr


def test_without_mounts_student_code_cannot_read_the_answer_key_once_it_is_owner_only(course: Path) -> None:
    isolation, seen = _report(_grade_without_mounts(course))
    assert seen["uid"] not in (0, os.getuid()), seen  # a user of its own, no mounts: the case at hand
    assert seen["key"].startswith("{"), seen  # the threat is real: a checkout's key is read
    assert KEY_NOTE in isolation and any(n.startswith("reference solutions readable") for n in isolation)
    for key in (course / "expected").glob("*.json"):  # what the note says to do
        key.chmod(0o600)
    isolation, seen = _report(_grade_without_mounts(course))
    assert seen["key"] == "Permission denied", seen
    assert KEY_NOTE not in isolation
    assert any(n.startswith("reference solutions readable") for n in isolation)  # still open
    subprocess.run(
        ["chmod", "-R", "go-rwx", str(course / "reference"), str(course / "assignments")], check=True
    )
    isolation, _ = _report(_grade_without_mounts(course))
    assert not any("readable by the sandbox user" in n for n in isolation), isolation
