"""Isolation layers one by one (issue 10): IPC, one set of covers for both modes, the grader's
installation read-only, a private /proc, the user switch without namespaces, and what the
private /tmp gives back. Each must hold as root and as a plain user: .ci/run runs this file as
both.

Student code reports what it saw by raising it (see tests/jailkit.py).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import grader
from grader.judging import prepared
from grader.reading import assignment as spec
from grader.sandbox import isolation, jail, run
from grader.sandbox.limits import Limits
from tests.jailkit import (
    ROOTLESS,
    changeable,
    exit_code_in_child,
    in_jail,
    mounts_or_skip,
    reachable,
    readable_by_all,
    saw_in_cell,
    saw_in_function,
)
from tests.redteam_scenarios import ROOT


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A world-readable folder outside /tmp (whose sandbox copy is private anyway): in the
    project as root, in the home folder without root (the project is root's)."""
    base = ROOT if os.access(ROOT, os.W_OK) else Path.home()
    folder = Path(tempfile.mkdtemp(prefix=".isolation-", dir=base))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- finding 2: IPC

IPC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
obs["made"] = [libc.shmget(KEY, 64 << 20, 0o1666) >= 0, libc.msgget(KEY, 0o1666) >= 0,
               rt.mq_open(b"/NAME", os.O_CREAT | os.O_RDWR, 0o666, None) >= 0]
"""
IPC_SEEN = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
obs["seen"] = [libc.shmget(KEY, 0, 0) >= 0, libc.msgget(KEY, 0) >= 0, rt.mq_open(b"/NAME", os.O_RDWR) >= 0]
"""


def _host_ipc(key: int, name: str) -> list[bool]:
    """Whether the host has SysV objects with `key`, or a POSIX queue `name`."""
    listed = subprocess.run(["ipcs"], capture_output=True, text=True, check=True).stdout
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    fd = rt.mq_open(name.encode(), os.O_RDWR)
    if fd >= 0:
        rt.mq_close(fd)
        rt.mq_unlink(name.encode())
    return [f"0x{key:08x}" in listed, fd >= 0]


def test_ipc_objects_never_pass_between_sandboxes(tmp_path: Path) -> None:
    if not isolation.available_isolation().ipc:
        pytest.skip("this machine gives the sandbox no IPC namespace")
    key, name = 0x5A000000 + secrets.randbelow(1 << 20), f"/grader-test-{secrets.token_hex(4)}"
    make = IPC.replace("KEY", str(key)).replace("/NAME", name)
    look = IPC_SEEN.replace("KEY", str(key)).replace("/NAME", name)
    try:
        with run.Session(Limits()) as session:  # one warm worker for two submissions
            saw_in_function(make, tmp_path / "alice", session=session)
            assert saw_in_function(look, tmp_path / "bob", session=session)["seen"] == [False] * 3
        assert saw_in_function(look, tmp_path / "carol")["seen"] == [False] * 3  # another sandbox
        assert _host_ipc(key, name) == [False, False], "IPC objects outlived the sandbox"
    finally:
        if _host_ipc(key, name)[0]:  # the sandbox failed: clean up what the test made
            subprocess.run(["ipcrm", "-M", hex(key)], capture_output=True)
            subprocess.run(["ipcrm", "-Q", hex(key)], capture_output=True)


# ----------------------------------------------------------------------------- finding 3: one cover list

PEEK = """
import glob
obs["read"] = []
for target in TARGETS:
    for path in glob.glob(target + "/**", recursive=True):
        try:
            if os.path.isfile(path):
                open(path, "rb").read(1)
                obs["read"].append(os.path.basename(path))
        except OSError:
            pass
"""


def _plant(outside: Path) -> tuple[Path, tuple[str, ...], list[str]]:
    """Submissions (alice's, and a sibling's), a reports folder and a gradebook beside them, as a
    batch lays them out; the folders the batch hides, and what a student may try to read."""
    subs, out = outside / "submissions", outside / "reports"
    for folder, name in ((subs / "bob", "bob.ipynb"), (out, "bob.json"), (outside / "book", "grades.db")):
        folder.mkdir(parents=True)
        (folder / name).write_text("secret")
    readable_by_all(outside)
    hide = (str(subs), str(out), str(outside / "book"))
    root = spec.project_root()
    targets = [str(subs / "bob"), str(out), str(outside / "book"), str(root / "expected"),
               str(root / "reference"), str(root / "tests" / "data"), str(root / "assignments"),
               str(Path(grader.__file__).parent)]  # fmt: skip
    return subs / "alice", hide, targets


