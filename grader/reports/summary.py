"""What a batch looks like as a whole: score distribution, pass rate per function, top failures,
and what the class got wrong (wrong.py: named mistakes, unexplained clusters, identical answers)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.files import write_atomic
from grader.reports import plots, wrong
from grader.results import one_line

BINS = 10  # score distribution in tenths of the maximum


@dataclass(frozen=True)
class FunctionStats:
    """How one graded function fared across the batch."""

    assignment: str
    name: str
    passed: int
    total: int
    mistakes: tuple[wrong.Named, ...] = ()  # the catalogued mistakes named, most students first

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Summary:
    """Aggregates of a batch of report dicts."""

    submissions: int
    graded: int
    invalid: int
    errors: int  # internal errors of the grader: not the submissions' fault, retried by a rerun
    percents: tuple[float, ...]  # of graded submissions
    functions: tuple[FunctionStats, ...]
    failures: tuple[tuple[str, int], ...]  # (function: message, count), most frequent first
    copies: tuple[tuple[str, ...], ...] = ()  # submissions whose files are byte-identical
    clusters: tuple[wrong.Cluster, ...] = ()  # identical wrong outputs no catalogued mistake explains
    alike: tuple[wrong.Alike, ...] = ()  # identical substantial answers, to look at
    # who the pass rates, mistakes, clusters and identical answers count: "students" (each one's
    # counted hand-in, by the hand-ins' ids) or "submissions" (each file, by its label)
    counted_by: str = "submissions"

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data (summary.json)."""
        data = dataclasses.asdict(self)
        data["functions"] = [{**dataclasses.asdict(f), "rate": f.rate} for f in self.functions]
        data["failures"] = [{"message": m, "count": n} for m, n in self.failures]
        data["copies"] = [list(group) for group in self.copies]
        data["clusters"] = [
            {**dataclasses.asdict(c), "size": c.size, "representative": c.representative}
            for c in self.clusters
        ]
        return data


def summarise(
    reports: list[dict[str, Any]],
    top: int = 10,
    *,
    copies: Sequence[Sequence[str]] = (),
    code_of: wrong.CodeOf | None = None,
    who: wrong.Who | None = None,
) -> Summary:
    """Aggregate report dicts (as `Report.to_dict` makes them); `copies`: groups of submissions
    whose files hold the same bytes; `code_of(index, function)`: an answer's code, read for each
    cluster's representative only; `who`: the students each report counts for (`wrong.Who`),
    when the hand-ins name them: pass rates and what the class got wrong then count students."""
    graded = [r for r in reports if r.get("status") == "graded"]
    percents = tuple(100.0 * r["score"] / r["max_score"] if r.get("max_score") else 0.0 for r in graded)
    passed: Counter[tuple[str, str]] = Counter()
    seen: Counter[tuple[str, str]] = Counter()
    failures: Counter[str] = Counter()
    for r in graded:
        for f in r.get("functions", []):
            if f["status"] != "passed":
                failures[f"{f['name']}: {f['message']}"] += 1
    for _, r, ids in wrong.counted(reports, who):
        for f in r.get("functions", []):
            k = (str(r.get("assignment")), f["name"])
            seen[k] += len(ids)
            if f["status"] == "passed":
                passed[k] += len(ids)
    for r in reports:
        if r.get("status") != "graded":
            failures[f"{r.get('status')}: {r.get('message', '')}"] += 1
    named = wrong.named(reports, who)
    stats = tuple(
        FunctionStats(a, n, passed[(a, n)], total, named.get((a, n), ())) for (a, n), total in seen.items()
    )
    errors = sum(1 for r in reports if r.get("status") == "error")
    return Summary(
        len(reports),
        len(graded),
        len(reports) - len(graded) - errors,
        errors,
        percents,
        stats,
        tuple(failures.most_common(top)),
        tuple(tuple(group) for group in copies),
        wrong.clusters(reports, code_of, who),
        wrong.alike(reports, who),
        "submissions" if who is None else "students",
    )


