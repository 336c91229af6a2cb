"""The grader's side of the zygote protocol: fork a function child, hand it its job, read its
result, end it.

The sandboxed worker is a zygote (see harness.py): it has imported numpy and the assignment's
helpers and never receives any submission. For each graded function the grader makes two pipes,
passes their child ends to the zygote with a request that carries only a number, and the zygote
forks a child that inherits them. The job (the student's code, the case inputs) goes from here
straight to that child, and its result straight back; the zygote only forks, kills and collects.
So nothing one submission's code could leave in memory is in the process the next one is forked
from.

A function that calls other graded functions (its task has an "oracle": the reference's units
of those functions) also gets an oracle: a second child, forked first, that reads the reference's
units from a pipe of its own and answers the function child's calls over a socket pair (see
harness.py). The function child's job names those functions only; the reference's code goes
from here straight to the oracle.

Control messages are JSON, one per SOCK_SEQPACKET packet, over a socket pair:
    grader -> zygote  {"fork": n} + [job read end, result write end]   zygote -> {"forked": n}
    grader -> zygote  {"fork": n} + [job read end, result write end, oracle's job read end,
                                     the child's socket, the oracle's socket]
    grader -> zygote  {"end": n, "wait": bool}                          zygote -> {"ended": n, status}
The zygote's first packet is {"ready": true, "ok": <helpers imported>}.

A job with visible and hidden cases comes in two stages on the child's job pipe, each as its
length, a newline and itself: the visible cases (with "more": true), then, only once their
results are read here, the hidden ones; the child answers each stage on its result pipe the
same way. So no visible case's message can carry a hidden case's inputs (see `staged`).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import time
from typing import Any, Protocol

MAX_DEPTH = 32  # as codec.MAX_DEPTH (not imported: the codec imports numpy, a cold run imports this first)
CONTROL_SECONDS = 10.0  # for the zygote to answer a request (it forks, or kills and collects)


class Capped:
    """Keeps the head and the tail of a stream, so a bomb costs bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit, self.head, self.tail, self.dropped = limit, bytearray(), bytearray(), 0

    def add(self, data: bytes) -> None:
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.limit // 2:
            cut = len(self.tail) - self.limit // 2
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes dropped ...]\n" if self.dropped else ""
        return bytes(self.head).decode(errors="replace") + gap + bytes(self.tail).decode(errors="replace")


class Link(Protocol):
    """What the protocol needs of a worker."""

    control: socket.socket
    output: Capped
    calls: itertools.count[int]
    lost: bool  # set when the zygote stops answering (see Call.finish)

    def stdout_fd(self) -> int: ...


def receive(link: Link, deadline: float) -> dict[str, Any] | None:
    """The zygote's next control message; None when it is gone, silent, or talks nonsense.
    The worker's own stdout (never a student's: children write to /dev/null) is kept meanwhile."""
    out_fd = link.stdout_fd()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        fds = [link.control.fileno()] + ([out_fd] if out_fd >= 0 else [])
        ready, _, _ = select.select(fds, [], [], min(left, 1.0))
        if out_fd in ready and _drain(link, out_fd):
            out_fd = -1
        if link.control.fileno() in ready:
            try:
                data = link.control.recv(4096)
                msg = json.loads(data) if data else None
            except (OSError, ValueError):
                return None
            return msg if type(msg) is dict else None


def _drain(link: Link, fd: int) -> bool:
    """Keep what the worker printed; True at EOF."""
    try:
        data = os.read(fd, 1 << 16)
    except OSError:
        return True
    link.output.add(data)
    return not data


