"""Red team, issue 10 finding 6 of the second round: everything the full-mode kernel may write lies
in the sandbox's private, size-limited tmpfs. Its connection file and sockets used to live in a
folder on the host's disk that the kernel's user could write (without root, a chmod undid the
lock), so a cell wrote 96 MB past every tmpfs limit. Must hold as root and as a plain user:
.ci/run runs this file as both.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.errors import GraderError
from grader.sandbox import execute, isolation
from grader.sandbox.limits import Limits
from tests.conftest import make_notebook, write_notebook

TMP_MB, FILE_MB = 4, 8  # a host file can take FILE_MB (RLIMIT_FSIZE), a tmpfs at most TMP_MB
LIMITS = replace(Limits(), tmp_mb=TMP_MB, file_size_mb=FILE_MB)

# A hostile cell: every folder it can find (or make writable: it owns some), filled with files,
# and every regular file there it can append to, up to GOAL_MB each; then it tidies up and
# prints how much each place took.
FILL = r"""
import json, os, stat, sys, time
CHUNK, GOAL = b"\0" * (1 << 20), GOAL_MB << 20
places = {}

def add(path, why):
    if path and os.path.isdir(path):
        places.setdefault(os.path.realpath(path), why)

def with_parents(path, why):
    while path and path != "/":
        add(path, why)
        path = os.path.dirname(path)

from ipykernel.kernelapp import IPKernelApp
from jupyter_core import paths
app = IPKernelApp.instance()
connection = app.abs_connection_file
sockets = os.path.dirname(app.ip) if app.transport == "ipc" else ""
home = os.path.expanduser("~")
named = {"cwd": os.getcwd(), "connection": os.path.dirname(connection), "sockets": sockets, "home": home}
named = {why: os.path.realpath(path) if path else "" for why, path in named.items()}
known = [os.path.realpath(connection)]
for why, path in named.items():
    with_parents(path, why)
