"""Reports in the formats other systems read: Gradescope's results.json and JUnit XML.

Rendering only: everything written comes from a Report; nothing here decides a grade.
Gradescope's format: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from grader.files import file_names, write_atomic
from grader.judging import hidden as hidden_mod
from grader.judging.feedback import ERROR_PREFIXES
from grader.results import FunctionResult, Report, TestResult

HIDDEN_VISIBILITY = "after_published"  # hidden cases: shown to students once grades are published


def _fmt(x: float) -> str:
    return f"{x:g}"


def _summary(report: Report) -> str:
    """The top-level `output`, which Gradescope always shows to the student.

    Gradescope's autograder specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/,
    "Output format" and "Controlling Test Case Visibility") shows a test whose `visibility` is
    `after_published` only once grades are published, and hides the student's total score while
    any test is hidden; the top-level `output` has no visibility of its own. So it states only what
    the visible cases say: no total and no per-function score or status while hidden cases count.
    """
    if report.status == "error":
        return "The autograder failed on this submission (not your fault): please tell the course staff."
    if report.status != "graded":
        return f"Not graded: {report.message}"
    hidden = any(t.hidden for f in report.functions for t in f.tests)
    lines = [] if hidden else [f"Score: {_fmt(report.score)} / {_fmt(report.max_score)}"]
    for f in report.functions:
        shown = _visible(f) if hidden else f"{_fmt(f.score)} / {_fmt(f.max_score)} ({f.status})"
        lines.append(f"{f.name}: {shown}")
    for f in report.functions:
        if f.adjustment:  # the course staff's own words; points only where scores are shown
            points = (
                "" if hidden else f" from {_fmt(float(f.adjustment.get('was', 0)))} to {_fmt(f.score)} points"
            )
            lines.append(f"{f.name}: adjusted by the course staff{points}: {f.adjustment.get('comment', '')}")
    if hidden:
        lines.append("Hidden cases are graded too; their results are shown once grades are published.")
        note = report.extra.get("hidden_cases")
        if isinstance(note, str) and hidden_mod.for_students(note):
            lines.append(hidden_mod.for_students(note))
    lines.extend(
        f"warning: {w}" for w in report.warnings + tuple(w for f in report.functions for w in f.warnings)
    )
    return "\n".join(lines)


def _visible(f: FunctionResult) -> str:
    shown = [t for t in f.tests if not t.hidden]
    if not shown:
        return "no visible case"
    passed = sum(1 for t in shown if t.passed)
    return f"{passed} of {len(shown)} visible cases passed"


def _test_output(t: TestResult) -> str:
    if t.passed:
        return "passed"
    if t.mistake:
        return f"{t.detail}\n\nLooks like {t.mistake['description']}.\nHint: {t.mistake['hint']}"
    return t.message


def gradescope(report: Report, *, execution_time: float | None = None) -> dict[str, Any]:
    """One submission as Gradescope's results.json: a test per case, hidden cases after publishing."""
    tests = []
    for i, f in enumerate(report.functions, start=1):
        for j, t in enumerate(f.tests, start=1):
            tests.append(
                {
                    "name": f"{f.name}: {t.name}",
                    "number": f"{i}.{j}",
                    "score": t.points,
                    "max_score": t.max_points,
                    "status": "passed" if t.passed else "failed",
                    "output": _test_output(t),
                    "visibility": HIDDEN_VISIBILITY if t.hidden else "visible",
                    "tags": [f.name],
                }
            )
    result: dict[str, Any] = {
        "score": report.score if report.status == "graded" else 0.0,
        "output": _summary(report),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if execution_time is not None:
        result["execution_time"] = round(execution_time, 3)
    return result


def write_gradescope(reports: list[Report], output: Path) -> list[Path]:
    """OUTPUT/results.json for one submission; OUTPUT/<name>/results.json for several."""
    if len(reports) == 1:
        paths = [output / "results.json"]
    else:
        paths = [output / name / "results.json" for name in file_names([r.submission for r in reports])]
    for r, p in zip(reports, paths, strict=True):
        write_atomic(p, json.dumps(gradescope(r), indent=2) + "\n")
    return paths


# ----------------------------------------------------------------------------- JUnit


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Text with the characters XML 1.0 cannot hold (terminal escapes, NULs) removed."""
    return _NOT_XML.sub("", text)


def _is_error(f: FunctionResult, t: TestResult) -> bool:
    return f.status in ("timeout", "killed") or t.message.startswith(ERROR_PREFIXES)


def _seconds(report: Report) -> float:
    ex = report.extra.get("execution")
    return float(ex.get("seconds", 0.0)) if isinstance(ex, dict) else 0.0


def _suite(report: Report) -> ET.Element:
    cases = [(f, t) for f in report.functions for t in f.tests]
    failed = [(f, t) for f, t in cases if not t.passed]
    errors = sum(1 for f, t in failed if _is_error(f, t))
    invalid = int(report.status != "graded")
    suite = ET.Element(
        "testsuite",
        name=_xml(report.submission),
        tests=str(len(cases) + invalid),
        failures=str(len(failed) - errors),
        errors=str(errors + invalid),
        skipped="0",
        time=f"{_seconds(report):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("assignment", report.assignment or ""),
        ("score", _fmt(report.score)),
        ("max_score", _fmt(report.max_score)),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    if invalid:
        case = ET.SubElement(
            suite, "testcase", classname=report.assignment or "unknown", name="notebook", time="0"
        )
        kind = "internal-error" if report.status == "error" else "invalid"
        ET.SubElement(case, "error", message=_xml(report.message), type=kind).text = _xml(report.message)
    for f, t in cases:
        case = ET.SubElement(
            suite, "testcase", classname=f"{report.assignment}.{f.name}", name=t.name, time="0"
        )
        if not t.passed:
            kind = "error" if _is_error(f, t) else "failure"
            tag = (t.mistake or {}).get("id", f.status)
            ET.SubElement(case, kind, message=_xml(t.message[:500]), type=tag).text = _xml(_test_output(t))
    return suite


def junit(reports: list[Report]) -> str:
    """Every submission as a JUnit testsuite: a testcase per case of each graded function."""
    root = ET.Element("testsuites", name="grader")
    suites = [_suite(r) for r in reports]
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(reports: list[Report], output: Path) -> list[Path]:
    """OUTPUT/junit.xml holding every submission."""
    path = output / "junit.xml"
    write_atomic(path, junit(reports))
    return [path]