class Call:
    """One graded function running in a fresh child of the zygote.

    Started at once (the fork request, and as much of the job as the pipe takes), so that the
    child can run while the grader does something else; `finish` collects the result.
    """

    def __init__(self, link: Link, task: dict[str, Any]) -> None:
        self.link, self.task, self.id = link, task, next(link.calls)
        oracle = task.get("oracle")
        job = {k: v for k, v in task.items() if k != "oracle"}  # the reference's code: never the child's
        job, self.later = staged(job)
        self.rest = bytearray()  # read past the first stage's result (see `_result`)
        job_r, self.job_w = os.pipe()
        self.result_r, result_w = os.pipe()
        theirs = [job_r, result_w]
        self.jobs: dict[int, memoryview] = {self.job_w: _framed(job)}
        if oracle:
            oracle_r, oracle_w = os.pipe()
            child_end, oracle_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            theirs += [oracle_r, child_end.detach(), oracle_end.detach()]
            self.jobs[oracle_w] = memoryview(json.dumps(oracle).encode())
        try:
            socket.send_fds(link.control, [json.dumps({"fork": self.id}).encode()], theirs)
            self.sent = True
        except OSError:  # the zygote is gone
            self.sent = False
        finally:
            for fd in theirs:
                os.close(fd)
        for fd in self.jobs:
            os.set_blocking(fd, False)
        self._push()

    def _push(self) -> None:
        """Write what each job pipe takes now; close one once its whole job is in."""
        for fd, left in list(self.jobs.items()):
            try:
                while left:
                    left = left[os.write(fd, left) :]
            except BlockingIOError:
                self.jobs[fd] = left
                continue
            except OSError:  # the child is gone: its result (none) tells
                pass
            del self.jobs[fd]
            if fd != self.job_w or self.later is None:  # open for the hidden cases' stage
                os.close(fd)

    def abandon(self) -> None:
        """Give the call up unread (its worker is being closed)."""
        self._close_jobs()
        if self.result_r >= 0:
            os.close(self.result_r)
            self.result_r = -1

    def _close_jobs(self) -> None:
        if self.later is not None and self.job_w not in self.jobs:
            os.close(self.job_w)
        self.later = None
        for fd in self.jobs:
            os.close(fd)
        self.jobs.clear()

    def finish(self, max_bytes: int) -> dict[str, Any] | None:
        """The function's result as the grader may see it; None when the zygote died."""
        try:
            if not self.sent or receive(self.link, time.monotonic() + CONTROL_SECONDS) != {"forked": self.id}:
                return None
            deadline = time.monotonic() + float(self.task["timeout"])
            data, outcome = self._result(deadline, max_bytes)
            first = _parsed(data, self.task, hidden=False) if outcome == "whole" else None
            if self.later is not None and first is not None and "cases" in first:
                # the visible cases' results are in: only now may the child get the hidden ones
                self.jobs[self.job_w], self.later = self.later, None
                data, outcome = self._result(deadline, max_bytes - len(data))
                rest = _parsed(data, self.task, hidden=True) if outcome == "whole" else None
                both = rest is not None and "cases" in rest
                first = {**first, "cases": {**first["cases"], **rest["cases"]}} if rest and both else rest
            ended = self._end(wait=outcome == "eof")
            if ended is None:  # the zygote no longer answers: it serves no other function
                self.link.lost = True
        finally:
            self.abandon()
        name = self.task["function"]
        if first is not None:  # a whole result: how the child ended no longer matters
            return first
        if ended is None:
            return None
        if outcome == "timeout":
            return {"function": name, "timeout": self.task["timeout"]}
        if outcome == "too_big":
            return {"function": name, "too_big": max_bytes}
        return {"function": name, "died": {k: v for k, v in ended.items() if k != "ended"}}

    def _result(self, deadline: float, max_bytes: int) -> tuple[bytes, str]:
        """Write the rest of the job, read the result, which comes as its length, a newline and
        itself: (bytes, "whole" | "eof" | "timeout" | "too_big"). What came after a whole one
        (a second stage's result, written early) is kept for the next call."""
        buf, self.rest = self.rest, bytearray()
        size = -1
        out_fd = self.link.stdout_fd()
        while True:
            if size < 0 and b"\n" in buf[:24]:
                head, _, rest = bytes(buf).partition(b"\n")
                size = int(head) if head.isdigit() else max_bytes + 1
                buf = bytearray(rest)
            if size > max_bytes or len(buf) > max_bytes or (size < 0 and len(buf) >= 24):
                return b"", "too_big" if size > max_bytes else "eof"
            if 0 <= size <= len(buf):
                self.rest = buf[size:]
                return bytes(buf[:size]), "whole"
            left = deadline - time.monotonic()
            if left <= 0:
                return b"", "timeout"
            writing = list(self.jobs)
            reading = [self.result_r] + ([out_fd] if out_fd >= 0 else [])
            readable, writable, _ = select.select(reading, writing, [], min(left, 1.0))
            if writable:
                self._push()
            if out_fd in readable and _drain(self.link, out_fd):
                out_fd = -1
            if self.result_r in readable:
                data = os.read(self.result_r, 1 << 16)
                if not data:
                    return b"", "eof"
                buf += data

    def _end(self, *, wait: bool) -> dict[str, Any] | None:
        """Ask the zygote to kill the child (and all it started) and collect it: its status."""
        try:
            self.link.control.sendall(json.dumps({"end": self.id, "wait": wait}).encode())
        except OSError:
            return None
        reply = receive(self.link, time.monotonic() + CONTROL_SECONDS)
        return reply if reply is not None and reply.get("ended") == self.id else None


def _framed(job: dict[str, Any]) -> memoryview:
    data = json.dumps(job).encode()
    return memoryview(b"%d\n" % len(data) + data)


