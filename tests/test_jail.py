"""The jail's unprivileged path: namespaces through a user namespace, and no way back out."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader.judging import prepared
from grader.reading import assignment as spec
from grader.reading import notebook, selection
from grader.sandbox import isolation, jail, run
from grader.sandbox.limits import Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch, sweep_scratch
from grader.sandbox.tasks import task_for
from grader.sandbox.worker import Worker, submit


def _in_child(cfg: dict, secret: Path) -> int:
    """Apply `cfg` in a child, then try to see the secret, even by unmounting its cover."""
    pid = os.fork()
    if pid == 0:
        try:
            jail.apply(cfg)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.umount2(str(secret.parent).encode(), 2)  # MNT_DETACH: must not be allowed
            libc.unshare(jail.CLONE_NEWUSER | jail.CLONE_NEWNS)  # a namespace of its own does not help
            libc.umount2(str(secret.parent).encode(), 2)
            os._exit(3 if secret.exists() else 0)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_user_namespace_path_hides_secrets_for_good(tmp_path: Path) -> None:
    probe = isolation.available_isolation()
    if not probe.mounts:
        pytest.skip("this machine allows no mount namespace")
    secret_dir = tmp_path / "expected"
    secret_dir.mkdir()
    secret = secret_dir / "answers.json"
    secret.write_text("{}")
    scratch = prepare_scratch(Path("."), ())
    try:
        iso = replace(probe, user=False)
        cfg = {**isolation.jail_config(scratch, Limits(), iso, [str(secret_dir)]), "userns": True}
        cfg["shared"] = []  # keep tmp_path (under /tmp) visible: only the secret is covered
        assert _in_child(cfg, secret) == 0
    finally:
        remove_scratch(scratch)


def _unprobed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_ISOLATION", None)  # as on a fresh start: nothing known yet


def test_a_first_worker_that_works_settles_isolation_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    _unprobed(monkeypatch)
    monkeypatch.setattr(isolation, "_probe", lambda cfg: pytest.fail("probed although the worker worked"))
    a = spec.load("initialization")
    with run.Session(Limits()) as session:
        worker = session.worker(a)
        assert session.confirm(a, worker)
        assert worker.confirmed and isolation._ISOLATION == worker.isolation
        assert worker.isolation == isolation._noted(isolation.strongest())
        assert _job_runs(worker)


def test_a_first_worker_that_cannot_work_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    _unprobed(monkeypatch)
    a = spec.load("initialization")
    with run.Session(Limits(), preload="numpy,no_such_module_here") as session:
        first = session.worker(a)
        assert not first.confirmed
        assert not session.confirm(a, first)
        worker = session.worker(a)
        assert worker is not first and worker.confirmed and first.proc.poll() is not None
        assert isolation._ISOLATION is not None  # the probe decided
        assert _job_runs(worker)


def test_a_first_worker_falls_back_when_the_strongest_layers_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    _unprobed(monkeypatch)
    real = jail.apply

    def no_network(cfg: dict) -> None:
        if cfg["network"]:
            raise OSError("no network namespace on this machine")
        real(cfg)

    monkeypatch.setattr(jail, "apply", no_network)
    a = spec.load("initialization")
    with run.Session(Limits()) as session:
        worker = session.worker(a)
        assert session.confirm(a, worker)
        assert not worker.isolation.network and any("network" in n for n in worker.isolation.notes)
        assert _job_runs(worker)


def _job_runs(worker: Worker) -> bool:
    done = submit(worker, {"tasks": []}, timeout=30, limits=Limits())
    return done == {} and worker.proc.poll() is None


def test_results_that_come_with_the_ready_line_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # the grader is slow to look (it imports numpy meanwhile): the worker is ready and done by then
    _unprobed(monkeypatch)
    a = spec.load("initialization")
    prep = prepared.prepare("initialization")
    parsed = notebook.parse(notebook.read(a.reference_notebook))
    tasks = [
        task_for(
            selection.answer(parsed, f.name, exclude=frozenset()),
            prep.given,
            [{"name": c.name, "args": prep.args(f.name, c.name), "setup": c.setup} for c in f.cases],
            10.0,
        )
        for f in a.functions
    ]
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(
            a, tasks, limits=Limits(), session=session, meanwhile=lambda: time.sleep(3)
        )
    for f in a.functions:
        assert not raw[f.name].get("worker_died") and len(raw[f.name]["cases"]) == len(f.cases), f.name


def test_sandbox_user_ids_are_leased_one_per_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("sandbox user ids are used when the grader runs as root")
    # leases of our own, apart from the graders that other tests run meanwhile
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.setattr(isolation, "SANDBOX_UIDS", range(64990, 64993))  # three ids to share out
    held = [isolation.sandbox_uid() for _ in range(3)]
    try:
        assert sorted(held) == [64990, 64991, 64992]
        assert isolation.sandbox_uid() == jail.NOBODY  # none left: never one that is in use
        # another process (another grader on this machine) cannot take a leased id either
        probe = "import sys; sys.path[:0] = sys.argv[1:2]; from grader.sandbox import isolation; " + (
            "isolation.SANDBOX_UIDS = range(64990, 64993); print(isolation.sandbox_uid())"
        )
        out = subprocess.run([sys.executable, "-c", probe, str(Path(__file__).parents[1])],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert int(out) == jail.NOBODY
        isolation.release_uid(held[0])
        assert isolation.sandbox_uid() == held[0]
    finally:
        for uid in held:
            isolation.release_uid(uid)


def test_scratch_left_by_a_killed_grader_is_swept() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    tmp = Path(tempfile.gettempdir())
    left = tmp / f"grader-{dead.pid}-leftover"
    mine = tmp / f"grader-{os.getpid()}-mine"
    alive = tmp / f"grader-{os.getppid()}-alive"
    for d in (left, mine, alive):
        (d / "sub").mkdir(parents=True)
        (d / "sub").chmod(0o555)  # scratch directories are read-only on purpose
        d.chmod(0o555)
    try:
        sweep_scratch()
        assert not left.exists() and mine.exists() and alive.exists()
    finally:
        for d in (left, mine, alive):
            if d.exists():
                remove_scratch(d)


def test_a_lock_folder_someone_else_could_write_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    (tmp_path / "grader-uids").mkdir(mode=0o777)
    (tmp_path / "grader-uids").chmod(0o777)  # planted by another user of a shared /tmp
    uid = isolation.sandbox_uid()
    assert uid not in isolation._LEASES and not any((tmp_path / "grader-uids").iterdir())
