"""Grading one submission: read it, pick out each answer, run it in the sandbox, judge, report."""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from grader.errors import NotebookError
from grader.judging.prepared import Prepared, prepare, skeleton, zero
from grader.reading import assignment as spec
from grader.reading import notebook, secret, selection
from grader.reading.assignment import Function
from grader.reading.notebook import Unit
from grader.results import FunctionResult, Report
from grader.sandbox import run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import kind, task_for

MIN_ANSWER_NODES = 60  # an answer smaller than this (a line or two) is alike in every class by itself

# Judging needs numpy: `grader.judging.judge` is imported while the worker runs the first job, so a cold
# `grader run` pays for the two numpy imports (ours, the worker's) at the same time.


def through_link(path: Path, base: Path, *, inside: bool = False) -> str | None:
    """Why `path` (named from `base`) is not read: it, or a folder between `base` and it, is a
    symbolic link; with `inside`, also when its real location is outside `base`'s."""
    current = base
    for part in path.relative_to(base).parts if path.is_relative_to(base) else path.parts:
        current = current / part
        if current.is_symlink():
            what = f"{path.name} is" if current == path else f"it is reached through {current},"
            return (
                f"not read: {what} a symbolic link (to {os.readlink(current)}); "
                "a submission must be a file of its own, links are never followed"
            )
    real, root = os.path.realpath(path), os.path.realpath(base)
    if inside and os.path.commonpath([real, root]) != root:
        return f"not read: its real location {real} is outside the folder being graded ({base})"
    return None


def recognise(parsed: notebook.Parsed, root: Path | None = None) -> str | None:
    """The assignment whose graded functions this notebook marks or defines most."""
    return spec.recognise(set(parsed.markers) | set(parsed.definitions), root=root)


@dataclass(frozen=True)
class Options:
    """How to grade: limits, an optional assignment override, a timeout override."""

    assignment: str | None = None
    timeout: float | None = None
    limits: Limits = Limits()
    root: Path | None = None
    hide: tuple[str, ...] = ()  # more folders to cover in the sandbox (e.g. where reports go)
    variant: str = secret.SHARED  # whose secret cases grade (a student's id under the secret)


def grade_path(
    path: Path,
    options: Options,
    session: run.Session | None = None,
    *,
    parsed: notebook.Parsed | None = None,
) -> Report:
    """Grade one notebook file (`parsed`: the file already read); never raises for anything
    the submission does."""
    if path.is_symlink():  # whatever the caller checked: a link is never read
        return Report(str(path), options.assignment, "invalid", through_link(path, path.parent) or "a link")
    if session is None:  # the notebook's own folder may hold other students' work: cover it
        folder = str(path.resolve().parent)
        with run.Session(options.limits, hide=(*options.hide, folder)) as own:
            return grade_path(path, options, own, parsed=parsed)
    label = str(path)
    if parsed is None:
        try:
            parsed = notebook.parse(notebook.read(path))
        except NotebookError as exc:
            return Report(label, options.assignment, "invalid", f"not a readable notebook: {exc}")
    name = options.assignment or recognise(parsed, options.root)
    if name is None:
        known = ", ".join(spec.names(root=options.root))
        return Report(
            label,
            None,
            "invalid",
            f"no graded function of a known assignment ({known}) found; use --assignment",
        )
    return grade_parsed(label, parsed, prepare(name, options.root, options.variant), options, session)


def internal_error(label: str, assignment: str | None, exc: BaseException) -> Report:
    """A grader bug met while grading one submission: status "error", never the student's fault
    (not recorded as a grade, so a rerun tries again)."""
    message = f"internal error in the grader: {type(exc).__name__}: {exc}"[:500]
    return Report(label, assignment, "error", message)


def grade_parsed(
    label: str, parsed: notebook.Parsed, prep: Prepared, options: Options, session: run.Session | None = None
) -> Report:
    """Grade an already parsed notebook against a prepared assignment.

    A graded function that calls other graded functions runs with the reference's versions of
    them, whether the student's own are right or not, in an oracle process apart from the
    student's code (see harness.py): it learns their answers, never their code. Only for those the
    student wrote, though: a callee left as the template, or not defined, runs as the student's
    own (as in their notebook), so a chain of calls never stands in for code not written (random
    as the course's He rescaled, He left blank). Functions that
    reach each other through calls (a circle) cannot be judged apart, since each one's answer
    would lean on the reference's version of the others: a circle earns nothing.
    """
    a = prep.assignment
    graded = frozenset(f.name for f in a.functions)
    provided = graded | frozenset(a.given)
    answers = {f.name: selection.answer(parsed, f.name, exclude=provided - {f.name}) for f in a.functions}
    calls = {f.name: _callees(f, answers[f.name], graded) for f in a.functions}
    done: dict[str, FunctionResult] = {}
    for f in a.functions:
        others = circle(f.name, calls)
        if others:
            done[f.name] = _in_circle(f, answers[f.name], others)
    ready = [f for f in a.functions if f.name not in done]
    unwritten = {f.name: why for f in a.functions if (why := _unwritten(answers[f.name], prep))}
    got, isolation = _round(ready, answers, calls, prep, options, session, _load_judge, unwritten)
    warnings: list[str] = []
    for f in ready:
        done[f.name], more = got[f.name]
        warnings.extend(more)
    functions = tuple(_with_form(done[f.name], answers[f.name], prep) for f in a.functions)
    warned = tuple(dict.fromkeys(warnings))
    return Report(label, a.name, "graded", "graded", functions, warned, isolation, _hidden_extra(prep))


