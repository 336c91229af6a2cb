"""Red team, round 4: the full-mode kernel must not make the grader connect to a unix socket of
its choosing. Without root, student code in the kernel is the grader's own user: it removed its
ZMQ sockets from its tmp/, put absolute symlinks in their place and closed its own sockets; ZMQ
reconnected through the path, the symlink resolved against the grader's root, and the grader
connected to a listener elsewhere on the machine. Must hold as root and as a plain user (.ci/run
runs this file as both), with a mount namespace and without.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from grader.sandbox import execute
from tests.conftest import make_notebook, write_notebook

# the kernel's own sockets (where it bound them) replaced by links to the trap, then closed: ZMQ
# reconnects to the path
HIJACK = """
import glob, os, time
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
replaced = 0
for path in sorted(glob.glob(app.ip + "-*")):
    try:
        os.unlink(path)
        os.symlink(TRAP, path)
        replaced += 1
    except OSError:  # as root they are the grader's, in a sticky folder
        pass
print("replaced", replaced, flush=True)
time.sleep(0.5)
app.shell_socket.close(linger=0)
getattr(app, "control_socket", app.shell_socket).close(linger=0)
app.iopub_thread.socket.close(linger=0)
time.sleep(5)
os._exit(0)  # the run ends here
"""


@contextmanager
def listening() -> Iterator[tuple[str, list[bytes]]]:
    """A unix socket listening outside the sandbox: its path, and what connected to it."""
    folder = tempfile.mkdtemp(prefix="trap-")
    path = os.path.join(folder, "trap.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen.append(b"connection")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield path, seen
    finally:
        stop.set()
        thread.join()
        listener.close()
        os.unlink(path)
        os.rmdir(folder)


@pytest.fixture
def trap() -> Iterator[tuple[str, list[bytes]]]:
    with listening() as got:
        yield got


def printed(executed: Path) -> str:
    """What the first cell of an executed notebook printed."""
    texts = [o.get("text", "") for o in json.loads(executed.read_text())["cells"][0].get("outputs", [])]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def test_the_kernel_cannot_send_the_grader_to_another_socket(trap: tuple[str, list[bytes]], tmp_path: Path) -> None:
    path, seen = trap
    nb = write_notebook(tmp_path / "hijack.ipynb", make_notebook([HIJACK.replace("TRAP", repr(path))]))
    out = tmp_path / "out"
    out.mkdir()
    execute.run_notebook(nb, "initialization", output=out, cell_timeout=10)
    said = printed(out / "hijack.executed.ipynb")
    # the attack ran: where the kernel is our own user, every socket of it was replaced
    assert ("replaced 5" if os.geteuid() != 0 else "replaced") in said, said
    assert seen == [], "the grader connected to a socket the kernel pointed it to"


def test_a_socket_is_pinned_only_when_it_is_one_the_kernel_bound(tmp_path: Path) -> None:
    good = str(tmp_path / "good")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(good)
    os.symlink(good, tmp_path / "link")
    (tmp_path / "file").write_text("")
    fd = execute.pin_socket(good, os.getuid(), None)
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(good))
    finally:
        os.close(fd)
    for wrong, owner in (("link", os.getuid()), ("file", os.getuid()), ("good", os.getuid() + 1)):
        with pytest.raises(RuntimeError):
            execute.pin_socket(str(tmp_path / wrong), owner, None)
    with pytest.raises(RuntimeError, match="never bound"):
        execute.pin_socket(str(tmp_path / "absent"), os.getuid(), lambda: False)
    listener.close()
