"""The code that runs inside the sandbox: the zygote, and the function children it forks.

This file is sent to the sandboxed interpreter as *text* (`python -I -S -c`), joined with
codec.py's text (the plain-data format both sides speak) in place of its one import of it (see
`worker.harness_source`): it imports only the standard library and numpy, so the grader's own
package is never on the student's path.

The worker is a zygote: it imports numpy and the assignment's helpers, says
{"ready": true, "ok": <helpers imported>} on its control socket, and then only forks a child per
graded function and ends it when asked (`serve`). The child gets its job (the student's code, the
case inputs) on a pipe of its own, straight from the grader, and writes its result to another;
the zygote never reads either, so no submission's code or data is ever in the memory the next
submission's children are forked from. The grader checks every result it reads (channel.py):
student code can write anything to its own result pipe.
A function that calls other graded functions gets stubs for them, and an oracle beside it that
runs the reference's code of those functions (oracle.py).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import linecache
import os
import signal
import sys
import time
import traceback
from typing import Any

if sys.flags.no_site:  # the sandbox skips site's .pth hooks, names the site directories itself
    import site

    sys.path.extend(p for p in os.environ.get("GRADER_SITE", "").split(os.pathsep) if p)
    site.setquit()  # exit, quit, help, copyright, ...: what students' code may expect
    site.setcopyright()
    site.sethelper()

import numpy as np  # noqa: E402

# joined: the sandbox gets codec.py's, compat.py's and oracle.py's text in place of these lines
# (see worker.harness_source), in this order
from grader.sandbox.codec import Unencodable, decode, encode, weight_over  # noqa: E402
from grader.sandbox.compat import restore_numpy1  # noqa: E402
from grader.sandbox.oracle import ORACLE, fork_oracle, stub  # noqa: E402
from grader.sandbox.tidy import EMPTY, clean_tmp, states  # noqa: E402

restore_numpy1(np)  # answers written for the course's numpy 1.x (np.float, np.sum(generator), ...)

CONTROL_FD = int(os.environ.get("GRADER_CONTROL_FD", "3"))
MAX_FRAMES = 50  # of a student's traceback sent back (the grader keeps no more)
RNG_SEED = 0  # every call starts from np.random.seed(RNG_SEED), for the reference and students
BUILTINS = dict(vars(builtins))  # as the worker started, before any student code


# ----------------------------------------------------------------------------- one call


def _student_frames(tb: Any) -> list[dict[str, Any]]:
    frames = []
    for fs in traceback.extract_tb(tb):
        if fs.filename.startswith("cell "):
            frames.append(
                {"cell": fs.filename, "line": fs.lineno, "function": fs.name, "code": (fs.line or "")[:200]}
            )
    # the outermost and the innermost (where it raised): a RecursionError's thousand frames would
    # outweigh what a function's results may weigh, and say no more
    return frames if len(frames) <= MAX_FRAMES else frames[: MAX_FRAMES // 2] + frames[-MAX_FRAMES // 2 :]


def _error(exc: BaseException) -> dict[str, Any]:
    try:
        message = str(exc)[:500]
    except BaseException:  # a student's exception may refuse to be printed
        message = "<unprintable>"
    base = next((c for c in type(exc).__mro__ if c.__module__ == "builtins"), Exception)  # numpy: MemoryError
    return {
        "type": base.__name__,
        "qualname": type(exc).__qualname__[:100],
        "message": message,
        "frames": _student_frames(exc.__traceback__),
    }


def _load_units(units: list[dict[str, str]], ns: dict[str, Any]) -> list[str]:
    """Exec each unit; a failing import is noted, a failing definition is an error. A unit of
    kind "oracle" names a graded function the oracle runs: it becomes a stub."""
    notes = []
    for u in units:
        if u.get("kind") == "oracle":
            ns[u["filename"].partition(":")[2]] = stub(u["filename"].partition(":")[2])
            continue
        linecache.cache[u["filename"]] = (len(u["source"]), None, u["source"].splitlines(True), u["filename"])
        code = compile(u["source"], u["filename"], "exec", dont_inherit=True)
        try:
            exec(code, ns)
        except (ImportError, AttributeError) as exc:
            if u.get("kind") != "import":
                raise
            notes.append(f"{u['filename']}: import failed ({type(exc).__name__}: {exc})"[:300])
    return notes


def run_case(
    units: list[dict[str, str]], func: str, case: dict[str, Any], room: int | None = None
) -> dict[str, Any]:
    """Build a fresh namespace, call `func` on the case's inputs, encode what comes back, unless
    it weighs more than `room` bytes: then {"too_big": ...}, and nothing is encoded."""
    vars(builtins).update(BUILTINS)  # a previous case may have patched them
    ns: dict[str, Any] = {"__name__": "__main__"}
    notes = _load_units(units, ns)
    if case.get("setup"):
        exec(compile(case["setup"], "setup", "exec", dont_inherit=True), ns)
    target = ns.get(func)
    if not callable(target):
        error = {"type": "NameError", "qualname": "NameError", "message": f"{func} is not defined"}
        return {"ok": False, "error": {**error, "frames": []}}
    args = decode(case["args"])
    np.random.seed(RNG_SEED)
    try:
        out = target(*args)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the student's too
        vars(builtins).update(BUILTINS)
        return {"ok": False, "error": _error(exc), "notes": notes}
    vars(builtins).update(BUILTINS)  # our encoder (and json) must not run on patched builtins
    weight = weight_over(out, room) if room is not None else 0
    if room is not None and weight > room:
        return {"ok": False, "too_big": weight}
    try:
        return {"ok": True, "output": encode(out, binary=True), "notes": notes, "weight": weight}
    except Unencodable as exc:
        return {"ok": False, "unencodable": str(exc), "notes": notes}
    except RecursionError:
        return {"ok": False, "unencodable": "the value is nested too deeply", "notes": notes}


def run_function(task: dict[str, Any]) -> dict[str, Any]:
    """Every case of one graded function (inside its own child process). Its results may weigh
    `max_bytes` in all (0: unbounded): past that, the function is refused as too big at once
    (each case's "weight", a lower bound of its output's size, is ours: never sent)."""
    results, room = {}, task.get("max_bytes") or None
    for case in task["cases"]:
        try:
            results[case["name"]] = got = run_case(task["units"], task["function"], case, room)
        except BaseException as exc:  # e.g. the student's code does not compile or exec
            results[case["name"]] = got = {"ok": False, "error": _error(exc), "setup": True}
        if "too_big" in got:
            return {"function": task["function"], "too_big": True}
        weight = got.pop("weight", 0)
        room = None if room is None else room - weight
    return {"function": task["function"], "cases": results}


# ----------------------------------------------------------------------------- the zygote


def _child(job_fd: int, result_fd: int, oracle_fd: int = -1) -> None:
    """A function child: read the job from its own pipe, run it, write the result to its own pipe
    (`oracle_fd`: its socket to the oracle). A job with "more" has a second stage, its hidden
    cases, sent once the visible ones' results are read (see channel.staged). Everything of the
    submission lives only in this process: the zygote it was forked from never holds any."""
    _detach()
    if oracle_fd >= 0:
        import socket

        ORACLE.append(socket.socket(fileno=oracle_fd))
    try:
        task: dict[str, Any] = {"function": "", "more": True}
        while task.pop("more", False):
            try:  # (builtins as they were: a thread of the last stage's code may have patched them)
                vars(builtins).update(BUILTINS)
                task.update(json.loads(_read_job(job_fd)))  # a later stage: its cases, its room
                payload = json.dumps(run_function(task)).encode()
            except BaseException as exc:
                vars(builtins).update(BUILTINS)
                task, crash = {}, {"function": task.get("function", ""), "crash": type(exc).__name__}
                payload = json.dumps(crash).encode()
            # its length first: no EOF needed, which a process the student started could put off
            view = memoryview(b"%d\n" % len(payload) + payload)
            while view:
                view = view[os.write(result_fd, view) :]
        os.close(result_fd)
    finally:
        os._exit(0)  # never return into the zygote's code, whatever the student's code left behind


def _detach() -> None:
    """A child of the zygote on its own: its own process group (everything it starts dies with
    it), no control socket (its code can neither ask for forks nor end other children), and
    its output to /dev/null."""
    os.setpgid(0, 0)
    os.close(CONTROL_FD)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until the child exits
    sys.stderr = sys.stdout


def _read_job(fd: int) -> bytes:
    """One stage of the job: its length, a newline, itself (the pipe stays open for the next)."""
    os.set_blocking(fd, True)  # student code of the first stage may have changed it
    head = b""
    while not head.endswith(b"\n") and len(head) < 24:
        head += os.read(fd, 1) or b"\n"
    size, chunks = int(head or 0), []
    while size > 0 and (data := os.read(fd, min(size, 1 << 16))):
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _describe_status(status: int) -> dict[str, Any]:
    if not os.WIFSIGNALED(status):
        return {"exit_code": os.WEXITSTATUS(status)}
    sig = os.WTERMSIG(status)
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    return {"signal": sig, "signal_name": name}


def _kill_group(pid: int) -> None:
    """Kill a child and the process group it led: by its id too, since student code may have
    left that group (setpgid into one of its own), and waiting for it would then never end."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _reap(wait: float = 0.0) -> None:
    """As PID 1 of our namespace: kill whatever the student left running and collect zombies;
    with `wait`, until none is left (they count against the process limit until collected)."""
    init = os.getpid() == 1
    if init:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # every process in the namespace but us
    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if not init or time.monotonic() >= deadline:
                return
            time.sleep(0.0005)


