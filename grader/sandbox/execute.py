"""The full-notebook run: nbconvert's ExecutePreprocessor (nbclient), headless, in the grading jail.

The only module that imports nbclient. The kernel is started through `jail.py` (confined, then
exec'd), talks to us over ZMQ's ipc transport (unix sockets) so that it can live in a network
namespace of its own, and its outputs are capped while they stream in.

Nothing the kernel can write lies on the host's disk: it binds its sockets in the scratch's tmp/,
which the jail replaces with the sandbox's private, size-limited tmpfs (we reach them through
/proc/<pid>/root, the sandbox's own view of the file system), and its connection file lies in a
folder of the scratch that is mounted read-only for it (and, as root, not its own once read).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import write_atomic
from grader.reading import assignment as spec
from grader.reading import notebook
from grader.sandbox import cgroups, isolation, jail, leftovers
from grader.sandbox.leftovers import reap_orphans
from grader.sandbox.limits import Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch, scrubbed_env
from grader.sandbox.worker import adopt_orphans, joined

JAIL_SOURCE = joined("jail", ("landlock",))  # what confines the kernel, then execs it
OUTPUT_CAP = 2 * 1024 * 1024  # bytes of outputs kept per notebook
MESSAGE_BYTES = OUTPUT_CAP + 64 * 1024  # the largest kernel message read (more would not be kept)
MESSAGE_QUEUE = 256  # kernel messages waiting to be read, per channel
IMAGE_COUNT, IMAGE_BYTES = 12, 400_000  # figures kept for reports: how many, how large (base64)
SOURCE_CAP = 4000  # characters of a failing cell's source kept for reports
BUDGET_CELLS = 10  # the whole run may take at most this many cell timeouts
KILL_GRACE = 15.0  # seconds past the budget before the kernel is killed whatever nbclient does


class PinnedSockets:
    """For the kernel manager and its client: each channel connects through a descriptor of the
    socket the kernel bound, never through its path. ZMQ resolves an endpoint's path afresh on
    every reconnect, and the path lies in the sandbox's tmp/: without root, student code there
    is our own user and replaced its sockets with absolute symlinks, which resolve against the
    grader's root (also through /proc/<pid>/root), and the grader reconnected to any unix socket
    of the machine it named. A descriptor (O_PATH, the last link never followed) stays on the
    socket the kernel bound at start, before any cell ran; a kernel that closes it only ends its
    own run."""

    pin_owner = -1  # the user the kernel binds as (the sandbox's, or ours)
    pin_alive: Any = None  # () -> whether the kernel still runs
    transport: str

    def _make_url(self, channel: str) -> str:
        url: str = super()._make_url(channel)  # type: ignore[misc]
        if self.transport != "ipc":
            return url
        pinned: dict[str, int] = self.__dict__.setdefault("pinned", {})
        if channel not in pinned:
            if self.pin_alive is not None and not self.pin_alive():  # a channel made after the end
                return NOWHERE  # (jupyter_client's stop_channels makes the unused heartbeat's)
            pinned[channel] = pin_socket(url[len("ipc://") :], self.pin_owner, self.pin_alive)
        return f"ipc:///proc/self/fd/{pinned[channel]}"

    def unpin(self) -> None:
        for fd in self.__dict__.pop("pinned", {}).values():
            os.close(fd)


NOWHERE = "ipc:///proc/self/fd/-1"  # an endpoint no socket can ever be at


def pin_socket(path: str, owner: int, alive: Any, timeout: float = 60.0) -> int:
    """An O_PATH descriptor of the unix socket at `path`, once the kernel has bound it (owned by
    `owner`); refused when something else lies there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:  # not bound yet (or the jail's mounts not made yet)
            if (alive is not None and not alive()) or time.monotonic() > deadline:
                raise RuntimeError(f"the kernel never bound its socket {path}") from None
            time.sleep(0.005)
            continue
        st = os.fstat(fd)
        if stat.S_ISSOCK(st.st_mode) and st.st_uid == owner:
            return fd
        os.close(fd)
        raise RuntimeError(f"{path} is not a socket the kernel bound")


