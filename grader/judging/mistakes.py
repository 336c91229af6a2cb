"""Mistake fingerprints: typical wrong answers, run like the reference, recognised by their outputs.

A catalogue lives in `reference/<name>/mistakes.toml` (next to the solutions: never released,
never in the sandbox). Each entry is a small mutant of the reference's function. `grader
expected` runs every mutant through the same sandbox and harness as the reference and stores its
output on each case where it fails (`expected/<name>.json`, under the case's "mistakes"), plus
the words (description and hint) under the document's top-level "mistakes". Grading then names a
mistake on a failed case when the student's output matches the mutant's there, or, for outputs
made of several values, when one wrong value is exactly the mutant's (a mistake made in one layer).

Which mistake is named when several match: a whole-output match before a match in part, then the
one matching the most of the function's failed cases, then the one listed first in the catalogue
(list the more specific first). A mistake is
never named when the student passes a case on which that mutant fails: the code is not that
mutant, whatever one output looks like.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import SpecError
from grader.judging.compare import compare, judge, select
from grader.judging.digest import output_digest
from grader.reading import notebook, selection
from grader.reading.assignment import Assignment, Case, Function
from grader.results import TestResult, mistake_message
from grader.sandbox import codec, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Peers, Task, task_for

CATALOGUE = "mistakes.toml"
BELOW_RTOL = 1e-3  # how close two outputs of a `below` case must be to count as the same
EVIDENCE_ELEMENTS = 2_000  # values larger than this are not kept for side-by-side views
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake: a mutant of the reference's `function`, and words for it."""

    function: str
    id: str
    description: str
    hint: str
    source: str = ""  # the mutant's full `def`, or
    replace: tuple[tuple[str, str], ...] = ()  # (old, new) edits of the reference's `def`


# ----------------------------------------------------------------------------- the catalogue


def path(a: Assignment) -> Path:
    """Where an assignment's catalogue lives."""
    return a.reference_folder / CATALOGUE


def _entry(a: Assignment, raw: Any, seen: set[str]) -> Mistake:
    if not isinstance(raw, dict):
        raise SpecError(f"{path(a)}: every [[mistakes]] entry must be a table")
    unknown = set(raw) - {"function", "id", "description", "hint", "source", "replace"}
    mid = str(raw.get("id", ""))
    where = f"{path(a)}: mistake {mid!r}"
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)}")
    if not _ID.match(mid) or mid in seen:
        raise SpecError(f"{where}: ids are unique, lowercase words joined by dashes")
    seen.add(mid)
    a.function(str(raw.get("function", "")))  # raises for an unknown function
    if not raw.get("description") or not raw.get("hint"):
        raise SpecError(f"{where}: needs a description and a hint")
    source, replace = str(raw.get("source", "")), raw.get("replace", [])
    if bool(source) == bool(replace):
        raise SpecError(f"{where}: give exactly one of `source` (a full def) or `replace` (edits)")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in replace):
        raise SpecError(f"{where}: `replace` is a list of [old, new] pairs of strings")
    return Mistake(
        function=str(raw["function"]),
        id=mid,
        description=str(raw["description"]),
        hint=str(raw["hint"]),
        source=source,
        replace=tuple((p[0], p[1]) for p in replace),
    )


def load(a: Assignment) -> tuple[Mistake, ...]:
    """Read and check an assignment's catalogue; an assignment without one has no mistakes."""
    p = path(a)
    if not p.is_file():
        return ()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{p}: {exc}") from exc
    seen: set[str] = set()
    return tuple(_entry(a, r, seen) for r in raw.get("mistakes", []))


# ----------------------------------------------------------------------------- mutants


def mutant_source(m: Mistake, original: str) -> str:
    """The mutant's `def`: its own source, or the reference's with every edit applied."""
    if m.source:
        return textwrap.dedent(m.source).strip("\n")
    text = original
    for old, new in m.replace:
        if old not in text:
            raise SpecError(f"mistake {m.id!r}: {old!r} does not occur in the reference's {m.function}")
        text = text.replace(old, new)
    if text == original:
        raise SpecError(f"mistake {m.id!r}: the edits leave the reference unchanged")
    return text


def mutant_cell(parsed: notebook.Parsed, m: Mistake) -> notebook.Cell:
    """The reference's cell defining the mistake's function, with the mutant in its place."""
    d, _ = selection.choose(parsed, m.function)
    if d is None:
        raise SpecError(f"mistake {m.id!r}: the reference does not define {m.function}")
    lines = d.cell.source.split("\n")
    start = min([d.node.lineno] + [x.lineno for x in getattr(d.node, "decorator_list", [])])
    end = d.node.end_lineno or start
    new = mutant_source(m, "\n".join(lines[start - 1 : end]))
    return dataclasses.replace(d.cell, source="\n".join(lines[: start - 1] + [new] + lines[end:]))


