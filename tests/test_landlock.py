"""The Landlock layer (grader/sandbox/landlock.py): the rights it asks for under each ABI, the
allow-list it builds from the jail's configuration (no rule on a folder that holds a hidden one),
what a process restricted by it can still reach, and the layer in the machine's sandboxes:
active with namespaces too, noted when the kernel (or a seccomp profile) has no Landlock.

Landlock needs no privilege: .ci/run runs this file as root and as a plain user.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.grading import grade
from grader.sandbox import isolation, jail, landlock
from grader.sandbox.limits import Isolation
from tests.conftest import make_notebook, write_notebook
from tests.jailkit import saw_in_function, without_landlock
from tests.redteam_scenarios import CORRECT, HE, IMPORTS, RANDOM, REFERENCE, ZEROS


def _landlock_or_skip() -> None:
    if landlock.version() == 0:
        pytest.skip(f"no Landlock here: {landlock.why_missing()}")


# ----------------------------------------------------------------------------- on paper


def test_the_rights_handled_are_those_the_running_abi_knows() -> None:
    v1 = (1 << 13) - 1  # execute .. make_sym
    assert landlock.handled(1) == v1
    assert landlock.handled(2) == v1 | landlock.REFER
    assert landlock.handled(3) == landlock.handled(4) == v1 | landlock.REFER | landlock.TRUNCATE
    full = v1 | landlock.REFER | landlock.TRUNCATE | landlock.IOCTL_DEV
    assert landlock.handled(5) == landlock.handled(6) == landlock.handled(7) == full
    assert landlock.handled(0) == 0


@pytest.fixture
def tree() -> Iterator[Path]:
    """issue 10 item 11's layout: a course folder in a tmp place, its venv shown, its answer key
    hidden, another class's folder and a stray file beside them."""
    top = Path(tempfile.mkdtemp(prefix="landlock-tree-"))
    course = top / "place" / "course"
    for folder in (".venv/lib", "expected", "other-class", "scratch/tmp"):
        (course / folder).mkdir(parents=True)
    (course / ".venv" / "lib" / "mod.py").write_text("X = 1\n")
    (course / ".venv" / "lib" / "key").symlink_to(course / "expected")  # a link into the hidden folder
    (course / "expected" / "key.json").write_text('{"answer": 42}')
    (course / "other-class" / "notes.txt").write_text("another class's notes")
    (top / "outside.txt").write_text("the machine's")
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o777 if path.is_dir() else 0o666)  # permissions never stop anyone here
    yield top
    shutil.rmtree(top, ignore_errors=True)


def _cfg(tree: Path, *, mounts: bool) -> dict[str, object]:
    course = tree / "place" / "course"
    return {
        "cwd": str(course / "scratch"),
        "tmp": str(course / "scratch" / "tmp"),
        "needed": [str(course / ".venv"), str(course / "scratch")],
        "system": [],
        "hide": [str(course / "expected")],
        "mounts": mounts,
        "landlock": True,
    }


def test_no_rule_is_on_a_hidden_folder_or_on_any_folder_above_one(tree: Path) -> None:
    place = str(tree / "place")
    rules = landlock.allowed(_cfg(tree, mounts=False), (place,), ())
    hidden = str(tree / "place" / "course" / "expected")
    paths = [p for p, _ in rules]
    assert not [p for p in paths if hidden == p or hidden.startswith(p.rstrip("/") + "/")], paths
    assert place not in paths  # a machine's tmp place holding a hidden folder: not at all
    assert str(tree / "place" / "course" / ".venv") in paths
    assert dict(rules)[str(tree / "place" / "course" / "scratch" / "tmp")] == landlock.WRITE


def test_a_machines_tmp_place_with_nothing_hidden_in_it_is_granted_whole(tree: Path) -> None:
    other = tree / "other-place"
    other.mkdir()
    rules = dict(landlock.allowed(_cfg(tree, mounts=False), (str(other),), ()))
    assert rules[str(other)] == landlock.WRITE


def test_as_the_graders_own_user_a_place_holding_what_the_sandbox_is_shown_is_not_granted(tree: Path) -> None:
    # the venv and the scratch lie in it: writable, student code (our user) could change them
    other = tree / "other-place"
    (other / "venv").mkdir(parents=True)
    cfg = {**_cfg(tree, mounts=False), "hide": [], "needed": [str(other / "venv")]}
    assert str(other) in dict(landlock.allowed({**cfg, "user": True}, (str(other),), ()))
    assert str(other) not in dict(landlock.allowed({**cfg, "user": False}, (str(other),), ()))


def test_with_a_mount_namespace_the_private_places_are_granted_whole_and_the_root_listed(tree: Path) -> None:
    place = str(tree / "place")  # private: a fresh tmpfs, whatever the host holds at that path
    rules = dict(landlock.allowed(_cfg(tree, mounts=True), (place,), ("null",)))
    assert rules[place] == landlock.WRITE and rules["/"] == landlock.READ_DIR
    assert rules["/dev/null"] == landlock.DEVICE and landlock.DEVICE & landlock.IOCTL_DEV == 0


def test_landlock_is_defence_in_depth_with_mounts_and_not_part_of_completeness() -> None:
    assert Isolation(True, True, True, True, files=False).complete
    assert not Isolation(
        False, False, False, True, ipc=False, proc=False, readonly=False, files=True
    ).complete


