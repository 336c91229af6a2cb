"""How a hidden case's inputs vary: the spec's `vary` table, checked, and drawn from a keyed RNG.

A `vary` entry replaces one of the case's `params` with a draw:
  [lo, hi]                          an integer in lo..hi (both ints) or a float in [lo, hi)
  { log = [lo, hi] }                a float whose logarithm is uniform (epsilon, lambd)
  { one_of = [a, b, ...] }          one of the values
  { distinct = [lo, hi], n = k }    k different integers in lo..hi (layer sizes no two alike)
  { each = [form or value, ...] }   a list, each element drawn by its own form (or kept)
  a plain value (true, 3, "tanh")   that value, on secret cases only (a builder's stricter mode)
The RNG is Python's own (`random.Random`), seeded from HMAC(secret, assignment, function, case,
variant, attempt): the same secret always gives the same inputs, on any machine.
"""

from __future__ import annotations

import math
import random
from typing import Any

from grader.errors import SpecError
from grader.reading import secret as secret_mod


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check(where: str, form: Any) -> None:
    """Refuse a `vary` form the drawing below cannot read, naming where it is."""
    if isinstance(form, (bool, int, float, str)):
        return
    if isinstance(form, list):
        if len(form) != 2 or not all(_is_num(x) for x in form) or not form[0] <= form[1]:
            raise SpecError(f"{where}: a range is [lo, hi] with lo <= hi, not {form!r}")
        return
    if not isinstance(form, dict) or len(set(form) - {"n"}) != 1:
        raise SpecError(f"{where}: a vary entry is [lo, hi] or a table with log, one_of, distinct or each")
    kind = next(k for k in form if k != "n")
    arg = form[kind]
    if kind == "log" and isinstance(arg, list) and len(arg) == 2 and all(_is_num(x) and x > 0 for x in arg):
        return
    if kind == "one_of" and isinstance(arg, list) and arg:
        return
    if kind == "distinct" and isinstance(arg, list) and len(arg) == 2 and all(type(x) is int for x in arg):
        if isinstance(form.get("n"), int) and 0 < form["n"] <= arg[1] - arg[0] + 1:
            return
    if kind == "each" and isinstance(arg, list) and arg:
        for i, item in enumerate(arg):
            if isinstance(item, (list, dict)):
                check(f"{where}[{i}]", item)
        return
    raise SpecError(f"{where}: {kind} = {arg!r} cannot be drawn from")


def draw(form: Any, rng: random.Random) -> Any:
    """One value of a (checked) form."""
    if isinstance(form, list):
        lo, hi = form
        if isinstance(lo, int) and isinstance(hi, int):
            return rng.randint(lo, hi)
        return lo + (hi - lo) * rng.random()
    if not isinstance(form, dict):
        return form
    if "log" in form:
        lo, hi = (math.log(x) for x in form["log"])
        return math.exp(lo + (hi - lo) * rng.random())
    if "one_of" in form:
        return rng.choice(form["one_of"])
    if "distinct" in form:
        lo, hi = form["distinct"]
        return rng.sample(range(lo, hi + 1), form["n"])
    return [draw(item, rng) for item in form["each"]]


def rng_for(
    key: bytes, assignment: str, function: str, case: str, variant: str, attempt: int
) -> random.Random:
    """The RNG of one case of one variant (a new attempt when a draw was refused)."""
    digest = secret_mod.mac(key, "case", assignment, function, case, variant, str(attempt))
    return random.Random(int.from_bytes(digest, "big"))


def params(vary: dict[str, Any], base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The case's params with every varied one drawn."""
    return {**base, **{name: draw(form, rng) for name, form in vary.items()}}
