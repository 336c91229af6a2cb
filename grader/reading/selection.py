"""Which code makes up a student's answer to one graded function: the definition that counts
(`choose`), the imports and the student's own helpers it needs (`answer`), the given functions
from the released notebook (`given_units`), and the template's blanks still left in it."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from pathlib import Path

from grader.errors import NotebookError
from grader.reading import notebook
from grader.reading.notebook import Definition, Parsed, Unit


@dataclass(frozen=True)
class Answer:
    """The code that makes up a student's answer for one graded function."""

    name: str
    definition: Definition | None
    units: tuple[Unit, ...]  # imports, then helpers, then the function itself
    warnings: tuple[str, ...]
    syntax_error: str | None = None
    global_names: frozenset[str] = frozenset()  # notebook globals it reads but is not given
    calls: frozenset[str] = frozenset()  # names the grader provides (other graded functions) it uses


def choose(parsed: Parsed, name: str) -> tuple[Definition | None, list[str]]:
    """The definition a top-to-bottom run leaves, unless the course's graded cell says otherwise."""
    defs = parsed.definitions.get(name, [])
    if not defs:
        return None, []
    official = [d for d in defs if d.cell.is_nbgrader_solution]
    chosen = (official or defs)[-1]
    warnings = []
    if len(defs) > 1 and len({d.shape for d in defs}) > 1:
        where = ", ".join(d.cell.label for d in defs)
        why = "the course's graded cell" if official else "the last one in the notebook"
        warnings.append(f"`{name}` is defined {len(defs)} times ({where}); graded {why}, {chosen.cell.label}")
    return chosen, warnings


def answer(parsed: Parsed, name: str, *, exclude: frozenset[str]) -> Answer:
    """Collect `name`'s definition plus the imports and student helpers it needs.

    `exclude` holds names the grader provides itself (other graded and given functions): a
    student's own copies of those are never pulled in.
    """
    chosen, warnings = choose(parsed, name)
    if chosen is None:
        marked = parsed.markers.get(name, [])
        error = next(
            (f"cell {i}, {parsed.syntax_errors[i]}" for i in marked if i in parsed.syntax_errors), None
        )
        return Answer(name, None, (), tuple(warnings), syntax_error=error)
    helpers: list[Definition] = []
    needed: set[str] = set(chosen.free_names)
    todo = list(chosen.free_names)
    while todo:
        n = todo.pop()
        if n in exclude or n == name or n not in parsed.definitions:
            continue
        helper, _ = choose(parsed, n)
        if helper is not None and helper not in helpers:
            helpers.append(helper)
            new = helper.free_names - needed
            needed |= new
            todo.extend(new)
    imports = [u for u, bound in parsed.imports if bound & needed]
    units = tuple(imports + list(parsed.star_imports) + [h.unit for h in helpers] + [chosen.unit])
    provided = set().union(*(b for _, b in parsed.imports)) | set(parsed.definitions) | exclude
    stray = frozenset((needed & parsed.assigned_globals) - provided)
    return Answer(name, chosen, units, tuple(warnings), global_names=stray, calls=frozenset(needed & exclude))


def given_units(parsed: Parsed, names: tuple[str, ...]) -> tuple[Unit, ...]:
    """The given functions and the imports they need, taken from a trusted (released) notebook."""
    defs = []
    for n in names:
        d, _ = choose(parsed, n)
        if d is None:
            raise NotebookError(f"the released notebook does not define given function {n!r}")
        defs.append(d)
    needed = set().union(*(d.free_names for d in defs)) if defs else set()
    imports = [u for u, bound in parsed.imports if bound & needed] + list(parsed.star_imports)
    return tuple(Unit(f"given:{u.filename}", u.source) for u in imports) + tuple(
        Unit(f"given:{d.name}", d.unit.source) for d in defs
    )


def empty_regions(definition: Definition) -> list[int]:
    """Line numbers of START markers whose region holds no code (only comments or blank lines):
    the newer edition's templates leave the student's part empty rather than `x = None`."""
    found, start, code = [], None, False
    for no, line in enumerate(definition.unit.source.split("\n"), start=1):
        if notebook.START.match(line):
            start, code = no, False
        elif notebook.END.match(line):
            if start is not None and not code:
                found.append(start)
            start = None
        elif start is not None and line.strip() and not line.lstrip().startswith("#"):
            code = True
    return found


def placeholders(definition: Definition) -> list[int]:
    """Line numbers of `x = None` placeholders still inside START/END regions."""
    lines = definition.unit.source.split("\n")
    inside, found = False, []
    for no, line in enumerate(lines, start=1):
        if notebook.START.match(line):
            inside = True
        elif notebook.END.match(line):
            inside = False
        elif inside and notebook.PLACEHOLDER.match(line):
            found.append(no)
    return found


def graded_cells(parsed: Parsed, names: list[str]) -> dict[str, int]:
    """The cell (1-based index) holding each graded function's answer: the definition grading
    chose, else the cell its `# GRADED FUNCTION:` marker is in; a name in neither is left out."""
    found = {}
    for name in names:
        chosen, _ = choose(parsed, name)
        if chosen is not None:
            found[name] = chosen.cell.index
        elif parsed.markers.get(name):
            found[name] = parsed.markers[name][-1]
    return found


def graded_names(parsed: Parsed) -> set[str]:
    """Names that carry a `# GRADED FUNCTION:` marker."""
    return set(parsed.markers)


def normal_form(node: ast.stmt) -> tuple[str, int]:
    """A definition's structure without its docstrings (comments and layout are not in an AST at
    all), to see the same answer in two notebooks: its dump, and its number of nodes (how much
    there is to it). A structure too deep to write out is its own."""
    size, nested = 0, False
    for n in ast.walk(node):
        size += 1
        nested = nested or (n is not node and _docstring(n))
    # most answers have one docstring, the function's own: a shallow copy drops it (a deep copy
    # of every answer of a class would cost more than grading it)
    tree = copy.deepcopy(node) if nested else copy.copy(node)
    for n in ast.walk(tree) if nested else (tree,):
        if _docstring(n):
            n.body = n.body[1:] or [ast.Pass()]  # type: ignore[attr-defined]  # a def, by _docstring
            size -= 2  # the Expr and its Constant
    try:
        return ast.dump(tree), size
    except RecursionError:
        return f"<too deep: {id(node)}>", 0


def _docstring(n: ast.AST) -> bool:
    if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not n.body:
        return False
    first = n.body[0]
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def source_of(path: Path, name: str) -> str | None:
    """The code of the definition of `name` that counts in the notebook at `path` (as `choose`
    picks it), for an instructor to read; None when the file holds none or cannot be read."""
    try:
        chosen, _ = choose(notebook.parse(notebook.read(path)), name)
    except (NotebookError, OSError, SyntaxError, ValueError):
        return None
    return chosen.unit.source.strip("\n") if chosen is not None else None
