"""Attacks the syscall filter stops, written as a student would, graded in every mode: here (as
root with namespaces, or as a plain user through a user namespace: .ci/run runs this file both
ways) and, as root, in a container without CAP_SYS_ADMIN (`capsh --drop`, no namespace at all:
the tests named `..._without_namespaces`, which need GRADER_PUBLIC_PYTHON, see .ci/run).

1. No socket but a unix one: a listener on 127.0.0.1 hears nothing over TCP, UDP or IPv6, and
   netlink and packet sockets are refused; the student's message says "Operation not permitted".
2. No SysV IPC: no segment, queue or semaphore set is made on the host, and the next submission
   finds no queue to read.
3. No io_uring, no ptrace or process_vm_readv of a process of its own, no call through another
   ABI (x32's numbers, i386's `int 0x80`).
4. The full-notebook kernel runs under the filter and still completes, figures and all.

Each attack is harmless where the sandbox fails: what it sends is a word, what it makes has a
key of the test's own, removed afterwards.
"""

from __future__ import annotations

import json
import platform
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from grader.grading import grade
from grader.sandbox import execute, isolation, landlock, run
from grader.sandbox.limits import Limits
from tests.conftest import make_notebook, write_notebook
from tests.jailkit import observed, reporting_body, saw_in_cell, saw_in_function
from tests.redteam_scenarios import CELLS, IMPORTS, RANDOM, REFERENCE, ROOT, ZEROS, graded
from tests.test_kernel_sockets import printed
from tests.test_no_namespaces import _batch, nocap  # noqa: F401  (nocap: a fixture)

NOT_PERMITTED = "Operation not permitted"


@pytest.fixture(autouse=True)
def _filtered() -> None:
    if not isolation.available_isolation().syscalls:
        pytest.skip("no syscall filter here: " + "; ".join(isolation.available_isolation().notes))


# ----------------------------------------------------------------------------- 1. the network

NET = """
import socket
def attempt(family, kind, address, proto=0):
    try:
        s = socket.socket(family, kind, proto)
    except OSError as e:
        return e.strerror
    try:
        if address and kind == socket.SOCK_DGRAM:
            s.sendto(b"leak", address)
        elif address:
            s.settimeout(3)
            s.connect(address)
            s.sendall(b"leak")
        return "opened"
    except OSError as e:
        return "opened, then " + str(e.strerror)
    finally:
        s.close()
obs["tcp"] = attempt(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", TCP))
obs["udp"] = attempt(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", UDP))
obs["tcp6"] = attempt(socket.AF_INET6, socket.SOCK_STREAM, ("::ffff:127.0.0.1", TCP))
obs["netlink"] = attempt(socket.AF_NETLINK, socket.SOCK_RAW, None)
obs["packet"] = attempt(socket.AF_PACKET, socket.SOCK_RAW, None, 0x0300)
try:
    socket.socketpair(socket.AF_INET)
    obs["pair"] = "opened"
except OSError as e:
    obs["pair"] = e.strerror
"""
# not caught: what the student reads in the report
CONNECT = "    import socket\n    socket.create_connection(('127.0.0.1', TCP), timeout=3).sendall(b'leak')\n"
REFUSED = {"tcp": NOT_PERMITTED, "udp": NOT_PERMITTED, "tcp6": NOT_PERMITTED, "packet": NOT_PERMITTED,
           "pair": NOT_PERMITTED, "netlink": "Operation not supported"}  # fmt: skip


@contextmanager
def listening() -> Iterator[tuple[int, int, list[str]]]:
    """A TCP and a UDP listener on 127.0.0.1: their ports, and what reached them."""
    tcp, udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    udp.bind(("127.0.0.1", 0))
    heard: list[str] = []
    stop = threading.Event()

    def serve(sock: socket.socket, kind: str) -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                if kind == "tcp":
                    conn, _ = sock.accept()
                    heard.append("tcp connection")
                    conn.close()
                else:
                    heard.append(f"udp {sock.recv(64)!r}")
            except OSError:
                pass

    threads = [
        threading.Thread(target=serve, args=(s, k), daemon=True) for s, k in ((tcp, "tcp"), (udp, "udp"))
    ]
    for t in threads:
        t.start()
    try:
        yield tcp.getsockname()[1], udp.getsockname()[1], heard
    finally:
        stop.set()
        for t in threads:
            t.join()
        tcp.close()
        udp.close()


def _net_cells(tcp: int, udp: int) -> list[str]:
    body = reporting_body(NET.replace("TCP", str(tcp)).replace("UDP", str(udp)))
    return [IMPORTS, graded(ZEROS, body), graded(RANDOM, CONNECT.replace("TCP", str(tcp)))]