def mutant_parsed(parsed: notebook.Parsed, m: Mistake) -> notebook.Parsed:
    """The reference notebook with the mistake's function replaced by its mutant."""
    cell = mutant_cell(parsed, m)
    return notebook.parse(tuple(cell if c.index == cell.index else c for c in parsed.cells))


def _task(
    a: Assignment,
    parsed: notebook.Parsed,
    m: Mistake,
    given: tuple[notebook.Unit, ...],
    doc: dict[str, Any],
    peers: Peers,
) -> Task:
    f = a.function(m.function)
    graded = frozenset(g.name for g in a.functions) | frozenset(a.given)
    ans = selection.answer(mutant_parsed(parsed, m), f.name, exclude=graded - {f.name})
    if ans.definition is None:
        raise SpecError(f"mistake {m.id!r}: the mutant does not define {f.name} (a syntax error?)")
    cases = [{"name": c.name, "args": doc[f.name][c.name]["args"], "setup": c.setup} for c in f.cases]
    return task_for(ans, given, cases, f.timeout * 3, peers, trusted=True)


def record(
    a: Assignment,
    parsed: notebook.Parsed,
    given: tuple[notebook.Unit, ...],
    functions: dict[str, Any],
    *,
    limits: Limits,
    peers: Peers | None = None,
    session: run.Session | None = None,
) -> dict[str, dict[str, dict[str, str]]]:
    """Run every mutant; add its outputs to the cases it fails; return the catalogue's words.

    `functions` is the expected document's "functions" part, completed in place; `session`: warm
    workers to run the mutants in (a session of their own without it).
    """
    catalogue = load(a)
    rounds: list[list[Mistake]] = []  # one mutant per function per round: results are keyed by function
    for m in catalogue:
        k = sum(1 for x in catalogue[: catalogue.index(m)] if x.function == m.function)
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(m)
    with contextlib.nullcontext(session) if session is not None else run.Session(limits) as warm:
        for batch in rounds:
            tasks = [_task(a, parsed, m, given, functions, peers or {}) for m in batch]
            results, _, _ = run.execute(a, tasks, limits=limits, session=warm)
            for m in batch:
                _store(a.function(m.function), m, results.get(m.function, {}), functions[m.function])
    for f in a.functions:
        _check_distinct(f, [m.id for m in catalogue if m.function == f.name], functions[f.name])
    words: dict[str, dict[str, dict[str, str]]] = {}
    for m in catalogue:
        words.setdefault(m.function, {})[m.id] = {"description": m.description, "hint": m.hint}
    return words


def _store(f: Function, m: Mistake, raw: dict[str, Any], entries: dict[str, Any]) -> None:
    told_apart = False
    for c in f.cases:
        r = raw.get("cases", {}).get(c.name)
        if not isinstance(r, dict) or not r.get("ok"):
            continue  # a mutant that raises is left to the error messages
        out = codec.decode(r["output"])
        if judge(codec.decode(entries[c.name]["output"]), out, c).passed:
            continue  # indistinguishable from the reference on this case
        entries[c.name].setdefault("mistakes", {})[m.id] = codec.encode(out)
        told_apart = True
    if not told_apart:
        raise SpecError(
            f"mistake {m.id!r} ({f.name}) fails no case with an output: no case can recognise it; "
            "add a case that tells it apart, or drop it"
        )


def _check_distinct(f: Function, ids: list[str], entries: dict[str, Any]) -> None:
    """A mutant that shows the same outputs as an earlier one on every case could never be named."""
    recorded = {
        mid: {c: e["mistakes"][mid] for c, e in entries.items() if mid in e.get("mistakes", {})}
        for mid in ids
    }
    cases = {c.name: c for c in f.cases}
    for j, later in enumerate(ids):
        for earlier in ids[:j]:
            a, b = recorded[earlier], recorded[later]
            if a.keys() == b.keys() and all(
                same_output(codec.decode(a[c]), codec.decode(b[c]), cases[c]) for c in a
            ):
                raise SpecError(
                    f"mistakes {earlier!r} and {later!r} ({f.name}) give the same outputs on every case: "
                    "merge them, or add a case that tells them apart"
                )


# ----------------------------------------------------------------------------- recognising


def same_output(known: Any, got: Any, case: Case) -> bool:
    """Whether `got` is the known (mutant's) output, under the case's tolerance."""
    if case.below is not None:
        case = dataclasses.replace(case, below=None, atol=0.0, rtol=BELOW_RTOL)
    return judge(known, got, case).passed


