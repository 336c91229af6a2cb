"""The result model: a submission's `Report`, made of `FunctionResult`s, made of `TestResult`s.

Frozen dataclasses, built by judging and grading, read by every renderer; plain data both ways
(`to_dict`, `from_dict`). Whatever student code could put in a message is made printable here,
once. No grading logic and no rendering live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "error", "timeout", "missing", "killed")

# What student code can put in a message that must not reach a terminal, a page or a file as it
# is: control characters (escape sequences that rewrite a terminal), bidirectional overrides
# (text that reads other than it is) and lone surrogates (which no UTF-8 output can encode).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every unprintable character written as an escape (`\\x1b`, `\\u202e`)."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def unsurrogate(text: str) -> str:
    """`text` with every lone surrogate written as an escape (`\\udce9`): what no UTF-8 output can
    encode (a JSON `\\ud800` in a notebook; a file name's byte that was not UTF-8, which
    `os.fsdecode` keeps as a surrogate). The same text always gives the same escape."""
    return _SURROGATE.sub(lambda m: ascii(m.group())[1:-1], text)


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
    """One case of one graded function: whether it `passed`, the `points` it earned of
    `max_points`, and the `message` a student reads. A `hidden` case's values are never shown; a
    failed case may name a recognised `mistake` ({"id", "description", "hint"})."""

    name: str
    hidden: bool
    passed: bool
    message: str
    points: float
    max_points: float
    mistake: dict[str, str] | None = None  # {"id", "description", "hint"} of a recognised mistake
    # expected and received values of a failed visible case (encoded), for reports that show them
    evidence: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # a failed case's returned value, digested (judging/digest.py): for the instructor's view of
    # a class (several answers, the same wrong output); never shown to a student
    output_digest: str = field(default="", compare=False, repr=False)

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
        if self.output_digest:
            out["output_digest"] = self.output_digest
        return out


@dataclass(frozen=True)
class FunctionResult:
    """One graded function: its `score` of `max_score`, a `status` (passed, failed, error, timeout,
    missing, killed), the first useful `message`, a `TestResult` per case, and `warnings` (a
    function defined twice, say)."""

    name: str
    score: float
    max_score: float
    status: str
    message: str
    tests: tuple[TestResult, ...] = ()
    warnings: tuple[str, ...] = ()
    # the answer's normal form, digested, when it is substantial and not the reference's: for the
    # instructor's list of identical answers across a class; never shown to a student
    answer_digest: str = field(default="", compare=False, repr=False)
    # the instructor's override (`grader adjust`): {"points", "was" (the graded score), "comment",
    # "who", "at"}; `score` is then the override's points
    adjustment: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", printable(self.message))
        object.__setattr__(self, "warnings", _clean(self.warnings))
        object.__setattr__(self, "adjustment", _clean(self.adjustment))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "message": self.message,
            "tests": [t.to_dict() for t in self.tests],
            "warnings": list(self.warnings),
        }
        if self.answer_digest:
            out["answer_digest"] = self.answer_digest
        if self.adjustment is not None:
            out["adjustment"] = dict(self.adjustment)
        return out


@dataclass(frozen=True)
class Report:
    """Everything about one submission: its `status` ("graded", "invalid": not a notebook the
    grader can grade, with the reason in `message`, or "error": the grader's own failure, never
    stored as a grade), the assignment it was graded as, a `FunctionResult` per graded function
    (`score`, `max_score` and `percent` add them up), warnings, the sandbox's missing isolation
    layers, and `extra` (the full run's outcome under "execution")."""

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


def from_dict(d: dict[str, Any]) -> Report:
    """A Report rebuilt from its dict (as `Report.to_dict` makes it): what a batch or a gradebook
    stored, for the renderers."""
    functions = tuple(_function_from_dict(f) for f in d.get("functions", []))
    extra = {k: v for k, v in d.items() if k not in _REPORT_KEYS}
    warnings, isolation = tuple(d.get("warnings", ())), tuple(d.get("isolation", ()))
    return Report(
        d["submission"], d.get("assignment"), d["status"], d["message"], functions, warnings, isolation, extra
    )


_REPORT_KEYS = frozenset(
    [
        "submission",
        "assignment",
        "status",
        "message",
        "score",
        "max_score",
        "functions",
        "warnings",
        "isolation",
    ]
)


def _function_from_dict(f: dict[str, Any]) -> FunctionResult:
    tests = tuple(
        TestResult(
            t["name"],
            t["hidden"],
            t["passed"],
            t["message"],
            float(t.get("points", 0.0)),
            float(t.get("max_points", 0.0)),
            mistake=t.get("mistake"),
            evidence=t.get("evidence"),
            output_digest=str(t.get("output_digest", "")),
        )
        for t in f.get("tests", [])
    )
    return FunctionResult(
        f["name"],
        f["score"],
        f["max_score"],
        f["status"],
        f["message"],
        tests,
        tuple(f.get("warnings", ())),
        answer_digest=str(f.get("answer_digest", "")),
        adjustment=f.get("adjustment") if isinstance(f.get("adjustment"), dict) else None,
    )
