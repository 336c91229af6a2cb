"""A batch as root without any namespace (a container without CAP_SYS_ADMIN, simulated with
`capsh --drop`): nothing of one submission reaches the next. Each submission runs under a user
id of its own; when it is done, every process of that id is ended (a daemon that escaped its
process group too) and its files in the machine's shared /tmp, /var/tmp and /dev/shm are
removed. Needs root and an interpreter a sandbox user can run without mounts
(GRADER_PUBLIC_PYTHON, see .ci/run).

The attacks are harmless where the sandbox fails: they act only when they run as neither root
nor the test's own user, and only on processes and files of their own user.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from grader.sandbox import isolation, leftovers
from grader.sandbox.limits import Isolation, Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import BODY, IMPORTS, RANDOM, ZEROS, graded
from tests.test_kernel_sockets import HIJACK, listening, printed


def _public_python() -> str | None:
    """An interpreter with our dependencies that a sandbox user can run without mounts."""
    exe = os.environ.get("GRADER_PUBLIC_PYTHON") or sys.executable
    real = Path(exe).resolve()
    return exe if all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]) else None


@pytest.fixture
def nocap() -> Iterator[tuple[Path, str]]:
    """A folder any user may traverse (for submissions and reports), and a `grader` command
    with our code on the public interpreter. What attacks leave goes to `_loot(base)`."""
    exe = _public_python()
    if os.geteuid() != 0 or shutil.which("capsh") is None or exe is None:
        pytest.skip("needs root, capsh and an interpreter others may run (GRADER_PUBLIC_PYTHON)")
    base = Path(tempfile.mkdtemp(prefix="nocap-"))
    base.chmod(0o755)
    _loot(base).parent.mkdir(mode=0o755)
    _loot(base).mkdir(mode=0o1777)
    _loot(base).chmod(0o1777)
    wrapper = base / "grader"
    wrapper.write_text(f'#!/bin/sh\nexec {exe} -c "from grader.launch import main; main()" "$@"\n')
    wrapper.chmod(0o755)
    yield base, str(wrapper)
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(_loot(base).parent, ignore_errors=True)


def _loot(base: Path) -> Path:
    """Where attacks leave what shows they ran: in /dev/shm, the one shared place Landlock leaves
    student code here (the batch's folder is hidden, and /tmp with it: it holds hidden folders).
    In a folder of root's: the sweep of a sandbox user's files looks only into world-writable
    ones."""
    return Path("/dev/shm") / base.name / "loot"


def _batch(
    base: Path, grader_cmd: str, notebooks: dict[str, list[str]], *, fast: bool = True, jobs: int = 1
) -> dict[str, dict[str, Any]]:
    """Grade the notebooks (name -> cells) in one batch, one at a time, with no namespace at all:
    each report by name."""
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    for name, cells in notebooks.items():
        write_notebook(subs / f"{name}.ipynb", make_notebook(cells)).chmod(0o644)
    options = "--fast --timeout 20" if fast else ""
    run = f"{grader_cmd} run {options} --jobs {jobs} --format json --output {out} {subs}"
    cmd = ["capsh", "--drop=cap_sys_admin", "--", "-c", run]
    subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    return {name: json.loads((out / f"{name}.json").read_text()) for name in notebooks}


def _zeros(report: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in report["functions"] if f["name"] == ZEROS)


def _unique(n: int) -> str:
    """A correct answer of its own (the cache would run identical ones once)."""
    return graded(ZEROS, f"    _submission = {n}\n" + BODY[ZEROS])


# a daemon (double fork, a session of its own) that stops, for a minute, every process started
# after it that it may signal: later students' function children, when they share its user
DAEMON = """    import os, signal, time
    if os.getuid() not in (0, GRADER_UID) and os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.closerange(0, 64)
            me = os.getpid()
            open(LOOT + "/daemon-%d" % me, "w").close()
            start = time.time()
            while time.time() - start < 60:
                for p in os.listdir("/proc"):
                    try:
                        if p.isdigit() and int(p) > me:
                            os.kill(int(p), signal.SIGSTOP)
                    except OSError:
                        pass
                time.sleep(0.002)
        os._exit(0)
    return {}
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False


def test_a_daemon_of_one_submission_never_reaches_the_next(nocap: tuple[Path, str]) -> None:
    base, grader_cmd = nocap
    daemon = DAEMON.replace("GRADER_UID", str(os.getuid())).replace("LOOT", repr(str(_loot(base))))
    reports = _batch(base, grader_cmd, {
        "a_daemon": [IMPORTS, graded(ZEROS, daemon)],
        "b_first": [IMPORTS, _unique(1)],
        "c_second": [IMPORTS, _unique(2)],
    })  # fmt: skip
    started = [int(p.name.split("-")[1]) for p in _loot(base).glob("daemon-*")]
    assert started, "the daemon never ran: the attack proves nothing"
    for name in ("b_first", "c_second"):  # as each scores alone
        assert _zeros(reports[name])["score"] == _zeros(reports[name])["max_score"], reports[name]
    assert not [pid for pid in started if _running(pid)], "the daemon outlived its submission"


# student A leaves files for whoever comes next, readable by all, in every shared folder it may
# write to (Landlock refuses it /tmp where hidden folders lie in it); student B looks for them
# (and A reports its own user, its tmp folder and where it planted)
PLANT = """    import os
    if os.getuid() in (0, GRADER_UID):
        return {}
    planted = []
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(d + "/NAME", "w") as f:
                f.write("A's solution")
        except PermissionError:
            continue
        os.chmod(d + "/NAME", 0o644)
        os.makedirs(d + "/NAME.d/deep/er")
        open(d + "/NAME.d/deep/er/x", "w").close()
        os.chmod(d + "/NAME.d/deep", 0)
        planted.append(d)
    tmp = os.stat(os.environ["TMPDIR"])
    raise RuntimeError("OBS%sSBO" % [os.getuid(), tmp.st_uid, oct(tmp.st_mode & 0o7777), planted])
"""
LOOK = """    import os
    found = []
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            found.append(open(d + "/NAME").read())
        except OSError:
            pass
    raise RuntimeError("OBS%sSBO" % [os.getuid(), found])
"""


def _seen(report: dict[str, Any]) -> Any:
    message = _zeros(report)["message"]
    assert "OBS" in message, message
    return eval(message.split("OBS")[1].split("SBO")[0])  # a list of numbers and strings we wrote


def test_files_never_pass_between_submissions_nor_stay(nocap: tuple[Path, str]) -> None:
    base, grader_cmd = nocap
    name = f"grader-test-{secrets.token_hex(6)}"
    plant = PLANT.replace("GRADER_UID", str(os.getuid())).replace("NAME", name)
    try:
        reports = _batch(base, grader_cmd, {
            "a_plants": [IMPORTS, graded(ZEROS, plant)],
            "b_looks": [IMPORTS, graded(ZEROS, LOOK.replace("NAME", name))],
        })  # fmt: skip
        uid_a, tmp_owner, tmp_mode, planted = _seen(reports["a_plants"])
        uid_b, found = _seen(reports["b_looks"])
        assert "/dev/shm" in planted, "nothing was planted: the test proves nothing"
        assert uid_a != uid_b and found == []
        assert (tmp_owner, tmp_mode) == (uid_a, "0o700")  # the scratch's tmp: its own only
        left = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.lexists(f"{d}/{name}")]
        left += [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.lexists(f"{d}/{name}.d")]
        assert left == [], "files outlived the submission"
        notes = " ".join(reports["b_looks"]["isolation"])
        assert "unbounded by tmp_mb" in notes  # what cannot be held is said
    finally:
        for d in ("/tmp", "/var/tmp", "/dev/shm"):
            Path(f"{d}/{name}").unlink(missing_ok=True)
            if os.path.isdir(f"{d}/{name}.d"):
                subprocess.run(["chmod", "-R", "u+rwx", f"{d}/{name}.d"], check=False)
                shutil.rmtree(f"{d}/{name}.d", ignore_errors=True)