def _client_classes() -> tuple[Any, Any]:
    from jupyter_client import AsyncKernelManager
    from jupyter_client.asynchronous import AsyncKernelClient
    from nbclient.exceptions import CellTimeoutError
    from nbconvert.preprocessors import ExecutePreprocessor  # nbconvert's execution API: only here

    class QuietClient(PinnedSockets, AsyncKernelClient):
        """A kernel client without the heartbeat thread: nbclient watches the kernel process
        itself, and a cell that writes garbage into the kernel's sockets left the heartbeat
        blocked on a send forever, so stopping the channels (see `_kill`) hung the grader."""

        def start_channels(
            self,
            shell: bool = True,
            iopub: bool = True,
            stdin: bool = True,
            hb: bool = True,
            control: bool = True,
        ) -> None:
            # Bound what the kernel can make this process hold before the output cap sees it: a
            # cell sent 16 messages of 200 MB down its own iopub socket and the grader held 2.1 GB.
            # A bigger message drops the kernel's connection (ZMQ reconnects; the run may end
            # incomplete, scores come from the functions); at most MESSAGE_QUEUE wait to be read.
            import zmq

            self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
            self.context.setsockopt(zmq.RCVHWM, MESSAGE_QUEUE)
            super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)

    # Async, as nbclient expects: with a blocking client, its wait for output blocks the event
    # loop, so a cell that runs forever silently (SIGINT ignored) would never time out.
    class JailedKernelManager(PinnedSockets, AsyncKernelManager):
        """Starts the kernel through the jail, with a scrubbed environment."""

        jail_config: dict[str, Any] = {}
        client_factory = QuietClient

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = list(super().format_kernel_cmd(extra_arguments))
            if self.jail_config.get("user"):  # the confined kernel must read its connection file
                os.chown(self.connection_file, self.jail_config["uid"], jail.NOBODY)
            cmd[0] = sys.executable if os.path.basename(cmd[0]).startswith("python") else cmd[0]
            self.pin_owner = int(self.jail_config["uid"]) if self.jail_config.get("user") else os.getuid()
            self.pin_alive = self._alive
            return [sys.executable, "-I", "-c", JAIL_SOURCE, json.dumps(self.jail_config), "--", *cmd]

        def client(self, **kwargs: Any) -> Any:
            """A client that reaches the sockets where the kernel bound them: in the sandbox's
            own tmpfs when it has a mount namespace (see `socket_prefix`)."""
            ip = socket_prefix(self.ip, self.jail_config, getattr(self.provisioner, "pid", None))
            kc: Any = super().client(**{"ip": ip, **kwargs})
            kc.pin_owner, kc.pin_alive = self.pin_owner, self.pin_alive
            self.__dict__.setdefault("clients", []).append(kc)  # nbclient lets go of it early
            return kc

        def unpin(self) -> None:
            """Close our pinned descriptors and our clients' (once their channels are stopped)."""
            for kc in self.__dict__.pop("clients", []):
                kc.unpin()
            super().unpin()

        def _alive(self) -> bool:
            process = getattr(self.provisioner, "process", None)
            return process is not None and process.poll() is None

        def _make_url(self, channel: str) -> str:
            """The manager's own (its control socket): where the kernel bound it, too."""
            plain = self.ip
            self.ip = socket_prefix(plain, self.jail_config, getattr(self.provisioner, "pid", None))
            try:
                return super()._make_url(channel)
            finally:
                self.ip = plain

    class CappedClient(ExecutePreprocessor):
        """Drops outputs once a notebook has produced more than OUTPUT_CAP bytes of them, and
        gives each cell the cell timeout but never more than what is left of the run's budget."""

        kept = 0
        deadline = float("inf")  # time.monotonic() by which the whole run must end

        def start_new_kernel(self, **kwargs: Any) -> None:
            """As nbclient's, with the kernel's own stdout and stderr never onto ours (`preprocess`
            passes no launch arguments of its own)."""
            super().start_new_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)

        def _get_timeout(self, cell: Any) -> int | None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise CellTimeoutError("the notebook used up its time budget")
            return max(1, min(self.timeout or math.ceil(left), math.ceil(left)))

        def output(
            self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int
        ) -> Any:
            size = len(json.dumps(msg.get("content", {}), default=str))
            self.kept += size
            if self.kept > OUTPUT_CAP:
                return None
            return super().output(outs, msg, display_id, cell_index)

    return JailedKernelManager, CappedClient