def _outputs(f: Function, raw_cases: dict[str, Any]) -> dict[str, Any]:
    got = {}
    for c in f.cases:
        r = raw_cases.get(c.name)
        if isinstance(r, dict) and r.get("ok"):
            try:
                got[c.name] = codec.decode(r.get("output"))
            except (ValueError, TypeError, KeyError):
                pass
    return got


def _leaves(value: Any, key: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The values inside dicts, tuples and lists, by their path."""
    if isinstance(value, dict):
        return {k: v for name, item in value.items() for k, v in _leaves(item, (*key, str(name))).items()}
    if isinstance(value, (tuple, list)):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, (*key, str(i))).items()}
    return {key: value}


def shows_in_part(known: Any, got: Any, reference: Any, case: Case) -> bool:
    """Whether one part of a structured output is wrong exactly as the mutant's is.

    A mistake made in one layer of two leaves the other layer right, so the whole output matches
    neither the reference nor the mutant; the part where the mistake shows still matches.
    """
    if case.below is not None:
        return False
    paths = case.outputs or ("",)
    ref, mut, stu = (
        {(p, *k): x for p in paths for k, x in _leaves(select(v, p)[1]).items()}
        for v in (reference, known, got)
    )
    if len(ref) < 2:
        return False
    tol = (case.atol, case.rtol, "output")
    for key, r in ref.items():
        if key in mut and key in stu:
            m, g = mut[key], stu[key]
            if (
                not compare(r, m, *tol).passed
                and not compare(r, g, *tol).passed
                and compare(m, g, *tol).passed
            ):
                return True
    return False


def recognise(
    f: Function, passed: dict[str, bool], got: dict[str, Any], entries: dict[str, Any], order: list[str]
) -> dict[str, str]:
    """For each failed case, the id of the catalogued mistake its output shows (if any).

    A whole-output match beats a match in part; then the mistake matching more of the failed
    cases wins; `order` (the catalogue's) breaks the remaining ties.
    """
    whole: dict[str, set[str]] = {}
    part: dict[str, set[str]] = {}
    ruled_out: set[str] = set()
    for c in f.cases:
        entry = entries.get(c.name, {})
        for mid, encoded in entry.get("mistakes", {}).items():
            if passed.get(c.name):
                ruled_out.add(mid)
            elif c.name in got:
                known = codec.decode(encoded)
                if same_output(known, got[c.name], c):
                    whole.setdefault(mid, set()).add(c.name)
                elif shows_in_part(known, got[c.name], codec.decode(entry["output"]), c):
                    part.setdefault(mid, set()).add(c.name)
    rank = {mid: i for i, mid in enumerate(order)}

    def support(mid: str) -> tuple[int, int, int]:
        return len(whole.get(mid, ())), len(part.get(mid, ())), -rank.get(mid, len(rank))

    named = {}
    for c in f.cases:
        for matches in (whole, part):
            found = [mid for mid, cases in matches.items() if c.name in cases and mid not in ruled_out]
            if found:
                named[c.name] = max(found, key=support)
                break
    return named


def _evidence(c: Case, expected: Any, got: Any) -> dict[str, Any] | None:
    """Expected and received values of a failed visible case, for reports that show them."""
    try:
        exp, rec = codec.encode(expected), codec.encode(got)
    except codec.Unencodable:
        return None
    if _size(expected) + _size(got) > EVIDENCE_ELEMENTS:
        return None
    return {"expected": exp, "received": rec, "atol": c.atol, "rtol": c.rtol, "outputs": list(c.outputs)}


def _size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return int(getattr(value, "size", 1))


def annotate(
    f: Function, tests: list[TestResult], raw_cases: dict[str, Any], expected: dict[str, Any]
) -> list[TestResult]:
    """Name the mistake each failed test shows; keep the values of failed visible tests."""
    entries = expected.get("functions", {}).get(f.name, {})
    words = expected.get("mistakes", {}).get(f.name, {})
    got = _outputs(f, raw_cases)
    named = recognise(f, {t.name: t.passed for t in tests}, got, entries, list(words))
    cases = {c.name: c for c in f.cases}
    out = []
    for t in tests:
        if t.passed or t.name not in cases:
            out.append(t)
            continue
        c = cases[t.name]
        changes: dict[str, Any] = {}
        mid = named.get(t.name)
        if mid is not None and mid in words:
            w = words[mid]
            changes["mistake"] = {"id": mid, "description": w["description"], "hint": w["hint"]}
            changes["message"] = mistake_message(changes["mistake"], t.message)
        elif got.get(t.name) is not None:  # a wrong value no mistake explains: its digest, for clusters
            changes["output_digest"] = output_digest(got[t.name])
        if not c.hidden and t.name in got and t.name in entries:
            changes["evidence"] = _evidence(c, codec.decode(entries[t.name]["output"]), got[t.name])
        out.append(dataclasses.replace(t, **changes) if changes else t)
    return out
