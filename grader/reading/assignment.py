"""An assignment's spec: graded functions, their cases, points and tolerances, read from data.

Everything the grader knows about an assignment lives in `assignments/<name>/assignment.toml`
(plus its `cases.py`, helper files and notebook) and `reference/<name>/`; nothing in `grader/`
names an assignment.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import SpecError
from grader.reading import variation


def project_root() -> Path:
    """The folder holding `assignments/`, `reference/` and `expected/`."""
    env = os.environ.get("GRADER_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "assignments").is_dir():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class Case:
    """One call of a graded function, and how its output is judged."""

    name: str
    inputs: str
    params: dict[str, Any] = field(default_factory=dict)
    hidden: bool = True
    points: float = 1.0
    atol: float = 1e-7
    rtol: float = 0.0
    below: float | None = None  # passes when the (scalar) output is < below
    at_least: float | None = None  # with `below`: an output under it fails with its own message
    # with `below`: cases of the same function where the right output is not below the threshold;
    # this case's points count only when the output on each of them is not below it either
    contrast: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # paths into the output to compare; empty means all of it
    setup: str = ""  # code run in the namespace after the student's definitions (collaborators)
    description: str = ""  # words for the case, shown when a hidden case fails (never its values)
    allow_nonfinite: bool = False  # NaN or infinite outputs (the reference's, a mistake's) are meant
    # hidden cases only: how the params vary on secret cases (see grader/reading/variation.py)
    vary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Function:
    """A graded function and its cases."""

    name: str
    cases: tuple[Case, ...]
    timeout: float = 10.0

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.cases)


@dataclass(frozen=True)
class Reproduction:
    """A figure the course prints, checked by `grader reproduce`."""

    figure: str
    label: str
    course: float
    tol: float = 1e-9
    platform_sensitive: bool = False
    course_data: bool = False  # only judged when run on the course's own data file


@dataclass(frozen=True)
class Assignment:
    """Everything the grader knows about one assignment."""

    name: str
    title: str
    notebook: str
    files: tuple[str, ...]
    given: tuple[str, ...]
    functions: tuple[Function, ...]
    reproduce: tuple[Reproduction, ...]
    folder: Path
    reference_folder: Path
    expected_path: Path

    @property
    def student_notebook(self) -> Path:
        return self.folder / self.notebook

    @property
    def reference_notebook(self) -> Path:
        return self.reference_folder / self.notebook

    @property
    def visible_expected_path(self) -> Path:
        """The visible cases' expected values, released beside the student notebook."""
        return self.folder / VISIBLE_EXPECTED

    @property
    def cases_module(self) -> Path:
        return self.folder / "cases.py"

    @property
    def max_score(self) -> float:
        return sum(f.max_score for f in self.functions)

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise SpecError(f"{self.name} has no graded function {name!r}")


VISIBLE_EXPECTED = "expected-visible.json"  # `grader release` writes it; `grader check` reads it

_CASE_KEYS = {f for f in Case.__dataclass_fields__}


def _case(fname: str, raw: dict[str, Any]) -> Case:
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise SpecError(f"{fname}: unknown case keys {sorted(unknown)}")
    if "name" not in raw or "inputs" not in raw:
        raise SpecError(f"{fname}: every case needs 'name' and 'inputs'")
    raw = dict(raw)
    raw["outputs"] = tuple(raw.get("outputs", ()))
    raw["contrast"] = tuple(raw.get("contrast", ()))
    case = Case(**raw)
    if case.vary and not case.hidden:
        raise SpecError(f"{fname}.{case.name}: only hidden cases vary (visible ones are the course's)")
    for key, form in case.vary.items():
        variation.check(f"{fname}.{case.name}.vary.{key}", form)
    if case.below is None and (case.at_least is not None or case.contrast):
        raise SpecError(f"{fname}.{case.name}: 'at_least' and 'contrast' go with 'below'")
    if case.at_least is not None and case.below is not None and not case.at_least < case.below:
        raise SpecError(f"{fname}.{case.name}: 'at_least' must be less than 'below'")
    return case


def _check_contrasts(name: str, cases: tuple[Case, ...]) -> None:
    """A contrast names other cases of the function, ones judged by value (not by `below`)."""
    by_name = {c.name: c for c in cases}
    for c in cases:
        for other in c.contrast:
            target = by_name.get(other)
            if target is None or target is c or target.below is not None:
                raise SpecError(
                    f"{name}.{c.name}: contrast {other!r} must name another case of {name} "
                    "that has no 'below'"
                )


def _function(name: str, raw: dict[str, Any]) -> Function:
    cases = tuple(_case(name, c) for c in raw.get("cases", []))
    if not cases:
        raise SpecError(f"{name}: no cases")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise SpecError(f"{name}: duplicate case names {names}")
    _check_contrasts(name, cases)
    return Function(name=name, cases=cases, timeout=float(raw.get("timeout", 10.0)))


