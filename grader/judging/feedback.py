"""Words for what went wrong in a student's process: exceptions, timeouts, crashes."""

from __future__ import annotations

import re
from typing import Any

from grader.reading import selection
from grader.reading.assignment import Assignment
from grader.sandbox.worker import Limits

ERROR_PREFIXES = ("raised ", "the code could not run", "ran out of memory", "exceeded")

_SIGNALS = {
    "SIGSEGV": "crashed with a segmentation fault",
    "SIGBUS": "crashed (bus error)",
    "SIGABRT": "aborted",
    "SIGXCPU": "exceeded the CPU time limit",
    "SIGXFSZ": "exceeded the file size limit",
    "SIGKILL": "was killed (memory, process or time limit)",
    "SIGFPE": "crashed (floating point exception)",
}


def process_outcome(raw: dict[str, Any], limits: Limits) -> tuple[str, str] | None:
    """(status, message) when the function's process did not return results at all."""
    if "timeout" in raw:
        return (
            "timeout",
            f"did not finish within {raw['timeout']:g} s (an infinite loop, or a very slow loop?)",
        )
    if "too_big" in raw:
        cap = raw["too_big"] if isinstance(raw["too_big"], int) else limits.result_bytes
        return "killed", f"returned more than {_weight(cap)} of results, far more than the right answers"
    if raw.get("oom") is True:  # the kernel killed a process of its sandbox (see worker.collect)
        return "killed", f"ran out of memory: {limits.memory_mb} MB for all the processes it started together"
    if raw.get("worker_died"):
        return "killed", "the grading process was killed while this function ran (did it kill its parent?)"
    died = raw.get("died")
    if isinstance(died, dict):
        name = died.get("signal_name")
        if name:
            return "killed", f"the function {_SIGNALS.get(str(name), f'was killed by {name}')}"
        code = died.get("exit_code")
        return (
            "error",
            f"the process exited (code {code}) before returning: os._exit() or a crash in native code?",
        )
    if raw.get("crash") == "MemoryError":
        return "killed", "ran out of memory while sending its results back: is the output far too large?"
    if "crash" in raw:
        return "error", "the grader could not run this function's code"
    if not isinstance(raw.get("cases"), dict):
        return "error", "no results came back"
    return None


def _where(frames: list[Any]) -> str:
    for fr in reversed(frames):
        if isinstance(fr, dict) and isinstance(fr.get("cell"), str):
            code = str(fr.get("code", "")).strip()
            return f" ({fr['cell']}, line {fr.get('line')}{': `' + code + '`' if code else ''})"
    return ""


def case_error(r: dict[str, Any], ans: selection.Answer, a: Assignment) -> str:
    """A message for a case whose call raised, or whose result was not plain data."""
    if "unencodable" in r:
        return f"returned {r['unencodable']}"
    err = r.get("error")
    if not isinstance(err, dict):
        return "the code could not run"
    etype, message = str(err.get("type", "Exception")), str(err.get("message", ""))
    qual = str(err.get("qualname", etype))
    where = _where(err.get("frames") or [])
    if etype == "MemoryError":
        return f"ran out of memory{where}"
    if etype == "RecursionError":
        return f"raised RecursionError: infinite recursion?{where}"
    if etype == "SystemExit":
        return f"raised SystemExit: the function called sys.exit() or exit(){where}"
    if etype == "NameError":
        name = message.split("'")[1] if message.count("'") >= 2 else ""
        if name in ans.global_names:
            return f"raised NameError: uses the notebook's global `{name}` instead of its arguments{where}"
        if name:
            return f"raised NameError: `{name}` is not defined when the function runs on its own{where}"
    if r.get("setup"):
        return f"the code could not run: {qual}: {message}{where}"
    return f"raised {qual}: {message}{where}".strip()


# The exception types a case drawn with the secret may name: a short closed list (every built-in
# type an answer can raise would be a choice of one in sixty); any other is "an exception".
DRAWN_ERRORS = frozenset(
    {"TypeError", "ValueError", "IndexError", "KeyError", "NameError", "AttributeError", "ZeroDivisionError"}
)


def drawn_case_error(r: dict[str, Any], ans: selection.Answer) -> str:
    """`case_error` for a hidden case drawn with the secret: its inputs are the student's own
    secret, and everything in a failed result that its code chose (the message, the exception's
    class, the cell and line it was raised at, a frame's text) could spell them out. Only a type of
    a short built-in list is said."""
    if "unencodable" in r:
        return "returned a value that is not plain data"
    err: dict[str, Any] = r["error"] if isinstance(r.get("error"), dict) else {}
    etype = str(err.get("type", ""))
    if etype == "MemoryError":
        return "ran out of memory"
    said = etype if etype in DRAWN_ERRORS else "an exception"
    start = "the code could not run: " if r.get("setup") else "raised "
    hidden = "its message and where it was raised are not shown: this case's inputs are drawn for you"
    return f"{start}{said} ({hidden})"


def placeholder_hint(ans: selection.Answer) -> str:
    """'not finished' when `x = None` placeholders remain between the START/END markers, or
    nothing but comments is written between them."""
    if ans.definition is None:
        return ""
    label = ans.definition.cell.label
    lines = selection.placeholders(ans.definition)
    if lines:
        where = ", ".join(str(n) for n in lines[:5])
        return f"not implemented yet: `= None` placeholders remain ({label}, line {where})"
    empty = selection.empty_regions(ans.definition)
    if empty:
        where = ", ".join(str(n) for n in empty[:5])
        return f"the part between the code markers is empty ({label}, line {where})"
    return ""


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _numbers(value: Any) -> list[float]:
    """The numbers of a decoded output (arrays of up to a thousand entries)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    kind, size = getattr(getattr(value, "dtype", None), "kind", ""), getattr(value, "size", 0)
    if kind in ("i", "u", "f") and size <= 1000:
        return [float(x) for x in value.ravel()]
    return []


def _half_unit(token: str) -> float:
    """Half a unit of the last digit written: "1.32" stands for anything within 0.005 of it."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def gives_away(description: str, expected: Any) -> list[str]:
    """The numbers in a case's description that are values of its expected output, as written
    (rounded to the digits shown, within 1%): such a description would tell a student the hidden
    answer, so it is never shown."""
    values = [v for v in _numbers(expected) if v]
    return [
        t
        for t in _NUMBER.findall(description)
        if any(abs(float(t) - v) <= min(_half_unit(t), 1e-2 * abs(v)) for v in values)
    ]


def _weight(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{max(n >> 10, 1)} KB"