def _messages(functions: list[Any]) -> dict[str, str]:
    return {f["name"]: f["message"] for f in functions}


def test_a_function_reaches_no_listener_on_any_socket(tmp_path: Path) -> None:
    with listening() as (tcp, udp, heard):
        path = write_notebook(tmp_path / "net.ipynb", make_notebook(_net_cells(tcp, udp)))
        report = grade.grade_path(path, grade.Options(assignment="initialization"))
    messages = {f.name: f.message for f in report.functions}
    assert observed(messages[ZEROS]) == REFUSED
    assert "PermissionError" in messages[RANDOM] and NOT_PERMITTED in messages[RANDOM], messages[RANDOM]
    assert heard == []


def test_a_function_reaches_no_listener_without_namespaces(nocap: tuple[Path, str]) -> None:  # noqa: F811
    base, grader_cmd = nocap
    with listening() as (tcp, udp, heard):
        report = _batch(base, grader_cmd, {"net": _net_cells(tcp, udp)})["net"]
    messages = _messages(report["functions"])
    assert observed(messages[ZEROS]) == REFUSED
    assert NOT_PERMITTED in messages[RANDOM], messages[RANDOM]
    assert heard == [], "student code reached the machine's network"
    # what is left is said: abstract unix sockets, unless Landlock's scopes refuse them too
    left = any("abstract ones" in n for n in report["isolation"])
    assert left == (landlock.version() < landlock.SCOPED_SINCE), report["isolation"]


# ----------------------------------------------------------------------------- 2. SysV IPC

MAKE = """
import ctypes, errno, struct
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
def made(rc):
    return "made" if rc >= 0 else errno.errorcode[ctypes.get_errno()]
obs["shm"] = made(libc.shmget(KEY, 1 << 20, 0o1666))
obs["sem"] = made(libc.semget(KEY, 1, 0o1666))
queue = libc.msgget(KEY, 0o1666)
obs["msg"] = made(queue)
obs["mq"] = made(rt.mq_open(b"/NAME", os.O_CREAT | os.O_RDWR, 0o666, None))
if queue >= 0:
    note = struct.pack("l", 1) + b"alice's answer"
    libc.msgsnd(queue, note, len(note) - 8, 0)
"""
READ = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
queue = libc.msgget(KEY, 0)
obs["found"] = "found" if queue >= 0 else errno.errorcode[ctypes.get_errno()]
if queue >= 0:
    buf = ctypes.create_string_buffer(64)
    n = libc.msgrcv(queue, buf, 48, 0, 0o4000)
    obs["read"] = buf.raw[8 : 8 + max(n, 0)].decode()
"""


def _on_host(key: int) -> list[str]:
    """Which of the host's SysV tables hold an object with `key` (/proc/sysvipc: decimal keys)."""
    found = []
    for table in ("shm", "msg", "sem"):
        rows = Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]
        if any(int(row.split()[0]) == key for row in rows):
            found.append(table)
    return found


@contextmanager
def ipc_key() -> Iterator[tuple[int, str]]:
    """A key and a POSIX queue name of our own; whatever a failed sandbox left with them removed."""
    key, name = 0x5C000000 + secrets.randbelow(1 << 20), f"/grader-test-{secrets.token_hex(4)}"
    try:
        yield key, name
    finally:
        for flag in ("-M", "-Q", "-S"):
            subprocess.run(["ipcrm", flag, hex(key)], capture_output=True)
        Path(f"/dev/mqueue{name}").unlink(missing_ok=True)


def _ipc(code: str, key: int, name: str) -> str:
    return code.replace("KEY", str(key)).replace("/NAME", name)


def test_no_sysv_object_is_made_nor_passed(tmp_path: Path) -> None:
    with ipc_key() as (key, name):
        with run.Session(Limits()) as session:  # one warm worker for both
            made = saw_in_function(_ipc(MAKE, key, name), tmp_path / "alice", session=session)
            seen = saw_in_function(_ipc(READ, key, name), tmp_path / "bob", session=session)
        assert made == {"shm": "EPERM", "sem": "EPERM", "msg": "EPERM", "mq": "EPERM"}
        assert seen == {"found": "EPERM"}
        assert _on_host(key) == []


def test_no_sysv_object_is_made_nor_passed_without_namespaces(nocap: tuple[Path, str]) -> None:  # noqa: F811
    base, grader_cmd = nocap
    with ipc_key() as (key, name):
        reports = _batch(base, grader_cmd, {
            "a_makes": [IMPORTS, graded(ZEROS, reporting_body(_ipc(MAKE, key, name)))],
            "b_reads": [IMPORTS, graded(ZEROS, reporting_body(_ipc(READ, key, name)))],
        })  # fmt: skip
        left = _on_host(key)
    made = observed(_messages(reports["a_makes"]["functions"])[ZEROS])
    seen = observed(_messages(reports["b_reads"]["functions"])[ZEROS])
    assert made == {"shm": "EPERM", "sem": "EPERM", "msg": "EPERM", "mq": "EPERM"}, "made on the host"
    assert left == [], "SysV objects outlived the submission on the host"
    assert seen == {"found": "EPERM"}, "the second student read the first's queue"


