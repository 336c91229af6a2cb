"""Reading notebooks and finding the code a graded function needs.

The only module that touches notebook JSON structures. Reading is deliberately light: one
`json.loads`, structural checks, and a minimal nbformat 3 -> 4 upgrade, so a batch never pays
for jsonschema validation.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import stat
import threading
import warnings
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from grader.errors import NotebookError

# Patterns never let two repeated parts match the same characters (nor \s match a newline in a
# multi-line search): backtracking over a student's megabyte of blank lines must stay linear.
MARKER = re.compile(
    r"^[ \t]*#[ \t]*GRADED[ \t]+FUNCTION[ \t]*:[ \t]*([A-Za-z_]\w*)", re.IGNORECASE | re.MULTILINE
)
# both editions' markers, and the older one's "END CODER HERE" typo
START = re.compile(r"^\s*#+\s*(START CODE HERE|YOUR CODE STARTS HERE)", re.IGNORECASE)
END = re.compile(r"^\s*#+\s*(END CODER? HERE|YOUR CODE ENDS HERE)", re.IGNORECASE)
# Cell magics whose body is still Python; any other cell magic makes the cell foreign code.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
BUILTIN_NAMES = frozenset(dir(builtins))
HELP = re.compile(r"^[\w.]+\?{1,2}$")  # `np.zeros?`, IPython's help syntax
PLACEHOLDER = re.compile(r"[\w\[\]'\".+(), \t]+=[ \t]*None[ \t]*(#.*)?$")  # `W1 = None  # ...`


@dataclass(frozen=True)
class Cell:
    """A notebook cell, normalised: text source with LF line ends, metadata as a dict."""

    index: int  # 1-based position among all cells, as a student counts them
    cell_type: str
    source: str
    metadata: dict[str, Any]

    @property
    def label(self) -> str:
        return f"cell {self.index}"

    @property
    def is_nbgrader_solution(self) -> bool:
        nbg = self.metadata.get("nbgrader")
        return isinstance(nbg, dict) and bool(nbg.get("solution")) and bool(nbg.get("grade_id"))


@dataclass(frozen=True)
class Unit:
    """A piece of code to run: its source, padded so line numbers match the student's cell."""

    filename: str
    source: str


@dataclass(frozen=True)
class Definition:
    """One top-level `def` (or `class`) found in a cell."""

    name: str
    cell: Cell
    unit: Unit
    node: ast.stmt

    @cached_property
    def free_names(self) -> frozenset[str]:
        """Names it reads but does not bind (worked out only for the definitions graded)."""
        return _free_names(self.node)

    @cached_property
    def shape(self) -> str:
        """Its structure without comments, layout or positions, to compare definitions by (a
        structure too deep to write out equals no other)."""
        try:
            return ast.dump(self.node)
        except RecursionError:
            return f"<too deep: {id(self)}>"


@dataclass(frozen=True)
class Parsed:
    """What a notebook defines at top level, cell by cell."""

    cells: tuple[Cell, ...]
    definitions: dict[str, list[Definition]] = field(default_factory=dict)
    imports: list[tuple[Unit, frozenset[str]]] = field(default_factory=list)  # (code, bound names)
    star_imports: list[Unit] = field(default_factory=list)
    assigned_globals: frozenset[str] = frozenset()
    syntax_errors: dict[int, str] = field(default_factory=dict)  # cell index -> message
    markers: dict[str, list[int]] = field(default_factory=dict)  # function -> cell indices


# ----------------------------------------------------------------------------- reading


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise NotebookError(f"{where}: source is {type(value).__name__}, expected text")


def text(data: bytes) -> str:
    """Notebook bytes as text, as every reader here takes them (a UTF-8 byte order mark allowed)."""
    if not data.strip():
        raise NotebookError("the file is empty")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise NotebookError("the file is UTF-16 encoded; notebooks are UTF-8 (save it from Jupyter)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"the file is not UTF-8 text (byte {exc.start})") from None


def _load_json(source: str) -> dict[str, Any]:
    stripped = source.lstrip()
    if stripped[:1] == "<":
        raise NotebookError("the file is HTML, not a notebook (was it downloaded as a web page?)")
    try:
        raw = json.loads(source)
    except RecursionError:
        raise NotebookError("the JSON is nested too deeply to be a notebook") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the file may be truncated"
        ) from None
    except ValueError:  # an integer past Python's 4,300 digits (sys.get_int_max_str_digits)
        raise NotebookError("the JSON holds a number too long to read (thousands of digits)") from None
    if not isinstance(raw, dict):
        raise NotebookError(f"the JSON is a {type(raw).__name__}, not a notebook object")
    return raw