def _read(path: Path) -> Any:
    import nbformat

    # read as grading reads it (size cap, regular file, a byte order mark allowed), then nbformat
    data = notebook.read_bytes(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old notebooks lack cell ids: nbformat's concern, not ours
        nb = nbformat.reads(notebook.text(data), as_version=4)
    # which bytes this run is of: the feedback notebook uses a saved run only for those bytes
    nb.metadata[notebook.RUN_OF] = hashlib.sha256(data).hexdigest()
    return nb


def run_notebook(
    path: Path,
    assignment: str,
    *,
    output: Path | None,
    cell_timeout: float = 120.0,
    limits: Limits | None = None,
    images: bool = False,
    hide: tuple[str, ...] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """Execute a whole notebook; return what happened (never raises for the notebook's sake).

    The executed notebook is `output/<name>.executed.ipynb`: `name` is the submission's name from
    `files.file_names`, the one scheme every writer uses (by default the name of `path` alone),
    so its length is bounded whatever the notebook is called.

    With `images`, the result also holds the notebook's PNG figures (base64, capped) for reports.
    `hide`: the folders function grading covers besides our secrets (the submissions, reports,
    the gradebook); the kernel gets the same covers, and the notebook's own folder.
    """
    started = time.monotonic()
    try:
        nb = _read(path)
    except Exception as exc:  # nbformat's many error types: the notebook is unreadable
        return {"status": "unreadable", "message": str(exc)[:300], "errors": [], "seconds": 0.0}
    a = spec.load(assignment)
    scratch = prepare_scratch(a.folder, a.files)
    if not fits_a_socket(str(scratch / "tmp")):
        remove_scratch(scratch)
        raise GraderError(
            f"the temporary folder {scratch.parent} is too deep for the kernel's sockets: set TMPDIR"
        )
    limits = limits or Limits()
    iso = isolation.available_isolation()
    cgroup = cgroups.create(limits) if iso.budget else None  # the kernel's memory and processes in all
    hidden = isolation.hidden((*hide, str(path.resolve().parent)))
    cfg = isolation.jail_config(scratch, limits, iso, hidden, budget=cgroup)
    # no MPLBACKEND: the kernel's own inline backend is what captures the notebook's figures
    cfg["env"] = {k: v for k, v in scrubbed_env(scratch).items() if k != "MPLBACKEND"}
    adopt_orphans()
    km_cls, client_cls = _client_classes()
    ipc = _ipc_dir(scratch, iso.user)
    km = km_cls(kernel_name="python3", transport="ipc", ip=cfg["tmp"] + "/kernel")
    km.jail_config = cfg
    km.connection_file = str(ipc / "kernel.json")
    client = client_cls(
        timeout=max(1, math.ceil(cell_timeout)), allow_errors=True, kernel_name="python3", startup_timeout=60,
    )  # fmt: skip
    client.on_notebook_start = lambda notebook: _lock(km, iso.user)
    budget = BUDGET_CELLS * cell_timeout
    client.deadline = time.monotonic() + budget
    watchdog = threading.Timer(budget + KILL_GRACE, _kill_group, args=(km,))
    watchdog.daemon = True
    status, message = "completed", ""
    # without namespaces, no other sandbox runs beside it (see leftovers.alone)
    with nullcontext() if iso.pids and iso.mounts else leftovers.alone():
        try:
            watchdog.start()
            client.preprocess(nb, {"metadata": {"path": str(scratch)}}, km=km)
        except Exception as exc:  # timeouts, a dead kernel: the run ends here, the grade does not
            status = "timeout" if "Timeout" in type(exc).__name__ else "died"
            message = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            watchdog.cancel()
            atexit.unregister(client._cleanup_kernel)  # we clean up here, not at interpreter exit
            _kill(km, client)
            reap_orphans()
            isolation.release_uid(cfg["uid"], contained=iso.pids and iso.mounts)
            cgroups.remove(cgroup)
            remove_scratch(scratch)
    result = {
        "status": status,
        "message": message,
        "errors": _errors(nb),
        "figures": sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})),
        "seconds": round(time.monotonic() - started, 3),
    }
    if images:
        result["images"] = _images(nb)
    if output is not None:
        import nbformat

        from grader.files import file_names

        name = name or file_names([str(path)])[0]
        write_atomic(output / f"{name}.executed.ipynb", nbformat.writes(nb))
    return result


