"""What the course's numpy (1.x, 2017-2020) accepted and numpy 2 removed, put back for students.

Students wrote their answers against numpy 1.x; an answer the course's own run printed right
must not fail here because numpy later removed a name or a behaviour. Joined into the sandbox's
text like codec.py (see `worker.harness_source`): standard library only. Only what is missing
is added, so nothing changes under a numpy that still has it; the grader's judging never runs
this (it compares plain data, in its own process). No `from __future__` import: it would not
open the joined text.
"""

import builtins
import types
from typing import Any

# name -> what numpy 1.x meant by it (removed in 1.24 or 2.0)
ALIASES: dict[str, Any] = {
    "float": float,
    "int": int,
    "bool": bool,
    "object": object,
    "str": str,
    "complex": complex,
    "unicode": str,
}
NUMPY_NAMES: dict[str, str] = {  # name -> the numpy name that replaced it
    "NaN": "nan",
    "NAN": "nan",
    "Inf": "inf",
    "Infinity": "inf",
    "infty": "inf",
    "PINF": "inf",
    "float_": "float64",
    "complex_": "complex128",
    "cfloat": "complex128",
    "string_": "bytes_",
    "unicode_": "str_",
    "product": "prod",
    "cumproduct": "cumprod",
    "sometrue": "any",
    "alltrue": "all",
    "round_": "round",
}


def restore_numpy1(np: Any) -> None:
    """Give `np` back the names and the np.sum(generator) that numpy 1.x answers rely on."""
    for name, value in ALIASES.items():
        if name not in vars(np):
            setattr(np, name, value)
    for name, new in NUMPY_NAMES.items():
        if name not in vars(np) and new in vars(np):
            setattr(np, name, vars(np)[new])
    if "NINF" not in vars(np) and "inf" in vars(np):
        np.NINF = -np.inf
    _sum_generators(np)


def _sum_generators(np: Any) -> None:
    """numpy 1.x summed a generator with Python's sum (a deprecation warning from 1.15); numpy 2
    raises TypeError. Students wrote `np.sum(np.sum(W ** 2) for W in Ws)`."""
    array_sum = np.sum
    nothing: list[int] = []
    try:
        array_sum(x for x in nothing)
        return  # this numpy still sums generators
    except TypeError:
        pass

    def sum(a: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - numpy's name
        if isinstance(a, types.GeneratorType):
            total = builtins.sum(a)
            out = kwargs.get("out", args[2] if len(args) > 2 else None)
            if out is not None:
                out[...] = total
                return out
            return total
        return array_sum(a, *args, **kwargs)

    sum.__doc__ = array_sum.__doc__
    sum.__wrapped__ = array_sum  # type: ignore[attr-defined]
    np.sum = sum
