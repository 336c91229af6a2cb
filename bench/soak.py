"""Soak: hundreds of real-size notebooks in one full-mode `grader run`, its resources sampled.

Builds a class of each of the three assignments with make_class.py (N students each: correct,
with a mistake, unfinished, broken and hostile, every notebook carrying executed outputs), runs

    grader run CLASS/initialization CLASS/regularization CLASS/gradient_checking --jobs 2 --output OUT

in full mode (no --fast: every notebook also runs headless in the jailed kernel) and samples that
process from /proc every second: open descriptors, threads, child processes (and all descendants:
workers, kernels) and resident memory, next to the number of reports written so far. At the end it
prints the counts after the tenth notebook, at the end and their maximum, the wall time, and the
reports' statuses; it exits 1 when a notebook has no report, a report is an internal error, the
grader failed, or the descriptors grew from the tenth notebook to the last.

    python bench/soak.py                      # 100 per assignment: 300 notebooks
    python bench/soak.py -n 5 --keep /tmp/s   # a quick one, keeping the class and the reports
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_class  # noqa: E402

ASSIGNMENTS = ("initialization", "regularization", "gradient_checking")
SETTLED = 10  # notebooks graded before the counts are taken as the baseline
# Descriptors at one instant depend on what is alive and in flight: each sandboxed worker and
# kernel the grader runs holds a few pipes in it, the warm workers of an assignment stay up while
# the others' notebooks are graded (so the last notebooks, of the third assignment, run with a
# couple more children than the first), and a report or notebook may be open. Over a quick class
# (60 notebooks) the count was 76 in the steady state and moved between 45 and 82. The leak this
# guards against (~14 per notebook) grew by thousands over a class (+10 per notebook measured on
# the code before its fix). "Grew" means: the most held in the last WINDOW notebooks exceeds the
# most held in the first WINDOW after the tenth, or the trend over the run adds up to, more than
# SLACK; over 300 notebooks, a leak of one descriptor per 18 notebooks exceeds it.
WINDOW = 20
SLACK = 16


@dataclass
class Sample:
    t: float  # seconds since the start
    done: int  # reports written
    fds: int
    threads: int
    children: int  # direct children of the grader
    descendants: int  # every process below it (workers, function children, kernels)
    rss_mb: float


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def sample(pid: int, start: float, done: int) -> Sample | None:
    """The process's resources now; None once it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        threads = len(os.listdir(f"/proc/{pid}/task"))
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    if rss_kb == 0:  # a zombie: exited, not yet reaped
        return None
    direct = _children(pid)
    seen, todo = 0, list(direct)
    while todo:
        seen += 1
        todo += _children(todo.pop())
    return Sample(round(time.monotonic() - start, 1), done, fds, threads, len(direct), seen, rss_kb / 1024)


NOT_REPORTS = {"summary.json"}


def reports_written(out: Path) -> int:
    """Reports written so far: one `<name>.json` per submission (temporary files are hidden)."""
    try:
        return sum(
            1
            for e in os.scandir(out)
            if e.name.endswith(".json") and not e.name.startswith(".") and e.name not in NOT_REPORTS
        )
    except OSError:
        return 0


def build(class_dir: Path, n: int, seed: int, slow: int) -> dict[str, dict[str, str]]:
    """The three classes, one folder each; assignment -> student -> kind."""
    return {a: make_class.make(class_dir / a, a, n, seed + i, slow) for i, a in enumerate(ASSIGNMENTS)}


def soak(
    class_dir: Path, out: Path, jobs: int, log: Path, grader: list[str]
) -> tuple[int, float, list[Sample]]:
    """Run the batch, sampling every second; (exit code, wall seconds, samples)."""
    cmd = [*grader, "run", *(str(class_dir / a) for a in ASSIGNMENTS), "--jobs", str(jobs)]
    cmd += ["--output", str(out), "--format", "json"]
    samples: list[Sample] = []
    start = time.monotonic()
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
        while proc.poll() is None:
            s = sample(proc.pid, start, reports_written(out))
            if s is not None:
                samples.append(s)
            time.sleep(1.0)
    return proc.returncode, time.monotonic() - start, samples


def statuses(out: Path, expected: int) -> tuple[Counter[str], Counter[str], list[str]]:
    """Count of each report status, of each full-mode run's status, and the internal errors."""
    counts: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    errors = []
    for path in sorted(out.glob("*.json")):
        if path.name in NOT_REPORTS:
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        message = str(report.get("message", ""))
        # older graders reported their own failures as invalid submissions, with this message
        status = "error" if message.startswith("internal error") else str(report.get("status"))
        counts[status] += 1
        execution = report.get("execution")
        runs[str(execution.get("status")) if isinstance(execution, dict) else "not run"] += 1
        if status == "error":
            errors.append(f"{path.name}: {message[:200]}")
    counts["missing"] = max(0, expected - sum(counts.values()))
    return counts, runs, errors


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y on x (0 when x does not vary)."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


