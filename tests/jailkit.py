"""Helpers for the isolation tests: student code that reports what it saw, and a jail applied
in a forked child to a tree made readable by all.

Student code reports what it saw by raising it (`OBS{json}SBO`): a graded function's error
message, or a notebook cell's error in the full run. The isolation test files run as root and as
a plain user (.ci/run's PLAIN list), so nothing here assumes either.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.grading import grade
from grader.sandbox import execute, isolation, jail, run
from grader.sandbox.limits import Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import IMPORTS, ZEROS, graded

ROOTLESS = os.geteuid() != 0


def reporting_body(code: str) -> str:
    """A graded function's body that runs `code` (which fills `obs`) and raises what it saw."""
    lines = ["import json, os", "obs = {}", *code.strip("\n").splitlines()]
    lines.append('raise RuntimeError("OBS" + json.dumps(obs, sort_keys=True) + "SBO")')
    return "".join(f"    {line}\n" for line in lines)


def observed(text: str) -> dict[str, Any]:
    found = re.search(r"OBS(.*?)SBO", text)
    assert found, text
    return dict(json.loads(found.group(1)))


def submission(folder: Path, code: str, name: str = "submission.ipynb") -> Path:
    """A submission in `folder` whose first graded function runs `code` and raises what it saw."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_notebook(folder / name, make_notebook([IMPORTS, graded(ZEROS, reporting_body(code))]))


def saw_in_function(
    code: str,
    folder: Path,
    *,
    session: run.Session | None = None,
    hide: tuple[str, ...] = (),
    timeout: float | None = None,
) -> Any:
    """What `code` saw, run as a graded function of a submission in `folder`."""
    options = grade.Options(assignment="initialization", hide=hide, timeout=timeout)
    report = grade.grade_path(submission(folder, code), options, session)
    return observed(report.functions[0].message)


def saw_in_cell(code: str, folder: Path, *, hide: tuple[str, ...] = (), timeout: float = 60) -> Any:
    """What `code` saw, run as a top-level cell of the full-notebook run."""
    folder.mkdir(parents=True, exist_ok=True)
    source = "import json, os\nobs = {}\n" + code + '\nraise RuntimeError("OBS" + json.dumps(obs) + "SBO")\n'
    path = write_notebook(folder / "submission.ipynb", make_notebook([source]))
    result = execute.run_notebook(path, "initialization", output=None, cell_timeout=timeout, hide=hide)
    assert result["errors"], result
    return observed(result["errors"][0]["evalue"])


def mounts_or_skip() -> None:
    """Skip where the sandbox gets no mount namespace, once the report is seen to say so."""
    iso = isolation.available_isolation()
    if not iso.mounts:
        assert any("mount namespace" in n for n in iso.notes)
        pytest.skip("this machine gives the sandbox no mount namespace")


def readable_by_all(top: Path) -> None:
    """`top` and everything in it readable (folders traversable) by any user, as a course folder
    or a shared checkout is: only the sandbox can keep it from student code. Links are left."""
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)


def exit_code_in_child(check: Callable[[], int]) -> int:
    """Run `check` in a forked child (its namespaces and mounts die with it): its exit code, 2
    when it raised."""
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            code = check()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def in_jail(
    check: Callable[[], int], *, shown: Iterable[Path] = (), hide: Iterable[Path] = (), **layers: bool
) -> int:
    """`check`'s exit code, run in a forked child confined by a jail that shows `shown` besides
    the interpreter's paths and hides `hide` besides our secrets, with the machine's layers but
    the user switch (and, unless `layers` says otherwise, the PID namespace: no init forked)."""
    scratch = prepare_scratch(Path("."), ())
    iso = replace(isolation.available_isolation(), user=False, pids=False, proc=False)
    iso = replace(iso, **layers)  # type: ignore[arg-type]  # only the boolean layers
    cfg = isolation.jail_config(
        scratch, Limits(), iso, isolation.hidden([str(h) for h in hide]), extra=tuple(str(s) for s in shown)
    )
    assert all(str(h) in cfg["hide"] for h in hide)  # never dropped, whatever is shown inside it

    def confined() -> int:
        jail.apply(cfg)
        return check()

    try:
        return exit_code_in_child(confined)
    finally:
        isolation.release_uid(cfg["uid"])
        remove_scratch(scratch)


def changeable(places: Iterable[Path]) -> bool:
    """Whether a file can be planted in any of `places`."""
    for place in places:
        try:
            (place / "planted").write_text("x")
            return True
        except OSError:
            pass
    return False


def reachable(exe: str) -> bool:
    """Whether a user of no group could run `exe` (every folder on its way traversable)."""
    real = Path(exe).resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents])


# Run a command as on a kernel without Landlock: a seccomp filter answers its three system calls
# (444-446 on every architecture we run on) with ENOSYS, as a kernel older than 5.13 or a
# container's seccomp profile does. Other architectures' calls (x32, i386) pass untouched.
NO_LANDLOCK = """
import ctypes, os, struct, sys
arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[os.uname().machine]
def op(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)
ALLOW, ENOSYS = 0x7FFF0000, 0x00050000 | 38
prog = b"".join([
    op(0x20, 0, 0, 4), op(0x15, 1, 0, arch), op(0x06, 0, 0, ALLOW),  # seccomp_data.arch
    op(0x20, 0, 0, 0), op(0x35, 0, 2, 444), op(0x35, 1, 0, 447),  # seccomp_data.nr in [444, 447)
    op(0x06, 0, 0, ENOSYS), op(0x06, 0, 0, ALLOW),
])
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc, ul = ctypes.CDLL(None, use_errno=True), ctypes.c_ulong
assert libc.prctl(ul(38), ul(1), ul(0), ul(0), ul(0)) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(ul(22), ul(2), ctypes.byref(Fprog(len(prog) // 8, prog))) == 0  # SECCOMP_MODE_FILTER
os.execvp(sys.argv[1], sys.argv[1:])
"""


def without_landlock(argv: list[str]) -> list[str]:
    """`argv` run where Landlock's system calls fail with ENOSYS (see NO_LANDLOCK)."""
    return [sys.executable, "-c", NO_LANDLOCK, *argv]
