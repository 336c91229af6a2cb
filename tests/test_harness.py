"""The plain-data format: what may cross from a student's process, and nothing else."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader.sandbox.codec import Unencodable, decode, encode


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip(binary: bool) -> None:
    value = {
        "W": np.arange(6.0).reshape(2, 3),
        "m": np.array([True, False]),
        "t": (1, 2.5, None, "s", [np.int32(3)]),
    }
    back = decode(json.loads(json.dumps(encode(value, binary=binary))))
    assert back["t"][:4] == (1, 2.5, None, "s") and isinstance(back["t"], tuple)
    assert np.array_equal(back["W"], value["W"]) and back["m"].dtype == bool
    assert back["t"][4][0].dtype == np.int32


def test_refuses_what_is_not_plain_data() -> None:
    class Sneaky:
        def __eq__(self, other: object) -> bool:
            return True

    class Sub(np.ndarray):
        pass

    for value in (Sneaky(), np.ones(2).view(Sub), np.array([object()]), {1: 2}, np.ones(2, dtype=complex), 10**400):
        with pytest.raises(Unencodable):
            encode(value)


@pytest.mark.parametrize(
    "raw",
    [
        {"$": "ndarray", "dtype": "object", "shape": [1], "data": [1]},
        {"$": "ndarray", "dtype": "float64", "shape": [3], "b64": "AAAA"},
        {"$": "ndarray", "dtype": "float64", "shape": [10**9, 10**9], "data": []},
        {"$": "ndarray", "dtype": "float64", "shape": [-1], "data": []},
        {"$": "pickle", "data": "gASV"},
        {"$": "tuple", "items": "abc"},
    ],
)
def test_decode_is_strict(raw: dict) -> None:
    with pytest.raises(ValueError):
        decode(raw)
