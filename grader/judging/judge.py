"""Judging what came back from the sandbox: each case against the expected output, and the
feedback that names the mistake."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any

from grader.judging import feedback, mistakes
from grader.judging.compare import flags, judge
from grader.judging.prepared import Prepared, zero
from grader.reading import selection
from grader.reading.assignment import Case, Function
from grader.results import FunctionResult, TestResult
from grader.sandbox import codec
from grader.sandbox.worker import Limits

MAX_VERDICTS = 512  # the most recently used; each holds its raw result (up to ~100 KB) alive
_LOCK = threading.Lock()
_VERDICTS: OrderedDict[tuple[str, str, int], tuple[dict[str, Any], Prepared, TestResult]] = OrderedDict()
UNREADABLE = "the returned value could not be read"


def function(
    f: Function, ans: selection.Answer, raw: dict[str, Any], prep: Prepared, limits: Limits
) -> FunctionResult:
    """One function's result from its raw per-case results."""
    outcome = feedback.process_outcome(raw, limits)
    if outcome is not None:
        status, message = outcome
        return zero(f, status, message, ans)
    results = raw.get("cases", {})
    tests = [_case(f, c, ans, results.get(c.name), prep) for c in f.cases]
    # a value that could not be read is refused once, here: nothing else decodes it again
    refused = {t.name for t in tests if t.message.startswith(UNREADABLE)}
    readable = {k: v for k, v in results.items() if k not in refused}
    tests = _contrasted(f, mistakes.annotate(f, tests, readable, prep.expected), readable, prep)
    tests = _described(f, tests, prep)
    score = sum(t.points for t in tests)
    failing = [t for t in tests if not t.passed]
    if not failing:
        return FunctionResult(
            f.name, score, f.max_score, "passed", "all tests passed", tuple(tests), ans.warnings
        )
    # a named mistake says more than any other case's message, wherever it was recognised
    first = next((t for t in failing if t.mistake), failing[0])
    status = "error" if first.message.startswith(feedback.ERROR_PREFIXES) else "failed"
    if status == "error" and "out of memory" in first.message:
        status = "killed"
    message = f"{first.name}: {first.message}"
    hint = feedback.placeholder_hint(ans)
    if hint:
        message = f"{hint}; {message}"
    return FunctionResult(f.name, score, f.max_score, status, message, tuple(tests), ans.warnings)


def _case(f: Function, c: Case, ans: selection.Answer, r: Any, prep: Prepared) -> TestResult:
    def result(passed: bool, message: str) -> TestResult:
        return TestResult(c.name, c.hidden, passed, message, c.points if passed else 0.0, c.points)

    if not isinstance(r, dict):
        return result(False, "no result came back for this case")
    drawn = c.hidden and bool(c.vary) and prep.variant is not None  # its inputs: the student's secret
    if not r.get("ok"):
        said = feedback.drawn_case_error(r, ans) if drawn else feedback.case_error(r, ans, prep.assignment)
        return result(False, said)
    # A returned value is judged the same whoever returned it: a batch's cache hands the same
    # result object to every identical answer, so its verdict is worked out once.
    key = (f.name, c.name, id(r))
    with _LOCK:
        seen = _VERDICTS.get(key)
        if seen is not None and seen[0] is r and seen[1] is prep:  # `r` is kept: its id stays its own
            _VERDICTS.move_to_end(key)
            return seen[2]
    try:
        got = codec.decode(r.get("output"))
    except Exception as exc:  # whatever came back (a forged result too) is refused, never a crash
        why = type(exc).__name__ if drawn else f"{type(exc).__name__}: {str(exc)[:200]}"
        return result(False, f"{UNREADABLE} ({why})")
    if got is None and prep.outputs(f.name, c.name) is not None:
        verdict = result(False, "returned None: is the `return` statement missing?")
    else:  # a drawn case's message is fixed words: nothing of what the answer returned
        v = judge(prep.outputs(f.name, c.name), got, c)
        verdict = result(v.passed, v.message(c.hidden, drawn=drawn))
    with _LOCK:
        _VERDICTS[key] = (r, prep, verdict)
        if len(_VERDICTS) > MAX_VERDICTS:
            _VERDICTS.popitem(last=False)
    return verdict