def _raw_cells(raw: dict[str, Any]) -> list[Any]:
    major = raw.get("nbformat")
    if major == 4:
        cells = raw.get("cells")
    elif major == 3:  # nbformat 3: cells live in worksheets; code text is under "input"
        sheets = raw.get("worksheets")
        if not isinstance(sheets, list):
            raise NotebookError("nbformat 3 notebook without a list of worksheets")
        cells = [c for ws in sheets if isinstance(ws, dict) for c in ws.get("cells", [])]
    elif major is None:
        raise NotebookError("no 'nbformat' field: this JSON is not a notebook")
    else:
        raise NotebookError(f"nbformat {major!r} is not supported (expected 3 or 4)")
    if not isinstance(cells, list):
        raise NotebookError("the notebook has no list of cells")
    if not isinstance(raw.get("metadata", {}), dict):
        raise NotebookError("the notebook's metadata is not an object")
    return cells


def _cell(i: int, raw: Any) -> Cell:
    where = f"cell {i}"
    if not isinstance(raw, dict):
        raise NotebookError(f"{where} is not an object")
    ctype = raw.get("cell_type")
    if ctype == "heading":  # nbformat 3
        ctype = "markdown"
    if ctype not in ("code", "markdown", "raw"):
        raise NotebookError(f"{where}: unknown cell type {ctype!r}")
    key = "input" if ctype == "code" and "source" not in raw and "input" in raw else "source"
    source = _text(raw.get(key, ""), where)
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(f"{where}: metadata is not an object")
    return Cell(i, ctype, source.replace("\r\n", "\n").replace("\r", "\n"), metadata)


def loads(data: bytes) -> tuple[Cell, ...]:
    """Parse notebook bytes into cells; raise NotebookError with a reason a person can act on."""
    raw = _load_json(text(data))
    return tuple(_cell(i, c) for i, c in enumerate(_raw_cells(raw), start=1))


MAX_BYTES = 200 * 1024 * 1024  # far above any real notebook, images included


