"""The oracle's side of a call to another graded function, and the stub that makes it.

A student's function that calls other graded functions runs beside an oracle: a second child of
the zygote, not dumpable, that holds the reference's code of those functions and nothing of the
student's (`fork_oracle`, called by harness.py). In the student's process each of them is a
`stub` that sends the call's arguments as plain data and returns the answer: that process never
holds a byte of the reference's code. Like codec.py, this file is joined into the harness's text
for the sandbox (worker.harness_source), after the codec, whose names it uses: it imports only
the standard library and numpy, and has no `from __future__`.
"""

import builtins
import json
from typing import Any

import numpy as np

# joined: the codec's text comes before this file's in the sandbox, and this line is dropped
from grader.sandbox.codec import Unencodable, decode, encode

# A call crosses as one message each way, its length first: the stub sends
#     {"call": name, "args": [...], "kwargs": {...}, "rng": numpy's global random state}
# and the oracle answers {"ok": true, "output": ..., "rng": ...}, {"ok": false, "raised": type},
# or {"ok": false, "unencodable": reason}. Only plain data crosses (`encode`), the random state
# both ways, so a call draws from numpy's generator as it would in the caller's own process.

ORACLE: list[Any] = []  # the function child's socket to its oracle, when it has one
BUILTINS = dict(vars(builtins))  # as the zygote started, before any student code
MAX_MESSAGE = 1 << 28  # bytes of one call or answer: far more than any course value


def _send(sock: Any, msg: dict[str, Any]) -> None:
    payload = json.dumps(msg).encode()
    sock.sendall(b"%d\n" % len(payload) + payload)


def _receive(sock: Any) -> Any:
    """The next message on `sock`, decoded as JSON; None at its end or on anything malformed."""
    head = b""
    while not head.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte or len(head) > 12:
            return None
        head += byte
    if not head[:-1].isdigit() or int(head) > MAX_MESSAGE:
        return None
    size, chunks = int(head), []
    while size > 0:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        size -= len(data)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return None


def _builtin_error(name: Any) -> type[Exception]:
    """The builtin exception class called `name`, else RuntimeError (never an exit or interrupt)."""
    found = BUILTINS.get(name) if type(name) is str else None
    ok = isinstance(found, type) and issubclass(found, Exception)
    return found if ok else RuntimeError  # type: ignore[return-value]


def stub(name: str) -> Any:
    """A stand-in for the graded function `name` in the student's process: it asks the oracle."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            request = {
                "call": name,
                "args": encode(list(args), binary=True, scalars=True),
                "kwargs": encode(kwargs, binary=True, scalars=True),
                "rng": encode(np.random.get_state(), binary=True),
            }
        except (Unencodable, RecursionError) as exc:
            given = str(exc) if isinstance(exc, Unencodable) else "a value nested too deeply"
            raise TypeError(
                f"`{name}` is the course's own version, run by the grader apart from your code: it takes "
                f"plain data only (numbers, strings, booleans, None, lists, tuples, dicts with string "
                f"keys, numeric numpy arrays), and was given {given}"
            ) from None
        if not ORACLE:
            raise RuntimeError(f"the course's `{name}` is not available here")
        try:
            _send(ORACLE[0], request)
            answer = _receive(ORACLE[0])
        except OSError:
            answer = None
        if type(answer) is not dict:
            raise RuntimeError(f"the course's `{name}` did not answer (its process ended)")
        if answer.get("ok") is not True:
            if "unencodable" in answer:
                what = str(answer["unencodable"])[:200]
                raise TypeError(f"the course's `{name}` returned {what} for these arguments")
            kind = _builtin_error(answer.get("raised"))
            raise kind(f"the course's `{name}` raised {kind.__name__} on these arguments")
        np.random.set_state(decode(answer["rng"]))
        return decode(answer["output"])

    call.__name__ = call.__qualname__ = name
    return call


def _answer(ns: dict[str, Any], names: set[str], req: Any) -> dict[str, Any]:
    """Run one call the function child asked for, as plain data in and out."""
    if type(req) is not dict or req.get("call") not in names:
        return {"ok": False, "raised": "NameError"}
    try:
        args, kwargs = decode(req.get("args")), decode(req.get("kwargs"))
        np.random.set_state(decode(req.get("rng")))
        if type(args) is not list or type(kwargs) is not dict:
            raise ValueError("bad call")
    except Exception:  # the student's process can send anything
        return {"ok": False, "raised": "ValueError"}
    try:
        out = ns[req["call"]](*args, **kwargs)
    except BaseException as exc:  # its type only: a message could carry the reference's text
        return {"ok": False, "raised": _builtin_base(type(exc))}
    try:
        output = encode(out, binary=True, scalars=True)
        return {"ok": True, "output": output, "rng": encode(np.random.get_state(), binary=True)}
    except (Unencodable, RecursionError) as exc:
        return {"ok": False, "unencodable": str(exc) or "a value nested too deeply"}


def _builtin_base(kind: type) -> str:
    """The name of the first built-in class an exception's class derives from (numpy's errors
    are ValueError, MemoryError, ...)."""
    return next((c.__name__ for c in kind.__mro__ if c.__module__ == "builtins"), "Exception")


def fork_oracle(fds: list[int], load: Any, detach: Any) -> int:
    """Fork the oracle on fds [child's job, child's result, oracle's job, child's socket, oracle's
    socket]: it closes the function child's, and we close its own (marking them -1), so the
    oracle's job (the reference's code) never reaches the function child forked next."""
    import os

    pid = os.fork()
    if pid == 0:
        for fd in fds[:2] + fds[3:4]:
            os.close(fd)
        serve_oracle(fds[2], fds[4], load, detach)
    try:
        os.setpgid(pid, pid)  # here too: an end that comes before the oracle's own call kills it
    except OSError:
        pass
    for i in (2, 4):
        os.close(fds[i])
        fds[i] = -1
    return pid


def serve_oracle(job_fd: int, sock_fd: int, load: Any, detach: Any) -> None:
    """The oracle's process: not dumpable before anything of the reference arrives (a process of
    the same user can then neither trace it nor read its memory, maps, environment or descriptors
    through /proc); `detach`ed like a function child, it reads the reference's units from its own
    pipe, `load`s them, and answers the function child's calls until that end of the socket
    closes or sends something malformed. Never returns into the zygote's code."""
    import ctypes
    import os
    import socket

    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, as inherited, and said again here
    try:
        detach()
        with os.fdopen(job_fd, "rb") as pipe:
            job = json.loads(pipe.read())
        ns: dict[str, Any] = {"__name__": "__main__"}
        load(job["units"], ns)
        names = {n for n in job["names"] if callable(ns.get(n))}
        sock = socket.socket(fileno=sock_fd)
        while (req := _receive(sock)) is not None:
            _send(sock, _answer(ns, names, req))
    finally:
        os._exit(0)
