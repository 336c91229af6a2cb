"""Measure the grader against its targets, in one run, and print a markdown table.

    python bench/run_bench.py --n 1000 --repeat 3 > bench/last-run.md

Measures (medians of `--repeat` runs unless said otherwise):
  floor         one process, no isolation: read, parse, exec the graded cells, call, compare
  cold          `grader run ONE --fast --format json`, against `python -c "import numpy"`
  batch         `grader run CLASS --fast --format json --output OUT --regrade --jobs 1|2`
  full          `grader run ONE --format json` (grading + the jailed notebook run), against
                plain nbclient execution of the same notebook
  nbgrader      `nbgrader autograde` on equivalent notebooks, when nbgrader is installed
  memory        peak RSS of each sandboxed worker and function child, batches of growing size
  secret        the batch with secret cases, and with per-student variants (cold: their
                documents computed first; warm), against the public hidden cases; the answer
                cache's hit rate, shared vs per-student (secret_bench.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import make_class  # noqa: E402
import secret_bench  # noqa: E402

from grader.judging import prepared  # noqa: E402
from grader.reading import assignment as spec  # noqa: E402
from grader.sandbox import codec  # noqa: E402

# the console script users run (it starts the sandbox before the command line is parsed)
_SCRIPT = Path(sys.executable).parent / "grader"
_MODULE = [sys.executable, "-c", "from grader.launch import main; main()"]
GRADER = [str(_SCRIPT)] if _SCRIPT.exists() else _MODULE
TYPICAL = ("correct", "mistake", "blank")  # what a no-isolation floor can run at all


def timed(cmd: list[str], **kw: Any) -> float:
    """Wall seconds of one subprocess run; it must succeed."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def median_of(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def paired(a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Medians of two measurements taken in turns, so that a busy moment hits both alike."""
    runs = [(a(), b()) for _ in range(repeat)]
    return statistics.median(x for x, _ in runs), statistics.median(y for _, y in runs)


# ----------------------------------------------------------------------------- the class