FIELDS = ("fds", "threads", "children", "descendants", "rss_mb")


def verdict(samples: list[Sample], total: int) -> tuple[dict[str, dict[str, float]], bool, str]:
    """Resource table (after the tenth, at the end, max), whether descriptors grew, and why."""
    after = [s for s in samples if s.done >= SETTLED]
    if not after:
        return {}, False, f"no sample after the {SETTLED}th notebook: use a larger class"
    window = max(1, min(WINDOW, (total - SETTLED) // 3))  # the two windows never overlap
    first = [s for s in after if s.done < SETTLED + window] or after[:1]
    last = [s for s in after if total - window <= s.done < total] or after[-1:]
    # the end: the last sample before the last report is written (after it, the grader writes the
    # summary and its plot, then lets its workers go: not what a longer batch would hold)
    running = [s for s in after if s.done < total] or after
    end = running[-1]
    early, late = f"median, notebooks {SETTLED}-{SETTLED + window}", f"median, last {window}"
    table = {
        f: {
            f"after notebook {SETTLED}": getattr(after[0], f),
            "at the last": getattr(end, f),
            "max": max(getattr(s, f) for s in running),
            early: statistics.median(getattr(s, f) for s in first),
            late: statistics.median(getattr(s, f) for s in last),
        }
        for f in FIELDS
    }
    # two measures of growth: the most held late against the most held early, and the
    # least-squares trend over the whole run times its length (a step of h, such as the children
    # of another assignment, counts at most 1.5 h in it; a leak counts in full)
    stepped = max(s.fds for s in last) - max(s.fds for s in first)
    slope = _slope([(s.done, s.fds) for s in after if s.done < total])
    trend = slope * (total - SETTLED)
    grew = max(stepped, trend)
    why = (
        f"descriptors: at most {max(s.fds for s in first)} in notebooks {SETTLED}-{SETTLED + window}, "
        f"at most {max(s.fds for s in last)} in the last {window} ({stepped:+d}); least-squares "
        f"trend {slope:+.3f} per notebook, {trend:+.1f} over the run; allowed +{SLACK}"
    )
    return table, grew > SLACK, why


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=100, help="notebooks per assignment [100]")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slow", type=int, default=0, help="hostile notebooks running into the timeout, each")
    p.add_argument(
        "--grader",
        default=str(Path(sys.executable).parent / "grader"),
        help="the command that runs the grader (e.g. another checkout's, to compare) [the console script]",
    )
    p.add_argument("--reuse", action="store_true", help="grade the class already in --keep, as it is")
    p.add_argument("--keep", type=Path, help="build and keep the class, reports and samples here")
    args = p.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="grader-soak-"))
    class_dir, out = work / "class", work / "out"
    shutil.rmtree(out, ignore_errors=True)
    try:
        t0 = time.monotonic()
        if args.reuse and (class_dir / "kinds.json").exists():
            kinds = json.loads((class_dir / "kinds.json").read_text())
        else:
            shutil.rmtree(class_dir, ignore_errors=True)
            kinds = build(class_dir, args.n, args.seed, args.slow)
            (class_dir / "kinds.json").write_text(json.dumps(kinds, indent=1))
        total = sum(len(k) for k in kinds.values())
        mix = Counter(k.split(":")[0] for ks in kinds.values() for k in ks.values())
        print(f"built {total} notebooks in {time.monotonic() - t0:.0f} s: {dict(mix)}", flush=True)
        load = os.getloadavg()[0]
        code, wall, samples = soak(class_dir, out, args.jobs, work / "grader.log", shlex.split(args.grader))
        (work / "samples.json").write_text(json.dumps([asdict(s) for s in samples]))
        counts, runs, errors = statuses(out, total)
        table, grew, why = verdict(samples, total)
        summary = out / "summary.txt"
        print(f"grader run ({total} notebooks, full mode, --jobs {args.jobs}): exit {code}, "
              f"{wall:.0f} s wall ({wall / max(total, 1):.1f} s per notebook); "
              f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
        print(f"reports: {dict(counts)}; full-mode runs of the notebooks: {dict(runs)}")
        if summary.exists():
            print(summary.read_text(encoding="utf-8").splitlines()[0])
        for message in errors[:10]:
            print(f"  internal error: {message}")
        if table:
            heads = list(next(iter(table.values())))
            print(f"{'':12}" + "".join(f"{h:>26}" for h in heads))
            for f, row in table.items():
                print(f"{f:12}" + "".join(f"{v:>26.0f}" for v in row.values()))
        print(why)
        failed = []
        if code != 0:
            failed.append(f"grader exited {code} (see {work / 'grader.log'})")
        if counts["missing"]:
            failed.append(f"{counts['missing']} notebooks without a report")
        if counts["error"]:
            failed.append(f"{counts['error']} internal errors")
        if grew or not table:
            failed.append("descriptors grew" if table else why)
        print("FAILED: " + "; ".join(failed) if failed else "ok: every notebook graded, resources flat")
        sys.exit(1 if failed else 0)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