# one function records every input it is called with (its hidden cases' too) where the next
# function of the same submission may look, and leaves a daemon that writes them again later;
# the next function's visible message (which the student reads) shows what it found
RECORD = """    import os, time
    if os.getuid() not in (0, GRADER_UID):
        open(LOOT + "/ran-%d" % os.getuid(), "w").close()
        with open("/dev/shm/NAME", "a") as f:
            f.write(repr(layers_dims) + ";")
        os.chmod("/dev/shm/NAME", 0o666)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for _ in range(100):
                    time.sleep(0.05)
                    with open("/dev/shm/NAME", "a") as f:
                        f.write("daemon " + repr(layers_dims) + ";")
            os._exit(0)
"""
REVEAL = """    import os
    try:
        found = open("/dev/shm/NAME").read()
    except OSError:
        found = None
    raise RuntimeError("OBS%sSBO" % [os.getuid(), found])
"""


def test_a_functions_hidden_inputs_never_reach_the_next_functions_visible_message(
    nocap: tuple[Path, str],
) -> None:
    base, grader_cmd = nocap
    name = f"grader-test-{secrets.token_hex(6)}"
    record = RECORD.replace("GRADER_UID", str(os.getuid())).replace("LOOT", repr(str(_loot(base))))
    try:
        reports = _batch(base, grader_cmd, {
            "spy": [IMPORTS, graded(ZEROS, record.replace("NAME", name) + BODY[ZEROS]),
                    graded(RANDOM, REVEAL.replace("NAME", name))],
        })  # fmt: skip
        ran = [int(p.name.split("-")[1]) for p in _loot(base).glob("ran-*")]
        assert ran, "the recording function never ran: the test proves nothing"
        revealed = next(f for f in reports["spy"]["functions"] if f["name"] == RANDOM)["message"]
        uid, found = eval(revealed.split("OBS")[1].split("SBO")[0])
        assert uid not in ran and found is None, revealed
        assert not os.path.lexists(f"/dev/shm/{name}"), "the recording outlived the submission"
    finally:
        Path(f"/dev/shm/{name}").unlink(missing_ok=True)


