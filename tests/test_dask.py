"""Scale-out: a Dask LocalCluster, and a real scheduler with worker processes started here, fill
the same gradebook as the local pool; a worker whose grader or assignments differ from the
client's refuses, and a refusal or an unreachable scheduler is an internal error (exit 3), never
a verdict stored in the gradebook."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course import batch, gradebook
from grader.course import cluster as grading_cluster
from grader.grading import grade
from tests.batchkit import toy, write
from tests.conftest import ROOT, TOY

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'grader[dask]')")


def _book(folder: Path) -> list[dict]:
    with gradebook.open_path(folder) as book:
        return [{k: v for k, v in r.items() if k != "graded_at"} for r in book.rows()]


def test_local_cluster_matches_the_local_pool(toy_root: Path, tmp_path: Path) -> None:
    bodies = ["out = v * FACTOR", "out = v * 2.0", "out = v * FACTOR  # mine", "out = v / 0", "out = v * 3.0"]
    paths = [
        write(tmp_path / "class" / f"s{i}", "Toy", toy(scale=b, note=str(i))) for i, b in enumerate(bodies)
    ]
    paths.append(tmp_path / "class" / "broken.ipynb")
    paths[-1].write_text('{"cells": [')
    options = grade.Options()
    local = batch.run_batch(paths, options, batch.Plan(jobs=2, output=tmp_path / "local"))
    dask = batch.run_batch(paths, options, batch.Plan(jobs=2, output=tmp_path / "dask", scheduler="local"))
    assert dask.graded == len(paths)
    assert dask.reports == local.reports
    assert _book(tmp_path / "dask") == _book(tmp_path / "local")
    assert [r["score"] for r in dask.reports] == [5.0, 2.0, 5.0, 2.0, 5.0, 0.0]


# ----------------------------------------------------------------------------- a real cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _cluster(roots: list[Path], folder: Path) -> Iterator[str]:
    """A `dask scheduler` and one `dask worker --nthreads 2` per grader root (its GRADER_ROOT), each
    a process of its own on localhost; all stopped at the end."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = str(Path(sys.executable).parent / "dask")
    base = {**_this_checkout(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "20s"}
    started: list[subprocess.Popen[bytes]] = []
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "dask.log").open("wb")

    def start(args: list[str], env: dict[str, str]) -> None:
        started.append(
            subprocess.Popen([dask, *args], env=env, stdout=log, stderr=log, start_new_session=True)
        )

    try:
        port = address.rsplit(":", 1)[1]
        start(
            ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard", "--idle-timeout", "300s"],
            base,
        )
        for i, root in enumerate(roots):
            work = folder / f"worker-{i}"
            work.mkdir(parents=True)
            worker = ["worker", address, "--nthreads", "2", "--no-nanny", "--no-dashboard"]
            worker += ["--local-directory", str(work), "--death-timeout", "60s", "--name", f"w{i}"]
            start(worker, {**base, "GRADER_ROOT": str(root)})
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(len(roots), timeout=60)
        yield address
    finally:
        for p in reversed(started):  # workers first: one that lost its scheduler lingers
            _stop(p)
        log.close()