_LOADED: dict[tuple[Path, int, int], Assignment] = {}  # (spec file, mtime, size) -> its spec


def load(name: str, *, root: Path | None = None) -> Assignment:
    """Read `assignments/<name>/assignment.toml` under `root` (parsed once while unchanged)."""
    root = root or project_root()
    folder = root / "assignments" / name
    spec_path = folder / "assignment.toml"
    try:
        st = spec_path.stat()
    except OSError:
        st = None
    if st is None or not spec_path.is_file():
        raise SpecError(f"no assignment {name!r}: {spec_path} does not exist")
    key = (spec_path, st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED[key] = _read(name, folder, spec_path, root)
    return _LOADED[key]


def _read(name: str, folder: Path, spec_path: Path, root: Path) -> Assignment:
    try:
        raw = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{spec_path}: {exc}") from exc
    functions = tuple(_function(k, v) for k, v in raw.get("functions", {}).items())
    return Assignment(
        name=raw.get("name", name),
        title=raw.get("title", name),
        notebook=raw["notebook"],
        files=tuple(raw.get("files", ())),
        given=tuple(raw.get("given", ())),
        functions=functions,
        reproduce=tuple(Reproduction(**r) for r in raw.get("reproduce", [])),
        folder=folder,
        reference_folder=root / "reference" / name,
        expected_path=root / "expected" / f"{name}.json",
    )


def _no_bare_constant(word: str) -> Any:
    raise ValueError(f"a bare {word}, which is not JSON")


def load_expected(a: Assignment) -> dict[str, Any]:
    """The assignment's expected document (`expected/<name>.json`), as read from disk (strict JSON:
    a non-finite number is stored as a binary array, never as a bare NaN or Infinity)."""
    try:
        text = a.expected_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{a.expected_path} is missing: run `grader expected {a.name}`") from None
    try:
        doc = json.loads(text, parse_constant=_no_bare_constant)
    except ValueError as exc:
        raise SpecError(f"{a.expected_path} is not valid ({exc}): run `grader expected {a.name}`") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{a.expected_path} is not an expected document: run `grader expected {a.name}`")
    return doc


def mismatches(a: Assignment, doc: dict[str, Any]) -> list[str]:
    """Where an expected document disagrees with the spec (functions, cases, hidden flags), as
    `function/case: what`; empty when every case of the spec has its inputs and output there."""
    found = []
    if doc.get("assignment") != a.name:
        found.append(f"it is for assignment {doc.get('assignment')!r}")
    stored = doc.get("functions")
    stored = stored if isinstance(stored, dict) else {}
    for f in a.functions:
        cases = stored.get(f.name)
        if not isinstance(cases, dict):
            found.append(f"{f.name}: not in expected/")
            continue
        for c in f.cases:
            entry = cases.get(c.name)
            if not isinstance(entry, dict) or "output" not in entry or "args" not in entry:
                found.append(f"{f.name}/{c.name}: not in expected/")
            elif entry.get("hidden") != c.hidden:
                found.append(f"{f.name}/{c.name}: hidden is {c.hidden} in the spec, not in expected/")
        found += [
            f"{f.name}/{extra}: not in the spec" for extra in sorted(set(cases) - {c.name for c in f.cases})
        ]
    found += [
        f"{extra}: not a graded function of the spec"
        for extra in sorted(set(stored) - {f.name for f in a.functions})
    ]
    return found


def current_expected(a: Assignment) -> dict[str, Any]:
    """The expected document, refused in one line naming the command to run when it is missing,
    unreadable or out of step with the spec (a case renamed without rerunning `grader expected`)."""
    doc = load_expected(a)
    found = mismatches(a, doc)
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise SpecError(
            f"{a.expected_path} does not match {a.folder / 'assignment.toml'} ({found[0]}{more}): "
            f"run `grader expected {a.name}`"
        )
    return doc


def names(*, root: Path | None = None) -> list[str]:
    """Every assignment under `root`, sorted."""
    root = root or project_root()
    return sorted(p.parent.name for p in (root / "assignments").glob("*/assignment.toml"))


def load_all(*, root: Path | None = None) -> list[Assignment]:
    """Every assignment under `root`."""
    return [load(n, root=root) for n in names(root=root)]


def recognise(defined: set[str], *, root: Path | None = None) -> str | None:
    """The assignment with the most graded functions among the names a notebook defines."""
    best, best_hits = None, 0
    for a in load_all(root=root):
        hits = len(defined & {f.name for f in a.functions})
        if hits > best_hits:
            best, best_hits = a.name, hits
    return best
