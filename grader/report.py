"""Results as frozen dataclasses, and their renderers. No grading logic lives here."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

STATUSES = ("passed", "failed", "error", "timeout", "missing", "killed")

# What student code can put in a message that must not reach a terminal, a page or a file as it
# is: control characters (escape sequences that rewrite a terminal), bidirectional overrides
# (text that reads other than it is) and lone surrogates (which no UTF-8 output can encode).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every unprintable character written as an escape (`\\x1b`, `\\u202e`)."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(v) for v in value)
    return value


def mistake_message(mistake: dict[str, str], detail: str) -> str:
    """A failed case's message when its output shows a recognised mistake."""
    return f"looks like {mistake.get('description')}: {mistake.get('hint')} ({detail})"


@dataclass(frozen=True)
class TestResult:
    """One case of one function."""

    name: str
    hidden: bool
    passed: bool
    message: str
    points: float
    max_points: float
    mistake: dict[str, str] | None = None  # {"id", "description", "hint"} of a recognised mistake
    # expected and received values of a failed visible case (encoded), for reports that show them
    evidence: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", printable(self.message))

    @property
    def detail(self) -> str:
        """The message without the recognised mistake's words (shown apart by some renderers)."""
        if self.mistake:
            head = mistake_message(self.mistake, "")[:-1]
            if self.message.startswith(head) and self.message.endswith(")"):
                return self.message[len(head) : -1]
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "hidden": self.hidden,
            "passed": self.passed,
            "message": self.message,
            "points": self.points,
            "max_points": self.max_points,
        }
        if self.mistake is not None:
            out["mistake"] = dict(self.mistake)
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(frozen=True)
class FunctionResult:
    """One graded function."""

    name: str
    score: float
    max_score: float
    status: str
    message: str
    tests: tuple[TestResult, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", printable(self.message))
        object.__setattr__(self, "warnings", _clean(self.warnings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "message": self.message,
            "tests": [t.to_dict() for t in self.tests],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Report:
    """Everything about one submission."""

    submission: str
    assignment: str | None
    status: str  # "graded" | "invalid"
    message: str
    functions: tuple[FunctionResult, ...] = ()
    warnings: tuple[str, ...] = ()
    isolation: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("submission", "message"):
            object.__setattr__(self, name, printable(getattr(self, name)))
        object.__setattr__(self, "warnings", _clean(self.warnings))
        object.__setattr__(self, "extra", _clean(self.extra))  # a full run's errors, from the kernel

    @property
    def score(self) -> float:
        return round(sum(f.score for f in self.functions), 6)

    @property
    def max_score(self) -> float:
        return round(sum(f.max_score for f in self.functions), 6)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "assignment": self.assignment,
            "status": self.status,
            "message": self.message,
            "score": self.score,
            "max_score": self.max_score,
            "functions": [f.to_dict() for f in self.functions],
            "warnings": list(self.warnings),
            "isolation": list(self.isolation),
            **self.extra,
        }


def to_json(reports: list[Report], *, single: bool) -> str:
    """The JSON contract: one object for one submission, an array for several."""
    data: Any = reports[0].to_dict() if single else [r.to_dict() for r in reports]
    return json.dumps(data, indent=2)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    title = f"{report.submission}  [{report.assignment or 'unknown assignment'}]"
    if report.status != "graded":
        console.print(f"{title}\n  INVALID: {report.message}")
        return out.getvalue()
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("function")
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("feedback", overflow="fold")
    for f in report.functions:
        style = _STYLE.get(f.status, "")
        table.add_row(
            escape(f.name),
            f"{_fmt(f.score)}/{_fmt(f.max_score)}",
            f"[{style}]{f.status}[/]",
            escape(f.message),
        )
    console.print(table)
    for w in report.warnings + tuple(w for f in report.functions for w in f.warnings):
        console.print(f"  warning: {w}", markup=False)
    run = report.extra.get("execution")
    if isinstance(run, dict):
        raised = ", ".join(f"cell {e['cell']} ({e['ename']})" for e in run.get("errors", [])) or "none"
        console.print(
            f"  notebook run: {run.get('status')} in {run.get('seconds')} s, "
            f"{run.get('figures', 0)} figures, cells that raised: {raised}",
            markup=False,
        )
    for note in report.isolation:
        console.print(f"  isolation: {note}", markup=False)
    console.print(f"  total: {_fmt(report.score)}/{_fmt(report.max_score)} ({report.percent:.1f}%)")
    return out.getvalue()


def to_check_text(report: Report) -> str:
    """A student's view of `grader check`: each function, what its visible cases say, and a hint."""
    if report.status != "graded":
        return f"Could not check {report.submission}: {report.message}\n"
    lines = [f"Checking {report.submission} ({report.assignment}) on the visible cases", ""]
    for f in report.functions:
        failed = [t for t in f.tests if not t.passed]
        if not f.tests:
            lines.append(f"  [ -] {f.name}: no visible case; only the grader's hidden cases check it")
        elif not failed:
            lines.append(f"  [ok] {f.name}: passes " + ", ".join(t.name for t in f.tests))
        elif f.status != "failed" or not any(t.mistake for t in failed):
            lines.append(f"  [XX] {f.name}: {f.message}")
        else:
            lines.append(f"  [XX] {f.name}")
            for t in failed:
                lines.append(f"       {t.name}: {t.detail}")
                if t.mistake:
                    lines.append(f"       looks like {t.mistake['description']}")
                    lines.append(f"       hint: {t.mistake['hint']}")
        lines.extend(f"       warning: {w}" for w in f.warnings)
    passing = sum(1 for f in report.functions if f.tests and f.status == "passed")
    checked = sum(1 for f in report.functions if f.tests)
    lines += [
        "",
        f"{passing} of {checked} functions pass their visible checks.",
        "The grader runs these same checks, plus hidden cases: passing here does not guarantee full marks.",
    ]
    return "\n".join(lines) + "\n"
