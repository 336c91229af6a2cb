"""`grader reproduce`: train the course's models with the reference, figure by figure."""

from __future__ import annotations

import math
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader import reference
from grader.assignment import Assignment, Reproduction
from grader.errors import SpecError


def verdict(r: Reproduction, got: float | None, *, course_data: bool) -> tuple[str, bool]:
    """(word, counts-as-a-miss) for one figure."""
    if got is None:
        return "MISSING", True
    if r.course_data and not course_data:
        return "own data", False
    same = got == r.course or (math.isfinite(r.course) and abs(got - r.course) <= r.tol)
    if r.platform_sensitive:
        return ("ok" if same else "differs (platform-sensitive)"), False
    return ("ok", False) if same else ("MISS", True)


def figures(a: Assignment, data: Path | None, console: Console) -> dict[str, float]:
    """Run the assignment's reproduce script under a progress bar."""
    module = reference.load_module(a.reference_folder / "reproduce.py", f"_grader_reproduce_{a.name}")
    ns = reference.namespace_of(a.reference_notebook, a.folder)
    data = data.resolve() if data else None
    with reference.inside(a.folder):
        total = int(module.steps(data))
        columns = (
            TextColumn("training"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("train", total=total)
            result = module.run(ns, data, lambda k=1: progress.advance(task, k))
    return {str(k): float(v) for k, v in result.items()}


def main(a: Assignment, *, data: Path | None, console: Console | None = None) -> bool:
    """Print every figure next to the course's value; True when nothing was missed."""
    console = console or Console()
    if not a.reproduce:
        raise SpecError(f"{a.name} declares no figures to reproduce")
    os.environ.setdefault("MPLBACKEND", "Agg")
    got = figures(a, data, console)
    where = f" on {data}" if data else " (bundled data)" if any(r.course_data for r in a.reproduce) else ""
    table = Table(title=f"{a.title}: the course's figures{where}")
    for col in ("figure", "course", "reference", "verdict"):
        table.add_column(col)
    missed = False
    for r in a.reproduce:
        value = got.get(r.figure)
        word, miss = verdict(r, value, course_data=data is not None)
        missed = missed or miss
        style = "red" if miss else "green" if word == "ok" else "yellow"
        table.add_row(r.label, repr(r.course), repr(value), f"[{style}]{word}[/]")
    console.print(table)
    console.print("all figures reproduced" if not missed else "some figures were not reproduced")
    return not missed
