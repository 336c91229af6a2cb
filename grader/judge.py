"""Judging what came back from the sandbox: each case against the expected output, and the
feedback that names the mistake."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from grader import feedback, harness, mistakes, notebook
from grader.assignment import Case, Function
from grader.compare import judge
from grader.grade import Prepared, zero
from grader.report import FunctionResult, TestResult
from grader.sandbox import Limits

MAX_VERDICTS = 512  # the most recently used; each holds its raw result (up to ~100 KB) alive
_LOCK = threading.Lock()
_VERDICTS: OrderedDict[tuple[str, str, int], tuple[dict[str, Any], Prepared, TestResult]] = OrderedDict()


def function(
    f: Function, ans: notebook.Answer, raw: dict[str, Any], prep: Prepared, limits: Limits
) -> FunctionResult:
    """One function's result from its raw per-case results."""
    outcome = feedback.process_outcome(raw, limits)
    if outcome is not None:
        status, message = outcome
        return zero(f, status, message, ans)
    tests = []
    for c in f.cases:
        tests.append(_case(f, c, ans, raw.get("cases", {}).get(c.name), prep))
    tests = mistakes.annotate(f, tests, raw.get("cases", {}), prep.expected)
    score = sum(t.points for t in tests)
    failing = [t for t in tests if not t.passed]
    if not failing:
        return FunctionResult(
            f.name, score, f.max_score, "passed", "all tests passed", tuple(tests), ans.warnings
        )
    first = failing[0]
    status = "error" if first.message.startswith(feedback.ERROR_PREFIXES) else "failed"
    if status == "error" and "out of memory" in first.message:
        status = "killed"
    message = f"{first.name}: {first.message}"
    hint = feedback.placeholder_hint(ans)
    if hint:
        message = f"{hint}; {message}"
    return FunctionResult(f.name, score, f.max_score, status, message, tuple(tests), ans.warnings)


def _case(f: Function, c: Case, ans: notebook.Answer, r: Any, prep: Prepared) -> TestResult:
    def result(passed: bool, message: str) -> TestResult:
        return TestResult(c.name, c.hidden, passed, message, c.points if passed else 0.0, c.points)

    if not isinstance(r, dict):
        return result(False, "no result came back for this case")
    if not r.get("ok"):
        return result(False, feedback.case_error(r, ans, prep.assignment))
    # A returned value is judged the same whoever returned it: a batch's cache hands the same
    # result object to every identical answer, so its verdict is worked out once.
    key = (f.name, c.name, id(r))
    with _LOCK:
        seen = _VERDICTS.get(key)
        if seen is not None and seen[0] is r and seen[1] is prep:  # `r` is kept: its id stays its own
            _VERDICTS.move_to_end(key)
            return seen[2]
    try:
        got = harness.decode(r.get("output"))
    except (ValueError, TypeError, KeyError) as exc:
        return result(False, f"the returned value could not be read ({exc})")
    if got is None and prep.outputs(f.name, c.name) is not None:
        verdict = result(False, "returned None: is the `return` statement missing?")
    else:
        v = judge(prep.outputs(f.name, c.name), got, c)
        verdict = result(v.passed, v.message(c.hidden))
    with _LOCK:
        _VERDICTS[key] = (r, prep, verdict)
        if len(_VERDICTS) > MAX_VERDICTS:
            _VERDICTS.popitem(last=False)
    return verdict
