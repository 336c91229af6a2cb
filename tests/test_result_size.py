"""A result far over what it may weigh is refused by its size in the function's own child,
before it is encoded (issue 10's red-team family: a function returning 100 MB made the child
encode it to base64 and JSON, three copies and seconds of work, only for the grader to read its
length and refuse it; ~10 s under load).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.judging import feedback
from grader.reading import assignment as spec
from grader.reading.notebook import Unit
from grader.sandbox import codec, harness, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Task

MB = 1 << 20
# ten arrays of 10 MB: each under the codec's element limit, 100 MB together
HUNDRED_MB = (
    "import numpy as np\n\ndef big(v):\n    return {'W%d' % i: np.ones(1_250_000) for i in range(10)}\n"
)
HELD = "import numpy as np\n\ndef held(v):\n    return v * 0 + len({'W%d' % i: np.ones(1_250_000) for i in range(10)})\n"
SIZES = "import numpy as np\n\ndef sizes(v):\n    return [np.ones(int(n)) for n in v]\n"


def _job(source: str, name: str, args: list[Any], max_bytes: int = 0) -> dict[str, Any]:
    cases = [
        {"name": f"case{i}", "args": [codec.encode(a, binary=True)], "setup": None}
        for i, a in enumerate(args)
    ]
    task = Task(name, (Unit(f"cell {name}", source),), tuple(cases), 30.0, max_bytes=max_bytes)
    return task.to_job()


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every value the harness encodes (as raw bytes held by its arrays)."""
    seen: list[int] = []
    real = harness.encode

    def counting(value: Any, **kw: Any) -> Any:
        seen.append(codec.weight_over(value, 1 << 62))
        return real(value, **kw)

    monkeypatch.setattr(harness, "encode", counting)
    return seen


def test_a_result_over_its_cap_is_refused_before_it_is_encoded(encoded: list[int]) -> None:
    result = harness.run_function(_job(HUNDRED_MB, "big", [np.zeros(1)], max_bytes=MB))
    assert result == {"function": "big", "too_big": True}
    assert encoded == []  # not a byte of the 100 MB was encoded


def test_the_cap_counts_every_case_together(encoded: list[int]) -> None:
    # three cases of 400 KB each (as base64: 533 KB): the second passes 1 MB, the third never runs
    result = harness.run_function(_job(SIZES, "sizes", [np.array([50_000.0])] * 3, max_bytes=MB))
    assert result == {"function": "sizes", "too_big": True}
    assert len(encoded) == 1


def test_a_result_under_its_cap_is_the_same_as_without_one(encoded: list[int]) -> None:
    args = [np.array([3.0, 4.0]), np.array([1000.0])]
    capped = harness.run_function(_job(SIZES, "sizes", args, max_bytes=MB))
    free = harness.run_function(_job(SIZES, "sizes", args))
    assert capped == free and set(capped["cases"]) == {"case0", "case1"}
    assert all(set(c) == {"ok", "output", "notes"} for c in capped["cases"].values())  # no weight leaks


@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -(2**62), 1.5e300, float("nan"), "", "é" * 10, [], (), {},
        np.float32(1), np.ones((3, 0)), np.arange(7, dtype=np.uint8), np.ones(1001, dtype=bool),
        {"W1": np.ones((5, 4)), "b1": np.zeros((5, 1)), "t": (1, [2.0, "x"], {"k": None})},
        [[[[]]]], [np.ones(3)] * 4,
    ],
)  # fmt: skip
def test_the_weight_is_never_more_than_the_encoded_size(value: Any) -> None:
    # a lower bound: a result the grader would take is never refused by it
    assert codec.weight_over(value, 1 << 62) <= len(json.dumps(codec.encode(value, binary=True)))


def test_the_weight_stops_counting_past_the_limit() -> None:
    # a list far too long is not walked to its end: the count stops just past the limit
    long = [0] * 20_000_000
    assert 1000 < codec.weight_over(long, 1000) < 1100
    nested: list[Any] = []
    nested.append(nested)
    nested.append(nested)  # 2**33 paths to walk, were it walked to the depth limit
    assert codec.weight_over(nested, 1000) > 1000


def test_what_encode_refuses_keeps_its_own_reason() -> None:
    # an array past the element limit, or of a dtype that is no plain data, is not "too big"
    for value in (np.ones(codec.MAX_ELEMENTS + 1, dtype=np.uint8), np.ones(MB, dtype=complex)):
        assert codec.weight_over(value, MB) == 1


def test_through_the_sandbox_the_value_is_never_encoded(toy_root: Path) -> None:
    # 400 MB of address space holds the 100 MB value (checked first, as `len`), not its base64
    # and JSON copies: encoding it ran out of memory ("crash": MemoryError) before the fix
    a, limits = spec.load("toy"), Limits(memory_mb=400)
    case = {"name": "c", "args": [codec.encode(np.zeros(1), binary=True)], "setup": None}
    tasks = [
        Task("big", (Unit("cell big", HUNDRED_MB),), (case,), 30.0, max_bytes=MB),
        Task("held", (Unit("cell held", HELD),), (case,), 30.0, max_bytes=MB),
    ]
    with run.Session(limits) as session:
        raw, _, _ = run.execute(a, tasks, limits=limits, session=session)
    assert raw["held"]["cases"]["c"]["ok"], raw["held"]  # the value fits in the sandbox
    assert raw["big"] == {"function": "big", "too_big": MB}, raw["big"]
    status, message = feedback.process_outcome(raw["big"], limits) or ("", "")
    assert status == "killed" and "returned more than 1 MB of results" in message
