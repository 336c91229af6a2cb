"""Make a synthetic class of submissions from a reference notebook.

Most answers are correct (half exact copies, half restyled: the same code with the student's own
comments, so the cache cannot merge them), some carry a typical mistake (one solution line
mutated: a constant, swapped arguments, rand for randn, zeros for ones, + for -, ...), some are
unfinished (the released template), a few are broken (syntax errors, truncated or empty files,
a missing function, an exception, a missing return) and a few are hostile (an infinite loop, a
memory bomb, a fork bomb, killing the grader's worker, exiting, reading the expected values,
flooding stdout, opening a socket); `--slow` of them (an infinite loop, a slow memory eater) run
into their function's timeout. Every notebook carries realistic outputs (printed text and
PNG figures, about 100 KB per notebook), as students' executed notebooks do.

    python bench/make_class.py OUT --assignment initialization -n 1000 --seed 0

Writes OUT/<student>/<Notebook>.ipynb and OUT/manifest.json (student -> kind).
"""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.reading import assignment as spec  # noqa: E402

START, END = re.compile(r"#+\s*START CODE HERE"), re.compile(r"#+\s*END CODE HERE")
SOLUTION = re.compile(r"^(\s*)([^=#]+?[^=!<>+\-*/])(\s*[+\-*/]?=\s*)(.+?)(\s*#.*)?$")
SHARES = {"correct": 0.72, "mistake": 0.17, "blank": 0.05, "broken": 0.04, "hostile": 0.02}
SLOW = ("loop", "eater")  # these cost their function's whole timeout (and a core meanwhile)
HOSTILE = {
    "loop": "while True:\n    pass",
    "eater": "hog = [bytearray(10**8) for _ in range(100)]",
    "memory": "hog = np.ones((10**6, 10**6))",
    "forkbomb": "import os\nwhile True:\n    os.fork()",
    "kill_worker": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "exit": "import sys\nsys.exit(0)",
    "hard_exit": "import os\nos._exit(3)",
    "secrets": "open('{expected}').read()",
    "flood": "for _ in range(200):\n    print('x' * 100000)",
    "network": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)",
}
WORDS = ["ok", "done", "check", "see slides", "TODO: tidy", "works", "from lecture", "shape!", "try 2"]


def _source(cell: dict[str, Any]) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _set(cell: dict[str, Any], text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def graded_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """The code cells that hold a graded function."""
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "# GRADED FUNCTION" in _source(c)]


def solution_lines(text: str) -> list[int]:
    """Indices of the lines between START and END markers."""
    inside, found = False, []
    for i, line in enumerate(text.split("\n")):
        if START.search(line):
            inside = True
        elif END.search(line):
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            found.append(i)
    return found


# ----------------------------------------------------------------------------- mistakes


class _Mutate(ast.NodeTransformer):
    """Apply the chosen kind of mistake to the first node where it fits."""

    SWAPS = {"randn": "rand", "rand": "randn", "zeros": "ones", "dot": "multiply", "sqrt": "square",
             "sum": "mean", "copy": "asarray", "norm": "sum"}  # fmt: skip

    def __init__(self, kind: str) -> None:
        self.kind, self.done = kind, False

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if self.kind == "constant" and not self.done and isinstance(node.value, (int, float)):
            self.done = True
            return ast.Constant(node.value * 10 if node.value not in (0, 1) else node.value + 1)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "function" and not self.done and node.attr in self.SWAPS:
            self.done = True
            return ast.Attribute(node.value, self.SWAPS[node.attr], node.ctx)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        flips: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
        if self.kind == "operator" and not self.done and type(node.op) in flips:
            self.done = True
            return ast.BinOp(node.left, flips[type(node.op)](), node.right)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "swap" and not self.done and len(node.args) >= 2:
            self.done = True
            return ast.Call(node.func, [node.args[1], node.args[0], *node.args[2:]], node.keywords)
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "swap" and not self.done and len(node.elts) == 2:
            self.done = True
            return ast.Tuple([node.elts[1], node.elts[0]], node.ctx)
        return node


def mutate_line(line: str, rng: random.Random) -> str | None:
    """The line with one typical mistake in its right-hand side, or None when none applies."""
    m = SOLUTION.match(line)
    if not m:
        return None
    indent, target, op, value, comment = m.groups()
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError:
        return None
    for kind in rng.sample(["constant", "function", "operator", "swap"], 4):
        t = _Mutate(kind)
        new = t.visit(copy.deepcopy(tree))
        if t.done:
            return f"{indent}{target}{op}{ast.unparse(ast.fix_missing_locations(new))}{comment or ''}"
    return None


# ----------------------------------------------------------------------------- kinds


def _edit_graded(nb: dict[str, Any], rng: random.Random, edit: Any) -> bool:
    """Apply `edit(lines, index) -> bool` to a random solution line of a random graded cell."""
    cells = graded_cells(nb)
    rng.shuffle(cells)
    for cell in cells:
        lines = _source(cell).split("\n")
        spots = solution_lines("\n".join(lines))
        rng.shuffle(spots)
        for i in spots:
            if edit(lines, i):
                _set(cell, "\n".join(lines))
                return True
    return False


def correct(nb: dict[str, Any], rng: random.Random, student: int) -> None:
    """Exact copy, or the same code with the student's own comments."""
    if rng.random() < 0.5:
        return

    def comment(lines: list[str], i: int) -> bool:
        lines[i] = re.sub(r"\s*#.*$", "", lines[i]) + f"  # {rng.choice(WORDS)} ({student})"
        return True

    for _ in range(rng.randint(1, 3)):
        _edit_graded(nb, rng, comment)


