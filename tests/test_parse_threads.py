"""Parsing student code from many threads at once (a pool's threads, a threaded Dask worker).

CPython 3.11 builds `ast` objects with one interpreter-wide recursion counter, so two parses
interleaved by a thread switch (the garbage collector runs Python code in the middle of one)
fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905).
"""

from __future__ import annotations

import ast
import builtins
import gc
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader.reading import notebook
from tests.conftest import make_notebook

THREADS = 4


def _deep_cells(tag: str) -> tuple[notebook.Cell, ...]:
    """A notebook whose cells build thousands of nested nodes (unique text: no shared trees)."""
    nested = "\n".join(f"x{i} = " + "[" * 50 + "1" + "]" * 50 for i in range(40))
    graded = f"# GRADED FUNCTION: scale\n\ndef scale(v):  # {tag}\n    out = " + "(" * 60 + "v" + ")" * 60
    nb = make_notebook([f"# {tag}\n{nested}", graded + "\n    return out"])
    return tuple(notebook._cell(i, c) for i, c in enumerate(nb["cells"], start=1))


def _in_threads(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_deeply_nested_code_parses_from_many_threads_without_a_system_error() -> None:
    # A collection during a parse runs this callback, which yields the GIL to another thread:
    # without the lock about 1 parse in 10 fails on CPython 3.11.
    def switch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            time.sleep(0)

    threshold = gc.get_threshold()
    gc.set_threshold(2000)
    gc.callbacks.append(switch)
    try:

        def work(n: int) -> None:
            for i in range(60):
                parsed = notebook.parse(_deep_cells(f"{n}-{i}"))
                assert "scale" in parsed.definitions and not parsed.syntax_errors

        errors = _in_threads(work)
    finally:
        gc.callbacks.remove(switch)
        gc.set_threshold(*threshold)
    assert errors == []


def test_every_parse_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    inside, most, guard = [0], [0], threading.Lock()
    real = ast.parse

    held: list[bool] = []

    def counting(source: str, *args: Any, **kwargs: Any) -> ast.Module:
        held.append(_locked())
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.002)  # long enough for the other threads to try to come in
            return real(source, *args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", counting)
    # a cell that parses, one that needs its magics neutralised, one only partly readable
    cells = [
        "def f(v):\n    return v",
        "%matplotlib inline\ndef g(v):\n    return v",
        "def h(v):\n    return v\n)",
    ]

    def work(n: int) -> None:
        for i in range(5):
            nb = make_notebook([f"# {n}-{i}\n{c}" for c in cells])
            notebook.parse(tuple(notebook._cell(k, c) for k, c in enumerate(nb["cells"], start=1)))

    errors = _in_threads(work)
    monkeypatch.undo()  # pytest itself parses when it reports
    assert errors == []
    assert held and all(held)
    assert most[0] == 1


def test_the_reference_and_release_paths_use_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.authoring import release

    seen: list[bool] = []
    real = ast.parse

    def watching(source: str, *args: Any, **kwargs: Any) -> ast.Module:
        seen.append(_locked())
        return real(source, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", watching)
    placeholder = release._placeholder("    W1 = np.zeros(3)  # shape", "cell 1")
    monkeypatch.undo()
    assert placeholder == "    W1 = None  # shape"
    assert seen == [True]


def test_compiling_the_reference_holds_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.authoring import reference

    seen: list[bool] = []
    real = compile

    def watching(source: Any, filename: str, mode: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(_locked())
        return real(source, filename, mode, *args, **kwargs)

    path = tmp_path / "Ref.ipynb"
    path.write_text(json.dumps(make_notebook(["import math", "def f(v):\n    return math.sqrt(v)"])))
    monkeypatch.setattr(builtins, "compile", watching)
    ns = reference.namespace_of(path, tmp_path)
    monkeypatch.undo()
    assert ns["f"](4.0) == 2.0
    assert seen and all(seen)


def _locked() -> bool:
    lock = getattr(notebook, "AST_LOCK", None)
    return lock is not None and lock.locked()