def staged(job: dict[str, Any]) -> tuple[dict[str, Any], memoryview | None]:
    """The job's first stage, and its second (the hidden cases) if it has visible ones too: a
    child holds no hidden case's inputs until its visible cases' results are sent and read,
    so nothing a visible case reports (a message built from the frames, the heap, the job
    pipe) can carry them. The flag "hidden" itself never reaches the child."""
    cases = [({k: v for k, v in c.items() if k != "hidden"}, bool(c.get("hidden"))) for c in job["cases"]]
    seen = [c for c, hidden in cases if not hidden]
    later = [c for c, hidden in cases if hidden]
    if not seen or not later:
        return {**job, "cases": seen + later}, None
    return {**job, "cases": seen, "more": True}, _framed({"cases": later})


def _parsed(data: bytes, task: dict[str, Any], *, hidden: bool) -> dict[str, Any] | None:
    """One stage's result, checked against that stage's cases only."""
    cases = [c for c in task["cases"] if bool(c.get("hidden")) == hidden]
    try:
        return checked(json.loads(data), {**task, "cases": cases or task["cases"]})
    except (ValueError, RecursionError):
        return None


def anonymous(task: dict[str, Any]) -> dict[str, Any]:
    """The job as the sandbox sees it: cases called by their position only, so a hidden case's
    name (`sign_error`, `wrong_derivative`) tells student code nothing."""
    cases = [{**c, "name": f"case{i}"} for i, c in enumerate(task["cases"])]
    return {**task, "cases": cases}


def named(result: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """A result of an `anonymous` job, its cases under their own names again."""
    if "cases" not in result:
        return result
    names = {f"case{i}": c["name"] for i, c in enumerate(task["cases"])}
    return {**result, "cases": {names[k]: v for k, v in result["cases"].items() if k in names}}


# The child ran student code, which can write anything to its result pipe: what the grader reads
# is rebuilt from the fields it uses, with their types checked and their sizes bounded, so a
# forged result can claim no more than returning that value would (and cannot crash the grader).


def _text(value: Any, limit: int) -> str:
    return value[:limit] if type(value) is str else ""


def _shallow(value: Any, limit: int) -> bool:
    """Whether JSON data nests at most `limit` levels (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return False
        if type(v) is list:
            stack.extend((x, depth + 1) for x in v)
        elif type(v) is dict:
            stack.extend((x, depth + 1) for x in v.values())
    return True


def _checked_error(err: Any) -> dict[str, Any]:
    err = err if type(err) is dict else {}
    frames: list[Any] = err["frames"] if type(err.get("frames")) is list else []
    return {
        "type": _text(err.get("type"), 100) or "Exception",
        "qualname": _text(err.get("qualname"), 100) or "Exception",
        "message": _text(err.get("message"), 500),
        "frames": [
            {
                "cell": _text(f.get("cell"), 100),
                "line": f.get("line") if type(f.get("line")) is int else 0,
                "function": _text(f.get("function"), 100),
                "code": _text(f.get("code"), 200),
            }
            for f in frames[:50]
            if type(f) is dict
        ],
    }


def _checked_case(r: Any) -> dict[str, Any]:
    if type(r) is not dict:
        return {"ok": False, "unencodable": "something the grader could not read"}
    notes: list[Any] = r["notes"] if type(r.get("notes")) is list else []
    out: dict[str, Any] = {"ok": False, "notes": [_text(n, 300) for n in notes[:20]]}
    if r.get("ok") is True:
        if _shallow(r.get("output"), 2 * MAX_DEPTH + 8):
            return {**out, "ok": True, "output": r.get("output")}
        return {**out, "unencodable": "the value is nested too deeply"}
    if "unencodable" in r:
        return {**out, "unencodable": _text(r["unencodable"], 300)}
    if r.get("setup") is True:
        out["setup"] = True
    return {**out, "error": _checked_error(r.get("error"))}


def checked(result: Any, task: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a function child as the grader may see it, or None if it is not one."""
    if type(result) is not dict or result.get("function") != task["function"]:
        return None
    cases = result.get("cases")
    if type(cases) is not dict and result.get("too_big") is True:  # refused by its size, unencoded
        cap = task.get("max_bytes")
        return {"function": task["function"], "too_big": cap if type(cap) is int else True}
    if type(cases) is not dict:
        crashed = "crash" in result  # the harness itself failed to encode the results
        return {"function": task["function"], "crash": _text(result["crash"], 100)} if crashed else None
    wanted = [c["name"] for c in task["cases"]]
    return {"function": task["function"], "cases": {n: _checked_case(cases[n]) for n in wanted if n in cases}}
