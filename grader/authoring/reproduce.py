"""`grader reproduce`: train the course's models with the reference, figure by figure."""

from __future__ import annotations

import math
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader.authoring import reference
from grader.errors import SpecError
from grader.reading.assignment import Assignment, Reproduction

# What makes a figure stable. The course's figures come from fixed seeds and fixed data, but every
# matrix product goes through BLAS, whose kernels (chosen for the processor, or by
# OPENBLAS_CORETYPE) add in different orders and so differ in the last bits. One forward pass keeps
# that difference in the last bits; thousands of training iterations can amplify it. Measured on
# nine OpenBLAS kernels: the course's figures on its own data agree to 3e-13 (costs) and exactly
# (accuracies), so the spec checks them within 1e-12 or 1e-9; the x10 weights' costs move in the
# fourth digit and are marked platform-sensitive (reported, not judged); on the bundled data the
# over-fitting model's accuracies move by several points, so they are this data set's figures on
# this machine and not judged.
NOTES = {
    "exact": "exact: the same on every BLAS kernel",
    "last bits": "last bits: stable on every BLAS kernel but for the last couple of bits",
    "tolerance": "±tol: stable to many digits; the BLAS kernel and the course's machine may move "
    "the last ones",
    "sensitive": "platform-sensitive: long training amplifies the BLAS kernel's last bits; "
    "shown, not judged",
    "own data": "own data: the bundled data set's figures, not the course's; not judged (the "
    "over-fitting model's accuracies depend on the BLAS kernel)",
}
EXACT = 1e-12  # a tolerance this small is equality to the last couple of bits


def how(r: Reproduction, *, course_data: bool) -> tuple[str, str]:
    """(what the check column says, which note explains it) for one figure."""
    if r.course_data and not course_data:
        return "not judged", "own data"
    if r.platform_sensitive:
        return f"±{r.tol:g}, not judged", "sensitive"
    if not math.isfinite(r.course):
        return "exact", "exact"
    if r.tol <= EXACT:
        return f"last bits (±{r.tol:g})", "last bits"
    return f"±{r.tol:g}", "tolerance"


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
    rows = []
    missed = False
    notes: list[str] = []
    for r in a.reproduce:
        value = got.get(r.figure)
        word, miss = verdict(r, value, course_data=data is not None)
        checked, note = how(r, course_data=data is not None)
        notes += [note] if note not in notes else []
        missed = missed or miss
        style = "red" if miss else "green" if word == "ok" else "yellow"
        rows.append((r.label, repr(r.course), repr(value), checked, f"[{style}]{word}[/]"))
    table.add_column("figure", ratio=1, overflow="fold")
    for i, col in enumerate(("course", "reference"), start=1):  # full precision, never cut
        table.add_column(col, no_wrap=True, min_width=max(len(row[i]) for row in rows))
    table.add_column("checked")
    table.add_column("verdict")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in notes:
        console.print(f"  {NOTES[note]}", highlight=False)
    console.print("all figures reproduced" if not missed else "some figures were not reproduced")
    return not missed
