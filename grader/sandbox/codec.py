"""The plain-data format both sides of the sandbox speak, and nothing else:

    None, bool, int, float, str      as JSON
    list                             JSON array
    tuple                            {"$": "tuple", "items": [...]}
    dict (string keys)               {"$": "dict", "items": {...}}
    numpy array or scalar            {"$": "ndarray", "dtype": "float64", "shape": [...],
                                      "data": nested list  |  "b64": raw little-endian bytes,
                                      "scalar": true only for a numpy scalar sent to or from
                                      the oracle, see `encode`}

`encode` refuses anything that is not plain data; `decode` is strict, safe on data that came out
of a student's process. The grader imports this module; the sandbox receives its text inside
the harness's (see `worker.harness_source`), in place of the harness's import of it. So it
imports only the standard library and numpy, and has no `from __future__` import (which must
open a file, and would not open the joined text).
"""

import base64
import math
from typing import Any

import numpy as np

DTYPES = frozenset(
    [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    ]
)
MAX_DEPTH = 32
MAX_ELEMENTS = 10_000_000


class Unencodable(Exception):
    """A value that is not plain data."""


def encode(value: Any, *, binary: bool = False, scalars: bool = False, _depth: int = 0) -> Any:
    """Turn plain data into JSON-ready structures; refuse anything else. With `scalars`, a numpy
    scalar is marked as one, so that `decode` gives it back as a scalar, not a 0-d array (a call
    to the oracle must look like a call in the same process)."""
    if _depth > MAX_DEPTH:
        raise Unencodable("the value is nested too deeply")
    t = type(value)
    if value is None or t in (bool, str):
        return value
    if t is int:
        if abs(value) < 2**63:
            return value
        if abs(value) < 2**1023:  # as numpy would hold it
            return float(value)
        raise Unencodable("an integer too large for any number type numpy has")
    if t is float:
        return value
    depth = _depth + 1
    if t is list:
        return [encode(v, binary=binary, scalars=scalars, _depth=depth) for v in value]
    if t is tuple:
        items = [encode(v, binary=binary, scalars=scalars, _depth=depth) for v in value]
        return {"$": "tuple", "items": items}
    if t is dict:
        if not all(type(k) is str for k in value):
            raise Unencodable("a dict with keys that are not strings")
        return {
            "$": "dict",
            "items": {k: encode(v, binary=binary, scalars=scalars, _depth=depth) for k, v in value.items()},
        }
    if isinstance(value, np.generic) and type(value).__module__ == "numpy":
        return {**_array(np.asarray(value), binary), **({"scalar": True} if scalars else {})}
    if t is np.ndarray:
        return _array(value, binary)
    if isinstance(value, np.ndarray):
        raise Unencodable(f"a {t.__name__} (a subclass of numpy.ndarray); return a plain numpy array")
    raise Unencodable(f"a {t.__module__}.{t.__qualname__}, which is not plain data")


def weight_over(value: Any, limit: int, _depth: int = 0) -> int:
    """A lower bound of what `encode(value, binary=True)` weighs as JSON, counted only until it
    passes `limit`: a result far over the cap is refused by its size before a byte of it is
    encoded (base64 and JSON of 100 MB took seconds and three copies of its memory). Exact types
    only, so no student code runs; what `encode` refuses anyway counts 1 (its reason is better)."""
    t = type(value)
    if t is np.ndarray or (isinstance(value, np.generic) and type(value).__module__ == "numpy"):
        ok = value.dtype.name in DTYPES and value.size <= MAX_ELEMENTS
        return 4 * (-(-value.nbytes // 3)) if ok else 1  # its base64 text
    if t is str:
        return len(value) + 2
    if t not in (list, tuple, dict) or _depth > MAX_DEPTH:
        return 1
    total = 2
    pairs = value.items() if t is dict else ((None, v) for v in value)  # no copy of a huge list
    for key, item in pairs:
        total += (len(key) + 4 if type(key) is str else 0) + weight_over(item, limit - total, _depth + 1)
        if total > limit:
            break
    return total


def _array(arr: np.ndarray, binary: bool) -> dict[str, Any]:
    name = arr.dtype.name
    if name not in DTYPES:
        raise Unencodable(f"a numpy array of dtype {name}; expected numbers or booleans")
    if arr.size > MAX_ELEMENTS:  # refused here, with a reason, rather than by memory limits later
        raise Unencodable(f"a numpy array of {arr.size} elements, more than the {MAX_ELEMENTS} allowed")
    head: dict[str, Any] = {"$": "ndarray", "dtype": name, "shape": list(arr.shape)}
    if binary:
        head["b64"] = base64.b64encode(
            np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        ).decode()
    else:
        head["data"] = arr.tolist()
    return head


def decode(value: Any, *, _depth: int = 0) -> Any:
    """Inverse of `encode`, strict: safe on data that came out of a student's process."""
    if _depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [decode(v, _depth=_depth + 1) for v in value]
    if type(value) is not dict:
        raise ValueError(f"unexpected {type(value).__name__}")
    tag = value.get("$")
    if tag == "tuple" and type(value.get("items")) is list:
        return tuple(decode(v, _depth=_depth + 1) for v in value["items"])
    if tag == "dict" and type(value.get("items")) is dict:
        return {str(k): decode(v, _depth=_depth + 1) for k, v in value["items"].items()}
    if tag == "ndarray":
        arr = _decode_array(value)
        return arr[()] if value.get("scalar") is True and arr.ndim == 0 else arr
    raise ValueError("unknown tagged value")


def _decode_array(value: dict[str, Any]) -> np.ndarray:
    dtype, shape = value.get("dtype"), value.get("shape")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} not allowed")
    if type(shape) is not list or len(shape) > MAX_DEPTH or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("bad shape")
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise ValueError("array too large")
    if "b64" in value:
        raw = base64.b64decode(str(value["b64"]), validate=True)
        arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        if arr.size != size:
            raise ValueError("array data does not match its shape")
        return arr.astype(dtype).reshape(shape)
    try:
        arr = np.array(value.get("data"), dtype=dtype)
    except (OverflowError, TypeError):  # e.g. an integer past float64's range, forged by a student
        raise ValueError("array data does not fit its dtype") from None
    if arr.size != size:
        raise ValueError("array data does not match its shape")
    return arr.reshape(shape)
