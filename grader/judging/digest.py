"""A short digest of a returned value, so that a batch can see that several answers gave the same
wrong output on a case without keeping the values (`TestResult.output_digest`).

Computed in the grader's process from the decoded value (the codec's plain types), never from
anything the student's code wrote about itself (its repr). Numbers are compared as float64 with
the last bits of the mantissa dropped: the same mistake written two ways (a loop, a vectorised
sum) gives values that differ in the last digits only, and must land in one cluster.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

MANTISSA_BITS = 24  # about 7 significant digits: float32's precision
_SCALE = float(2**MANTISSA_BITS)


def output_digest(value: Any) -> str:
    """16 hex digits naming `value` up to rounding; equal values (a dict in any key order, an int
    array and a float array holding the same numbers) give equal digests."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:16]


def _feed(h: Any, v: Any) -> None:
    if v is None or isinstance(v, (bool, np.bool_)):
        h.update(b"N" if v is None else (b"T" if v else b"F"))
    elif isinstance(v, (int, float, np.integer, np.floating)):
        h.update(b"n")
        _numbers(h, np.asarray([v]))
    elif isinstance(v, str):
        data = v.encode("utf-8", "surrogatepass")
        h.update(b"s" + struct.pack("<Q", len(data)) + data)
    elif isinstance(v, dict):
        h.update(b"{" + struct.pack("<Q", len(v)))
        for k in sorted(v, key=str):
            _feed(h, str(k))
            _feed(h, v[k])
    elif isinstance(v, (list, tuple)):
        h.update((b"[" if isinstance(v, list) else b"(") + struct.pack("<Q", len(v)))
        for item in v:
            _feed(h, item)
    elif isinstance(v, np.ndarray):
        h.update(b"a" + struct.pack("<Q", v.ndim) + struct.pack(f"<{v.ndim}Q", *v.shape))
        if v.dtype.kind in "biuf":
            _numbers(h, v)
        else:  # complex or anything else the codec allows: its exact bytes, with its type
            h.update(str(v.dtype).encode() + np.ascontiguousarray(v).tobytes())
    else:  # the codec decodes to nothing else; a type name is all such a value would be told by
        h.update(b"?" + type(v).__name__.encode())


def _numbers(h: Any, v: np.ndarray) -> None:
    """Rounded float64 values: NaN written one way, -0.0 as 0.0, infinities kept."""
    x = np.asarray(v, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        mantissa, exponent = np.frexp(x)
        rounded = np.ldexp(np.round(mantissa * _SCALE) / _SCALE, exponent)
    rounded = np.where(np.isfinite(x), rounded, x) + 0.0
    rounded[np.isnan(rounded)] = np.nan
    h.update(rounded.astype("<f8").tobytes())