# side by side (--jobs 2), one student's hidden cases name files after their inputs (a 0600
# file's name is there for all to list) while a classmate's visible case looks for them
SIGNAL = """    import os, time
    if os.getuid() not in (0, GRADER_UID):
        open(LOOT + "/ran-%d" % os.getuid(), "w").close()
        open("/dev/shm/NAME-" + "-".join(map(str, layers_dims)), "w").close()
        time.sleep(1.5)
"""
WATCH = """    import os, time
    found, start = [], time.time()
    while not found and time.time() - start < 3:
        found = [n for n in os.listdir("/dev/shm") if n.startswith("NAME")]
        time.sleep(0.05)
    raise RuntimeError("OBS%sSBO" % [os.getuid(), found])
"""


def test_sandboxes_without_namespaces_never_run_side_by_side(nocap: tuple[Path, str]) -> None:
    base, grader_cmd = nocap
    name = f"grader-test-{secrets.token_hex(6)}"
    signal = SIGNAL.replace("GRADER_UID", str(os.getuid())).replace("LOOT", repr(str(_loot(base))))
    try:
        reports = _batch(base, grader_cmd, {
            "a_signals": [IMPORTS, graded(ZEROS, signal.replace("NAME", name) + BODY[ZEROS])],
            "b_watches": [IMPORTS, graded(ZEROS, WATCH.replace("NAME", name))],
        }, jobs=2)  # fmt: skip
        assert list(_loot(base).glob("ran-*")), "the signalling function never ran: the test proves nothing"
        uid, found = _seen(reports["b_watches"])
        assert found == [], f"a classmate running beside it listed {found}"
    finally:
        for left in Path("/dev/shm").glob(f"{name}*"):
            left.unlink()


def test_the_scratch_tmp_belongs_to_the_sandbox_user_alone() -> None:
    if os.geteuid() != 0:
        pytest.skip("the user switch needs root")
    scratch = prepare_scratch(Path("."), ())
    cfg: dict[str, Any] = {}
    try:
        iso = Isolation(False, False, False, True, ipc=False, proc=False, readonly=False, budget=False)
        cfg = isolation.jail_config(scratch, Limits(), iso, [])
        st = os.stat(scratch / "tmp")
        assert (st.st_uid, st.st_mode & 0o7777) == (cfg["uid"], 0o700)
    finally:
        isolation.release_uid(cfg.get("uid", -1))
        remove_scratch(scratch)


def _sysv_of(uid: int) -> list[str]:
    """The SysV objects of the machine `uid` owns, as table:id."""
    found = []
    for table in ("shm", "msg", "sem"):
        head, *rows = [line.split() for line in Path(f"/proc/sysvipc/{table}").read_text().splitlines()]
        found += [f"{table}:{r[1]}" for r in rows if str(uid) in (r[head.index("uid")], r[head.index("cuid")])]
    return found


def test_clearing_a_user_ends_its_processes_and_removes_its_files() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to a sandbox user needs root")
    uid = isolation.sandbox_uid()
    assert uid in isolation.SANDBOX_UIDS
    top = Path(tempfile.mkdtemp(prefix="clear-"))
    top.chmod(0o1777)
    mine = top / "kept"  # another user's file stays
    mine.write_text("root's")
    try:
        pid = os.fork()
        if pid == 0:  # a process of that user that plants a tree and a daemon, then waits
            try:
                os.setgid(leftovers.NOGROUP)
                os.setuid(uid)
                os.makedirs(top / "tree" / "a" / "b")
                (top / "tree" / "a" / "b" / "f").write_text("x")
                (top / "tree" / "a").chmod(0)
                os.symlink(mine, top / "link")
                libc = ctypes.CDLL(None)  # SysV objects: the machine's, with no IPC namespace
                made = [libc.shmget(0, 4096, 0o1666), libc.msgget(0, 0o1666), libc.semget(0, 1, 0o1666)]
                assert min(made) >= 0, made
                if os.fork() == 0:
                    os.setsid()
                    while True:
                        time.sleep(1)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert leftovers.alive(uid), "the planted daemon is not running"
        assert leftovers.clear(uid, [str(top)])
        assert leftovers.alive(uid) == []
        assert sorted(p.name for p in top.iterdir()) == ["kept"] and mine.read_text() == "root's"
        assert _sysv_of(uid) == [], "its SysV objects outlived it"
    finally:
        isolation.release_uid(uid)
        subprocess.run(["chmod", "-R", "u+rwx", str(top)], check=False)
        shutil.rmtree(top, ignore_errors=True)


