"""The reference solution as a Python namespace, for trusted work: building case inputs,
reproducing the course's figures, and tests. Never used on a student's behalf."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from grader.errors import SpecError
from grader.reading import assignment as spec
from grader.reading import notebook


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run with `folder` as cwd and first on sys.path; forget its modules afterwards.

    Helper modules of different assignments share names (`testCases`), so they must not stay
    cached in sys.modules.
    """
    before = set(sys.modules)
    old_cwd = Path.cwd()
    sys.path.insert(0, str(folder))
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(str(folder)):
                del sys.modules[name]


def namespace(name: str, *, root: Path | None = None) -> dict[str, Any]:
    """Execute the reference notebook's imports and definitions; return its globals."""
    a = spec.load(name, root=root)
    return namespace_of(a.reference_notebook, a.folder)


def namespace_of(path: Path, folder: Path) -> dict[str, Any]:
    """Execute a trusted notebook's imports and definitions with `folder` as cwd."""
    parsed = notebook.parse(notebook.read(path))
    units = [u for u, _ in parsed.imports] + parsed.star_imports
    units += [defs[-1].unit for defs in parsed.definitions.values()]
    units.sort(key=lambda u: (int(u.filename.split()[-1]), len(u.source) - len(u.source.lstrip("\n"))))
    ns: dict[str, Any] = {"__name__": "__reference__"}
    os.environ.setdefault("MPLBACKEND", "Agg")
    with inside(folder):
        for u in units:
            with notebook.AST_LOCK:  # see notebook.AST_LOCK
                code = compile(u.source, f"{path.name} {u.filename}", "exec")
            exec(code, ns)
    return ns


def load_module(path: Path, name: str) -> ModuleType:
    """Import a trusted file of the project (cases, reproduce scripts) under a private name."""
    spec = importlib.util.spec_from_file_location(name, path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise SpecError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_object(ns: dict[str, Any]) -> SimpleNamespace:
    """Attribute access to a namespace (what case builders receive as `ref`)."""
    return SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})
