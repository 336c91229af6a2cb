"""Shared fixtures: notebooks built from cell sources, and the toy assignment's root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader import grade

ROOT = Path(__file__).resolve().parent.parent
TOY = Path(__file__).resolve().parent / "data" / "toy"


def make_notebook(
    cells: list[str | tuple[str, str] | dict[str, Any]], *, nbformat_minor: int = 4
) -> dict[str, Any]:
    """A v4 notebook from code sources; ("markdown", text) makes a markdown cell; a dict is a cell."""
    out = []
    for c in cells:
        if isinstance(c, dict):
            out.append(c)
        elif isinstance(c, tuple):
            out.append({"cell_type": c[0], "metadata": {}, "source": c[1]})
        else:
            out.append(
                {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
            )
    return {
        "nbformat": 4,
        "nbformat_minor": nbformat_minor,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": out,
    }


def write_notebook(path: Path, nb: dict[str, Any]) -> Path:
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture
def toy_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the grader at the toy assignment under tests/data/toy."""
    monkeypatch.setenv("GRADER_ROOT", str(TOY))
    grade.prepare.cache_clear()
    yield TOY
    grade.prepare.cache_clear()


def reference_outputs(ns: dict[str, Any], a: Any) -> dict[str, dict[str, tuple[dict[str, Any], Any]]]:
    """(inputs, reference output) of every case, the inputs from `grader expected`'s own builders."""
    import numpy as np

    from grader import expected
    from grader.harness import RNG_SEED, decode
    from grader.reference import inside

    inputs = expected.build_inputs(a)
    out: dict[str, dict[str, tuple[dict[str, Any], Any]]] = {}
    with inside(a.folder):
        for f in a.functions:
            for c in f.cases:
                entry = inputs[f.name][c.name]
                args = dict(zip(entry["arg_names"], decode(entry["args"]), strict=True))
                np.random.seed(RNG_SEED)
                out.setdefault(f.name, {})[c.name] = (args, ns[f.name](*args.values()))
    return out