def _this_checkout() -> dict[str, str]:
    """The environment for a process that must run the grader under test, whichever one the
    virtualenv installed."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _stop(p: subprocess.Popen[bytes]) -> None:
    """Stop a process started here, and its group (a worker's sandboxes die with it)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


CLASS = ["out = v * FACTOR", "out = v * 2.0", "out = v * FACTOR  # mine", "out = v / 0", "out = v * 3.0"]


def _class(folder: Path, deep: int = 4) -> list[Path]:
    paths = [write(folder, f"s{i}", toy(scale=b, note=str(i))) for i, b in enumerate(CLASS)]
    # deeply nested code, parsed by the worker's two threads at once
    nested = "out = v * FACTOR + " + "(" * 80 + "0" + ")" * 80
    paths += [write(folder, f"deep{i}", toy(scale=nested, note=f"deep{i}")) for i in range(deep)]
    return paths


def test_a_scheduler_and_two_threaded_workers_grade_as_the_local_pool(toy_root: Path, tmp_path: Path) -> None:
    paths = _class(tmp_path / "class")
    options = grade.Options()
    local = batch.run_batch(paths, options, batch.Plan(jobs=2, output=tmp_path / "local"))
    assert [r["score"] for r in local.reports] == [5.0, 2.0, 5.0, 2.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    with _cluster([TOY, TOY], tmp_path / "cluster") as address:
        for run in range(3):
            plan = batch.Plan(jobs=2, output=tmp_path / "dask", scheduler=address, regrade=run > 0)
            dask = batch.run_batch(paths, options, plan)
            assert (dask.graded, dask.errors) == (len(paths), 0), dask.reports
            assert dask.reports == local.reports
            assert _book(tmp_path / "dask") == _book(tmp_path / "local")


def test_a_worker_with_other_assignments_refuses_and_nothing_is_stored(
    toy_root: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(TOY, changed)
    spec_file = changed / "assignments" / "toy" / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace("points = 2", "points = 20"))
    empty = tmp_path / "empty"  # no assignments at all: a worker without the checkout
    (empty / "assignments").mkdir(parents=True)
    paths = _class(tmp_path / "class", deep=0)
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "class"), "--fast", "--format", "json", "--output", str(out)]
    with _cluster([changed, empty], tmp_path / "cluster") as address:
        res = CliRunner().invoke(main, [*args, "--scheduler", address])
    assert res.exit_code == 3, res.output
    reports = json.loads(res.stdout)
    assert len(reports) == len(paths) and {r["status"] for r in reports} == {"error"}
    assert all(r["message"].startswith("refused by Dask worker tcp://127.0.0.1:") for r in reports)
    assert all("nothing was graded" in r["message"] for r in reports)
    why = {("differs" if "assignment toy differs" in r["message"] else "missing") for r in reports}
    assert why <= {"differs", "missing"}
    assert f"graded 0, internal errors {len(paths)}" in res.stderr
    assert json.loads((out / "summary.json").read_text())["errors"] == len(paths)
    with gradebook.open_path(out) as book:
        assert book.rows() == []  # no verdict stored: the next run grades them all
    with _cluster([TOY], tmp_path / "good") as address:
        again = CliRunner().invoke(main, [*args, "--scheduler", address])
    assert again.exit_code == 0, again.output
    assert [r["score"] for r in json.loads(again.stdout)] == [5.0, 2.0, 5.0, 2.0, 5.0]
    assert "graded 5, already in the gradebook 0" in again.stderr
    assert [r["score"] for r in _book(out)] == [5.0, 2.0, 5.0, 2.0, 5.0]


def test_each_kind_of_worker_difference_is_named(toy_root: Path, tmp_path: Path) -> None:
    client = grading_cluster.fingerprint(None)
    changed = tmp_path / "changed"
    shutil.copytree(TOY, changed)
    (changed / "assignments" / "toy" / "toyutils.py").write_text("FACTOR = 4.0\n")
    assert grading_cluster.fingerprint(TOY) == client
    assert grading_cluster.differences(client, grading_cluster.fingerprint(changed)) == ["assignment toy differs"]
    (changed / "expected" / "toy.json").unlink()
    assert grading_cluster.differences(client, grading_cluster.fingerprint(changed)) == ["assignment toy differs"]
    shutil.rmtree(changed / "assignments" / "toy")
    assert grading_cluster.differences(client, grading_cluster.fingerprint(changed)) == ["assignment toy is missing here"]
    other = {**client, "assignment extra": "x", "the grader's version": "0.0.1"}
    assert grading_cluster.differences(client, other) == [
        "the grader's version differs",
        "assignment extra is here but not on the client",
    ]


def test_an_unreachable_scheduler_is_one_line_and_exit_3(toy_root: Path, tmp_path: Path) -> None:
    write(tmp_path / "class", "a", toy())
    write(tmp_path / "class", "b", toy(note="b"))
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    env = {**_this_checkout(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    grader = str(Path(sys.executable).parent / "grader")
    res = subprocess.run(
        [grader, "run", str(tmp_path / "class"), "--fast", "--scheduler", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 3, res.stderr
    assert res.stderr.splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith(f"error: cannot reach the Dask scheduler at {address} (")
    assert "check that `dask scheduler` runs there" in res.stderr and "Traceback" not in res.stderr


def test_a_task_the_cluster_fails_is_an_internal_error_never_stored(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    def lost(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker lost")  # as a KilledWorker or an unpicklable task comes back

    paths = _class(tmp_path / "class", deep=0)
    monkeypatch.setattr(grading_cluster, "grade_one", lost)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        plan = batch.Plan(jobs=1, output=tmp_path / "out", scheduler=cluster.scheduler_address)
        outcome = batch.run_batch(paths, grade.Options(), plan)
    assert (outcome.graded, outcome.errors) == (0, len(paths))
    assert {r["status"] for r in outcome.reports} == {"error"}
    assert all(
        r["message"] == "internal error in the Dask cluster: RuntimeError: worker lost"
        for r in outcome.reports
    )
    assert _book(tmp_path / "out") == []
