"""Red team 2, finding 8a: a graded function must not carry state from one case to the next (a
counter on numpy answered by position: 7/10), nor find the other cases (their names, inputs,
results) in the harness's frames. 4697616 numbers the cases inside the sandbox, so names no
longer leak, but state and the other cases still do. The rest needs a change to grader/sandbox/harness.py
(each case in a fresh fork of the function's child, given only its own setup and inputs), which
its owner applies: until then this test is an expected failure, strict, so that change makes it
XPASS and fail: then remove the marker."""

from __future__ import annotations

import numpy as np
import pytest

from grader.sandbox import codec, harness

SNOOP = '''
import sys
import numpy as np


def gradient_check(x, theta, epsilon=1e-7):
    n = getattr(np, "_case_isolation_n", 0)
    np._case_isolation_n = n + 1  # state on a module every case imports
    seen = []
    frame = sys._getframe(1)
    while frame is not None:  # every caller's locals: a case dict, a name, other cases, results
        for value in frame.f_locals.values():
            if isinstance(value, dict):
                seen += [str(value.get("name", "")), str(len(value.get("cases", "")))]
                seen += [str(k) for k in value if k in ("course", "cubic", "other")]
            elif isinstance(value, str) and value in ("course", "cubic", "other"):
                seen.append(value)
            elif isinstance(value, list):
                seen.append(str(len(value)))
        frame = frame.f_back
    return [n, sorted(s for s in seen if s in ("course", "cubic", "other"))]
'''


@pytest.mark.xfail(strict=True, reason="needs the harness change of red team 2 finding 8a (a fork per case)")
def test_a_case_sees_neither_its_name_nor_an_earlier_case() -> None:
    task = {
        "function": "gradient_check",
        "units": [{"filename": "<cell>", "source": SNOOP, "kind": "def"}],
        "cases": [
            {"name": name, "args": codec.encode([2.0, 4.0]), "setup": ""} for name in ("course", "cubic", "other")
        ],
    }
    try:
        result = harness.run_function(task)
    finally:
        if hasattr(np, "_case_isolation_n"):
            del np._case_isolation_n
    outputs = {name: codec.decode(r.get("output")) for name, r in result["cases"].items()}
    assert set(outputs) == {"course", "cubic", "other"}
    assert all(out == [0, []] for out in outputs.values()), outputs