def _end(pid: int, wait: bool) -> dict[str, Any]:
    """End a child: with `wait` (it closed its result pipe without a result), first give it a
    moment to exit on its own, since how it ended (a signal, an exit code) is what the report
    says, not the SIGKILL we would send."""
    status = _exit_status(pid, 1.0) if wait else None
    _kill_group(pid)  # it, and whatever it started
    if status is None:
        _, status = os.waitpid(pid, 0)
    _reap()
    return _describe_status(status)


def _exit_status(pid: int, wait: float) -> int | None:
    """The child's status if it exits within `wait` seconds."""
    end = time.monotonic() + max(wait, 0.0)
    while not (done := os.waitpid(pid, os.WNOHANG))[0]:
        if time.monotonic() >= end:
            return None
        time.sleep(0.001)
    return done[1]


def _cleaned(limit: float = 8.0) -> None:
    """Empty the writable folders in a child of ours, before the next function's child exists:
    the time it takes is not on that function's clock, and the names of what an earlier student
    left are never read into the zygote's memory. Nothing to do when they are as they were (only
    a tmpfs's size says so: GRADER_CLEAN names the jail's tmpfs copies, the scratch tmp is one too)."""
    if os.environ.get("GRADER_CLEAN") and EMPTY and states() == EMPTY:
        return
    pid = os.fork()
    if pid == 0:
        try:
            clean_tmp()
        finally:
            os._exit(0)
    if _exit_status(pid, limit) is None:  # bounded by the folders' inode limits; never wait forever
        _kill_group(pid)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def serve(control: Any) -> None:
    """The zygote's loop: fork a child for each request, end it when asked.

    A request carries only a number and, for a fork, the two pipes of the child's own channel;
    the job (a student's code and the case inputs) goes from the grader straight to the child, and
    the result straight back, so nothing of any submission ever passes through this process.
    """
    import socket

    children: dict[Any, tuple[int, ...]] = {}
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 512, 5)
        except OSError:
            return
        for fd in fds:  # received descriptors are inheritable: a program the student execs must not get them
            os.set_inheritable(fd, False)
        if not msg:
            return  # the grader closed its end
        try:
            req = json.loads(msg)
        except ValueError:
            req = None
        req = req if type(req) is dict else {}
        if "fork" in req and len(fds) in (2, 5) and not children:
            _reap(wait=2.0)  # what an earlier function left (a fork bomb's processes) is gone first
            _cleaned()  # and its files
            fds = list(fds)
            children[req["fork"]] = _fork(fds)
            reply = {"forked": req["fork"]}
        elif "end" in req and req["end"] in children:
            pid, *oracle = children.pop(req["end"])
            for other in oracle:  # first: a child waiting on its oracle then ends on its own
                _kill_group(other)
                os.waitpid(other, 0)
            reply = {"ended": req["end"], **_end(pid, req.get("wait") is True)}
        else:
            reply = {"refused": True}
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        control.sendall(json.dumps(reply).encode())


