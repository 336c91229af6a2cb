"""Results as frozen dataclasses, and their renderers. No grading logic lives here."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path, PurePath
from typing import Any

STATUSES = ("passed", "failed", "error", "timeout", "missing", "killed")

# What student code can put in a message that must not reach a terminal, a page or a file as it
# is: control characters (escape sequences that rewrite a terminal), bidirectional overrides
# (text that reads other than it is) and lone surrogates (which no UTF-8 output can encode).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every unprintable character written as an escape (`\\x1b`, `\\u202e`)."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


# Line breaks are kept in JSON (escaped there) but never reach text output as they are: a name or
# a message holding one would add lines of its own (a forged "batch: ... mean 100.0%" line).
_BREAKS = re.compile("[\n\r\u2028\u2029]")


def one_line(text: Any) -> str:
    """`text` (a name, a message) for a line of text output: printable, its line breaks written
    as escapes (`\\n`, `\\r`, `\\u2028`)."""
    return _BREAKS.sub(lambda m: ascii(m.group())[1:-1], printable(str(text)))


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
    status: str  # "graded" | "invalid" | "error" (an internal error of the grader)
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


# ----------------------------------------------------------------------------- file names

# Stems of what the grader writes into --output beside the reports (gradebook.sqlite, its CSV and
# JSON exports, summary.txt/.png/.json, index.html, junit.xml, results.json): no report takes one.
RESERVED_NAMES = frozenset({"gradebook", "summary", "index", "junit", "results"})
MAX_NAME = 100  # characters of a report's name, well under any file system's limit
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_names(submissions: Sequence[str]) -> list[str]:
    """The name of each submission's files under --output (`<name>.json`, `<name>.html`,
    `<name>/results.json`): the one naming scheme every writer uses.

    A name is the notebook's stem, with its parent folders prefixed (`bob__Work`) while stems
    clash; every run of characters other than ASCII letters, digits, `_` and `-` (dots, slashes,
    spaces) becomes `_`, so a name is never `.`, `..` or a path and never has an extension. Names
    are compared ignoring case; a name still taken (the same file given twice, names that only
    join alike, one of the grader's own file names) gets the first free `-2`, `-3`, ...
    """
    labels = [printable(s) for s in submissions]
    keys = [os.path.abspath(label) for label in labels] if labels else []
    files = list(dict.fromkeys(keys))
    natural = dict(zip(files, _grown(files), strict=True))
    taken = set(RESERVED_NAMES)
    first: dict[int, str] = {}
    for i, key in enumerate(keys):  # the first holder of a free name keeps it
        name = natural[key]
        if name.lower() not in taken:
            taken.add(name.lower())
            first[i] = name
    out = []
    for i, key in enumerate(keys):
        if i in first:
            out.append(first[i])
            continue
        base, k = natural[key], 2
        while f"{base}-{k}".lower() in taken:
            k += 1
        taken.add(f"{base}-{k}".lower())
        out.append(f"{base}-{k}")
    return out


def _grown(files: list[str]) -> list[str]:
    """Each file's stem, prefixed with more of its folders while it clashes with another's."""
    parts = [_parts(f) for f in files]
    depth = [1] * len(files)
    while True:
        names = [_bounded("__".join(p[-d:])) for p, d in zip(parts, depth, strict=True)]
        seen: dict[str, int] = {}
        for n in names:
            seen[n.lower()] = seen.get(n.lower(), 0) + 1
        clash = {i for i, n in enumerate(names) if seen[n.lower()] > 1}
        grow = [i for i in clash if depth[i] < len(parts[i])]
        if not grow:  # what folders cannot tell apart (case, unsafe characters) gets a number
            return [_bounded(parts[i][-1]) if i in clash else n for i, n in enumerate(names)]
        for i in grow:
            depth[i] += 1


def _bounded(name: str) -> str:
    """A name of at most MAX_NAME characters: a longer one keeps its end (the notebook's stem) and
    ends in 8 hex digits of its SHA-256, so two long names that end alike stay apart."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[-(MAX_NAME - 9):]}-{digest}"


def _parts(path: str) -> list[str]:
    pure = PurePath(path)
    folders = [p for p in pure.parent.parts if p != pure.anchor]
    return [_UNSAFE.sub("_", p) for p in [*folders, pure.stem or "notebook"]]


def private_folder(folder: Path) -> None:
    """Create `folder` and its missing parents, owner-only (0700): what the grader writes there
    (reports, executed notebooks, the gradebook) is no one else's to read. A folder that already
    exists keeps its mode."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            made.mkdir(mode=0o700)
        except FileExistsError:  # made by someone else meanwhile: theirs to decide
            continue
        os.chmod(made, 0o700)


def write_atomic(path: Path, text: str, *, private: bool = True) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report. The file is
    owner-only (0600) unless not `private` (a released notebook, expected values in the
    assignment's repository): a report or gradebook names students and their scores, and as
    root, a sandbox user could read anything world-readable outside the covers."""
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if not private:
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
    for w in report.warnings + tuple(w for f in report.functions for w in f.warnings):
        console.print(f"  warning: {one_line(w)}", markup=False)
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
