"""Results of graded functions shared within a batch, so identical answers run once.

A key is the SHA-256 of everything that determines a function's raw result: the assignment and
the bytes of its released files (helper modules, data), the function, its units exactly as the
sandbox runs them (the normalised code: magics neutralised, line ends LF, only the cells the
function needs, given functions included), the reference's code its oracle runs for the graded
functions it calls, the cases with their encoded inputs, the timeout and the limits. Two answers
that differ in a single character never share a key. Results that say the worker died are never
stored: they describe the worker, not the answer.

The cache is bounded in bytes (the size of the raw results as JSON, `MAX_BYTES` by default): the
least recently used results are dropped to make room, and a result larger than an eighth of the
bound (32 MB by default) is never stored (a batch of 64 MB answers would otherwise hold every
one of them until it ends). A dropped result is simply run again by the next identical answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.sandbox.worker import Limits

MAX_BYTES = 256 * 1024 * 1024  # of raw results held by one cache

if TYPE_CHECKING:
    from grader.reading.assignment import Assignment
    from grader.sandbox.tasks import Task


def key(a: Assignment | str, task: Task, limits: Limits) -> str:
    """The cache key of one function's task."""
    where = a if isinstance(a, str) else [a.name, files_digest(a.folder, a.files)]
    blob = json.dumps([where, task.to_job(), asdict(limits)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def files_digest(folder: Path, files: tuple[str, ...]) -> str:
    """A digest of the released files, recomputed when one of them changes on disk."""
    stamps = tuple((f, (folder / f).stat().st_mtime_ns, (folder / f).stat().st_size) for f in files)
    return _files_digest(folder, stamps)


@lru_cache(maxsize=64)
def _files_digest(folder: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for f, _, _ in stamps:
        h.update(f.encode() + b"\0" + (folder / f).read_bytes() + b"\0")
    return h.hexdigest()


def cacheable(result: dict[str, Any] | None) -> bool:
    """Everything an answer produced itself; not a worker that died under it."""
    return isinstance(result, dict) and not result.get("worker_died")


def size(result: Any) -> int:
    """About the length of `result` as JSON (strings, numbers and punctuation), without encoding it."""
    total, stack = 0, [result]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            total += len(x) + 2
        elif isinstance(x, dict):
            total += 2 + 2 * len(x)
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            total += 2 + len(x)
            stack.extend(x)
        else:
            total += 8
    return total


class Cache:
    """A thread-safe map from key to raw result, with in-flight deduplication, bounded in bytes:
    least recently used results go first, and one larger than `max_item` is not kept."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_item: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_item = max_bytes // 8 if max_item is None else min(max_item, max_bytes)
        self._lock = threading.Lock()
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self.held = 0  # bytes of the results stored now
        self.dropped = 0  # results dropped for room or never stored for their size
        self._running: dict[str, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def claim(self, k: str) -> dict[str, Any] | threading.Event | None:
        """A stored result, an event to wait on (another thread runs it), or None: run it yourself."""
        with self._lock:
            if k in self._results:
                self.hits += 1
                self._results.move_to_end(k)
                return self._results[k]
            if k in self._running:
                return self._running[k]
            self._running[k] = threading.Event()
            self.misses += 1
            return None

    def settle(self, k: str, result: dict[str, Any] | None) -> None:
        """Store what a claimed key produced (if it may be shared) and wake its waiters."""
        n = size(result) if cacheable(result) else 0
        with self._lock:
            if cacheable(result) and n > self.max_item:
                self.dropped += 1
            elif cacheable(result):
                assert result is not None
                self._store(k, result, n)
            event = self._running.pop(k, None)
        if event is not None:
            event.set()

    def _store(self, k: str, result: dict[str, Any], n: int) -> None:
        if k in self._results:
            self.held -= self._sizes.pop(k)
            del self._results[k]
        while self._results and self.held + n > self.max_bytes:
            old, _ = self._results.popitem(last=False)
            self.held -= self._sizes.pop(old)
            self.dropped += 1
        self._results[k] = result
        self._sizes[k] = n
        self.held += n

    def wait(self, k: str, event: threading.Event) -> dict[str, Any] | None:
        """The result another thread produced, or None when it could not be stored."""
        event.wait()
        with self._lock:
            got = self._results.get(k)
            if got is not None:
                self.hits += 1
            return got

    def __len__(self) -> int:
        return len(self._results)