def _described(f: Function, tests: list[TestResult], prep: Prepared) -> list[TestResult]:
    """A failed hidden case says which case it is in the spec's words (its `description`): its
    values are never shown, so "has 6 of 6 entries wrong" alone would not say where to look. A
    description that gives the expected output away (`grader validate` flags it) is left out."""
    words = {c.name: c.description for c in f.cases if c.hidden and c.description}
    out = []
    for t in tests:
        said = words.get(t.name) if not t.passed else None
        if said and not feedback.gives_away(said, prep.outputs(f.name, t.name)):
            t = dataclasses.replace(t, message=f"{t.message} (case: {said})")
        out.append(t)
    return out


def _contrasted(
    f: Function, tests: list[TestResult], results: dict[str, Any], prep: Prepared
) -> list[TestResult]:
    """Points only for an answer that tells cases apart; three rules, each judged on the verdicts
    before any of them applies (a self-check that keeps only the visible cases judges those):

    - a `below` case earns its points only when the output is not below the threshold on at least
      one of its contrast cases: an answer that says "below" whatever it is given earns nothing,
      while a check with one blind spot (taking the gradients' absolute values hides a sign error)
      keeps them and loses the case it misses;
    - a contrast case (a wrong gradient: right answer not below) earns its points only when the
      output is below the threshold on at least one `below` case naming it: an answer that says
      "not below" whatever it is given earns nothing there either;
    - a value-judged case earns its points only when the same answer did not come back on another
      case whose right answer differs and which the answer got wrong: a constant that happens to
      be one case's right answer (a ratio of exactly 1) earns nothing.
    """
    present = {c.name for c in f.cases}  # a self-check keeps only the visible cases: judge those
    passed = {t.name: t.passed for t in tests}
    hidden = {o.name for o in f.cases if o.hidden}
    naming = {c.name: [b for b in f.cases if c.name in b.contrast and b.name in present] for c in f.cases}

    def where(c: Case, names: list[str]) -> str:
        # a visible case names no hidden one, nor says how many: the hidden stage chose that count
        named = [o for o in names if o not in hidden or c.hidden]
        return ", ".join([*named, *(["hidden cases"] if len(named) < len(names) else [])])

    out = []
    for c, t in zip(f.cases, tests, strict=True):
        message = ""
        contrast = [o for o in c.contrast if o in present] if t.passed else []
        missed = [o for o in contrast if not _flagged(results.get(o), c.below)]
        if contrast and len(missed) == len(contrast):
            message = (
                f"the output is below {c.below:g} here, but also on {where(c, missed)}, where the "
                "right answer is not: an answer that cannot tell these cases apart earns no points"
            )
        elif t.passed and naming[c.name] and not any(passed[b.name] for b in naming[c.name]):
            below = naming[c.name]
            message = (
                f"the output is right here, but it is not below {below[0].below:g} on "
                f"{where(c, [b.name for b in below])} either, where the right answer is: an answer "
                "that cannot tell these cases apart earns no points"
            )
        elif t.passed and c.below is None:
            same = _same_answer(f, c, passed, results, prep)
            if same:
                message = (
                    f"the output is right here, but the same answer came back on {where(c, same)}, "
                    "where the right answer differs: an answer that cannot tell these cases apart "
                    "earns no points"
                )
        out.append(dataclasses.replace(t, passed=False, points=0.0, message=message) if message else t)
    return out


def _same_answer(
    f: Function, c: Case, passed: dict[str, bool], results: dict[str, Any], prep: Prepared
) -> list[str]:
    """The other cases the answer got wrong by giving `c`'s right answer where the right answer
    differs: its output there passes as `c`'s answer, the reference's output there does not."""
    right = prep.outputs(f.name, c.name)
    same = []
    for o in f.cases:
        if o is c or passed.get(o.name, True):
            continue
        got = _decoded(results.get(o.name))
        if got is _NOTHING or not judge(right, got, c).passed:
            continue
        if not judge(right, prep.outputs(f.name, o.name), c).passed:
            same.append(o.name)
    return same


_NOTHING = object()


def _decoded(r: Any) -> Any:
    if not isinstance(r, dict) or not r.get("ok"):
        return _NOTHING
    try:
        return codec.decode(r.get("output"))
    except Exception:  # refused already, in its own case
        return _NOTHING


def _flagged(r: Any, threshold: float | None) -> bool:
    if threshold is None or not isinstance(r, dict) or not r.get("ok"):
        return False
    try:
        got = codec.decode(r.get("output"))
    except Exception:  # refused already, in its own case
        return False
    return flags(got, threshold)
