"""`grader release`: the student notebook is the reference with its solutions blanked out."""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path
from typing import Any

from grader.errors import SpecError
from grader.files import write_atomic
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reading.assignment import Assignment


def _placeholder(line: str, where: str) -> str:
    """`lhs = rhs  # note` -> `lhs = None  # note`, keeping indentation and the comment."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    try:
        node = notebook.parse_python(stripped).body[0]
    except (SyntaxError, IndexError):
        raise SpecError(f"{where}: solution line is not one statement: {stripped!r}") from None
    if isinstance(node, ast.Assign):
        target = " = ".join(ast.get_source_segment(stripped, t) or "" for t in node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        target = ast.get_source_segment(stripped, node.target) or ""
    else:
        raise SpecError(f"{where}: only assignments may sit between the markers: {stripped!r}")
    comments = [
        t.string
        for t in tokenize.generate_tokens(io.StringIO(stripped).readline)
        if t.type == tokenize.COMMENT
    ]
    return f"{indent}{target} = None" + (f"  {comments[0]}" if comments else "")


def blank(source: str, where: str) -> str:
    """Replace every solution line between START/END markers by its placeholder."""
    out, inside = [], False
    for no, line in enumerate(source.split("\n"), start=1):
        if notebook.START.match(line):
            inside = True
        elif notebook.END.match(line):
            inside = False
        elif inside:
            line = _placeholder(line, f"{where}, line {no}")
        out.append(line)
    if inside:
        raise SpecError(f"{where}: START CODE HERE without END CODE HERE")
    return "\n".join(out)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def released(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The student version of a reference notebook (a new dict)."""
    nb = json.loads(json.dumps(raw))
    for i, cell in enumerate(nb["cells"], start=1):
        if cell.get("cell_type") != "code":
            continue
        src = _source(cell)
        if notebook.MARKER.search(src):
            src = blank(src, f"{name} cell {i}")
        cell["source"] = src
        cell["outputs"] = []
        cell["execution_count"] = None
    return nb


def render(a: Assignment) -> str:
    """The student notebook's exact text."""
    raw = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    return json.dumps(released(raw, a.notebook), indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def visible_document(a: Assignment) -> dict[str, Any]:
    """expected/'s document cut to the visible cases (their inputs, outputs and the catalogued
    mistakes' outputs on them, and those mistakes' words): all `grader check` needs, and
    nothing of a hidden case or of the reference's code."""
    doc = spec.current_expected(a)
    functions: dict[str, Any] = {}
    shown: dict[str, set[str]] = {}
    for f in a.functions:
        for c in f.cases:
            if not c.hidden:
                entry = doc["functions"][f.name][c.name]
                functions.setdefault(f.name, {})[c.name] = entry
                shown.setdefault(f.name, set()).update(entry.get("mistakes", {}))
    words = {
        fname: {mid: w for mid, w in ids.items() if mid in shown.get(fname, set())}
        for fname, ids in doc.get("mistakes", {}).items()
    }
    out: dict[str, Any] = {k: doc[k] for k in ("assignment", "format", "rng_seed") if k in doc}
    return {**out, "functions": functions, "mistakes": {k: v for k, v in words.items() if v}}


def render_visible(a: Assignment) -> str:
    from grader.authoring import expected

    return expected.dumps(visible_document(a))


def release(a: Assignment) -> Path:
    """Write the student notebook from the reference, and, once expected/ holds the assignment,
    the visible cases' values beside it (`grader expected` writes them too)."""
    write_atomic(a.student_notebook, render(a), private=False)
    if a.expected_path.is_file():
        release_visible(a)
    return a.student_notebook


def release_visible(a: Assignment) -> Path:
    """Write the visible cases' values beside the student notebook."""
    write_atomic(a.visible_expected_path, render_visible(a), private=False)
    return a.visible_expected_path


def is_current(a: Assignment) -> bool:
    """True when the student notebook (and, with expected/, the visible values) are exactly what
    release would write."""
    path, shown = a.student_notebook, a.visible_expected_path
    if not path.is_file() or path.read_text(encoding="utf-8") != render(a):
        return False
    if not a.expected_path.is_file():
        return True
    return shown.is_file() and shown.read_text(encoding="utf-8") == render_visible(a)