for var in ("HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR",
            "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
    with_parents(os.environ.get(var, ""), var)
for sub in (".local", ".local/share/jupyter/runtime", ".ipython", ".jupyter", ".cache", ".config"):
    with_parents(os.path.join(home, sub), "~/" + sub)
for path in (paths.jupyter_runtime_dir(), paths.jupyter_data_dir(), paths.jupyter_config_dir(),
             get_ipython().profile_dir.location, "/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
    with_parents(path, "jupyter/ipython/shared")
started = time.monotonic()
for top in (os.getcwd(), home, "/"):
    for root, dirs, _ in os.walk(top):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        st = os.lstat(root)
        if os.access(root, os.W_OK) or st.st_uid == os.geteuid():
            add(root, "walk")
        if time.monotonic() - started > 40:
            break

def fill(place):
    took = 0
    try:
        os.chmod(place, 0o700 | os.stat(place).st_mode)  # the lock a plain user could undo
    except OSError:
        pass
    for i in range(2 * GOAL_MB):
        if took >= GOAL:
            break
        try:
            fd = os.open(os.path.join(place, f".fill-{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            break
        try:
            while took < GOAL:
                took += os.write(fd, CHUNK)
        except OSError:
            pass
        finally:
            os.close(fd)
    try:
        names = os.listdir(place)
    except OSError:  # a folder we may only pass through: the names we know
        names = []
    names += [os.path.basename(f) for f in known if os.path.dirname(f) == place]
    for name in names:  # files already there: the connection file, a history database...
        path = os.path.join(place, name)
        if took >= GOAL or name.startswith(".fill-") or not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        try:
            os.chmod(path, 0o600 | os.stat(path).st_mode)
        except OSError:
            pass
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except OSError:
            continue
        size = os.fstat(fd).st_size
        try:
            while took < GOAL:
                took += os.write(fd, CHUNK)
        except OSError:
            pass
        finally:
            os.ftruncate(fd, size)
            os.close(fd)
    for i in range(2 * GOAL_MB):  # only now: what they took must count against the same space
        try:
            os.unlink(os.path.join(place, f".fill-{i}"))
        except OSError:
            pass
    return took

took = {place: fill(place) for place in sorted(places)}
print("OBS" + json.dumps({"took": took, "why": places, "named": named}) + "SBO")
"""


def _filled(tmp_path: Path) -> dict[str, Any]:
    """What each place the hostile cell found took, from its executed notebook."""
    folder = tmp_path / "sub"
    folder.mkdir()
    source = FILL.replace("GOAL_MB", str(3 * TMP_MB))
    path = write_notebook(folder / "submission.ipynb", make_notebook([source]))
    result = execute.run_notebook(path, "initialization", output=tmp_path, cell_timeout=110, limits=LIMITS)
    executed = nbformat.read(tmp_path / "submission.executed.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.get("output_type") == "stream")
    found = re.search(r"OBS(.*?)SBO", text)
    assert found, (result, executed.cells[0].outputs)
    return dict(json.loads(found.group(1)))


def test_no_place_the_kernel_can_write_takes_more_than_the_tmpfs_limit(tmp_path: Path) -> None:
    iso = isolation.available_isolation()
    if not (iso.mounts and iso.readonly):
        # nothing bounds the kernel's writes then, and the report says so
        assert any("mount" in n for n in iso.notes)
        pytest.skip("this machine gives the sandbox no read-only mount namespace")
    seen = _filled(tmp_path)
    took, why, named = seen["took"], seen["why"], seen["named"]
    over = {place: (why[place], round(n / 2**20, 1)) for place, n in took.items() if n > TMP_MB << 20}
    assert over == {}, f"places on the host's disk the kernel filled past {TMP_MB} MB: {over}"
    # the attack reached what it meant to: the kernel's own folders were found, and the home
    # folder (the private tmpfs) took what its limit allows, so the writes themselves worked
    for what in ("cwd", "connection", "sockets", "home"):
        assert named[what], named
    assert {named["connection"], named["sockets"]} <= set(took)
    assert took[named["home"]] > (TMP_MB - 1) << 20, took


REPLACE = r"""
import json, os
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
folder = os.path.dirname(app.ip)
replaced = []
for name in sorted(os.listdir(folder)):
    if name.startswith(os.path.basename(app.ip) + "-"):
        path = os.path.join(folder, name)
        try:
            os.symlink("/run/some-host-service.sock", path + ".new")
            os.replace(path + ".new", path)  # our reconnects would follow it
            replaced.append(name)
        except OSError:
            pass
print("OBS" + json.dumps({"replaced": replaced, "tried": len(os.listdir(folder))}) + "SBO")
"""


def test_the_sandbox_user_cannot_replace_the_kernels_sockets(tmp_path: Path) -> None:
    iso = isolation.available_isolation()
    if not iso.user:
        pytest.skip("without root the kernel is the grader's own user, the owner of its sockets")
    path = write_notebook(tmp_path / "submission.ipynb", make_notebook([REPLACE]))
    execute.run_notebook(path, "initialization", output=tmp_path, cell_timeout=60)
    executed = nbformat.read(tmp_path / "submission.executed.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.get("output_type") == "stream")
    found = re.search(r"OBS(.*?)SBO", text)
    assert found, executed.cells[0].outputs
    seen = json.loads(found.group(1))
    assert seen["tried"] >= 4 and seen["replaced"] == [], seen


def test_a_temporary_folder_too_deep_for_the_sockets_is_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert execute.fits_a_socket("/tmp/grader-4194304-abcdefgh/tmp")
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    path = write_notebook(tmp_path / "submission.ipynb", make_notebook(["print(1)"]))
    with pytest.raises(GraderError, match="too deep for the kernel's sockets"):
        execute.run_notebook(path, "initialization", output=None)
    assert list(deep.iterdir()) == []  # its scratch is gone