def test_full_run_and_function_grading_cover_the_same_folders(outside_tmp: Path) -> None:
    mounts_or_skip()
    alice, hide, targets = _plant(outside_tmp)
    peek = PEEK.replace("TARGETS", repr(targets))
    assert saw_in_function(peek, alice, hide=hide)["read"] == []
    assert saw_in_cell(peek, alice, hide=hide)["read"] == []


def test_one_list_decides_what_is_hidden() -> None:
    hidden = isolation.hidden(("/srv/reports",))
    root = spec.project_root()
    for folder in ("expected", "reference", "tests", "assignments"):
        assert str(root / folder) in hidden
    assert "/srv/reports" in hidden and str(Path(grader.__file__).resolve().parent) in hidden


# ----------------------------------------------------------------------------- finding 4: read-only installation

WRITE = """
obs["wrote"] = []
for folder in TARGETS:
    try:
        with open(os.path.join(folder, "planted.pth"), "w") as f:
            f.write("import os")
        obs["wrote"].append(folder)
    except OSError:
        pass
"""


@pytest.fixture
def own_course(outside_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A course folder the grader's user owns (a checkout of its own), as GRADER_ROOT."""
    course = outside_tmp / "course"
    for folder in ("assignments/initialization", "expected"):
        shutil.copytree(ROOT / folder, course / folder)
    monkeypatch.setenv("GRADER_ROOT", str(course))
    prepared.prepare.cache_clear()
    yield course
    prepared.prepare.cache_clear()


def test_student_code_cannot_change_the_grader(own_course: Path, tmp_path: Path) -> None:
    iso = isolation.available_isolation()
    if ROOTLESS and not iso.readonly:
        pytest.skip("this machine cannot mount the grader read-only (the report says so)")
    targets = [*isolation.site_dirs(), sys.prefix, str(own_course), str(own_course / "assignments" / "initialization"),
               str(own_course / "expected"), str(ROOT), str(Path.home())]  # fmt: skip
    writable = [t for t in targets if os.access(t, os.W_OK)]  # without root, most of them
    try:
        assert saw_in_function(WRITE.replace("TARGETS", repr(targets)), tmp_path / "sub")["wrote"] == []
    finally:
        for t in writable:
            Path(t, "planted.pth").unlink(missing_ok=True)
    assert ROOTLESS or not writable or iso.user  # as root, the user switch alone keeps them safe


def test_freezing_keeps_the_flags_a_user_namespace_must_keep_and_the_writable_places(tmp_path: Path) -> None:
    if not isolation.available_isolation().readonly:
        pytest.skip("this machine cannot mount the grader read-only")
    own, tmp = tmp_path / "venv", tmp_path / "tmp"
    own.mkdir()
    tmp.mkdir()

    def frozen() -> int:
        _enter_mount_namespace()  # every mount, nosuid or noexec ones too, remounted read-only
        jail._freeze([str(tmp)])
        (tmp / "x").write_text("x")  # the writable place stays so
        return 3 if changeable([own]) else 0

    assert exit_code_in_child(frozen) == 0


def test_freezing_keeps_the_locked_flags_of_a_mount_it_was_given(tmp_path: Path) -> None:
    # a mount made above our user namespace is locked in it: a remount must keep its noexec,
    # nosuid, nodev and atime flags (strictatime here), and should keep nosymfollow
    if not isolation.available_isolation().readonly:
        pytest.skip("this machine cannot mount the grader read-only")
    strict = tmp_path / "strict"
    strict.mkdir()

    def frozen() -> int:
        _enter_mount_namespace()
        flags = jail.MS_NOSUID | jail.MS_NODEV | jail.MS_NOEXEC | jail.MS_STRICTATIME | jail.MS_NOSYMFOLLOW
        jail._mount("tmpfs", str(strict), "tmpfs", flags, "size=64k,mode=777")
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        jail._check(libc.unshare(jail.CLONE_NEWUSER | jail.CLONE_NEWNS), "unshare")
        jail._map_ids(inside=0, uid=uid, gid=gid)
        jail._freeze([])
        if not os.statvfs(strict).f_flag & jail.ST_NOSYMFOLLOW:  # kept, though not locked
            return 4
        return 3 if changeable([strict]) else 0

    assert exit_code_in_child(frozen) == 0


def test_freezing_covers_the_posix_queues_folder() -> None:
    # where /dev/mqueue is mounted (systemd does), a file made there is a queue of the host's
    # IPC namespace, whatever the sandbox's own: made here on a /dev of the test's own
    if not isolation.available_isolation().readonly:
        pytest.skip("this machine cannot mount the grader read-only")

    def frozen() -> int:
        _enter_mount_namespace(jail.CLONE_NEWIPC)
        jail._mount("tmpfs", "/dev", "tmpfs", jail.MS_NOSUID, "size=64k,mode=755")
        os.mkdir("/dev/mqueue")
        jail._mount("mqueue", "/dev/mqueue", "mqueue", jail.MS_NOSUID | jail.MS_NODEV | jail.MS_NOEXEC)
        jail._freeze([])
        try:
            os.close(os.open("/dev/mqueue/left-by-a-student", os.O_CREAT | os.O_WRONLY, 0o666))
            return 3
        except OSError:
            return 0

    assert exit_code_in_child(frozen) == 0


def _enter_mount_namespace(more: int = 0) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if ROOTLESS:
        jail._check(libc.unshare(jail.CLONE_NEWUSER | jail.CLONE_NEWNS | more), "unshare")
        jail._map_ids(inside=0, uid=uid, gid=gid)
    else:
        jail._check(libc.unshare(jail.CLONE_NEWNS | more), "unshare")
    jail._mount("none", "/", None, jail.MS_REC | jail.MS_PRIVATE)


# ----------------------------------------------------------------------------- finding 9: private /proc

PROC = """
obs["pids"] = [p for p in os.listdir("/proc") if p.isdigit()]
obs["grader"] = False
for p in obs["pids"]:
    try:
        obs["grader"] |= b"pytest" in open("/proc/%s/cmdline" % p, "rb").read()
    except OSError:
        pass
obs["pids"] = len(obs["pids"])
"""


def test_proc_is_private_in_both_modes(tmp_path: Path) -> None:
    iso = isolation.available_isolation()
    if not iso.proc:
        assert any("/proc" in n for n in iso.notes)  # then the report must say so
        pytest.skip("this machine gives the sandbox no private /proc")
    for seen in (saw_in_function(PROC, tmp_path / "fn"), saw_in_cell(PROC, tmp_path / "nb")):
        assert not seen["grader"] and seen["pids"] < 10, seen


def test_a_missing_private_proc_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_probe = isolation._probe
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    monkeypatch.setattr(isolation, "_probe", lambda cfg: not cfg["proc"] and real_probe(cfg))
    iso = isolation.available_isolation()
    if not (iso.mounts and iso.pids):
        pytest.skip("no mount and PID namespaces here")
    assert not iso.proc and not iso.complete and any("no private /proc" in n for n in iso.notes)


# ----------------------------------------------------------------------------- finding 10: no CAP_SYS_ADMIN


def test_user_switch_is_probed_without_mounts(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the user switch needs root")
    real_probe = isolation._probe
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    refused = ("network", "ipc", "mounts", "pids")
    monkeypatch.setattr(isolation, "_probe", lambda cfg: not any(cfg[k] for k in refused) and real_probe(cfg))
    iso = isolation.available_isolation()
    assert iso.user == reachable(sys.executable) and not iso.mounts  # where Python is reachable


# ----------------------------------------------------------------------------- finding 11: /tmp gives back only what it must


def test_private_tmp_gives_back_the_installation_not_its_neighbours() -> None:
    mounts_or_skip()
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # the shared /tmp itself, as a course would use it
    course = base / "course"
    venv, secret = course / "main" / ".venv", course / "bundle.zip"
    venv.mkdir(parents=True)
    (venv / "python").write_text("")
    secret.write_text("expected values")
    readable_by_all(base)

    def inside() -> int:
        code = 0 if (venv / "python").exists() else 3  # the installation is there,
        code = code or (4 if secret.exists() or os.listdir(course) != ["main"] else 0)  # alone
        return code or (5 if changeable((course, venv)) else 0)  # and neither it nor the way to it changes

    try:
        assert in_jail(inside, shown=[venv], pids=isolation.available_isolation().pids, readonly=True) == 0
    finally:
        shutil.rmtree(base)
