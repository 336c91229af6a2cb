"""The zygote: function children are forked from a process that never held any submission.

The first test is the attack a security review ran against a worker that read every job itself:
a graded function scans its own memory for another student's code. Its children inherited the
worker's heap, freed but not wiped, and found classmates' answers there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.reading import assignment as spec
from grader.reading.notebook import Unit
from grader.sandbox import codec, isolation, run
from grader.sandbox.limits import Limits
from grader.sandbox.tasks import Task

TOKEN = "5d0c9e71b2"  # the canary is CANARY_HEAD + TOKEN; no test source holds the two joined
CANARY_HEAD = "ZYGOTE-CANARY-"

# Reads every readable mapping of its own process and counts the places where the canary's head
# is followed by its token. The needle never exists joined in this process: the token is stored
# reversed and compared slice by slice.
# Reads every readable private anonymous mapping (the heap, the arenas and large allocations,
# where freed memory stays) of its own process, as the attack did, and counts the places where
# the canary's head is followed by its token. The needle never exists joined in this process:
# the token is stored reversed and compared slice by slice.
SCAN = '''
def scan(v):
    import ctypes
    head, token = b"__HEAD__", b"__TOKEN__"[::-1]
    hits = 0
    with open("/proc/self/maps") as maps:
        regions = maps.read().splitlines()
    for line in regions:
        fields = line.split()
        span, perms, path = fields[0], fields[1], (fields[5] if len(fields) > 5 else "")
        lo, hi = (int(x, 16) for x in span.split("-"))
        if not perms.startswith("rw") or path not in ("", "[heap]") or hi - lo > 1 << 28:
            continue
        data = ctypes.string_at(lo, hi - lo)
        i = data.find(head)
        while i >= 0:
            if data[i + len(head) : i + len(head) + len(token)] == token:
                hits += 1
            i = data.find(head, i + 1)
    return v * 0 + hits
'''.replace("__HEAD__", CANARY_HEAD).replace("__TOKEN__", TOKEN[::-1])

PLANT = '''
def plant(v):
    secret = "__HEAD__" + "__TOKEN__"  # joined at run time too, and kept: this submission's "answer"
    keep = [secret * 1000]
    return v * len(keep)
'''.replace("__HEAD__", CANARY_HEAD).replace("__TOKEN__", TOKEN)

PLANTED_LITERAL = f'\nANSWER = "{CANARY_HEAD}{TOKEN}"\n'  # the canary as a literal in a student's code


def _task(name: str, source: str, timeout: float = 30.0) -> Task:
    case = {"name": "c", "args": [codec.encode(np.zeros(2), binary=True)], "setup": None}
    return Task(name, (Unit(f"cell {name}", source),), (case,), timeout)


def _output(raw: dict[str, Any], name: str) -> Any:
    got = raw[name]["cases"]["c"]
    assert got["ok"], raw[name]
    return codec.decode(got["output"])


def _hits(session: run.Session, a: spec.Assignment, source: str = SCAN) -> int:
    raw, _, _ = run.execute(a, [_task("scan", source)], limits=Limits(), session=session)
    return int(_output(raw, "scan")[0])


def test_a_child_cannot_read_an_earlier_submission_from_memory(toy_root: Path) -> None:
    a = spec.load("toy")
    with run.Session(Limits()) as session:
        # the scanner works: the canary in its own code is found
        assert _hits(session, a, SCAN + PLANTED_LITERAL) >= 1
        for _ in range(3):  # earlier submissions: the canary in their code, their data, their result
            raw, _, _ = run.execute(
                a, [_task("plant", PLANT + PLANTED_LITERAL)], limits=Limits(), session=session
            )
            assert list(_output(raw, "plant")) == [0.0, 0.0]
        # a later submission, forked from the same warm worker, finds none of it
        assert _hits(session, a) == 0


def test_a_job_larger_than_a_pipe_reaches_its_child(toy_root: Path) -> None:
    a = spec.load("toy")
    blob = "x" * (3 << 20)  # well past a pipe's buffer: the job is written while the child reads
    source = f'BLOB = "{blob}"\n\ndef size(v):\n    return v * 0 + len(BLOB)\n'
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("size", source)], limits=Limits(), session=session)
    assert list(_output(raw, "size")) == [len(blob)] * 2


def test_a_process_left_holding_the_result_pipe_does_not_hold_the_grader(toy_root: Path) -> None:
    # the result comes with its length: no need to wait for an EOF the student's process delays
    a = spec.load("toy")
    source = (
        "import os, time\n\ndef linger(v):\n    if os.fork() == 0:\n        time.sleep(60)\n"
        "        os._exit(0)\n    return v + 1\n"
    )
    started = time.monotonic()
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("linger", source, timeout=20)], limits=Limits(), session=session)
    assert list(_output(raw, "linger")) == [1.0, 1.0]
    assert time.monotonic() - started < 15


def test_a_forged_result_with_a_number_past_float_range_is_refused_not_a_crash(toy_root: Path) -> None:
    # student code finds its own result pipe and writes a result of its own making, then exits
    forged = (
        '{"function": "forge", "cases": {"case0": {"ok": true, "output": '
        '{"$": "ndarray", "dtype": "float64", "shape": [1], "data": [1' + "0" * 400 + "]}}}}"
    )
    source = (
        "import os, stat\n\ndef forge(v):\n    body = __BODY__.encode()\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "                os.write(fd, str(len(body)).encode() + b'\\n' + body)\n"
        "        except OSError:\n"
        "            pass\n"
        "    os._exit(0)\n"
    ).replace("__BODY__", repr(forged))
    a = spec.load("toy")
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("forge", source)], limits=Limits(), session=session)
    case = raw["forge"]["cases"]["c"]
    with pytest.raises(ValueError):  # refused with a reason, never an OverflowError
        codec.decode(case["output"])


DEEP = '''
import os

def deep(v):
    os.chdir("/tmp")
    for _ in range(2100):  # deeper than a path can name (4096 characters)
        os.mkdir("d")
        os.chdir("d")
    with open("left", "w") as f:
        f.write("LEFT-BY-AN-EARLIER-STUDENT")
    os.chmod(".", 0o500)
    return v
'''

FILL = '''
import os

def fill(v):
    made = 0
    for top in ("/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp")):
        for i in range(200000):
            try:
                open(os.path.join(top, "f%d" % i), "w").close()
                made += 1
            except OSError:
                break
    return v * 0 + made
'''

LOOK = '''
import os

def look(v):
    # what the writable folders hold, but for what the jail binds back (the scratch folder)
    seen = 0
    for top in ("/tmp", "/var/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp")):
        for name in os.listdir(top):
            path = os.path.join(top, name)
            if not os.path.ismount(path):
                seen += 1 + sum(len(d) + len(f) for _, d, f in os.walk(path))
    return v * 0 + seen
'''


def test_nothing_an_earlier_function_left_in_tmp_reaches_the_next(toy_root: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("this machine gives the sandbox no private /tmp")
    a = spec.load("toy")
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("deep", DEEP)], limits=Limits(), session=session)
        assert raw["deep"]["cases"]["c"]["ok"], raw["deep"]
        raw, _, _ = run.execute(a, [_task("look", LOOK)], limits=Limits(), session=session)
    assert list(_output(raw, "look")) == [0.0, 0.0]


def test_a_full_tmp_costs_the_next_function_no_time(toy_root: Path) -> None:
    # the folders hold a bounded number of files, and are emptied before the next child exists
    if not isolation.available_isolation().mounts:
        pytest.skip("this machine gives the sandbox no private /tmp")
    a = spec.load("toy")
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("fill", FILL, timeout=60)], limits=Limits(), session=session)
        made = _output(raw, "fill")[0]
        assert 0 < made < 20000, made  # the inode limit stopped it
        raw, _, _ = run.execute(a, [_task("look", LOOK, timeout=2)], limits=Limits(), session=session)
    assert list(_output(raw, "look")) == [0.0, 0.0]


BYNAME = '''
import sys

def spy(v):
    # the names of the cases, as far as the harness's frames tell
    names = []
    for depth in range(1, 5):
        try:
            frame = sys._getframe(depth)
        except ValueError:
            break
        case = frame.f_locals.get("case")
        if isinstance(case, dict):
            names.append(case.get("name"))
    known = [n for n in names if n in ("visible", "hidden_one", "hidden_two")]
    return v * 0 + len(known) + 10 * len(names)
'''


def test_a_case_never_learns_its_name(toy_root: Path) -> None:
    # a hidden case's name says what it tests (`sign_error`): inside the sandbox cases are numbered
    a = spec.load("toy")
    cases = tuple(
        {"name": n, "args": [codec.encode(np.zeros(2), binary=True)], "setup": None}
        for n in ("visible", "hidden_one", "hidden_two")
    )
    task = Task("spy", (Unit("cell spy", BYNAME),), cases, 30.0)
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [task], limits=Limits(), session=session)
    seen = {n: list(codec.decode(r["output"])) for n, r in raw["spy"]["cases"].items()}
    assert set(seen) == {"visible", "hidden_one", "hidden_two"}
    for out in seen.values():  # the case dicts were found in the frames, their names were not
        assert out[0] >= 10 and out[0] % 10 == 0, seen


# A child that leaves its own process group (into a grandchild's) after writing a whole result of
# its own making, then waits forever: ending it by its group found nobody, the zygote blocked
# waiting for it, and the next function it was asked to run (the next student's) was reported
# as killed (red team 6, finding 3).
ESCAPE = '''
import fcntl, json, os, signal, stat, time

def escape(v):
    out = [fd for fd in range(3, 64) if _writes_fifo(fd)][-1]
    err = {"ok": False, "error": {"type": "ValueError", "qualname": "ValueError", "message": "", "frames": []}}
    whole = json.dumps({"function": "escape", "cases": {"case0": err}}).encode()
    r, w = os.pipe()
    g = os.fork()
    if g == 0:
        os.setpgid(0, 0)
        os.write(w, b"x")
        time.sleep(5)
        os._exit(0)
    os.read(r, 1)
    os.setpgid(0, g)
    os.write(out, b"%d\\n" % len(whole) + whole)
    while True:
        signal.pause()

def _writes_fifo(fd):
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISFIFO(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
'''


def test_a_child_that_leaves_its_group_costs_the_next_function_nothing(toy_root: Path) -> None:
    a = spec.load("toy")
    started = time.monotonic()
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("escape", ESCAPE, timeout=10)], limits=Limits(), session=session)
        assert raw["escape"]["cases"]["c"]["ok"] is False  # its own forged result, taken as whole
        after, _, _ = run.execute(a, [_task("plus", "def plus(v):\n    return v + 1\n")], limits=Limits(), session=session)
    assert list(_output(after, "plus")) == [1.0, 1.0], after
    assert time.monotonic() - started < 30


# marks on the writable folders themselves, which the sandbox's user may own (without root: the
# private tmpfs roots are the student's): an attribute, times, a mode; the next function reads
# them (red team 6, finding 8)
MARK = '''
import os

def mark(v):
    done = 0
    for d in ("/tmp", "/var/tmp", "/dev/shm", os.environ["TMPDIR"]):
        for act in (lambda: os.setxattr(d, "user.note", b"1234"), lambda: os.utime(d, (123456789, 987654321)),
                    lambda: os.chmod(d, 0o1757)):
            try:
                act()
                done += 1
            except OSError:
                pass
    return v * 0 + done
'''
READ_MARKS = '''
import os

def marks(v):
    seen = 0
    for d in ("/tmp", "/var/tmp", "/dev/shm", os.environ["TMPDIR"]):
        try:
            seen += os.getxattr(d, "user.note") == b"1234"
        except OSError:
            pass
        st = os.stat(d)
        seen += int(st.st_mtime) == 987654321 or int(st.st_atime) == 123456789
        seen += st.st_mode & 0o7777 == 0o1757
    return v * 0 + seen
'''


def test_no_mark_on_the_writable_folders_reaches_the_next_function(toy_root: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("this machine gives the sandbox no private /tmp")
    a = spec.load("toy")
    with run.Session(Limits()) as session:
        raw, _, _ = run.execute(a, [_task("mark", MARK)], limits=Limits(), session=session)
        if _output(raw, "mark")[0] == 0:
            pytest.skip("the sandbox's user owns none of its writable folders here (root): nothing to mark")
        raw, _, _ = run.execute(a, [_task("marks", READ_MARKS)], limits=Limits(), session=session)
    assert list(_output(raw, "marks")) == [0.0, 0.0]