def test_the_kernel_cannot_send_the_grader_to_another_socket(nocap: tuple[Path, str]) -> None:
    # without a mount namespace the kernel's sockets lie in the scratch's tmp/, its user's own:
    # it can replace them, whoever owns them
    base, grader_cmd = nocap
    with listening() as (path, seen):
        _batch(base, grader_cmd, {"hijack": [HIJACK.replace("TRAP", repr(path)), IMPORTS, _unique(3)]}, fast=False)
        said = printed(base / "out" / "hijack.executed.ipynb")
        assert "replaced 5" in said, said  # the attack ran
        assert seen == [], "the grader connected to a socket the kernel pointed it to"


@contextmanager
def _abandoned() -> Iterator[int]:
    """A sandbox id a grader held when it died (its lock gone, nothing cleared), with a process of
    that id's sandbox still running."""
    if os.geteuid() != 0:
        pytest.skip("switching to a sandbox user needs root")
    uid = isolation.sandbox_uid()
    pid = os.fork()
    if pid == 0:  # what its sandbox started: still running when the grader died
        try:
            os.close(isolation._LEASES[uid])  # the lock is the grader's, not inherited (close on exec)
            os.setgid(leftovers.NOGROUP)
            os.setuid(uid)
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while not leftovers.alive(uid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert leftovers.alive(uid) == [pid]
        os.close(isolation._LEASES.pop(uid))  # the grader died: its lock went, nothing was cleared
        yield uid
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def test_an_id_a_dead_grader_held_is_cleared_before_it_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    with _abandoned() as uid:
        monkeypatch.setattr(isolation, "SANDBOX_UIDS", range(uid, uid + 1))
        assert isolation.sandbox_uid() == uid
        assert leftovers.alive(uid) == [], "a new sandbox shares its user with a dead one's process"
        isolation.release_uid(uid)


def test_ids_dead_graders_held_are_cleared_without_being_drawn() -> None:
    with _abandoned() as uid:
        folder = Path(tempfile.gettempdir()) / "grader-uids"
        isolation._clear_abandoned(folder)  # what the next grader does once, beside its work
        assert leftovers.alive(uid) == [], "a dead grader's sandbox process runs on"
        assert (folder / str(uid)).read_bytes() == isolation.CLEAN


def test_clearing_survives_another_thread_collecting_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    # the grader's threads collect exited orphans with waitpid(-1): the child `clear` waits for
    # may be collected first (a background clearing printed a traceback over a run's output)
    if os.geteuid() != 0:
        pytest.skip("switching to a sandbox user needs root")
    real = os.waitpid

    def collected_elsewhere(pid: int, flags: int) -> tuple[int, int]:
        if pid > 0 and flags == 0:
            real(pid, 0)
            raise ChildProcessError(10, "No child processes")
        return real(pid, flags)

    uid = isolation.sandbox_uid()
    try:
        monkeypatch.setattr(os, "waitpid", collected_elsewhere)
        assert leftovers.clear(uid, [])
    finally:
        monkeypatch.undo()
        isolation.release_uid(uid)


# without a network namespace the machine's abstract unix sockets are one connect away (no
# filter can read the address): a service's, or another sandbox's
KNOCK = """    import os, socket
    said = "no try"
    if os.getuid() not in (0, GRADER_UID):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(ADDRESS)
            said = "connected"
        except OSError as exc:
            said = type(exc).__name__
    raise RuntimeError("OBS%sSBO" % [os.getuid(), said])
"""


def test_no_abstract_socket_outside_the_sandbox_is_reached(nocap: tuple[Path, str]) -> None:
    import socket

    from grader.sandbox import landlock

    base, grader_cmd = nocap
    if landlock.version() < landlock.SCOPED_SINCE:
        pytest.skip("the kernel's Landlock has no scopes (ABI 6)")
    address = f"\0grader-test-{secrets.token_hex(6)}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(8)
    listener.setblocking(False)
    try:
        knock = KNOCK.replace("GRADER_UID", str(os.getuid())).replace("ADDRESS", repr(address))
        reports = _batch(base, grader_cmd, {"knocks": [IMPORTS, graded(ZEROS, knock)]})
        uid, said = _seen(reports["knocks"])
        try:
            listener.accept()
            reached = True
        except BlockingIOError:
            reached = False
        assert said != "no try" and not reached, said
    finally:
        listener.close()
