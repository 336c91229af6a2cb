"""The oracle: the reference's versions of the graded functions a student's function calls run in
a process of their own, and the student's process gets only their answers.

First, fidelity: a call through the oracle gives what the same call in the student's own process
gave (numpy's random state goes both ways, a numpy scalar stays a scalar). Then its bounds: the
caller's timeout and the sandbox's memory limit. Last, the attack: a student's function tries
every way a process of the same user has to read another (its /proc files, ptrace,
process_vm_readv, its own memory) for a canary planted in the reference's code, and must find
none of it, in the oracle or in the zygote; a process of its own that it makes dumpable shows the
same attempts do find a canary where the kernel lets them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.grading import grade
from grader.judging.prepared import Prepared, prepare
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.reading.notebook import Unit
from grader.reading.selection import Answer
from grader.sandbox import cache, codec, isolation, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Task, task_for
from tests import scenarios

REFERENCE = {  # the course's versions, one unit each as `grader expected` stores them
    "draw": "import numpy as np\n\ndef draw(v):\n    return np.random.rand(3) + v.sum()\n",
    "total": "import numpy as np\n\ndef total(v):\n    return np.float64(v.sum())\n",
    "spin": "def spin(v):\n    while True:\n        pass\n",
    "hog": "def hog(v):\n    return bytearray(3 << 30)\n",
}

CALLER = """
import numpy as np


def caller(v):
    first = draw(v=v)
    after = np.random.rand(2)  # numpy's generator goes on from where the callee left it
    s = total(v)
    return [first, after, isinstance(s, np.float64), float(s)]
"""


def _task(source: str, calls: set[str], *, trusted: bool, timeout: float = 20.0) -> Task:
    peers = {n: (Unit(f"reference:{n}:0", source),) for n, source in REFERENCE.items()}
    ans = Answer("caller", None, (Unit("cell caller", source),), (), calls=frozenset(calls))
    case = {"name": "c", "args": [codec.encode(np.arange(3.0), binary=True)], "setup": None}
    return task_for(ans, (), [case], timeout, peers, trusted=trusted)


def _run(toy: spec.Assignment, task: Task, session: run.Session) -> dict[str, Any]:
    raw, _, _ = run.execute(toy, [task], limits=Limits(), session=session)
    return raw["caller"]


def test_a_call_through_the_oracle_gives_what_the_same_call_in_process_gave(toy_root: Path) -> None:
    toy = spec.load("toy")
    with run.Session(Limits()) as session:
        apart = _task(CALLER, {"draw", "total"}, trusted=False)
        assert apart.oracle and not any("np.random.rand(3)" in u.source for u in apart.units)
        inline = _task(CALLER, {"draw", "total"}, trusted=True)
        assert not inline.oracle
        got = [_run(toy, t, session)["cases"]["c"] for t in (apart, inline)]
    assert all(g["ok"] for g in got), got
    through, beside = (codec.decode(g["output"]) for g in got)
    assert through[2] is True and beside[2] is True  # a numpy scalar stays one
    for a, b in zip(through, beside, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_callee_that_never_returns_ends_with_the_callers_timeout_and_the_oracle_with_it(
    toy_root: Path,
) -> None:
    toy = spec.load("toy")
    with run.Session(Limits()) as session:
        started = time.monotonic()
        raw = _run(
            toy, _task("def caller(v):\n    return spin(v)\n", {"spin"}, trusted=False, timeout=3), session
        )
        assert raw.get("timeout") == 3, raw
        assert time.monotonic() - started < 15
        # the same worker goes on: ending the child ended its oracle (else the zygote would hang)
        again = _run(toy, _task(CALLER, {"draw", "total"}, trusted=False), session)
        assert again["cases"]["c"]["ok"], again


def test_a_callee_past_the_memory_limit_raises_in_the_caller_naming_it(toy_root: Path) -> None:
    toy = spec.load("toy")
    with run.Session(Limits()) as session:
        raw = _run(toy, _task("def caller(v):\n    return hog(v)\n", {"hog"}, trusted=False), session)
    case = raw["cases"]["c"]
    assert not case["ok"] and case["error"]["type"] == "MemoryError", case
    assert "the course's `hog` raised MemoryError" in case["error"]["message"]


def test_what_the_function_child_sends_the_oracle_is_checked(toy_root: Path) -> None:
    # student code can reach the socket the stubs use and send anything: the oracle answers only
    # calls of the functions it was given, on plain data, and stops at the first malformed message
    source = """
import json