# ----------------------------------------------------------------------------- 3. other processes, other ABIs

PROCESSES = """
import ctypes, errno, mmap, platform, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def result(rc):
    return "done" if rc >= 0 else errno.errorcode[ctypes.get_errno()]
params = ctypes.create_string_buffer(120)
obs["io_uring"] = result(libc.syscall(ctypes.c_long(425), 8, params))  # io_uring_setup, on both
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # dumpable: it exec'd
try:
    obs["ptrace"] = result(libc.ptrace(ctypes.c_long(16), ctypes.c_long(child.pid), None, None))  # ATTACH
    mine, theirs = (ctypes.c_void_p * 2)(ctypes.addressof(params), 8), (ctypes.c_void_p * 2)(4096, 8)
    obs["vm_read"] = result(libc.process_vm_readv(child.pid, mine, 1, theirs, 1, 0))
finally:
    child.kill()
    child.wait()
if platform.machine() == "x86_64":
    obs["x32"] = result(libc.syscall(0x40000000 | 39))  # getpid, x32's number
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(bytes.fromhex("b814000000cd80c3"))  # mov eax, 20 (i386's getpid); int 0x80; ret
    getpid = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    obs["i386"] = "refused" if getpid() == -1 else "ran"  # -EPERM, or a pid
"""
EXPECTED = {"io_uring": "EPERM", "ptrace": "EPERM", "vm_read": "EPERM"}
if platform.machine() == "x86_64":
    EXPECTED.update(x32="EPERM", i386="refused")


def test_no_io_uring_ptrace_or_other_abi(tmp_path: Path) -> None:
    assert saw_in_function(PROCESSES, tmp_path / "mallory") == EXPECTED


def test_no_io_uring_ptrace_or_other_abi_without_namespaces(nocap: tuple[Path, str]) -> None:  # noqa: F811
    base, grader_cmd = nocap
    report = _batch(base, grader_cmd, {"mallory": [IMPORTS, graded(ZEROS, reporting_body(PROCESSES))]})[
        "mallory"
    ]
    assert observed(_messages(report["functions"])[ZEROS]) == EXPECTED


# ----------------------------------------------------------------------------- 4. the full-notebook kernel

CELL = """
import socket
obs["seccomp"] = open("/proc/self/status").read().split("Seccomp:")[1].split()[0]
try:
    socket.create_connection(("127.0.0.1", TCP), timeout=3)
    obs["tcp"] = "connected"
except OSError as e:
    obs["tcp"] = e.strerror
"""
EXAMPLE = ROOT / "examples" / "initialization-student.ipynb"
PRINTING = 'import json, os\nobs = {}\nCELL\nprint("OBS" + json.dumps(obs) + "SBO")\n'  # a first cell that prints what it saw


def test_the_kernel_runs_filtered_and_completes(tmp_path: Path) -> None:
    with listening() as (tcp, _, heard):
        saw = saw_in_cell(CELL.replace("TCP", str(tcp)), tmp_path / "cell")
    assert saw == {"seccomp": "2", "tcp": NOT_PERMITTED} and heard == []
    result = execute.run_notebook(EXAMPLE, "initialization", output=None, cell_timeout=120)
    assert result["status"] == "completed" and result["figures"] >= 7, result  # every plot drawn
    assert [e["ename"] for e in result["errors"]] == ["AssertionError"]  # the example's one wrong answer


def test_the_kernel_runs_filtered_without_namespaces(nocap: tuple[Path, str]) -> None:  # noqa: F811
    base, grader_cmd = nocap
    reference = json.loads(REFERENCE.read_text())
    cells = ["".join(c["source"]) for c in reference["cells"] if c["cell_type"] == "code"]
    with listening() as (tcp, _, heard):
        reports = _batch(base, grader_cmd, {
            "probe": [PRINTING.replace("CELL", CELL.replace("TCP", str(tcp))), IMPORTS, CELLS["c08-zeros"]],
            "reference": cells,
        }, fast=False)  # fmt: skip
    assert observed(printed(base / "out" / "probe.executed.ipynb")) == {"seccomp": "2", "tcp": NOT_PERMITTED}
    assert heard == []
    ref = reports["reference"]
    assert ref["score"] == ref["max_score"] and ref["execution"]["status"] == "completed", ref["execution"]
    assert ref["execution"]["figures"] >= 1 and ref["execution"]["errors"] == []
