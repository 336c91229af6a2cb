"""The price of secret cases and per-student variants, for `run_bench.py`.

In a configuration folder of its own (XDG_CONFIG_HOME, GRADER_SECRET: never the user's), on the
typical part of the class (`class/<student>/<notebook>`, so the plain layout names each student
by their folder):
  secret        `grader run` as the batch rows, with a secret: the shared secret cases grade
  per-student   `grader run ... --variants per-student`: cold (every student's document computed
                first: the line the run prints says how long that took) and warm (computed)
  cache         in-process `grade_many(jobs=2)`: the answer cache's hits and misses, shared
                secret cases vs per-student variants
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SECRET = "bench-secret-0123456789abcdef"  # any 16+ characters: the figures do not depend on it


@contextmanager
def configured(work: Path) -> Iterator[dict[str, str]]:
    """A secret and a configuration folder of the benchmark's own, for this process and its
    children; both undone afterwards."""
    config = work / "config"
    shutil.rmtree(config, ignore_errors=True)
    config.mkdir(parents=True)
    old = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "GRADER_SECRET")}
    os.environ.update(XDG_CONFIG_HOME=str(config), GRADER_SECRET=SECRET)
    try:
        yield dict(os.environ)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    quiet = subprocess.DEVNULL
    done = subprocess.run(cmd, check=True, stdout=quiet, stderr=subprocess.PIPE, text=True, env=env)
    return time.perf_counter() - t, done.stderr


def measure(
    grader: list[str], typical: Path, paths: list[Path], assignment: str, out: Path, repeat: int
) -> dict[str, Any]:
    """Every secret figure: seconds of each batch (jobs 2), the variants' own time, cache rates."""
    r: dict[str, Any] = {}
    base = [*grader, "run", str(typical), "--fast", "--format", "json", "--output", str(out), "--jobs", "2"]
    with configured(out.parent / "secret-bench") as env:
        # every assignment's: a run without --assignment checks them all
        r["shared_doc"], _ = _run([*grader, "expected", "--secret"], env)

        def batch(*extra: str) -> Callable[[], tuple[float, str]]:
            def once() -> tuple[float, str]:
                shutil.rmtree(out, ignore_errors=True)
                return _run([*base, *extra], env)

            return once

        r["secret_j2"] = statistics.median(batch()()[0] for _ in range(repeat))
        variants = Path(env["XDG_CONFIG_HOME"]) / "grader" / "expected" / assignment
        shutil.rmtree(variants, ignore_errors=True)
        r["per_student_cold"], said = batch("--variants", "per-student")()  # once: it computes them all
        found = re.search(r"(\d+) computed in ([\d.]+) s", said)
        r["variants"] = (int(found.group(1)), float(found.group(2))) if found else (0, float("nan"))
        r["per_student_warm"] = statistics.median(
            batch("--variants", "per-student")()[0] for _ in range(repeat)
        )
        r["cache"] = {mode: _cache(paths, mode) for mode in ("shared", "per-student")}
    return r


def _cache(paths: list[Path], mode: str) -> tuple[int, int, float]:
    """(hits, misses, seconds) of the answer cache for an in-process batch (documents computed)."""
    import grader

    t = time.perf_counter()
    students = {p: p.parent.name for p in paths}
    got = grader.grade_many(paths, fast=True, jobs=2, variants=mode, students=students)
    return got.cache_hits, got.cache_misses, time.perf_counter() - t


def rows(r: dict[str, Any], public_j2: float, nt: int) -> list[str]:
    """The table's rows: each batch against today's (public hidden cases), the cache's hit rate."""
    def row(what: str, seconds: float, note: str = "") -> str:
        return (
            f"| {what} | {seconds:.1f} s = {seconds / nt * 1e3:.1f} ms/submission "
            f"| {seconds / public_j2:.2f}x public | {note or 'info'} | |"
        )

    count, spent = r["variants"]
    out = [
        row(f"batch `--fast --jobs 2`, {nt} typical notebooks, public hidden cases (as above)", public_j2),
        row("same, shared secret cases (`grader secret init`)", r["secret_j2"]),
        row(
            f"same, `--variants per-student`, cold: {count} variant documents computed first "
            f"({spent:.1f} s, {spent / max(count, 1):.2f} s each)",
            r["per_student_cold"],
        ),
        row("same, `--variants per-student`, documents already computed", r["per_student_warm"]),
        f"| the shared secret documents of every assignment, `grader expected --secret` (whole command) "
        f"| {r['shared_doc']:.1f} s | | info | |",
    ]
    for mode in ("shared", "per-student"):
        hits, misses, seconds = r["cache"][mode]
        rate = hits / max(hits + misses, 1)
        out.append(
            f"| answer cache, in-process `grade_many(jobs=2)`, {mode} secret cases: {hits} hits, "
            f"{misses} runs | {100 * rate:.1f}% hit rate | {seconds / nt * 1e3:.1f} ms/submission | info | |"
        )
    return out
