"""Shared fixtures: notebooks built from cell sources, and the toy assignment's root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.judging import prepared

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
    prepared.prepare.cache_clear()
    yield TOY
    prepared.prepare.cache_clear()


def reference_outputs(ns: dict[str, Any], a: Any) -> dict[str, dict[str, tuple[dict[str, Any], Any]]]:
    """(inputs, reference output) of every case, the inputs from `grader expected`'s own builders."""
    import numpy as np

    from grader.authoring import expected
    from grader.authoring.reference import inside
    from grader.sandbox.codec import decode
    from grader.sandbox.harness import RNG_SEED

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


@pytest.fixture(scope="module")
def a(request: pytest.FixtureRequest) -> Any:
    """The assignment named by the test module's NAME."""
    from grader.reading import assignment as spec

    return spec.load(request.module.NAME, root=ROOT)


@pytest.fixture(scope="module")
def ns(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The reference namespace of the assignment named by the test module's NAME."""
    from grader.authoring.reference import namespace

    return namespace(request.module.NAME, root=ROOT)


def released_graded_sources(a: Any, graded: list[str]) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Check a reference notebook's shape; return it, its code sources, and the released graded
    cells by function name (release raises if a solution line is not an assignment)."""
    from grader.authoring import release

    raw = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, 5)
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    assert raw["metadata"]["language_info"]["name"] == "python"
    ids = [c["id"] for c in raw["cells"]]
    assert len(set(ids)) == len(ids)
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    sources = ["".join(c["source"]) for c in code]
    names = [s.split("\n", 1)[0].split(":")[1].strip() for s in sources if s.startswith("# GRADED FUNCTION:")]
    assert sorted(names) == sorted(graded)
    blanked = {}
    for c in release.released(raw, a.notebook)["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and src.startswith("# GRADED FUNCTION:"):
            blanked[src.split("\n", 1)[0].split(":")[1].strip()] = src
    return raw, sources, blanked


# Appended after the reference's own answer, renamed `_reference_<name>`: an answer whose every
# float is nudged, wrong while right in structure, shapes and dtypes (and like no catalogued mistake).
NUDGE = """

def _nudge(value):
    import numpy as _np
    if isinstance(value, dict):
        return {{k: _nudge(v) for k, v in value.items()}}
    if isinstance(value, (tuple, list)):
        return type(value)(_nudge(v) for v in value)
    if isinstance(value, _np.ndarray) and value.dtype.kind == "f":
        return value * 1.5 + 0.25
    if isinstance(value, float):
        return value * 1.5 + 0.25
    return value


def {name}(*args, **kwargs):
    return _nudge(_reference_{name}(*args, **kwargs))
"""


@pytest.fixture(autouse=True)
def no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test starts without a secret (a developer's own must not change what tests see):
    the configuration folder is an empty one of the test's own."""
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    return config