def histogram(percents: tuple[float, ...]) -> list[int]:
    """Counts per tenth of the maximum score; full marks fall in the last bin."""
    counts = [0] * BINS
    for p in percents:
        counts[min(int(p // (100 / BINS)), BINS - 1)] += 1
    return counts


def _median(xs: tuple[float, ...]) -> float:
    s = sorted(xs)
    n = len(s)
    return 0.0 if not n else (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2)


def to_text(s: Summary, width: int = 40) -> str:
    """The summary as plain text."""
    mean = sum(s.percents) / len(s.percents) if s.percents else 0.0
    lines = [
        f"batch: {s.submissions} submissions, {s.graded} graded, {s.invalid} invalid, "
        f"{s.errors} internal errors{' (the grader failed: a rerun retries them)' if s.errors else ''}; "
        f"mean {mean:.1f}%, median {_median(s.percents):.1f}%",
        "score distribution (percent of the maximum):",
    ]
    counts = histogram(s.percents)
    peak = max([*counts, 1])
    step = 100 // BINS
    for i, c in enumerate(counts):
        label = f"{i * step:3d}-{(i + 1) * step:3d}%"
        lines.append(f"  {label} {'#' * round(width * c / peak):<{width}} {c}")
    lines.append(
        "pass rate per function:"
        if s.counted_by == "submissions"
        else "pass rate per function (students, each by their counted hand-in):"
    )
    name_width = max((len(f.name) for f in s.functions), default=0)
    for f in s.functions:
        lines.append(one_line(f"  {f.name:<{name_width}} {100 * f.rate:5.1f}%  ({f.passed}/{f.total})"))
    if s.failures:
        lines.append("most frequent failure messages:")
        lines.extend(f"  {n:5d} x {_clip(one_line(m), 150)}" for m, n in s.failures)
    lines.extend(_wrong_text(s))
    if s.copies:
        lines.append("possible copies (different files with identical bytes):")
        lines.extend(one_line("  " + " = ".join(group)) for group in s.copies)
    return "\n".join(lines) + "\n"


def _wrong_text(s: Summary) -> list[str]:
    lines = []
    if any(f.mistakes for f in s.functions):
        lines.append("catalogued mistakes (students who made each):")
        for f in s.functions:
            for m in f.mistakes:
                lines.append(one_line(f"  {f.name}: {m.students:4d} x {m.id} ({_clip(m.description, 100)})"))
    if s.clusters:
        lines.append("identical wrong outputs no catalogued mistake explains (add them to mistakes.toml?):")
        for c in s.clusters:
            head = f"  {c.function} on {', '.join(c.cases)}: {c.size} students, e.g. {c.representative}"
            lines.append(one_line(head))
            lines.extend(one_line(f"      | {line}") for line in c.code.splitlines())
    if s.alike:
        lines.append("identical answers (same code, comments and docstrings aside; not penalised):")
        for g in s.alike:
            lines.append(one_line(f"  {g.function}: {len(g.students)} students: {', '.join(g.students)}"))
    return lines


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def overview_png(s: Summary) -> bytes:
    """Two panels in one PNG: the score histogram and the pass rate per function."""
    return plots.overview(histogram(s.percents), [(f.name, f.rate) for f in s.functions])


def mistakes_png(s: Summary) -> bytes | None:
    """Students per catalogued mistake and per unexplained cluster, in one PNG (None: neither)."""
    bars = [(f"{f.name}: {m.id}", m.students, False) for f in s.functions for m in f.mistakes]
    bars += [(f"{c.function} on {len(c.cases)} case(s): unexplained", c.size, True) for c in s.clusters]
    return plots.mistakes(bars)


def plot(s: Summary, path: Path) -> Path:
    """summary.png: `overview_png`."""
    write_atomic(path, overview_png(s))
    return path


def write(s: Summary, folder: Path) -> list[Path]:
    """summary.txt, summary.json and summary.png in `folder`."""
    text_path, json_path = folder / "summary.txt", folder / "summary.json"
    write_atomic(text_path, to_text(s))
    write_atomic(json_path, json.dumps(s.to_dict(), indent=2) + "\n")
    return [text_path, json_path, plot(s, folder / "summary.png")]
