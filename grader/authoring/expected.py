"""`expected/<assignment>.json`: every case's inputs and the reference's outputs.

Inputs come from the trusted builders in `cases.py`; outputs come from running the reference
notebook through the very same sandbox and harness that grade students, so the reference scores
full marks by construction and both sides start every call from the same RNG state. The
catalogued mistakes' mutants (`mistakes.py`) run the same way; their outputs are stored too.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.authoring import reference
from grader.errors import SpecError
from grader.files import write_atomic
from grader.judging import hidden, mistakes
from grader.reading import assignment as spec
from grader.reading import notebook, secret, selection, variation
from grader.reading.assignment import Assignment, Case
from grader.sandbox import codec, harness, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import peers_of, task_for

FORMAT = 1


ATTEMPTS = 50  # draws of a secret case before its builder's refusals are a spec error
INPUTS_LOCK = threading.Lock()  # building inputs changes the working directory: one at a time


@dataclass(frozen=True)
class Draw:
    """Secret cases: the key their inputs are drawn with, and the variant (a student's, or shared)."""

    key: bytes
    variant: str = secret.SHARED


def build_inputs(a: Assignment, draw: Draw | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Run each case's builder against the reference; return encoded arguments per case (with
    `draw`, a hidden case that declares `vary` gets drawn params instead of its public ones)."""
    ns = reference.namespace_of(a.reference_notebook, a.folder)
    ref = reference.as_object(ns)
    builders = reference.load_module(a.cases_module, f"_grader_cases_{a.name}")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with reference.inside(a.folder):
        for f in a.functions:
            for c in f.cases:
                builder = getattr(builders, c.inputs, None)
                if builder is None:
                    raise SpecError(f"{a.name}: cases.py has no builder {c.inputs!r} ({f.name}/{c.name})")
                out.setdefault(f.name, {})[c.name] = _entry(c, builder(ref, **c.params))
            if draw is not None:
                for c in f.cases:
                    if c.vary:
                        builder = getattr(builders, c.inputs)
                        out[f.name][c.name] = _drawn(a, f.name, c, builder, ref, draw, out[f.name])
    return out


def _entry(c: Case, args: dict[str, Any]) -> dict[str, Any]:
    return {"hidden": c.hidden, "arg_names": list(args), "args": [codec.encode(v) for v in args.values()]}


def _drawn(
    a: Assignment, fname: str, c: Case, builder: Any, ref: Any, draw: Draw, public: dict[str, Any]
) -> dict[str, Any]:
    """A secret case's entry: params drawn until the builder accepts them (it raises ValueError
    for an ill-conditioned draw) and the inputs are none of the public cases' (a table of the
    public inputs must never answer a secret case)."""
    taken = {json.dumps(e["args"], sort_keys=True) for e in public.values()}
    for attempt in range(ATTEMPTS):
        rng = variation.rng_for(draw.key, a.name, fname, c.name, draw.variant, attempt)
        try:
            entry = _entry(c, builder(ref, **variation.params(c.vary, c.params, rng)))
        except ValueError:
            continue
        if json.dumps(entry["args"], sort_keys=True) not in taken:
            return {**entry, "drawn": True}
    raise SpecError(
        f"{a.name}: {fname}/{c.name}: no acceptable draw in {ATTEMPTS} attempts; widen its `vary`"
    )


def build(
    a: Assignment,
    *,
    limits: Limits | None = None,
    draw: Draw | None = None,
    session: run.Session | None = None,
) -> dict[str, Any]:
    """The whole expected document for an assignment (with `draw`: on its secret cases; `session`:
    warm sandboxed workers to run the reference and the mutants in, for many documents)."""
    with INPUTS_LOCK:  # the builders run in this process, in the assignment's folder (chdir)
        inputs = build_inputs(a, draw)
    parsed = notebook.parse(notebook.read(a.reference_notebook))
    given = selection.given_units(parsed, a.given)
    graded = frozenset(f.name for f in a.functions) | frozenset(a.given)
    peers = peers_of(parsed, frozenset(f.name for f in a.functions), graded)
    tasks = []
    for f in a.functions:
        ans = selection.answer(parsed, f.name, exclude=graded - {f.name})
        if ans.definition is None:
            raise SpecError(f"the reference notebook does not define {f.name}")
        cases = [{"name": c.name, "args": inputs[f.name][c.name]["args"], "setup": c.setup} for c in f.cases]
        tasks.append(task_for(ans, given, cases, f.timeout * 3, peers, trusted=True))
    results, _, output = run.execute(a, tasks, limits=limits or Limits(), session=session)
    functions: dict[str, Any] = {}
    for f in a.functions:
        raw = results[f.name]
        for c in f.cases:
            r = raw.get("cases", {}).get(c.name)
            if not r or not r.get("ok"):
                raise SpecError(f"the reference fails {f.name}/{c.name}: {r or raw}\n{output[-2000:]}")
            entry = dict(inputs[f.name][c.name])
            entry["output"] = codec.encode(codec.decode(r["output"]))
            functions.setdefault(f.name, {})[c.name] = entry
    doc = {"assignment": a.name, "format": FORMAT, "rng_seed": harness.RNG_SEED, "functions": functions}
    # the reference's code of each graded function, which the oracle runs for a student's function
    # that calls it: grading then needs no reference/ (a Gradescope bundle has none). Here, with
    # no student code about, the reference's callers get it in their own process (task_for)
    doc["peers"] = {name: [[u.filename, u.source] for u in units] for name, units in peers.items()}
    limits = limits or Limits()
    words = mistakes.record(a, parsed, given, functions, limits=limits, peers=peers, session=session)
    if words:
        doc["mistakes"] = words
    if draw is not None:
        doc["secret"] = hidden.stamp(a, draw.key, draw.variant)
    problems = nonfinite(a, doc)
    if problems:
        raise SpecError(
            f"{a.name}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    return doc


def _first_nonfinite(value: Any, where: str = "") -> str | None:
    """Where a decoded value holds a NaN or an infinity (`output[0]['W1'][2, 1]: nan`), or None."""
    if isinstance(value, dict):
        return next((w for k, v in value.items() if (w := _first_nonfinite(v, f"{where}[{k!r}]"))), None)
    if isinstance(value, (list, tuple)):
        return next((w for i, v in enumerate(value) if (w := _first_nonfinite(v, f"{where}[{i}]"))), None)
    if isinstance(value, float) and not np.isfinite(value):
        return f"output{where}: {value}"
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        return f"output{where}{list(idx) if idx else ''}: {value[idx]}"
    return None


def nonfinite(a: Assignment, doc: dict[str, Any]) -> list[str]:
    """Every output (the reference's, a mistake's) of the document holding a NaN or an infinity on a
    case that does not allow them (`allow_nonfinite = true`), in words naming function/case/mistake."""
    found = []
    for f in a.functions:
        for c in f.cases:
            entry = doc.get("functions", {}).get(f.name, {}).get(c.name)
            if c.allow_nonfinite or not isinstance(entry, dict):
                continue
            whose = [("the reference's", entry.get("output"))]
            whose += [(f"mistake {mid!r}'s", out) for mid, out in entry.get("mistakes", {}).items()]
            for who, encoded in whose:
                where = _first_nonfinite(codec.decode(encoded))
                if where:
                    found.append(
                        f"{f.name}/{c.name}: {who} {where} is not finite; fix the reference, the "
                        "mistake or the case, or set `allow_nonfinite = true` on the case"
                    )
    return found


def _strict(value: Any) -> Any:
    """The encoded value with every non-finite number held in a binary array (strict JSON)."""
    if isinstance(value, float) and not np.isfinite(value):
        return codec.encode(np.array(value), binary=True)
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, dict):
        if value.get("$") == "ndarray" and "data" in value:
            arr = codec.decode(value)
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                return codec.encode(arr, binary=True)
            return value
        return {k: _strict(v) for k, v in value.items()}
    return value


def _binary(value: Any) -> Any:
    """The document with every array's numbers as base64 bytes, exact as before: a secret
    document is never diffed, and is read for every student of a batch (JSON of lists of
    floats parses 6-9 times slower: 5.3 against 0.6 ms for initialization's)."""
    if isinstance(value, list):
        return [_binary(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("$") == "ndarray" and "data" in value:
        arr = np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
        packed = codec.encode(arr, binary=True)
        return {**{k: v for k, v in value.items() if k != "data"}, "b64": packed["b64"]}
    return {k: _binary(v) for k, v in value.items()}


def dumps(doc: dict[str, Any]) -> str:
    """JSON that reads well in a diff: one array per line, full-precision floats."""

    def emit(value: Any, indent: int) -> str:
        pad = " " * indent
        if isinstance(value, dict) and value.get("$") != "ndarray" and value:
            items = [f"{pad} {json.dumps(k)}: {emit(v, indent + 1).lstrip()}" for k, v in value.items()]
            return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            items = [emit(v, indent + 1) for v in value]
            return pad + "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return pad + json.dumps(value, allow_nan=False)

    return emit(_strict(doc), 0) + "\n"


load = spec.load_expected


def write(a: Assignment, doc: dict[str, Any]) -> Path:
    """Write the expected document atomically, owner-only (0600): it is the answer key. A secret
    one goes beside the secret; the public one in an owner-only folder (0700), since where the
    sandbox has no mount namespace to hide it (a container without CAP_SYS_ADMIN), permissions
    are all that keep it from student code."""
    if "secret" in doc:  # its stamp first: `hidden.stamped` reads it without the rest
        target = secret.expected_path(a.name, doc["secret"]["variant"])
        write_atomic(target, dumps(_binary({"secret": doc["secret"], **doc})), private=True)
        return target
    write_atomic(a.expected_path, dumps(doc))
    folder = a.expected_path.parent
    if folder.stat().st_uid == os.geteuid():  # someone else's folder: grading names it if it is open
        folder.chmod(0o700)
    return a.expected_path


# `--check` asks whether expected/ still holds what the reference computes, i.e. whether the grader
# would judge by the same values. Inputs are built in-process from seeded draws and a few matrix
# products: another BLAS kernel moves them by an ulp or two (measured: 2.2e-16 at most), so they
# are compared to the last bits. Outputs and the mistakes' outputs are compared with the case's own
# tolerance instead: a gradient check's finite differences divide a cost's last-bit rounding by
# 2 * epsilon = 2e-7, so they move by up to 5e-9 between OpenBLAS kernels (Haswell, SkylakeX,
# Sandybridge, Nehalem, ...; half the 1e-8 of their cases), and the noise-sized differences of a
# right gradient (~3e-9, judged only as below 2e-7) by up to 18% of themselves, 0.3% of the
# threshold. A change to the reference, the cases or the mistakes moves a value by more than its
# tolerance (or across the threshold), so `--check` still catches every stale entry that would
# grade differently.
TIGHT = (1e-14, 1e-12)  # (atol, rtol): equal up to the last couple of bits of a float


def tolerance(case: Case | None) -> tuple[float, float]:
    """(atol, rtol) for comparing two versions of a case's output in `--check`."""
    if case is None:
        return TIGHT
    if case.below is not None:  # judged only against the threshold: 1% of it
        return max(case.below / 100, TIGHT[0]), TIGHT[1]
    return max(case.atol, TIGHT[0]), max(case.rtol, TIGHT[1])


def _same(x: Any, y: Any, tol: tuple[float, float] = TIGHT) -> bool:
    """Equal, floats within `tol` = (atol, rtol)."""
    atol, rtol = tol
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            return False
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind == "f":
            return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True))
        return bool(np.array_equal(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return bool(np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return (
            type(x) is type(y)
            and len(x) == len(y)
            and all(_same(a, b, tol) for a, b in zip(x, y, strict=True))
        )
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k], tol) for k in x)
    return type(x) is type(y) and bool(x == y)


def _cases(doc: dict[str, Any], a: Assignment | None) -> dict[tuple[str, str], Case]:
    """Each case of the document's assignment by (function, case); empty when it cannot be loaded."""
    if a is None:
        try:
            a = spec.load(str(doc.get("assignment", "")))
        except (SpecError, OSError):
            return {}
    return {(f.name, c.name): c for f in a.functions for c in f.cases}


def diff(old: dict[str, Any], new: dict[str, Any], a: Assignment | None = None) -> list[str]:
    """Entries that differ between two expected documents, as `function/case: what`.

    Outputs are compared with each case's tolerance (see `tolerance`), the rest exactly or to the
    last bits; `a` is the assignment, loaded by the document's name when not given.
    """
    cases = _cases(new, a)
    old, new = _strict(old), _strict(new)  # a non-finite number is compared as it is stored
    changes = []
    of, nf = old.get("functions", {}), new.get("functions", {})
    for fname in sorted(set(of) | set(nf)):
        oc, nc = of.get(fname, {}), nf.get(fname, {})
        for case in sorted(set(oc) | set(nc)):
            if case not in oc:
                changes.append(f"{fname}/{case}: new case")
            elif case not in nc:
                changes.append(f"{fname}/{case}: case removed")
            else:
                tol = tolerance(cases.get((fname, case)))
                for key in ("hidden", "arg_names", "args", "output"):
                    o, n = codec.decode(oc[case].get(key)), codec.decode(nc[case].get(key))
                    if not _same(o, n, tol if key == "output" else TIGHT):
                        changes.append(f"{fname}/{case}: {key} changed")
                changes.extend(_mistakes_diff(f"{fname}/{case}", oc[case], nc[case], tol))
    if old.get("peers") != new.get("peers"):
        changes.append("peers: the reference's code of the graded functions changed")
    if old.get("mistakes", {}) != new.get("mistakes", {}):
        changes.append("mistakes: the catalogue's words changed")
    return changes


def _mistakes_diff(
    where: str, old: dict[str, Any], new: dict[str, Any], tol: tuple[float, float]
) -> list[str]:
    om, nm = old.get("mistakes", {}), new.get("mistakes", {})
    out = []
    for mid in sorted(set(om) | set(nm)):
        if mid not in om or mid not in nm or not _same(codec.decode(om[mid]), codec.decode(nm[mid]), tol):
            out.append(f"{where}: mistake {mid} changed")
    return out