def _hidden_extra(prep: Prepared) -> dict[str, Any]:
    """The report's line on which hidden cases graded, and the variant (for the gradebook)."""
    if not any(c.hidden for f in prep.assignment.functions for c in f.cases):
        return {}  # `grader check`: visible cases only
    return {"hidden_cases": prep.note, **({"variant": prep.variant} if prep.variant is not None else {})}


def _with_form(res: FunctionResult, ans: selection.Answer, prep: Prepared) -> FunctionResult:
    """The result with its answer's digest when the answer is worth comparing across a class: not
    trivially short, not the reference's code, not the template as released."""
    d = ans.definition
    if d is None or _untouched(ans, prep):
        return res
    form, size = selection.normal_form(d.node)
    if size < MIN_ANSWER_NODES or form == prep.reference_form(ans.name):
        return res
    return replace(res, answer_digest=hashlib.sha256(form.encode()).hexdigest()[:16])


def _callees(f: Function, ans: selection.Answer, graded: frozenset[str]) -> frozenset[str]:
    """The other graded functions an answer calls that its cases do not supply themselves."""
    return frozenset(ans.calls & graded) - {ans.name} - _supplied(tuple(c.setup for c in f.cases))


def circle(name: str, calls: dict[str, frozenset[str]]) -> list[str]:
    """The other functions `name` reaches through calls and that reach it back (its strongly
    connected component in the call graph, without itself), sorted."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(calls.get(start, ()))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(calls.get(n, ()))
        return seen

    return sorted(n for n in reach(name) if n != name and name in reach(n))


@cache
def _supplied(setups: tuple[str, ...]) -> frozenset[str]:
    """Names every case's `setup` defines (a gradient check's collaborators): those are the
    case's own, whatever the student wrote, so calling them depends on nothing else."""
    common: set[str] | None = None
    for setup in setups:
        defined: set[str] = set()
        for node in notebook.parse_python(setup).body if setup else []:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        common = defined if common is None else common & defined
    return frozenset(common or ())


def _in_circle(f: Function, ans: selection.Answer, others: list[str]) -> FunctionResult:
    """Zero for a function in a circle: none of them can be right first (each one's answer would
    rest on the course's version of the others, which then answer for it)."""
    them = ", ".join(f"`{n}`" for n in others)
    message = (
        f"`{f.name}` and {them} call each other: functions written through one another cannot be "
        f"judged apart (the course's version of each would answer for the other), so none earns "
        f"points; write each without calling the other"
    )
    return zero(f, "failed", message, ans)


def _round(
    functions: list[Function],
    answers: dict[str, selection.Answer],
    calls: dict[str, frozenset[str]],
    prep: Prepared,
    options: Options,
    session: run.Session | None,
    meanwhile: Any,
    unwritten: dict[str, str],
) -> tuple[dict[str, tuple[FunctionResult, list[str]]], tuple[str, ...]]:
    """Run and judge some functions: each one's result and import notes, and the isolation notes.
    `unwritten`: the graded functions the student did not write, and why (see grade_parsed)."""
    early: dict[str, FunctionResult] = {}
    tasks = []
    for f in functions:
        ans = answers[f.name]
        result = _not_runnable(f, ans, prep)
        if result is not None:
            early[f.name] = result
            continue
        # hidden cases reach the child only after the visible ones' results (see channel.staged)
        cases = [
            {"name": c.name, "args": prep.args(f.name, c.name), "setup": c.setup, "hidden": c.hidden}
            for c in f.cases
        ]
        # the reference's versions of the graded functions it calls, run by an oracle, for those the
        # student wrote; the others are the student's own (see grade_parsed)
        own = sorted(calls[f.name] & set(unwritten))
        timeout = options.timeout or f.timeout
        ran = _with_own(ans, [answers[n] for n in own])
        task = task_for(ran, prep.given, cases, timeout, prep.peers, calls=calls[f.name] - set(own))
        tasks.append(replace(task, max_bytes=prep.result_bytes(f.name)))
    raw, isolation, _ = (
        run.execute(prep.assignment, tasks, limits=options.limits, session=session, meanwhile=meanwhile)
        if tasks
        else ({}, (), "")
    )
    from grader.judging import judge

    out = {}
    for f in functions:
        res = early.get(f.name) or judge.function(f, answers[f.name], raw[f.name], prep, options.limits)
        res = _write_first(res, sorted(calls[f.name] & set(unwritten)), unwritten)
        out[f.name] = (res, _import_notes(f, answers[f.name].units + prep.given, raw.get(f.name, {})))
    return out, isolation


IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError", "AttributeError")  # what the harness notes


def _import_notes(f: Function, units: tuple[Unit, ...], raw: dict[str, Any]) -> list[str]:
    """Which of the answer's import lines failed, in the grader's own words. Report warnings are
    shown outside any case (Gradescope's always-visible summary): a hidden stage's notes would
    carry whatever it chose, so only visible cases are read, and a note counts only as the
    harness writes it ("<unit>: import failed (<error>: ..."), for an import unit of this task
    and a built-in import error; the text said is rebuilt here from that unit's own source."""
    imports = {u.filename: u for u in units if kind(u) == "import"}
    results = raw.get("cases")
    notes: list[str] = []
    for c in f.cases:
        r = results.get(c.name) if isinstance(results, dict) and not c.hidden else None
        said = r.get("notes") if isinstance(r, dict) else None
        for note in said if isinstance(said, list) else []:
            name, sep, rest = note.partition(": import failed (") if isinstance(note, str) else ("", "", "")
            etype = rest.partition(":")[0]
            if sep and name in imports and etype in IMPORT_ERRORS:
                line = imports[name].source.strip().partition("\n")[0][:120]
                notes.append(f"{name}: import failed ({etype}): `{line}`")
    return notes


def _unwritten(ans: selection.Answer, prep: Prepared) -> str | None:
    """Why the course's version may not answer for this graded function when another one calls
    it: the student has not written it."""
    if ans.definition is None:
        return "not defined in the notebook"
    if _untouched(ans, prep):
        return "still the template as released"
    return None


def _with_own(ans: selection.Answer, callees: list[selection.Answer]) -> selection.Answer:
    """The answer with the student's own code of the graded functions it calls that they did not
    write (a template's definition; nothing for one not defined), before its own units."""
    extra = tuple(dict.fromkeys(u for c in callees for u in c.units if u not in ans.units))
    return replace(ans, units=extra + ans.units) if extra else ans


def _write_first(res: FunctionResult, own: list[str], unwritten: dict[str, str]) -> FunctionResult:
    """A failed function that calls graded functions the student did not write says so first."""
    if not own or res.status == "passed":
        return res
    said = ", ".join(f"`{n}` ({unwritten[n]})" for n in own)
    them = "them" if len(own) > 1 else "it"
    first = f"it calls {said}: write {them} first (the course's version stands in only for code you wrote)"
    return replace(res, message=f"{first}; {res.message}")


def _load_judge() -> None:
    import grader.judging.judge  # noqa: F401


def _not_runnable(f: Function, ans: selection.Answer, prep: Prepared) -> FunctionResult | None:
    if ans.definition is None:
        if ans.syntax_error:
            return zero(f, "error", f"syntax error in {ans.syntax_error}", ans)
        return zero(f, "missing", f"`{f.name}` is not defined in the notebook", ans)
    if _untouched(ans, prep):
        return zero(f, "failed", "not implemented yet: the template is unchanged", ans)
    return None


def _untouched(ans: selection.Answer, prep: Prepared) -> bool:
    """Whether the answer is the released template as it is (the cheap text test first)."""
    template, d = prep.templates.get(ans.name), ans.definition
    return bool(template and d and skeleton(d.unit.source) == template[0] and d.shape == template[1])


def execution(
    path: Path,
    assignment: str,
    output: Path | None,
    cell_timeout: float,
    images: bool = False,
    hide: tuple[str, ...] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """The whole notebook's run (the executed notebook, if written, is
    `output/<name>.executed.ipynb`; `name`: the submission's, from `files.file_names`). Callers
    run it before grading the functions: no hidden case has run yet, so nothing one could leave
    behind (a counter of the machine's: inode or process numbers) reaches the outputs the
    student reads."""
    from grader.sandbox import execute

    return execute.run_notebook(
        path, assignment, output=output, cell_timeout=cell_timeout, images=images, hide=hide, name=name
    )


def with_execution(report: Report, outcome: dict[str, Any] | None) -> Report:
    """The report with the whole notebook's run, when there was one and the notebook was graded."""
    if outcome is None or report.status != "graded":
        return report
    return replace(report, extra={**report.extra, "execution": outcome})
