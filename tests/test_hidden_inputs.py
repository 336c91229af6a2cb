"""Red team 5: a student's visible case must not read the hidden cases' inputs (each a per-student
secret draw) and show them in its own message, which every report prints at once; and a secret
hidden case's own raised message must not show its inputs either.

Before the fix the function's child got every case at once, the visible one first: walking
`sys._getframe()` up to the harness's `task` (or the heap, gc.get_objects()) gave every hidden
case's inputs, raised in the visible case's message. Now the hidden cases reach the child only
after the visible ones' results are read (channel.staged), and a secret case's exception is
reported by its type only, from a short built-in list (feedback.drawn_case_error): its cell and
line were the answer's choice too (red team 6).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.reading import assignment as spec

ROOT = Path(__file__).resolve().parent.parent
GRADER = [str(Path(sys.executable).parent / "grader")]

# Everything an attacker can reach from inside the call: the frames above it (the harness's
# task and locals), every container on the heap, and every descriptor it can read more from (the
# job pipe). Every long fraction found (a drawn input looks like -3.2232506980604017) is raised,
# after a count of what was searched, so the test knows the search ran.
DIG = r'''
def forward_propagation(x, theta):
    import gc, os, re, sys
    texts = []
    f = sys._getframe(1)
    while f is not None:
        for v in list(f.f_locals.values()) + list(f.f_globals.values()):
            if isinstance(v, (dict, list, tuple, str, bytes)):
                texts.append(repr(v)[:200000])
        f = f.f_back
    for o in gc.get_objects():
        if isinstance(o, dict) and ("args" in o or "cases" in o):
            texts.append(repr(o)[:200000])
    for fd in range(256):
        try:
            os.set_blocking(fd, False)
            texts.append(repr(os.read(fd, 1 << 20)))
        except OSError:
            pass
    found = sorted(set(re.findall(r"-?\d+\.\d{9,}", " ".join(texts))))
    raise ValueError("searched %d: %s" % (len(texts), " ".join(found)))
'''


def _grader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def _notebook(path: Path) -> Path:
    """The released notebook with `forward_propagation`'s graded cell replaced by DIG."""
    a = spec.load("gradient_checking")
    nb = json.loads((a.folder / a.notebook).read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith("# GRADED FUNCTION: forward_propagation"):
            cell["source"] = "# GRADED FUNCTION: forward_propagation\n" + DIG
    path.write_text(json.dumps(nb))
    return path


def _drawn(config: Path) -> list[str]:
    """The long fractions among the secret cases' inputs of forward_propagation."""
    doc = json.loads((config / "grader" / "expected" / "gradient_checking.json").read_text())
    cases = doc["functions"]["forward_propagation"].values()
    text = " ".join(json.dumps(c["args"]) for c in cases if c.get("drawn"))
    return sorted(set(re.findall(r"-?\d+\.\d{9,}", text)))


def _tests(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for f in report["functions"] if f["name"] == "forward_propagation" for t in f["tests"]}


def test_no_report_shows_a_secret_cases_inputs_dug_out_by_any_case(no_secret: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(no_secret)}
    nb = _notebook(tmp_path / "Gradient_Checking.ipynb")
    run = ["run", str(nb), "--fast", "--assignment", "gradient_checking", "--format", "gradescope"]
    public = _grader(*run, "--output", str(tmp_path / "public"), env=env)
    assert public.returncode in (0, 1), public.stderr
    tests = _tests(json.loads((tmp_path / "public" / "Gradient_Checking.json").read_text()))
    # without a secret the hidden cases are the course's public ones: their messages stay whole
    assert all(t["message"].startswith("raised ValueError: searched") for t in tests.values()), tests
    assert _grader("secret", "init", env=env).returncode == 0
    made = _grader("expected", "--secret", "gradient_checking", env=env)
    assert made.returncode == 0, made.stderr
    drawn = _drawn(no_secret)
    assert len(drawn) >= 2  # the secret draws long fractions: something to look for

    out = tmp_path / "out"
    got = _grader(*run, "--output", str(out), env=env)
    assert got.returncode in (0, 1), got.stderr
    report = json.loads((out / "Gradient_Checking.json").read_text())
    tests = _tests(report)
    # the visible case searched (its message is shown in full) and found no hidden input
    assert re.search(r"searched [1-9]\d*", tests["course"]["message"]), tests["course"]
    assert not [x for x in drawn if x in tests["course"]["message"]], tests["course"]["message"]
    # a secret case's raised message is not shown at all: its type only
    for t in tests.values():
        if t["hidden"]:
            assert "searched" not in t["message"] and "raised ValueError (its message" in t["message"], t
    every = got.stdout + got.stderr + "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert not [x for x in drawn if x in every], [x for x in drawn if x in every]


def test_a_forged_failure_of_a_secret_case_says_only_a_common_builtin_type() -> None:
    """Student code writes its own result pipe: every text of a failed result is its choice, the
    class name, the frames' cell, line and code too. A secret case says none of them: which line
    raised (any of a long cell's) or which of sixty built-in types would be a choice as well."""
    from grader.judging import feedback
    from grader.reading.notebook import Unit
    from grader.reading.selection import Answer

    ans = Answer("f", None, (Unit("cell 5", "def f(x):\n    raise ValueError(x)\n"),), ())
    secret = "-3.2232506980604017"
    frames = [
        {"cell": "cell 5", "line": 2, "function": secret, "code": secret},
        {"cell": f"cell {secret}", "line": 2, "function": "f", "code": ""},  # not a cell of the answer
        {"cell": "cell 5", "line": 32232506, "function": "f", "code": ""},  # past the cell's end
    ]
    forged = {"type": f"E{secret}", "qualname": f"E{secret}", "message": secret, "frames": frames}
    said = feedback.drawn_case_error({"ok": False, "error": forged}, ans)
    assert secret not in said and "32232506" not in said and "cell" not in said and "line 2" not in said
    assert said.startswith("raised an exception (its message"), said
    own = {"type": "NameError", "qualname": "NameError", "message": f"name '{secret}' is not defined"}
    named = feedback.drawn_case_error({"ok": False, "error": {**own, "frames": frames[:1]}}, ans)
    assert named.startswith("raised NameError (its message") and "cell" not in named, named
    rare = {**own, "type": "UnicodeTranslateError", "frames": frames[:1]}  # built in, but a rare choice
    assert feedback.drawn_case_error({"ok": False, "error": rare}, ans).startswith("raised an exception (")
    assert secret not in feedback.drawn_case_error({"ok": False, "unencodable": f"a {secret}"}, ans)
    assert secret not in feedback.drawn_case_error({"ok": False, "setup": True, "error": forged}, ans)
