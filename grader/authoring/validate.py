"""`grader validate`: everything a course's CI checks on an assignment, one verdict per check.

Each check is a small function of the assignment returning (passed, message); passed is None when
the check does not apply (no reproduce script). A check that raises fails with the error's words,
so one broken piece never hides the verdicts of the others. A check that finds several problems
may return them as a list: each is a verdict (a line) of its own.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from grader.errors import GraderError
from grader.reading import assignment as spec
from grader.reading.assignment import Assignment

if TYPE_CHECKING:  # the checks import what they need: `grader validate --help` stays quick
    from grader.judging.mistakes import Mistake

Outcome = tuple[bool | None, str | list[str]]


@dataclass(frozen=True)
class Check:
    """The verdict of one check on one assignment: passed, failed, or skipped (None)."""

    assignment: str
    name: str
    passed: bool | None
    message: str
    seconds: float = 0.0

    @property
    def word(self) -> str:
        return {True: "ok", False: "FAIL", None: "skip"}[self.passed]


def _spec(a: Assignment) -> Outcome:
    from grader.judging import mistakes

    catalogue = mistakes.load(a)  # raises for a catalogue that does not parse or names no function
    if not a.reference_notebook.is_file():
        return False, f"{a.reference_notebook} is missing"
    return True, f"{len(a.functions)} graded functions, {len(catalogue)} catalogued mistakes"


def _release(a: Assignment) -> Outcome:
    from grader.authoring import release

    if release.is_current(a):
        return True, f"{a.student_notebook.name} is what `grader release` writes"
    return False, f"{a.student_notebook} is out of date with reference/: run `grader release {a.name}`"


def _agreement(a: Assignment) -> Outcome:
    spec.current_expected(a)  # one line naming `grader expected` when they disagree
    return True, "every function and case of the spec is in expected/, and nothing else"


def _finite(a: Assignment) -> Outcome:
    from grader.authoring import expected

    problems = expected.nonfinite(a, spec.load_expected(a))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return False, problems[0] + more
    return True, "every expected output is finite, or its case allows otherwise"


def _expected(a: Assignment) -> Outcome:
    from grader.authoring import expected

    changes = expected.diff(spec.load_expected(a), expected.build(a), a)
    if changes:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        return False, f"{changes[0]}{more}: run `grader expected {a.name}`"
    return True, "expected/ holds what the reference and the mistakes compute"


def _grade(path: Path) -> tuple[float, float, str]:
    from grader.grading import grade

    report = grade.grade_path(path, grade.Options())
    if report.status != "graded":
        return 0.0, 0.0, f"not graded: {report.message}"
    wrong = [f"{f.name}: {f.message}" for f in report.functions if f.score < f.max_score]
    return report.score, report.max_score, "; ".join(wrong)


def _reference_fast(a: Assignment) -> Outcome:
    score, top, wrong = _grade(a.reference_notebook)
    if top and score == top == a.max_score:
        return True, f"{score:g} of {top:g}"
    return False, f"the reference scores {score:g} of {a.max_score:g}: {wrong}"


def _reference_full(a: Assignment) -> Outcome:
    from grader.sandbox import execute

    done = _reference_fast(a)
    if not done[0]:
        return done
    outcome = execute.run_notebook(a.reference_notebook, a.name, output=None)
    errors = outcome.get("errors") or []
    if outcome.get("status") != "completed" or errors:
        first = errors[0] if errors else {}
        what = f"cell {first.get('cell')} raised {first.get('ename')}: {first.get('evalue')}" if first else ""
        return False, f"the whole reference notebook does not run: {outcome.get('status')} {what}".strip()
    return True, f"{done[1]}, and the whole notebook runs without an error"


def _blank(a: Assignment) -> Outcome:
    from dataclasses import replace

    from grader.grading import grade
    from grader.judging import prepared
    from grader.reading import notebook

    report = grade.grade_path(a.student_notebook, grade.Options())
    if report.status != "graded":
        return False, f"the released notebook is not graded: {report.message}"
    unclean = [
        f"{f.name}: {f.message}"
        for f in report.functions
        if f.score or f.status != "failed" or "not implemented yet" not in f.message
    ]
    # graded as it is, an unchanged template scores zero by definition: its placeholders must too
    prep = replace(prepared.prepare(a.name), templates={})
    parsed = notebook.parse(notebook.read(a.student_notebook))
    ran = grade.grade_parsed(str(a.student_notebook), parsed, prep, grade.Options())
    unclean += [f"{f.name} scores {f.score:g} when its placeholders run" for f in ran.functions if f.score]
    if unclean:
        return False, "the released notebook is not a clean zero: " + "; ".join(unclean)
    return True, f"0 of {report.max_score:g}, every function 'not implemented yet', its placeholders too"


def _mistakes(a: Assignment) -> Outcome:
    from grader.judging import mistakes

    catalogue = mistakes.load(a)
    if not catalogue:
        return True, "no catalogued mistakes (the catalogue is optional)"
    recorded = {mid for f in spec.load_expected(a).get("mistakes", {}).values() for mid in f}
    if recorded != {m.id for m in catalogue}:
        return False, f"expected/ records other mistakes than the catalogue: run `grader expected {a.name}`"
    missed = []
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as tmp:
        for m in catalogue:
            named = _named(a, m, Path(tmp) / f"{m.id}.ipynb")
            if named != {(m.function, m.id)}:
                missed.append(f"{m.id} is named as {sorted(i for _, i in named) or 'nothing'}")
    if missed:
        return False, "a catalogued mistake is not recognised: " + "; ".join(missed)
    return True, f"each of the {len(catalogue)} mutants is named, and only as itself"


def _named(a: Assignment, m: Mistake, path: Path) -> set[tuple[str, str]]:
    """The (function, mistake) pairs grading names on the reference with `m`'s mutant in place."""
    from grader.grading import grade
    from grader.judging import mistakes
    from grader.reading import notebook

    cell = mistakes.mutant_cell(notebook.parse(notebook.read(a.reference_notebook)), m)
    nb = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    nb["cells"][cell.index - 1]["source"] = cell.source
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = grade.grade_path(path, grade.Options())
    return {(f.name, str(t.mistake["id"])) for f in report.functions for t in f.tests if t.mistake}