def test_the_jails_text_joined_with_landlocks_redefines_nothing() -> None:
    def names(path: str) -> set[str]:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        found = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                found |= {
                    t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)
                }
        return found

    assert names(landlock.__file__) & names(jail.__file__) == set()


# ----------------------------------------------------------------------------- in the kernel


def _in_child(check: Callable[[], dict[str, object]]) -> dict[str, object]:
    """What `check` returns, run in a forked child (a Landlock domain ends with its process)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            os.write(writer, json.dumps(check()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    assert data, "the restricted child died"
    return dict(json.loads(data))


def test_a_restricted_process_reaches_what_is_granted_and_nothing_of_what_is_hidden(tree: Path) -> None:
    _landlock_or_skip()
    course = tree / "place" / "course"
    rules = landlock.allowed(_cfg(tree, mounts=False), (str(tree / "place"),), ("null",))
    rules += [(p, landlock.RUN) for p in ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache")]

    def read(path: Path) -> str:
        try:
            return path.read_text()[:2]
        except OSError as exc:
            return type(exc).__name__

    def check() -> dict[str, object]:
        landlock.restrict(rules)
        tmp = course / "scratch" / "tmp"
        seen: dict[str, object] = {
            "venv": read(course / ".venv" / "lib" / "mod.py"),
            "key": read(course / "expected" / "key.json"),
            "link": read(course / ".venv" / "lib" / "key" / "key.json"),
            "neighbour": read(course / "other-class" / "notes.txt"),
            "outside": read(tree / "outside.txt"),
            "passwd": read(Path("/etc/passwd")),
            "access": os.access(course / "expected" / "key.json", os.R_OK),  # why the probe opens
            "opens": isolation._opens(str(course / "expected" / "key.json")),
        }
        (tmp / "made").write_text("ok")
        seen["tmp"] = read(tmp / "made")
        script = tmp / "run.sh"
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
        for name, action in {
            "place": lambda: (tree / "place" / "new").write_text("x"),
            "link_out": lambda: os.link(course / "expected" / "key.json", tmp / "stolen"),
            "listing": lambda: os.listdir(course),
            "exec": lambda: subprocess.run([str(script)], check=False),
        }.items():
            try:
                action()
                seen[name] = "done"
            except OSError as exc:
                seen[name] = type(exc).__name__
        return seen

    seen = _in_child(check)
    refused = "PermissionError"
    assert (seen["venv"], seen["tmp"]) == ("X ", "ok"), seen
    for name in ("key", "link", "neighbour", "outside", "passwd", "place", "listing", "exec"):
        assert seen[name] == refused, (name, seen)
    assert seen["link_out"] in ("OSError", refused), seen  # EXDEV: no right may be gained so
    assert seen["access"] is True and seen["opens"] is False, seen


# ----------------------------------------------------------------------------- in the sandbox

# a program student code writes, then runs: its private tmpfs allows it (Landlock's EXECUTE right
# is granted only where the system's and the interpreter's programs lie)
WRITE_AND_RUN = """
import subprocess
script = os.path.join(os.environ["TMPDIR"], "run.sh")
with open(script, "w") as f:
    f.write("#!/bin/sh\\nexit 7\\n")
os.chmod(script, 0o755)
try:
    obs["exec"] = subprocess.run([script]).returncode
except OSError as exc:
    obs["exec"] = type(exc).__name__
obs["listed"] = sorted(os.listdir("/"))[:1]
"""


def test_with_namespaces_too_nothing_student_code_wrote_runs_as_a_program(tmp_path: Path) -> None:
    _landlock_or_skip()
    iso = isolation.available_isolation()
    assert iso.files and not any("Landlock" in n for n in iso.notes), iso.notes
    seen = saw_in_function(WRITE_AND_RUN, tmp_path / "fn")
    assert seen["exec"] == "PermissionError", seen
    assert seen["listed"], seen  # with a mount namespace the root (the allow-list) is listed


def test_the_reference_keeps_full_marks(tmp_path: Path) -> None:
    _landlock_or_skip()
    assert isolation.available_isolation().files
    path = write_notebook(
        tmp_path / "Initialization.ipynb",
        make_notebook([IMPORTS, *(CORRECT[f] for f in (ZEROS, RANDOM, HE))]),
    )
    report = grade.grade_path(path, grade.Options(assignment="initialization"))
    assert [f.score for f in report.functions] == [f.max_score for f in report.functions] == [10, 10, 10]


def test_a_kernel_without_landlock_is_noted_and_still_grades(tmp_path: Path) -> None:
    # as a kernel older than 5.13, or a container whose seccomp profile refuses the calls: the
    # layer is probed away with a note; with namespaces isolation is still complete
    shutil.copy(REFERENCE, tmp_path / "Initialization.ipynb")
    os.chmod(tmp_path, 0o755)
    argv = [
        sys.executable,
        "-c",
        "from grader.launch import main; main()",
        "run",
        "--fast",
        "--format",
        "json",
    ]
    done = subprocess.run(
        without_landlock([*argv, str(tmp_path / "Initialization.ipynb")]),
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    notes = [n for n in report["isolation"] if n.startswith("no Landlock (")]
    assert notes and "seccomp" in notes[0], report["isolation"]
    assert report["score"] == 30, report
    if isolation.available_isolation().complete:  # the namespaces hold the files back: not refused
        refused = subprocess.run(
            without_landlock([*argv, "--require-isolation", str(tmp_path / "Initialization.ipynb")]),
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode == 0, refused.stderr
