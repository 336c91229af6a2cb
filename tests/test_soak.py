"""A batch of any length runs like its first notebook: nothing the grader holds (descriptors,
threads, child processes, mounts, uid leases, temporary folders) grows with the number of
notebooks graded. Full mode was where a leak of ~14 descriptors per notebook hid (nbclient leaves
the kernel client to the owner of the kernel manager); bench/soak.py runs the same check over
hundreds of real-size notebooks."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from grader.course import batch, pool
from grader.grading import grade
from grader.sandbox import execute, isolation
from grader.sandbox.limits import Limits
from tests.batchkit import toy, write


def resources() -> dict[str, int]:
    """What this process holds right now."""
    me = Path("/proc/self")
    children = sum(len((t / "children").read_text().split()) for t in (me / "task").iterdir())
    return {
        "fds": len(os.listdir(me / "fd")),
        "threads": threading.active_count(),
        "os_threads": len(os.listdir(me / "task")),
        "children": children,
        "mounts": len((me / "mountinfo").read_text().splitlines()),
        "uid_leases": len(isolation._LEASES),
        "scratch": len(list(Path(tempfile.gettempdir()).glob(f"grader-{os.getpid()}-*"))),
    }


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_resources_stay_flat_over_a_batch(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    samples: list[dict[str, int]] = []
    run_notebook, grade_bytes = execute.run_notebook, pool.grade_bytes

    def sampled_run(*args: Any, **kw: Any) -> dict[str, Any]:
        out = run_notebook(*args, **kw)
        samples.append(resources())
        return out

    def sampled_grade(*args: Any, **kw: Any) -> Any:
        out = grade_bytes(*args, **kw)
        if fast:
            samples.append(resources())
        return out

    before = resources()  # other tests in this process may hold processes of their own
    monkeypatch.setattr(execute, "run_notebook", sampled_run)
    monkeypatch.setattr(pool, "grade_bytes", sampled_grade)
    n = 14 if not fast else 60
    # distinct bytes, so each is graded (and, in full mode, run) on its own
    paths = [write(tmp_path / "class", f"s{i:03d}", toy(note=str(i))) for i in range(n)]
    plan = batch.Plan(jobs=1, fast=fast, output=tmp_path / "out", cell_timeout=30)
    out = batch.run_batch(paths, grade.Options(), plan)
    assert out.graded == n and len(samples) == n
    assert all(r["score"] == 5.0 for r in out.reports), [r["message"] for r in out.reports]
    # after the first notebooks (imports, the warm worker, caches in place) nothing grows; counts
    # may fall (objects of earlier tests in this process being collected), never rise
    settled = {k: max(s[k] for s in samples[:4]) for k in samples[0]}
    for later in samples[4:]:
        assert all(later[k] <= settled[k] for k in settled), (settled, later)
    after = resources()
    assert after["uid_leases"] <= before["uid_leases"] and after["scratch"] <= before["scratch"]
    assert after["children"] <= before["children"]


def test_a_grader_holding_many_descriptors_still_starts_sandboxes(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a long batch, a Dask worker, an embedding application: the grader may hold more descriptors
    # than the sandbox may; the jail, applied before the inherited ones are closed, must not care
    # (it did: every new worker failed, or, before the machine's isolation was settled, the
    # probe fell back to no isolation at all, silently)
    import resource

    need = Limits().open_files + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need + 64:
        pytest.skip(f"this machine's descriptor limit ({hard}) is too low to test this")
    paths = [write(tmp_path / "class", f"s{i}", toy(note=str(i))) for i in range(2)]

    def graded(tag: str, fast: bool) -> list[tuple[float, list[str], str]]:
        plan = batch.Plan(jobs=1, fast=fast, output=tmp_path / tag, cell_timeout=30)
        out = batch.run_batch(paths, grade.Options(), plan)
        run = [r.get("execution", {}).get("status", "") for r in out.reports]
        return [(r["score"], r["isolation"], s) for r, s in zip(out.reports, run, strict=True)]

    baseline = {fast: graded(f"base-{fast}", fast) for fast in (True, False)}
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need + 64), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(need)]
    try:
        for settled in (True, False):
            if not settled:
                monkeypatch.setattr(isolation, "_ISOLATION", None)
            for fast in (True, False):
                assert graded(f"{settled}-{fast}", fast) == baseline[fast]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