def mistake(nb: dict[str, Any], rng: random.Random, student: int) -> None:
    """One solution line with a typical mistake."""

    def mutate(lines: list[str], i: int) -> bool:
        new = mutate_line(lines[i], rng)
        if new is None or new == lines[i]:
            return False
        lines[i] = new
        return True

    _edit_graded(nb, rng, mutate)
    if rng.random() < 0.5:
        correct(nb, rng, student)


def blank(nb: dict[str, Any], template: dict[str, Any]) -> None:
    """The released template, unfinished."""
    for cell, blank_cell in zip(graded_cells(nb), graded_cells(template), strict=False):
        cell["source"] = blank_cell["source"]


def broken(nb: dict[str, Any], rng: random.Random, student: int) -> bytes | None:
    """A notebook that cannot be graded normally; returns raw bytes for file-level breakage."""
    kind = rng.choice(["syntax", "missing", "raises", "no_return", "truncated", "empty", "html"])
    cell = rng.choice(graded_cells(nb))
    text = _source(cell)
    if kind == "syntax":
        _set(cell, text.replace("(", "", 1) + f"\n# {student}")
    elif kind == "missing":
        nb["cells"].remove(cell)
    elif kind == "raises":
        i = solution_lines(text)[0]
        lines = text.split("\n")
        indent = re.match(r"\s*", lines[i]).group(0)  # type: ignore[union-attr]
        lines.insert(i, f"{indent}raise NotImplementedError('student {student}')")
        _set(cell, "\n".join(lines))
    elif kind == "no_return":
        _set(cell, re.sub(r"\n(\s*)return .*", rf"\n\1return  # {student}", text))
    data = json.dumps(nb, indent=1).encode()
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "empty":
        return b""
    if kind == "html":
        return b"<!DOCTYPE html><html><body>notebook</body></html>"
    return None


def hostile(nb: dict[str, Any], rng: random.Random, student: int, kind: str, expected: Path) -> None:
    """Code that attacks the grader, placed at the top of a graded function's first solution region."""
    cell = rng.choice(graded_cells(nb))
    text = _source(cell)
    lines = text.split("\n")
    i = solution_lines(text)[0]
    indent = re.match(r"\s*", lines[i]).group(0)  # type: ignore[union-attr]
    attack = HOSTILE[kind].format(expected=expected) + f"  # {student}"
    lines[i:i] = [indent + a for a in attack.split("\n")]
    _set(cell, "\n".join(lines))


# ----------------------------------------------------------------------------- outputs


def add_outputs(nb: dict[str, Any], rng: random.Random, figure: str) -> None:
    """Executed-notebook outputs: counts, printed text, two PNG figures."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for n, c in enumerate(code, start=1):
        c["execution_count"] = n
        c["outputs"] = []
        if rng.random() < 0.4:
            text = "".join(f"Cost after iteration {i * 1000}: {rng.random():.6f}\n" for i in range(15))
            c["outputs"].append({"output_type": "stream", "name": "stdout", "text": text})
    for c in rng.sample(code, min(2, len(code))):
        data = {"image/png": figure, "text/plain": "<Figure>"}
        c["outputs"].append({"output_type": "display_data", "metadata": {}, "data": data})


def _figure(rng: random.Random, size: int = 40_000) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


# ----------------------------------------------------------------------------- the class


def kinds(n: int, rng: random.Random, slow: int) -> list[str]:
    """`n` kinds in the configured shares; exactly `slow` of the hostile ones run into the timeout."""
    counts = {k: int(round(share * n)) for k, share in SHARES.items()}
    counts["correct"] += n - sum(counts.values())
    out = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(out)
    hostile_spots = [i for i, k in enumerate(out) if k == "hostile"]
    plain = [k for k in HOSTILE if k not in SLOW]
    for j, i in enumerate(hostile_spots):
        out[i] = f"hostile:{SLOW[j % 2]}" if j < slow else f"hostile:{plain[j % len(plain)]}"
    return out


def make(out: Path, assignment: str, n: int, seed: int, slow: int) -> dict[str, str]:
    """Write the class; return student -> kind."""
    a = spec.load(assignment, root=ROOT)
    reference = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    template = json.loads(a.student_notebook.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    figure = _figure(rng)
    manifest = {}
    for i, kind in enumerate(kinds(n, rng, slow)):
        nb = copy.deepcopy(reference)
        add_outputs(nb, rng, figure)
        data = None
        if kind == "correct":
            correct(nb, rng, i)
        elif kind == "mistake":
            mistake(nb, rng, i)
        elif kind == "blank":
            blank(nb, template)
        elif kind == "broken":
            data = broken(nb, rng, i)
        else:
            hostile(nb, rng, i, kind.split(":")[1], a.expected_path)
        student = f"student{i:04d}"
        path = out / student / a.notebook
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data is not None else json.dumps(nb, indent=1).encode())
        manifest[student] = kind
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--assignment", default="initialization")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slow", type=int, default=2, help="hostile submissions that run into the timeout")
    args = p.parse_args()
    manifest = make(args.out, args.assignment, args.n, args.seed, args.slow)
    print(f"wrote {len(manifest)} submissions to {args.out}: {dict(Counter(manifest.values()))}")


if __name__ == "__main__":
    main()