def caller(v):
    sock = draw.__globals__["ORACLE"][0]
    said = []
    def ask(body):
        sock.sendall(b"%d\\n" % len(body) + body)
        head = b""
        while not head.endswith(b"\\n"):
            head += sock.recv(1)
        said.append(json.loads(sock.recv(int(head))).get("raised"))
    state = {"$": "tuple", "items": ["MT19937", {"$": "ndarray", "dtype": "uint32", "shape": [1], "data": [1]}]}
    ask(json.dumps({"call": "spin", "args": [], "kwargs": {"$": "dict", "items": {}}}).encode())
    ask(json.dumps({"call": "draw", "args": [], "kwargs": {"$": "dict", "items": {}}, "rng": state}).encode())
    ask(json.dumps({"call": "draw", "args": {"$": "tuple", "items": [1]}}).encode())
    sock.sendall(b"99999999999999\\n")
    try:
        draw(v)
    except RuntimeError as exc:
        said.append(str(exc))
    return said
"""
    toy = spec.load("toy")
    with run.Session(Limits()) as session:
        raw = _run(toy, _task(source, {"draw"}, trusted=False, timeout=10), session)
    case = raw["cases"]["c"]
    assert case["ok"], case
    assert codec.decode(case["output"]) == [
        "NameError",  # spin is in the oracle's code, but this caller was not given it
        "ValueError",  # a random state numpy refuses
        "ValueError",  # arguments that are not a list
        "the course's `draw` did not answer (its process ended)",
    ]


CANARY_HEAD = "ORACLE-CANARY-"
TOKEN = "8f3a61c0d2"  # the canary is CANARY_HEAD + TOKEN, joined only in the reference's code
CONTROL_TOKEN = "c41b7e09a5"  # joined only in a process the attack makes dumpable itself

# The attack. Every needle is kept as a head and a reversed token, never joined in this process.
ATTACK = (
    r"""
import ctypes, json, os, signal, time

def needles():  # (a notebook's plain globals are not carried into the sandbox: functions are)
    return b"__HEAD__", {"oracle": b"__TOKEN__"[::-1], "control": b"__CONTROL__"[::-1]}


def libc():
    return ctypes.CDLL(None, use_errno=True)


def count(data, found):
    HEAD, TOKENS = needles()
    i = data.find(HEAD)
    while i >= 0:
        for name, token in TOKENS.items():
            if data[i + len(HEAD) : i + len(HEAD) + len(token)] == token:
                found[name] = found.get(name, 0) + 1
        i = data.find(HEAD, i + 1)


def regions(maps_text, anonymous=False):
    for line in maps_text.splitlines():
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        path = f[5] if len(f) > 5 else ""
        if anonymous and path not in ("", "[heap]", "[stack]"):
            continue
        if f[1].startswith("rw") and hi - lo <= 1 << 28 and not path.startswith("[v"):
            yield lo, hi


def read_mem(pid, maps_text, found):
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi in regions(maps_text):
            try:
                mem.seek(lo)
                count(mem.read(hi - lo), found)
            except (OSError, OverflowError, ValueError):
                pass


def vm_readv(pid, own_maps, found):
    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    got = 0
    for lo, hi in regions(own_maps):  # forked from one zygote: much of the layout is shared
        size = min(hi - lo, 1 << 24)
        buf = ctypes.create_string_buffer(size)
        local, remote = Iov(ctypes.addressof(buf), size), Iov(lo, size)
        n = libc().process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if n <= 0:
            if ctypes.get_errno() in (1, 3):  # EPERM, ESRCH: no point in the other regions
                return got
            continue
        got += n
        count(buf.raw[:n], found)
    return got