def make(work: Path, assignment: str, n: int) -> tuple[Path, Path, dict[str, str]]:
    """The whole class, and a folder of hard links to its typical part (no broken, no hostile)."""
    full, typical = work / "class", work / "typical"
    shutil.rmtree(work, ignore_errors=True)
    manifest = make_class.make(full, assignment, n, seed=0, slow=max(1, n // 500))
    nb = spec.load(assignment, root=ROOT).notebook
    for student, kind in manifest.items():
        if kind in TYPICAL:
            (typical / student).mkdir(parents=True)
            os.link(full / student / nb, typical / student / nb)
    return full, typical, manifest


def notebooks(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.ipynb"))


# ----------------------------------------------------------------------------- floor


def floor_once(paths: list[Path], assignment: str) -> float:
    """Seconds per submission with no isolation at all: the least any grader must do."""
    import numpy as np

    a = spec.load(assignment, root=ROOT)
    exp = json.loads(a.expected_path.read_text())["functions"]
    dec = codec.decode
    cases = {f: [(dec(c["args"]), dec(c["output"])) for c in cs.values()] for f, cs in exp.items()}
    cwd = os.getcwd()
    os.chdir(a.folder)
    sys.path.insert(0, str(a.folder))
    try:
        t = time.perf_counter()
        for p in paths:
            _floor_one(p, cases, np)
        return (time.perf_counter() - t) / len(paths)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(a.folder))


def _floor_one(path: Path, cases: dict[str, list[tuple[Any, Any]]], np: Any) -> int:
    nb = json.loads(path.read_bytes())
    ns: dict[str, Any] = {}
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "code" and (src.startswith(("import", "from")) or "# GRADED FUNCTION" in src):
            try:
                exec(compile(src, "cell", "exec"), ns)
            except Exception:
                pass
    passed = 0
    for f, calls in cases.items():
        for args, want in calls:
            np.random.seed(0)
            try:
                got = ns[f](*args)
                passed += _same(got, want, np)
            except Exception:
                pass
    return passed


def _same(got: Any, want: Any, np: Any) -> bool:
    if isinstance(want, dict):
        keys = isinstance(got, dict) and got.keys() == want.keys()
        return keys and all(_same(got[k], want[k], np) for k in want)
    if isinstance(want, (list, tuple)):
        items = isinstance(got, (list, tuple)) and len(got) == len(want)
        return items and all(_same(g, w, np) for g, w in zip(got, want, strict=True))
    try:
        return bool(np.shape(got) == np.shape(want) and np.allclose(got, want))
    except Exception:
        return False


# ----------------------------------------------------------------------------- runs


def cold(one: Path, repeat: int) -> tuple[float, float]:
    """(grader run --fast on one notebook, python -c 'import numpy'), seconds."""
    return paired(
        lambda: timed([*GRADER, "run", str(one), "--fast", "--format", "json"]),
        lambda: timed([sys.executable, "-c", "import numpy"]),
        repeat,
    )


def batch(folder: Path, out: Path, jobs: int, repeat: int, *extra: str) -> float:
    """Wall seconds of a whole batch from a cold start (a fresh output folder each run)."""

    def once() -> float:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*GRADER, "run", str(folder), "--fast", "--format", "json", "--output", str(out)]
        return timed([*cmd, "--jobs", str(jobs), *extra])

    return median_of(once, repeat)


NBCLIENT = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def full(one: Path, assignment: str, repeat: int) -> tuple[float, float]:
    """(grader run in full mode, plain nbclient execution of the same notebook), seconds."""
    folder = spec.load(assignment, root=ROOT).folder
    return paired(
        lambda: timed([*GRADER, "run", str(one), "--format", "json"]),
        lambda: timed([sys.executable, "-c", NBCLIENT, str(one), str(folder)]),
        repeat,
    )


def nbgrader_status() -> str:
    """nbgrader autograde is only compared when it is installed."""
    if shutil.which("nbgrader") is None:
        return "not installed"
    return "installed, but not wired into this benchmark"


# ----------------------------------------------------------------------------- memory


class Sampler:
    """Peak RSS of this process's descendants, by depth (1: jail wrapper, 2: worker, 3: child)."""

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.psutil, self.interval = psutil, interval
        self.peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = self.psutil.Process()
        while not self._stop.wait(self.interval):
            try:
                kids = me.children(recursive=True)
            except self.psutil.Error:
                continue
            for k in kids:
                self._note(k, me.pid)

    def _note(self, proc: Any, root: int) -> None:
        try:
            depth, p = 0, proc
            while p is not None and p.pid != root:
                depth, p = depth + 1, p.parent()
            rss = proc.memory_info().rss / 2**20
        except self.psutil.Error:
            return
        self.peak[depth] = max(self.peak.get(depth, 0.0), rss)


def memory(typical: Path, sizes: list[int], jobs: int) -> list[tuple[int, float, float, float]]:
    """(batch size, worker peak MB, function child peak MB, grader process RSS MB) per size."""
    import psutil

    from grader.course import batch as batch_mod
    from grader.grading import grade

    rows = []
    paths = notebooks(typical)
    for n in sizes:
        prepared.prepare.cache_clear()
        with Sampler() as s:
            batch_mod.run_batch(paths[:n], grade.Options(), batch_mod.Plan(jobs=jobs, regrade=True))
        rows.append((n, s.peak.get(2, 0.0), s.peak.get(3, 0.0), psutil.Process().memory_info().rss / 2**20))
    return rows


# ----------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(r: dict[str, Any]) -> str:
    n, nt, fl = r["n"], r["n_typical"], r["floor"]
    lines = [
        "| measurement | median | ratio | target | |",
        "|---|---:|---:|---|---|",
        f"| floor: one process, no isolation (read, parse, exec, call, compare), {nt} typical notebooks "
        f"| {fl * 1e3:.2f} ms/submission | 1x | | |",
    ]
    for jobs in (1, 2):
        per = r[f"typical_j{jobs}"] / nt
        ok = per <= 10 * fl
        lines.append(
            f"| batch `--fast --jobs {jobs}`, {nt} typical notebooks, cold start "
            f"| {r[f'typical_j{jobs}']:.1f} s = {per * 1e3:.1f} ms/submission | {per / fl:.1f}x floor "
            f"| <= 10x floor | {verdict(ok)} |"
        )
    for jobs in (1, 2):
        total = r[f"full_class_j{jobs}"]
        target, ok = ("1,000 well under 30 s (taken as <= 20 s)", verdict(total <= 20 * n / 1000))
        lines.append(
            f"| batch `--fast --jobs {jobs}`, whole class of {n} (with broken and hostile, "
            f"{r['slow']} of them running into the 10 s timeout) | {total:.1f} s "
            f"| {total / n * 1e3:.1f} ms/submission | {target if jobs == 2 else 'info'} "
            f"| {ok if jobs == 2 else ''} |"
        )
    for cache in ("on", "off"):
        seconds, sent, functions = r[f"cache_{cache}_j2"]
        per = seconds / nt
        lines.append(
            f"| same, in-process `run_batch(jobs=2)`, cache {cache}: {sent} of {functions} graded functions "
            f"sent to a sandbox | {per * 1e3:.1f} ms/submission | {per / fl:.1f}x floor | info | |"
        )
    cg, cn = r["cold"]
    lines.append(
        f'| one submission `--fast`, cold CLI vs `python -c "import numpy"` ({cn * 1e3:.0f} ms) '
        f"| {cg * 1e3:.0f} ms | {cg / cn:.1f}x | <= 3x | {verdict(cg <= 3 * cn)} |"
    )
    fg, fp = r["full"]
    if fg != fg:  # NaN: --skip-full
        lines.append("| one submission, full mode vs plain nbclient | skipped | | <= +10% | |")
    else:
        lines.append(
            f"| one submission, full mode vs plain nbclient ({fp:.2f} s) | {fg:.2f} s "
            f"| {100 * (fg / fp - 1):+.0f}% | <= +10% | {verdict(fg <= 1.1 * fp)} |"
        )
    if "secret" in r:
        lines += secret_bench.rows(r["secret"], r["typical_j2"], nt)
    lines.append(f"| nbgrader autograde, equivalent notebooks | {r['nbgrader']} | | | |")
    for size, worker, child, parent in r["memory"]:
        lines.append(
            f"| peak memory, batch of {size} (`--jobs 2`): worker / function child / grader process "
            f"| {worker:.0f} / {child:.0f} / {parent:.0f} MB | | worker < 200 MB, flat | "
            f"{verdict(worker < 200 and child < 200)} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--assignment", default="initialization")
    p.add_argument("--work", type=Path, default=Path("/tmp/grader-bench"))
    p.add_argument("--skip-full", action="store_true", help="skip the (slow) full-mode comparison")
    p.add_argument("--skip-secret", action="store_true", help="skip secret cases and per-student variants")
    args = p.parse_args()
    r = run_all(args)
    command = " ".join(["python", "bench/run_bench.py", *sys.argv[1:]])
    loads = f"load average {r['load']:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"`{command}` on {host()}; {loads}\n")
    print(table(r))


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    # as after `pip install`, which byte-compiles the package (an editable install compiles on
    # first import, unless PYTHONDONTWRITEBYTECODE is set, as on some CI machines)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "grader")], check=True)
    # never the user's secret: the rows without one are the public hidden cases' (secret_bench
    # configures its own)
    os.environ["XDG_CONFIG_HOME"] = str(args.work / "no-secret")
    os.environ.pop("GRADER_SECRET", None)
    full_class, typical, manifest = make(args.work, args.assignment, args.n)
    typical_paths = notebooks(typical)
    one = typical_paths[0]
    out = args.work / "out"
    r: dict[str, Any] = {"n": args.n, "n_typical": len(typical_paths), "slow": max(1, args.n // 500)}
    r["load"] = os.getloadavg()[0]
    # first, while this process holds nothing else: its RSS is then the batch's (after the secret
    # bench's in-process documents it read 192 MB, the batch's own share ~75 MB)
    nt = len(typical_paths)
    r["memory"] = memory(typical, sorted({nt // 4, nt // 2, nt}), 2)
    r["floor"] = median_of(lambda: floor_once(typical_paths, args.assignment), args.repeat)
    r["functions"] = len(typical_paths) * len(spec.load(args.assignment, root=ROOT).functions)
    r["cold"] = cold(one, max(15, 5 * args.repeat))  # short runs: more pairs for a steady median
    for jobs in (1, 2):
        r[f"typical_j{jobs}"] = batch(typical, out, jobs, args.repeat)
        r[f"full_class_j{jobs}"] = batch(full_class, out, jobs, 1)
    for cache in (True, False):
        runs = [_in_process(typical_paths, 2, cache) for _ in range(args.repeat)]
        seconds = statistics.median(s for s, _ in runs)
        r[f"cache_{'on' if cache else 'off'}_j2"] = (seconds, runs[0][1], r["functions"])
    if not args.skip_secret:
        r["secret"] = secret_bench.measure(GRADER, typical, typical_paths, args.assignment, out, args.repeat)
    r["full"] = (float("nan"), float("nan")) if args.skip_full else full(one, args.assignment, args.repeat)
    r["nbgrader"] = nbgrader_status()
    return r


def _in_process(paths: list[Path], jobs: int, cache: bool) -> tuple[float, int]:
    """Seconds for a batch run in this process, and how many tasks reached a sandbox."""
    from grader.course import batch as batch_mod
    from grader.grading import grade

    t = time.perf_counter()
    out = batch_mod.run_batch(paths, grade.Options(), batch_mod.Plan(jobs=jobs, cache=cache))
    return time.perf_counter() - t, out.tasks_sent


def host() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
