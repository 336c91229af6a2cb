"""The package's shape: its folders are the pipeline, and imports only point down it.

Every module of grader/ belongs to a stage with a rank. An import (any: at the top, inside a
function, under TYPE_CHECKING) may go to a module of its own stage or of a lower rank; never to a
higher rank, nor between the two sibling stages (course/ and authoring/), and no chain of imports
comes back to where it started. What runs inside the sandbox as text imports nothing of ours.
The checks read the files with `ast` (nothing is imported), so they also run on a copy: the last
tests break a copy on purpose and see each check fail.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "grader"

# stage -> (rank, the modules it holds: a dotted name and everything below it)
STAGES: dict[str, tuple[int, tuple[str, ...]]] = {
    "base": (0, ("grader.errors", "grader.results", "grader.files")),
    "reading": (1, ("grader.reading",)),
    "sandbox": (2, ("grader.sandbox",)),
    "judging": (3, ("grader.judging",)),
    "grading": (4, ("grader.grading",)),
    "reports": (5, ("grader.reports",)),
    "course": (6, ("grader.course",)),
    "authoring": (6, ("grader.authoring",)),
    "api": (7, ("grader",)),  # grader/__init__.py only
    "cli": (8, ("grader.cli",)),
    "launch": (9, ("grader.launch",)),
}


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package at `package`."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def stage_of(name: str) -> str | None:
    best, best_len = None, -1
    for stage, (_, prefixes) in STAGES.items():
        for p in prefixes:
            exact_only = p == "grader"
            if (name == p or (not exact_only and name.startswith(p + "."))) and len(p) > best_len:
                best, best_len = stage, len(p)
    return best


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:  # `import grader.sandbox.run` names that module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def problems(package: Path) -> list[str]:
    """Everything wrong with the package's shape, one line each."""
    edges = graph(package)
    out = [f"{m}: in no stage (add it to a subpackage, or to STAGES)" for m in edges if stage_of(m) is None]
    for m, targets in sorted(edges.items()):
        here = stage_of(m)
        if here is None:
            continue
        for t in sorted(targets):
            there = stage_of(t)
            if there is None or there == here:
                continue
            if STAGES[there][0] > STAGES[here][0]:
                out.append(f"{m} ({here}) imports {t} ({there}): up the pipeline")
            elif STAGES[there][0] == STAGES[here][0]:
                out.append(f"{m} ({here}) imports {t} ({there}): a sibling stage")
    out += [f"import cycle: {' <-> '.join(group)}" for group in cycles(edges)]
    return out


def test_imports_point_down_the_pipeline_without_cycles() -> None:
    assert problems(PACKAGE) == []


def grader_imports(source: str) -> list[str]:
    """Imports of the grader (or relative ones) in a text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "grader"]
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "grader"):
            found.append("." * node.level + (node.module or ""))
    return found


def test_what_the_sandbox_runs_as_text_imports_nothing_of_the_grader() -> None:
    from grader.sandbox import execute, worker

    assert grader_imports(worker.HARNESS_SOURCE) == []  # the zygote and its function children
    assert grader_imports(execute.JAIL_SOURCE) == []  # what confines the full run's kernel
    compile(worker.HARNESS_SOURCE, "harness", "exec", dont_inherit=True)


def test_every_stage_is_a_subpackage_that_says_what_it_owns_and_may_import() -> None:
    for stage, (_, prefixes) in STAGES.items():
        for p in prefixes:
            parts = p.split(".")[1:]
            init = PACKAGE.joinpath(*parts, "__init__.py")
            if init.exists():
                doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
                assert "import" in doc.lower() and len(doc) > 80, f"{init}: say what {stage} owns and may import"
            else:
                assert PACKAGE.joinpath(*parts[:-1], parts[-1] + ".py").is_file(), f"{p}: no such module"


def test_architecture_doc_names_the_subpackages_that_exist() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\bgrader/([a-z_]+)/", doc))
    real = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert named, "docs/architecture.md names no subpackage"
    assert named - real == set(), f"named in docs/architecture.md but missing: {sorted(named - real)}"
    assert real - named == set(), f"not in docs/architecture.md: {sorted(real - named)}"


def test_no_module_is_too_long_to_read() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


# ----------------------------------------------------------------------------- the checks can fail


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "grader"


def _add(package: Path, module: str, line: str) -> None:
    path = package / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted() -> None:\n    {line}\n")


def test_a_cycle_is_caught(copy: Path) -> None:
    _add(copy, "judging/compare.py", "from grader.judging import judge  # judge imports compare")
    assert any(p.startswith("import cycle:") and "grader.judging.compare" in p for p in problems(copy))


def test_an_upward_import_is_caught(copy: Path) -> None:
    _add(copy, "reading/notebook.py", "from grader.reports import summary")
    assert "grader.reading.notebook (reading) imports grader.reports.summary (reports): up the pipeline" in problems(
        copy
    )


def test_an_import_between_siblings_is_caught(copy: Path) -> None:
    _add(copy, "course/links.py", "from ..authoring import scaffold")
    assert (
        "grader.course.links (course) imports grader.authoring.scaffold (authoring): a sibling stage" in problems(copy)
    )


def test_a_module_outside_the_stages_is_caught(copy: Path) -> None:
    (copy / "helpers.py").write_text('"""A new top-level module nobody placed."""\n')
    assert "grader.helpers: in no stage (add it to a subpackage, or to STAGES)" in problems(copy)