def _fork(fds: list[int]) -> tuple[int, ...]:
    """Fork a function child on [job, result], and with [job, result, oracle's job, child's
    socket, oracle's socket] its oracle first (see oracle.fork_oracle): the process ids, the
    child's first. The oracle's descriptors are closed (-1 in `fds`) before the child is forked."""
    oracle = (fork_oracle(fds, _load_units, _detach),) if len(fds) == 5 else ()
    pid = os.fork()
    if pid == 0:
        _child(fds[0], fds[1], fds[3] if oracle else -1)
    return (pid, *oracle)


def _become_init() -> None:
    """Fork PID 1 of the new PID namespace and serve from it (see jail.become_init)."""
    import ctypes

    pid = os.fork()
    if pid == 0:
        ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the outer process
        return
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main() -> None:
    """Entry point of the sandboxed interpreter: the zygote."""
    import ctypes
    import socket

    # Not dumpable (the jail's setting does not survive exec), and so are the function children
    # forked from us: student code running as our user can neither trace us nor touch our memory.
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    if os.environ.get("GRADER_PIDNS"):
        _become_init()
    sys.path.insert(0, os.getcwd())  # the released helper modules, and nothing else of ours
    sys.setrecursionlimit(3000)
    ok = os.access(os.getcwd(), os.R_OK | os.X_OK)
    for mod in os.environ.get("GRADER_PRELOAD", "").split(","):
        if mod:
            try:
                __import__(mod)
            except Exception:
                ok = False
    control = socket.socket(fileno=CONTROL_FD)
    EMPTY.extend(states())
    control.sendall(json.dumps({"ready": True, "ok": ok}).encode())  # the check that this jail lets us work
    serve(control)


if __name__ == "__main__":
    main()