def through_proc(pid, found, opened):
    # everything /proc offers of another process (numbered as this /proc numbers them)
    for what in ("environ", "cmdline", "maps", "status", "stack", "syscall", "auxv"):
        try:
            with open(f"/proc/{pid}/{what}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        count(data, found)
        if what not in ("cmdline", "status"):  # these two any process may read
            opened.append(f"{pid}/{what}")
    try:
        with open(f"/proc/{pid}/maps") as f:
            read_mem(pid, f.read(), found)
        opened.append(f"{pid}/mem")
    except OSError:
        pass
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            opened.append(f"{pid}/fd")
            try:
                opened_fd = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
                try:
                    count(os.read(opened_fd, 1 << 20), found)
                finally:
                    os.close(opened_fd)
            except OSError:
                pass
    except OSError:
        pass


def directly(pid, own_maps, found, opened):
    # process_vm_readv and ptrace on another process (numbered as our PID namespace numbers it)
    if vm_readv(pid, own_maps, found):
        opened.append(f"{pid}/process_vm_readv")
    if libc().ptrace(16, pid, None, None) == 0:  # PTRACE_ATTACH
        opened.append(f"{pid}/ptrace")
        os.waitpid(pid, 0)
        vm_readv(pid, own_maps, found)
        libc().ptrace(17, pid, None, None)  # PTRACE_DETACH


def backward_propagation(x, theta):
    answer = forward_propagation(x, theta)  # the oracle is up, with the reference's code
    HEAD, TOKENS = needles()
    own_maps = open("/proc/self/maps").read()
    mine, theirs = {}, {}
    planted = [HEAD + TOKENS["control"]]  # joined here: the scan of our own memory finds it
    for lo, hi in regions(own_maps, anonymous=True):  # the student's own process: heap, stack, arenas
        count(ctypes.string_at(lo, hi - lo), mine)
    # a process of ours, made dumpable, holding the control canary: the same attempts must find it
    # (a private /proc may number processes as an outer PID namespace does: it says its own number)
    r, w = os.pipe()
    control = os.fork()
    if control == 0:
        libc().prctl(4, 1, 0, 0, 0)
        keep = [(HEAD + TOKENS["control"]) * 10]
        os.write(w, os.readlink("/proc/self").encode())
        time.sleep(60)
        os._exit(len(keep))
    control_proc = int(os.read(r, 32))
    ctrl, ctrl_opened = {}, []
    through_proc(control_proc, ctrl, ctrl_opened)
    directly(control, own_maps, ctrl, ctrl_opened)
    os.kill(control, signal.SIGKILL)
    os.waitpid(control, 0)
    opened = []
    me, me_proc = os.getpid(), int(os.readlink("/proc/self"))
    listed = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    for pid in sorted(listed | set(range(1, 600)) | set(range(max(1, me_proc - 200), me_proc + 200))):
        if pid not in (me_proc, control_proc):
            through_proc(pid, theirs, opened)
    for pid in range(1, 600):
        if pid not in (me, control):
            directly(pid, own_maps, theirs, opened)
    raise RuntimeError("ATTACK " + json.dumps({
        "answer": float(answer), "mine": mine, "planted": len(planted), "theirs": theirs, "opened": opened[:8],
        "control": ctrl.get("control", 0), "control_opened": sorted({o.split("/")[1] for o in ctrl_opened}),
    }))
""".replace("__HEAD__", CANARY_HEAD)
    .replace("__TOKEN__", TOKEN[::-1])
    .replace("__CONTROL__", CONTROL_TOKEN[::-1])
)


def _prepared_with_canary() -> Prepared:
    prep = prepare("gradient_checking")
    forward = (
        "def forward_propagation(x, theta):\n"
        f'    secret = "{CANARY_HEAD}{TOKEN}"  # the reference\'s code, as the attack would want it\n'
        "    return theta * x\n"
    )
    peers = {**prep.peers, "forward_propagation": (Unit("reference:forward_propagation:0", forward),)}
    return dataclasses.replace(prep, peers=peers, decoded={})


def test_the_oracle_and_the_zygote_are_unreadable_to_the_students_function(tmp_path: Path) -> None:
    a = spec.load("gradient_checking")
    nb = scenarios.newer_edition(a, json.loads(a.reference_notebook.read_text(encoding="utf-8")))
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "# GRADED FUNCTION: backward_propagation" in source:
            cell["source"] = "# GRADED FUNCTION: backward_propagation\n" + ATTACK
    path = tmp_path / "attacker.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    parsed = notebook.parse(notebook.read(path))
    report = grade.grade_parsed(str(path), parsed, _prepared_with_canary(), grade.Options(timeout=60))
    text = json.dumps(report.to_dict())
    assert CANARY_HEAD + TOKEN not in text
    message = next(f.message for f in report.functions if f.name == "backward_propagation")
    found = re.search(r"ATTACK (\{.*?\})(?: \(cell|$)", message)
    assert found, message
    got = json.loads(found.group(1))
    assert got["answer"] == 8.0  # the stub reached the oracle, which ran the canary's code
    # the attempts work where the kernel lets them: on a dumpable process of the same user (but
    # process_vm_readv and ptrace, which the syscall filter refuses whatever the process)
    assert got["control"] >= 1, got
    direct = {"process_vm_readv", "ptrace"}
    filtered = isolation.available_isolation().syscalls
    assert {"environ", "maps", "mem", "fd"} | (set() if filtered else direct) <= set(got["control_opened"]), got
    assert not (filtered and direct & set(got["control_opened"])), got
    # and find nothing of the reference's code anywhere: the student's memory, the oracle, the zygote
    assert got["mine"].get("control", 0) >= 1  # the scan of its own memory works
    assert got["mine"].get("oracle", 0) == 0 and got["theirs"].get("oracle", 0) == 0, got
    assert got["opened"] == [], got


@pytest.mark.parametrize("value", [np.float64(2.5), np.int32(3), np.bool_(True)])
def test_scalars_cross_as_scalars_only_when_asked(value: Any) -> None:
    back = codec.decode(json.loads(json.dumps(codec.encode(value, binary=True, scalars=True))))
    assert type(back) is type(value) and back == value
    plain = codec.decode(codec.encode(value, binary=True))
    assert isinstance(plain, np.ndarray) and plain.ndim == 0  # results and expected/ as before


def test_the_cache_key_covers_the_reference_code_the_oracle_runs() -> None:
    task = _task(CALLER, {"draw", "total"}, trusted=False)
    other = dataclasses.replace(
        task, oracle=(*task.oracle[:-1], Unit(task.oracle[-1].filename, "def total(v):\n    return 0\n"))
    )
    assert cache.key("toy", task, Limits()) != cache.key("toy", other, Limits())
