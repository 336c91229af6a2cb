"""Reports as text: the table `grader run` prints, the student's `grader check` view, and the
JSON contract of stdout."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

from grader.results import Report, one_line


def to_json(reports: list[Report], *, single: bool) -> str:
    """The JSON contract: one object for one submission, an array for several."""
    data: Any = reports[0].to_dict() if single else [r.to_dict() for r in reports]
    return json.dumps(data, indent=2)


_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "red",
    "timeout": "magenta",
    "missing": "yellow",
    "killed": "magenta",
}


def _fmt(x: float) -> str:
    return f"{x:g}"


def to_text(report: Report, *, color: bool = False, width: int = 110) -> str:
    """A readable table per submission: function, points, status, first useful message."""
    from rich.console import Console  # only text output needs rich: JSON runs skip its import
    from rich.markup import escape
    from rich.table import Table

    out = StringIO()
    console = Console(file=out, force_terminal=color, width=width, no_color=not color)
    title = one_line(f"{report.submission}  [{report.assignment or 'unknown assignment'}]")
    if report.status == "error":
        note = "ERROR (the grader's, not the submission's; a rerun retries it)"
        console.print(f"{title}\n  {note}: {one_line(report.message)}", markup=False)
        return out.getvalue()
    if report.status != "graded":
        console.print(f"{title}\n  INVALID: {one_line(report.message)}", markup=False)
        return out.getvalue()
    table = Table(title=escape(title), title_justify="left", expand=False)
    table.add_column("function")
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("feedback", overflow="fold")
    for f in report.functions:
        style = _STYLE.get(f.status, "")
        table.add_row(
            escape(one_line(f.name)),
            f"{_fmt(f.score)}/{_fmt(f.max_score)}",
            f"[{style}]{f.status}[/]",
            escape(one_line(f.message)),
        )
    console.print(table)
    for f in report.functions:
        if f.adjustment:
            was = _fmt(float(f.adjustment.get("was", 0)))
            line = f"  adjusted: {f.name} {was} -> {_fmt(f.score)}: {f.adjustment.get('comment', '')}"
            console.print(one_line(line), markup=False)
    for w in report.warnings + tuple(w for f in report.functions for w in f.warnings):
        console.print(f"  warning: {one_line(w)}", markup=False)
    if isinstance(report.extra.get("hidden_cases"), str):
        console.print(f"  {one_line(report.extra['hidden_cases'])}", markup=False)
    run = report.extra.get("execution")
    if isinstance(run, dict):
        raised = ", ".join(f"cell {e['cell']} ({e['ename']})" for e in run.get("errors", [])) or "none"
        console.print(
            one_line(
                f"  notebook run: {run.get('status')} in {run.get('seconds')} s, "
                f"{run.get('figures', 0)} figures, cells that raised: {raised}"
            ),
            markup=False,
        )
    for note in report.isolation:
        console.print(f"  isolation: {one_line(note)}", markup=False)
    console.print(f"  total: {_fmt(report.score)}/{_fmt(report.max_score)} ({report.percent:.1f}%)")
    return out.getvalue()


def to_check_text(report: Report) -> str:
    """A student's view of `grader check`: each function, what its visible cases say, and a hint."""
    if report.status != "graded":
        return one_line(f"Could not check {report.submission}: {report.message}") + "\n"
    lines = [one_line(f"Checking {report.submission} ({report.assignment}) on the visible cases"), ""]
    for f in report.functions:
        failed = [t for t in f.tests if not t.passed]
        if not f.tests:
            what = "no visible case; only the grader's hidden cases check it"
            lines.append(f"  [ -] {one_line(f.name)}: {what}")
        elif not failed:
            lines.append(one_line(f"  [ok] {f.name}: passes " + ", ".join(t.name for t in f.tests)))
        elif f.status != "failed" or not any(t.mistake for t in failed):
            lines.append(one_line(f"  [XX] {f.name}: {f.message}"))
        else:
            lines.append(one_line(f"  [XX] {f.name}"))
            for t in failed:
                lines.append(one_line(f"       {t.name}: {t.detail}"))
                if t.mistake:
                    lines.append(one_line(f"       looks like {t.mistake['description']}"))
                    lines.append(one_line(f"       hint: {t.mistake['hint']}"))
        lines.extend(one_line(f"       warning: {w}") for w in f.warnings)
    passing = sum(1 for f in report.functions if f.tests and f.status == "passed")
    checked = sum(1 for f in report.functions if f.tests)
    lines += [
        "",
        f"{passing} of {checked} functions pass their visible checks.",
        "The grader runs these same checks, plus hidden cases: passing here does not guarantee full marks.",
    ]
    return "\n".join(lines) + "\n"
