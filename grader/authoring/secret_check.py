"""`grader validate`'s look at the secret cases, when a secret is configured: the shared variant's
secret document exists and is current, holds a secret case for every hidden case that declares
`vary`, and tells every catalogued mistake apart from the reference on at least one of its
function's secret cases. A mistake told apart only on visible cases is named by grading only
there, where a student who knows the public values can dodge it; `grader expected --secret`
accepts that (it asks for one case, any), so this says it. Each problem is one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.judging import hidden, mistakes
from grader.judging.compare import judge
from grader.reading import secret
from grader.reading.assignment import Assignment, Function
from grader.sandbox import codec


def problems(a: Assignment, key: bytes) -> list[str]:
    """Every problem of the assignment's secret cases under `key`, a line each (none: all is well)."""
    path = secret.expected_path(a.name)
    run = f"run `grader expected --secret {a.name}`"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{path} is missing (a secret is configured): {run}"]
    except (OSError, ValueError) as exc:
        return [f"{path} is not readable ({exc}): {run}"]
    if not isinstance(doc, dict) or not isinstance(doc.get("functions"), dict):
        return [f"{path} is not an expected document: {run}"]
    found = []
    if doc.get("secret") != hidden.stamp(a, key, secret.SHARED):
        found.append(f"{path} is stale (another secret, or expected/, the spec or the cases changed): {run}")
    found += _missing(a, doc["functions"], path, run)
    for m in mistakes.load(a):
        if not _told_apart(a.function(m.function), m.id, doc["functions"].get(m.function)):
            found.append(
                f"mistake {m.id!r} ({m.function}) is told apart from the reference on no secret case: "
                "widen the `vary` of a hidden case that can show it, or add one"
            )
    return found


def _missing(a: Assignment, functions: dict[str, Any], path: Path, run: str) -> list[str]:
    """A line per hidden case that declares `vary` and has no drawn case in the document."""
    out = []
    for f in a.functions:
        cases = functions.get(f.name)
        for c in f.cases:
            entry = cases.get(c.name) if isinstance(cases, dict) else None
            if c.hidden and c.vary and not (isinstance(entry, dict) and entry.get("drawn")):
                out.append(f"{f.name}/{c.name} declares `vary` but {path} has no secret case of it: {run}")
    return out


def _told_apart(f: Function, mistake: str, cases: Any) -> bool:
    """Whether the mistake's recorded output fails the case, by the spec's tolerance as it is now,
    on at least one secret case of its function."""
    if not isinstance(cases, dict):
        return False
    for c in f.cases:
        entry = cases.get(c.name)
        if not (c.hidden and c.vary and isinstance(entry, dict) and entry.get("drawn")):
            continue
        shown = entry.get("mistakes", {}).get(mistake)
        if shown is not None and not judge(codec.decode(entry["output"]), codec.decode(shown), c).passed:
            return True
    return False