def _descriptions(a: Assignment) -> Outcome:
    from grader.judging import feedback
    from grader.sandbox import codec

    doc = spec.load_expected(a)
    leaks = []
    for f in a.functions:
        for c in f.cases:
            entry = doc.get("functions", {}).get(f.name, {}).get(c.name)
            if not c.hidden or not c.description or not isinstance(entry, dict):
                continue
            shown = feedback.gives_away(c.description, codec.decode(entry.get("output")))
            if shown:
                leaks.append(f"{f.name}/{c.name} says {', '.join(shown)}")
    if leaks:
        return False, (
            "a failed hidden case's description is shown to the student unless it gives the expected "
            "output away, as these do (so they are never shown): " + "; ".join(leaks)
        )
    return True, "no hidden case's description gives its expected output away"


def _secret(a: Assignment) -> Outcome:
    from grader.authoring import secret_check
    from grader.reading import secret

    key = secret.load()
    if key is None:
        return None, "no secret configured (see `grader secret init`)"
    found = secret_check.problems(a, key)
    if found:
        return False, found
    drawn = sum(1 for f in a.functions for c in f.cases if c.hidden and c.vary)
    return True, f"{drawn} secret cases, current; every catalogued mistake is told apart on one of them"


def _reproduce(a: Assignment) -> Outcome:
    from rich.console import Console

    from grader.authoring import reproduce

    if not (a.reference_folder / "reproduce.py").is_file():
        return None, "no reference/<name>/reproduce.py"
    if reproduce.main(a, data=None, console=Console(file=io.StringIO(), width=200)):
        return True, "every figure reproduced"
    return False, f"some figures were not reproduced: run `grader reproduce {a.name}` to see which"


CHECKS: dict[str, Callable[[Assignment], Outcome]] = {
    "spec": _spec,
    "release": _release,
    "agreement": _agreement,
    "finite": _finite,
    "expected": _expected,
    "reference-fast": _reference_fast,
    "reference-full": _reference_full,
    "blank": _blank,
    "descriptions": _descriptions,
    "mistakes": _mistakes,
    "secret": _secret,
    "reproduce": _reproduce,
}


def validate(name: str, *, only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> list[Check]:
    """Run the checks (all, or `only`, less `skip`) on one assignment, in CHECKS' order."""
    from grader.judging import prepared

    prepared.prepare.cache_clear()  # judge by the files as they are now
    chosen = [c for c in CHECKS if (not only or c in only) and c not in skip]
    try:
        a = spec.load(name)
    except GraderError as exc:
        return [Check(name, "spec", False, str(exc))]
    return [c for check in chosen for c in _run(a, check)]


def _run(a: Assignment, check: str) -> list[Check]:
    started = time.monotonic()
    try:
        passed, message = CHECKS[check](a)
    except GraderError as exc:
        passed, message = False, str(exc)
    except Exception as exc:  # one broken piece fails its check, never the whole run
        passed, message = False, f"{type(exc).__name__}: {exc}"
    seconds = round(time.monotonic() - started, 2)
    lines = [message] if isinstance(message, str) else message
    return [Check(a.name, check, passed, m.replace("\n", " ")[:1000], seconds) for m in lines]


def to_text(checks: list[Check]) -> str:
    """A line per check: `ok   toy: release  ...`."""
    return "\n".join(f"{c.word:<4} {c.assignment}: {c.name}  {c.message}" for c in checks)


def to_junit(checks: list[Check]) -> str:
    """JUnit XML: a test suite per assignment, a test case per check."""
    root = ET.Element("testsuites", name="grader validate")
    for name in dict.fromkeys(c.assignment for c in checks):
        mine = [c for c in checks if c.assignment == name]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(len(mine)),
            failures=str(sum(c.passed is False for c in mine)),
            skipped=str(sum(c.passed is None for c in mine)),
            time=f"{sum(c.seconds for c in mine):.2f}",
        )
        for c in mine:
            case = ET.SubElement(
                suite, "testcase", classname=f"validate.{name}", name=c.name, time=f"{c.seconds:.2f}"
            )
            if c.passed is False:
                ET.SubElement(case, "failure", message=c.message).text = c.message
            elif c.passed is None:
                ET.SubElement(case, "skipped", message=c.message)
            else:
                ET.SubElement(case, "system-out").text = c.message
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
