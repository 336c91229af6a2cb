"""What judging an assignment needs, loaded once per process: its spec, expected outputs, the
released notebook's given functions and blank templates, the reference's graded functions; and
the verdict of an answer that never ran (`zero`).

Here rather than in grading/ so that judging depends on nothing above it; nothing here imports
numpy (expected outputs are decoded on first use), so grading a cold notebook loads it while the
sandboxed worker boots.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from grader.judging import hidden
from grader.reading import assignment as spec
from grader.reading import notebook, secret, selection
from grader.reading.assignment import Assignment, Function
from grader.results import FunctionResult, TestResult
from grader.sandbox.tasks import Peers

Templates = dict[str, tuple[str, str]]  # function -> the released definition's skeleton, shape
RESULT_FLOOR = 1 << 20  # bytes of results any function may return, whatever its answers weigh
RESULT_SLACK = 64  # times the right answers' size (as JSON)


@dataclass(frozen=True)
class Prepared:
    """What grading an assignment needs, loaded once per process."""

    assignment: Assignment
    expected: dict[str, Any]
    given: tuple[notebook.Unit, ...]
    templates: dict[str, tuple[str, str]]  # function -> the released (blank) definition's skeleton, shape
    peers: Peers = field(default_factory=dict)  # the reference's graded functions (expected/)
    decoded: dict[tuple[str, str], Any] = field(default_factory=dict)  # (function, case) -> output
    note: str = ""  # which hidden cases grade (the secret's or the public ones), for every report
    variant: str | None = None  # the secret cases' variant; None: the public hidden cases
    forms: dict[str, str] = field(default_factory=dict)  # function -> the reference's normal form

    def outputs(self, function: str, case: str) -> Any:
        """The expected output, decoded once per process (comparison never writes to it)."""
        key = (function, case)
        if key not in self.decoded:
            from grader.sandbox import codec

            self.decoded[key] = codec.decode(self.expected["functions"][function][case]["output"])
        return self.decoded[key]

    def reference_form(self, function: str) -> str:
        """The reference's definition of `function` in `selection.normal_form`, worked out once
        ("" when expected/ holds no reference code for it)."""
        if function not in self.forms:
            units = self.peers.get(function, ())
            parsed = notebook.parse_python("\n".join(u.source for u in units)) if units else None
            defs = [n for n in parsed.body if getattr(n, "name", None) == function] if parsed else []
            self.forms[function] = selection.normal_form(defs[-1])[0] if defs else ""
        return self.forms[function]

    def args(self, function: str, case: str) -> Any:
        return self.expected["functions"][function][case]["args"]

    def result_bytes(self, function: str) -> int:
        """How much a function's results may weigh when they come back: far more than the right
        answers' (RESULT_SLACK times, at least RESULT_FLOOR), far less than the sandbox's cap. A
        result is decoded into Python objects (a float in a list costs about 32 bytes) and judged
        in the grader's own process: 50 MB lists from each of three students held 1.1 GB there."""
        cases = self.expected["functions"][function].values()
        right = sum(len(json.dumps(c["output"])) for c in cases)
        return max(RESULT_FLOOR, RESULT_SLACK * right)


VARIANTS_KEPT = 16  # variants' expected documents kept loaded per process (each is 0.1-0.5 MB of
# JSON, several MB as Python objects): a batch of per-student variants grades each student once


class _Prepare:
    """`prepare(name, root, variant)`, remembered per secret: a secret set or changed in the
    same process (a test, a long-lived worker) is never graded with another one's cases. What
    every variant shares (spec, released notebook) is loaded once; the variants' documents are
    kept for the last VARIANTS_KEPT of them only."""

    def __call__(self, name: str, root: Path | None = None, variant: str | None = secret.SHARED) -> Prepared:
        """Load an assignment's spec, expected values (the secret cases' of `variant` when a
        secret is configured; variant None: the visible cases', for `grader check`) and released
        notebook."""
        key = secret.load() if variant is not None else None
        fingerprint = secret.fingerprint(key) if key is not None else None
        if variant in (None, secret.SHARED) or fingerprint is None:
            return _prepare(name, root, variant, fingerprint)
        return _prepare_variant(name, root, variant, fingerprint)

    def cache_clear(self) -> None:
        _prepare.cache_clear()
        _prepare_variant.cache_clear()
        _released.cache_clear()


prepare = _Prepare()


@cache
def _released(name: str, root: Path | None) -> tuple[Assignment, tuple[notebook.Unit, ...], Templates]:
    """An assignment's spec, the released notebook's given functions and blank templates."""
    a = spec.load(name, root=root)
    released = notebook.parse(notebook.read(a.student_notebook))
    templates = {}
    for f in a.functions:
        d, _ = selection.choose(released, f.name)
        if d is not None:
            templates[f.name] = (skeleton(d.unit.source), d.shape)
    return a, selection.given_units(released, a.given), templates


@cache
def _prepare(name: str, root: Path | None, variant: str | None, fingerprint: str | None) -> Prepared:
    return _build(name, root, variant, fingerprint)


@lru_cache(maxsize=VARIANTS_KEPT)
def _prepare_variant(name: str, root: Path | None, variant: str, fingerprint: str) -> Prepared:
    return _build(name, root, variant, fingerprint)


def _build(name: str, root: Path | None, variant: str | None, fingerprint: str | None) -> Prepared:
    a, given, templates = _released(name, root)
    if variant is None:
        chosen = hidden.visible(a)
    else:
        chosen = hidden.choose(a, variant)  # no secret: a bundle's secret document, or expected/
    expected = chosen.doc
    peers = {
        name: tuple(notebook.Unit(str(f), str(s)) for f, s in units)
        for name, units in expected.get("peers", {}).items()
    }
    return Prepared(a, expected, given, dict(templates), peers, note=chosen.note, variant=chosen.variant)


def skeleton(source: str) -> str:
    """The source without comments or whitespace: a quick test before comparing structures (a
    template left as released is the same text; a structure is expensive to compute)."""
    return "".join(re.sub(r"#[^\n]*", "", source).split())



def zero(f: Function, status: str, message: str, ans: selection.Answer) -> FunctionResult:
    """Every case failed for one reason: the function could not be run or did not return."""
    tests = tuple(TestResult(c.name, c.hidden, False, message, 0.0, c.points) for c in f.cases)
    return FunctionResult(f.name, 0.0, f.max_score, status, message, tests, ans.warnings)
