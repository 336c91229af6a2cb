"""Which code makes up a student's answer to one graded function: the definition that counts
(`choose`), the imports and the student's own helpers it needs (`answer`), the given functions
from the released notebook (`given_units`), and the template's blanks still left in it."""

from __future__ import annotations

from dataclasses import dataclass

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


def graded_names(parsed: Parsed) -> set[str]:
    """Names that carry a `# GRADED FUNCTION:` marker."""
    return set(parsed.markers)