def read(path: Path) -> tuple[Cell, ...]:
    """Read a notebook file into cells (a regular file of bounded size only)."""
    return loads(read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """A notebook file's bytes: a regular file of bounded size only."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # before opening: a FIFO would block
            raise NotebookError(f"{path} is not a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise NotebookError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise NotebookError(f"the file is larger than {MAX_BYTES >> 20} MB")
    return data


# In an executed notebook's metadata: the SHA-256 of the submitted bytes the run was of.
RUN_OF = "grader_run_of"


def as_v4(data: bytes) -> Any:
    """Notebook bytes as an nbformat 4 node, outputs and all (nbformat 3 upgraded), unvalidated."""
    import nbformat

    raw = _load_json(text(data))
    _raw_cells(raw)  # the same refusals as `loads`, with the same reasons
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old notebooks lack cell ids: nbformat's concern, not ours
        try:  # no validation: whoever reads the outputs checks each one it keeps
            return nbformat.convert(nbformat.from_dict(raw), 4)
        except Exception as exc:  # nbformat's many error types: a shape it cannot upgrade
            raise NotebookError(f"not a notebook nbformat can read: {str(exc)[:200]}") from None



# ----------------------------------------------------------------------------- magics


def neutralise(source: str) -> str:
    """Replace IPython magics and shell escapes with `pass`, keeping line numbers."""
    lines = source.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return "\n" * (len(lines) - 1)
        lines[0] = ""
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(("%", "!")) or HELP.match(stripped):
            out.append(indent + "pass")
        elif re.match(r"^[\w.,\s\[\]]+=\s*[%!]", stripped):  # x = !ls, y = %timeit ...
            out.append(indent + stripped.split("=", 1)[0].rstrip() + " = None")
        else:
            out.append(line)
    return "\n".join(out)


# ----------------------------------------------------------------------------- parsing

# CPython 3.11 builds `ast` objects with one interpreter-wide recursion counter: two threads
# parsing at once (a pool thread each, a threaded Dask worker) can fail with "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905). Every parse or compile in the
# grader process holds this lock; the sandbox child is single-threaded and needs none.
AST_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """`ast.parse`, never at the same time as another thread's parse or compile."""
    with AST_LOCK:
        return ast.parse(source)


def _free_names(node: ast.AST) -> frozenset[str]:
    """Names a definition reads that it does not bind itself (a cheap over-approximation)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
    return frozenset(loaded - bound - BUILTIN_NAMES)


def _unit(cell: Cell, source: str, node: ast.stmt) -> Unit:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = source.split("\n")[start - 1 : node.end_lineno]
    return Unit(cell.label, "\n" * (start - 1) + "\n".join(lines) + "\n")


SHARED_CELL_CHARS = 8_000  # cells up to this size share their tree (what a class has in common)


def _parse_cell(text: str) -> tuple[ast.Module | None, str, str | None]:
    """A cell's syntax tree (never modified: a class's identical cells share one), the source it
    was parsed from, and the syntax error if there is one."""
    return _parse_shared(text) if len(text) <= SHARED_CELL_CHARS else _parse_text(text)


def _parse_text(text: str) -> tuple[ast.Module | None, str, str | None]:
    try:  # plain Python is taken as it is: only a cell that needs it is rewritten
        return parse_python(text), text, None
    except SyntaxError:
        source = neutralise(text)
    except (RecursionError, MemoryError, ValueError) as exc:
        return None, text, _unparsable(exc)
    try:
        return parse_python(source), source, None
    except SyntaxError as exc:
        return None, source, f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    except (RecursionError, MemoryError, ValueError) as exc:
        return None, source, _unparsable(exc)


def _unparsable(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply for Python's parser"
    if isinstance(exc, MemoryError):
        return "too large or nested too deeply for Python's parser"
    return f"not readable as Python ({type(exc).__name__}: {str(exc)[:100]})"  # e.g. a lone surrogate


_parse_shared = lru_cache(maxsize=1024)(_parse_text)  # bounded: at most ~100 MB of trees


def _rescue_defs(source: str) -> list[ast.stmt]:
    """From a cell that does not parse, recover each top-level def that parses on its own."""
    lines = source.split("\n")
    found: list[ast.stmt] = []
    starts = [i for i, ln in enumerate(lines) if re.match(r"(def|class)\s+\w+", ln)]
    for i in starts:
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j][:1] in " \t#" or lines[j].startswith(")")):
            j += 1
        try:
            mod = parse_python("\n" * i + "\n".join(lines[i:j]))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            continue
        found.extend(n for n in mod.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    return found


def parse(cells: tuple[Cell, ...]) -> Parsed:
    """Find every top-level definition, import and assignment in the code cells."""
    parsed = Parsed(cells=cells)
    assigned: set[str] = set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for name in MARKER.findall(cell.source):
            parsed.markers.setdefault(name, []).append(cell.index)
        module, source, error = _parse_cell(cell.source)
        if error is not None:
            parsed.syntax_errors[cell.index] = error
        body = module.body if module is not None else _rescue_defs(source)
        for node in body:
            _collect(parsed, cell, source, node, assigned)
    return Parsed(**{**parsed.__dict__, "assigned_globals": frozenset(assigned)})


def _collect(parsed: Parsed, cell: Cell, source: str, node: ast.stmt, assigned: set[str]) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        d = Definition(node.name, cell, _unit(cell, source, node), node)
        parsed.definitions.setdefault(node.name, []).append(d)
    elif isinstance(node, ast.Import):
        names = frozenset((a.asname or a.name).split(".")[0] for a in node.names)
        parsed.imports.append((_unit(cell, source, node), names))
    elif isinstance(node, ast.ImportFrom):
        if any(a.name == "*" for a in node.names):
            parsed.star_imports.append(_unit(cell, source, node))
        else:
            names = frozenset(a.asname or a.name for a in node.names)
            parsed.imports.append((_unit(cell, source, node), names))
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            assigned.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