def _ipc_dir(scratch: Path, user: bool) -> Path:
    """The folder of the kernel's connection file: in the scratch, which the jail mounts
    read-only (only the scratch's tmp/ is writable, a tmpfs of the sandbox's own). As root it
    stays ours and the kernel only passes through it to the file it is lent (see `_lock`)."""
    ipc = scratch / ".ipc"
    scratch.chmod(0o755)
    ipc.mkdir(mode=0o711 if user else 0o700)
    scratch.chmod(0o555)
    return ipc


SOCKET_PATH_MAX = 107  # bytes of a unix socket's path (sun_path, with its terminating NUL)
PID_MAX_DIGITS = 7  # /proc/sys/kernel/pid_max is at most 2**22


def fits_a_socket(tmp: str) -> bool:
    """Whether the kernel's sockets in `tmp` have paths short enough, from both sides."""
    longest = f"/proc/{'9' * PID_MAX_DIGITS}/root{tmp}/kernel-65535"
    return len(os.fsencode(longest)) <= SOCKET_PATH_MAX


def socket_prefix(ip: str, cfg: dict[str, Any], pid: int | None) -> str:
    """Where we find the kernel's sockets, `ip` being where it binds them (`<tmp>/kernel`, each
    socket `<ip>-<port>`). With a mount namespace its tmp/ is the sandbox's private tmpfs, which
    only the sandbox's processes see: we go through the root of the jail's launcher (the kernel
    or its waiting parent, in the same mount namespace). Connected through a descriptor of each
    socket, never this path (see `PinnedSockets`)."""
    return f"/proc/{pid}/root{ip}" if cfg.get("mounts") and pid is not None else ip


def _lock(km: Any, user: bool) -> None:
    """Once the kernel has read its connection file and bound its sockets (before any cell
    runs), take back what the sandbox user was lent: the connection file, and the sockets,
    which in the sticky tmp/ it can then neither remove nor replace (a symlink there would send
    our reconnects wherever it points). Without root the kernel is our own user, and the
    read-only mount is what keeps the connection file's folder closed to it."""
    if not user:
        return
    prefix = socket_prefix(km.ip, km.jail_config, getattr(km.provisioner, "pid", None))
    owned = [km.connection_file, *(f"{prefix}-{port}" for port in km.ports)]
    for path in owned:
        try:
            os.chown(path, os.getuid(), os.getgid(), follow_symlinks=False)
        except OSError:  # the kernel died meanwhile: nothing is left to take back
            pass


def _kill_group(km: Any) -> None:
    """SIGKILL the kernel's process group (the jail made it a session leader)."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill(km: Any, client: Any) -> None:
    """Kill the kernel and free everything the run held in our process. nbclient leaves the
    kernel client to whoever owns the manager (us): without `stop_channels`, each run would
    leave a heartbeat thread, a ZMQ context (two more threads) and ~14 descriptors behind, and
    a long batch would run out of descriptors."""
    from jupyter_core.utils import run_sync

    _kill_group(km)  # first: a kernel that ignores signals must not slow the shutdown down
    try:
        run_sync(km.shutdown_kernel)(now=True)  # closes sockets, removes connection files
    except Exception:
        pass
    kc = getattr(client, "kc", None)
    if kc is not None:
        try:
            kc.stop_channels()  # the heartbeat thread, the channels' sockets and their context
        except Exception:
            pass
        client.kc = None
    km.unpin()


def _errors(nb: Any) -> list[dict[str, Any]]:
    found = []
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(
                    {
                        "cell": i,
                        "ename": out.get("ename", ""),
                        "evalue": str(out.get("evalue", ""))[:300],
                        "source": str(cell.get("source", ""))[:SOURCE_CAP],
                    }
                )
    return found


def _images(nb: Any) -> list[dict[str, Any]]:
    """The PNG figures the notebook produced, in order: at most IMAGE_COUNT, each at most IMAGE_BYTES."""
    found: list[dict[str, Any]] = []
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if isinstance(png, str) and len(png) <= IMAGE_BYTES and len(found) < IMAGE_COUNT:
                found.append({"cell": i, "png": png.replace("\n", "")})
    return found
