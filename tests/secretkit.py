"""Helpers for the secret-case tests: an in-process runner for trusted code (the reference and
the catalogued mutants), and a hostile notebook that answers from a table of known outputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from grader.authoring import reference
from grader.reading import assignment as spec
from grader.reading.assignment import Assignment
from grader.sandbox import harness


def in_process(a: Assignment, tasks: list[Any], **_: Any) -> tuple[dict[str, Any], tuple[str, ...], str]:
    """run.execute for trusted code only (the reference, its mutants): the same harness, no
    sandbox, so that fifty secrets cost seconds, not minutes."""
    old = os.getcwd()
    os.chdir(a.folder)
    sys.path.insert(0, str(a.folder))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return {t.function: harness.run_function(t.to_job()) for t in tasks}, (), ""
    finally:
        os.chdir(old)
        sys.path.remove(str(a.folder))


# The table's key: shapes and values to 9 digits of every argument, in order. The same source
# runs in the test (to build the table) and in the hostile notebook (to look answers up).
KEY_SOURCE = '''
def _leaves(v):
    import numpy as np
    if isinstance(v, dict):
        return [x for k in sorted(v) for x in [k] + _leaves(v[k])]
    if isinstance(v, (list, tuple)):
        return [x for i in v for x in _leaves(i)]
    a = np.asarray(v)
    if a.dtype.kind in "fiub":
        return [list(a.shape), ["%.9g" % x for x in a.ravel().astype(float)]]
    return [str(v)]


def _key(args):
    import json
    return json.dumps(_leaves(list(args)))
'''

DECODE_SOURCE = '''
def _decode(v):
    import numpy as np
    if isinstance(v, dict) and v.get("$") == "tuple":
        return tuple(_decode(x) for x in v["items"])
    if isinstance(v, dict) and v.get("$") == "dict":
        return {k: _decode(x) for k, x in v["items"].items()}
    if isinstance(v, dict) and v.get("$") == "array":
        return np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"])
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v
'''


def _plain(value: Any) -> Any:
    """A decoded output as JSON the hostile notebook can rebuild without the grader."""
    import numpy as np

    if isinstance(value, tuple):
        return {"$": "tuple", "items": [_plain(v) for v in value]}
    if isinstance(value, dict):
        return {"$": "dict", "items": {k: _plain(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        return {"$": "array", "dtype": arr.dtype.name, "shape": list(arr.shape), "data": arr.ravel().tolist()}
    return value


def table(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """function -> key of the inputs -> output, from expected documents (the answer key)."""
    ns: dict[str, Any] = {}
    exec(KEY_SOURCE, ns)
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for fname, cases in doc["functions"].items():
            for entry in cases.values():
                args = [harness.decode(x) for x in entry["args"]]
                out.setdefault(fname, {})[ns["_key"](args)] = _plain(harness.decode(entry["output"]))
    return out


def lookup_notebook(
    path: Path, functions: list[str], answers: dict[str, dict[str, Any]], *, guess: bool = True
) -> Path:
    """A notebook whose every graded function returns the stored output for inputs it knows, and
    for others the output of the first public case of that function (a plausible guess; with
    `guess` False, None: then no repeated answer costs it a visible case)."""
    helpers = "\n".join("    " + line for line in (KEY_SOURCE + DECODE_SOURCE).splitlines())
    cells = []
    for name in functions:  # everything inside the graded cell's def: globals are not carried
        cells.append(
            f"# GRADED FUNCTION: {name}\n\n"
            f"def {name}(*args):\n"
            "    import json\n"
            f"{helpers}\n"
            f"    known = json.loads({json.dumps(json.dumps(answers[name]))})\n"
            f"    found = known.get(_key(args), {'next(iter(known.values()))' if guess else 'None'})\n"
            "    return _decode(found)\n"
        )
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                  for c in cells],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def reference_doc(a: Any) -> dict[str, Any]:
    """The reference's own outputs on the public cases, computed here (not read from expected/)."""
    ns = reference.namespace_of(a.reference_notebook, a.folder)
    doc = spec.load_expected(a)
    with reference.inside(a.folder):
        for f in a.functions:
            for c in f.cases:
                if not c.setup:  # a case whose setup swaps collaborators: expected/ has it
                    entry = doc["functions"][f.name][c.name]
                    entry["output"] = harness.encode(ns[f.name](*[harness.decode(x) for x in entry["args"]]))
    return doc
