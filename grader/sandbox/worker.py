"""The sandboxed worker process that runs students' code, and its limits.

A worker is a fresh interpreter started with `python -I -S -B -c <harness text>` in its own session,
with resource limits, a scrubbed environment, stdin from the job pipe only, a read-only scratch
directory holding just the assignment's released files, no network (a new network namespace
where the kernel allows it) and, when we are root, an unprivileged user. What could not be
applied is recorded in `Isolation`, so a report can say so and `--require-isolation` can refuse.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import site
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.reading.assignment import project_root
from grader.sandbox import channel, jail

# sent as text, and read without importing it: the harness imports numpy, the sandbox need not
HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text(encoding="utf-8")
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # world-writable: replaced in the jail
PRELOAD = "numpy,numpy.random"  # the harness seeds numpy.random before every call


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker (each function child inherits them)."""

    memory_mb: int = 2048  # address space
    cpu_seconds: int = 120  # per process
    file_size_mb: int = 16
    tmp_mb: int = 64  # the writable tmp folder, and each of /tmp, /var/tmp, /dev/shm
    processes: int = 64
    open_files: int = 256
    output_bytes: int = 256 * 1024  # stdout/stderr kept, head and tail
    result_bytes: int = 64 << 20


@dataclass(frozen=True)
class Isolation:
    """Which isolation layers a worker actually gets."""

    network: bool
    mounts: bool
    pids: bool
    user: bool
    notes: tuple[str, ...] = ()
    ipc: bool = True  # an IPC namespace: SysV objects and POSIX queues die with the sandbox
    proc: bool = True  # a /proc of the PID namespace's own (needs mounts and pids)
    readonly: bool = True  # every mount read-only but the sandbox's writable places (needs mounts)

    @property
    def complete(self) -> bool:
        layers = (self.network, self.ipc, self.mounts, self.pids, self.proc, self.readonly, self.user)
        return all(layers)


def secrets() -> list[str]:
    """Folders student code must never see: expected values, the reference, the tests, the
    assignments (it gets the released files as a scratch copy), our own code."""
    root = project_root()
    here = Path(__file__).resolve().parents[1]  # the whole grader package
    folders = ("expected", "reference", "tests", "assignments", ".git")
    return [str(p) for p in (*(root / f for f in folders), here)] + homes() + elsewhere()


# the system's top-level folders, left visible: the interpreter and the libraries it loads, the
# machine's configuration, the kernel's file systems, the shared folders (covered on their own)
SYSTEM_DIRS = frozenset(
    "bin sbin lib lib32 lib64 libx32 usr etc dev proc sys run tmp var".split()
    + ["nix", "gnu"]  # stores whose programs load libraries from all over them
)


def elsewhere() -> list[str]:
    """Every other top-level folder, covered whole the same way (the paths the interpreter needs
    in one bound back): /home and /root, /srv, /opt, /mnt, a /work or /data of the machine's,
    where other batches, reports and gradebooks may lie world-readable."""
    try:
        names = os.listdir("/")
    except OSError:
        return []
    tops = (os.path.join("/", n) for n in names if n not in SYSTEM_DIRS)
    return sorted(t for t in tops if os.path.isdir(t) and not os.path.islink(t))


def homes() -> list[str]:
    """Home folders, covered whole (the paths the interpreter needs in one are bound back): as
    root, /home and /root, whatever a sandbox user could read there (a home folder at 755);
    without root, the grader's user's own home, which student code running as that user could
    read all of (last week's submissions, its reports, ~/.ssh). Never "/" (a user without a home)."""
    if os.geteuid() == 0:
        found = ["/home", "/root"]
    else:
        import pwd

        found = [os.path.expanduser("~"), pwd.getpwuid(os.geteuid()).pw_dir]
    real = {os.path.realpath(h) for h in found}
    return sorted(h for h in real if h != "/" and os.path.isdir(h))


def hidden(hide: list[str] | tuple[str, ...]) -> list[str]:
    """What a sandbox covers, the one list for function workers and the full-notebook run alike:
    our secrets, and the folders the caller names (submissions, the reports, the gradebook)."""
    return secrets() + [str(Path(h).resolve()) for h in hide]


def _needed() -> list[str]:
    """Paths the interpreter needs, for re-exposing them to an unprivileged user."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent), *site.getsitepackages()}
    return sorted(p for p in paths if Path(p).exists())


def site_dirs() -> list[str]:
    """The directories `site` would add for the worker (it starts without `site`)."""
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


SANDBOX_UIDS = range(61000, 65000)  # unprivileged user ids the sandboxes run as, one each
_LEASES: dict[int, int] = {}  # uid -> the locked file that reserves it while a sandbox runs as it
_LEASES_LOCK = threading.Lock()


def sandbox_uid() -> int:
    """A user id of its own for each sandbox, one the user database does not know: sandboxes
    running side by side (a batch, parallel tests, other graders on the machine) can then neither
    signal nor trace one another, nor share a process limit that one student's fork bomb would use
    up for all. An id is reserved by a lock on a file until `release_uid` (or our exit)."""
    import fcntl
    import pwd
    import random

    folder = Path(tempfile.gettempdir()) / "grader-uids"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)  # in a shared /tmp: only a private folder of ours will do
        lockable = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
    except OSError:
        lockable = False
    for _ in range(200):
        uid = random.choice(SANDBOX_UIDS)
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        if not lockable:
            return uid
        with _LEASES_LOCK:
            if uid in _LEASES:
                continue
            try:
                fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError:
                return uid
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another grader's sandbox runs as this id
                os.close(fd)
                continue
            _LEASES[uid] = fd
            return uid
    return jail.NOBODY


def release_uid(uid: int) -> None:
    """Give a sandbox's user id back (it may be drawn again once its processes are gone)."""
    with _LEASES_LOCK:
        fd = _LEASES.pop(uid, None)
    if fd is not None:
        os.close(fd)


def jail_config(scratch: Path, limits: Limits, iso: Isolation, hide: list[str]) -> dict[str, Any]:
    """What `jail.apply` needs, as plain data (it may cross an exec)."""
    needed = _needed() + [str(scratch)]
    # a folder to hide around a needed path (a course folder holding the grader's virtualenv, a
    # home folder) is covered all the same, the needed paths bound back in it (`jail._cover_hidden`)
    unhidable = sorted(set(hide) & set(needed))
    if unhidable:  # covering one would hide the interpreter, and binding it back would hide nothing
        raise ValueError(f"cannot hide {', '.join(unhidable)}: student code's interpreter needs it")
    return {
        **asdict(limits),
        "network": iso.network,
        "ipc": iso.ipc,
        "mounts": iso.mounts,
        "pids": iso.pids,
        "proc": iso.proc,
        "readonly": iso.readonly,  # every mount but the private tmpfs and these
        "writable": [str(scratch / ".ipc")],  # the full run's kernel sockets (see execute.py)
        "user": iso.user,
        "userns": os.geteuid() != 0,  # namespaces through a user namespace when not root
        "hide": list(hide),
        "needed": needed,
        "staging": str(scratch / ".jail"),
        "cwd": str(scratch),
        "shared": list(SHARED_DIRS),
        "uid": sandbox_uid() if iso.user else jail.NOBODY,
        "tmp": str(scratch / "tmp"),
    }


def _probe(cfg: dict[str, Any]) -> bool:
    """Apply a configuration in a throwaway child: can it still reach the interpreter?"""
    pid = os.fork()
    if pid == 0:
        try:
            jail.apply(cfg)
            ok = os.access(sys.executable, os.X_OK) and all(os.access(p, os.R_OK) for p in cfg["needed"])
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


_ISOLATION: Isolation | None = None


def available_isolation() -> Isolation:
    """Probe once which layers this machine allows, strongest first."""
    global _ISOLATION
    if _ISOLATION is not None:
        return _ISOLATION
    scratch = prepare_scratch(Path("."), ())
    try:
        # every layer at once; else, layer by layer, each kept if it works with those kept so
        # far: the layers do not depend on one another (the user switch needs no namespace, a
        # container without CAP_SYS_ADMIN still gets it), except a private /proc and read-only
        # mounts, which need the mount namespace and come after it
        got = {k: v for k, v in asdict(strongest()).items() if k != "notes"}
        if not _works(scratch, got):
            got = dict.fromkeys(got, False)
            for layer in PROBE_ORDER:
                trial = {**got, layer: True}
                if (layer != "user" or os.geteuid() == 0) and _works(scratch, trial):
                    got = trial
    finally:
        remove_scratch(scratch)
    _ISOLATION = _noted(Isolation(**got))
    return _ISOLATION


PROBE_ORDER = ("mounts", "pids", "proc", "readonly", "network", "ipc", "user")


def _works(scratch: Path, layers: dict[str, Any]) -> bool:
    cfg = jail_config(scratch, Limits(), Isolation(**layers), secrets())
    try:
        return _probe(cfg)
    finally:
        release_uid(cfg["uid"])


def _noted(iso: Isolation) -> Isolation:
    """`iso` with a note for each layer it lacks (a private /proc and read-only mounts need the
    mount namespace, and /proc the PID namespace too: without them, they are lacking)."""
    proc, readonly = iso.proc and iso.mounts and iso.pids, iso.readonly and iso.mounts
    notes = []
    if not iso.network:
        notes.append("no network namespace: student code could reach the network")
    if not iso.ipc:
        notes.append("no IPC namespace: student code could leave shared memory or message queues for others")
    if not iso.mounts:
        what = "any user may read" if iso.user else "the grader can read"
        notes.append(f"no mount namespace: student code could read files {what}")
    if not iso.pids:
        notes.append("no PID namespace: student code can see and signal other processes")
    if not proc:
        notes.append("no private /proc: student code can list the machine's processes and command lines")
    if not readonly:
        notes.append(
            "the machine's files are not mounted read-only"
            + ("" if iso.user else ": student code runs as the grader's user and could change the grader")
        )
    if not iso.user:
        unprivileged = os.geteuid() != 0 and iso.mounts
        notes.append(
            "student code runs as the grader's own user"
            + (", without privileges in a user namespace" if unprivileged else "")
        )
    return Isolation(
        iso.network, iso.mounts, iso.pids, iso.user, tuple(notes), ipc=iso.ipc, proc=proc, readonly=readonly
    )


_SWEPT = False


def sweep_scratch() -> None:
    """Remove the scratch directories of graders that died without cleaning up (SIGKILL, power):
    each name carries its owner's process id, and one whose owner is gone is left over."""
    for path in Path(tempfile.gettempdir()).glob("grader-*-*"):
        pid = path.name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid() or not path.is_dir() or path.is_symlink():
            continue
        try:
            if path.stat().st_uid != os.geteuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            remove_scratch(path)
        except OSError:  # alive, or not ours to judge
            continue


def prepare_scratch(folder: Path, files: tuple[str, ...]) -> Path:
    """A fresh directory with only the released files: read-only, plus a writable tmp/."""
    global _SWEPT
    if not _SWEPT:
        _SWEPT = True
        sweep_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"grader-{os.getpid()}-"))
    for rel in files:
        src = folder / rel
        dst = scratch / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        dst.chmod(0o444)
    tmp = scratch / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    (scratch / ".jail").mkdir(mode=0o700)
    for d in [scratch, *[p for p in scratch.rglob("*") if p.is_dir() and p.name not in ("tmp", ".jail")]]:
        d.chmod(0o555)
    return scratch


def remove_scratch(scratch: Path) -> None:
    """Delete a scratch directory made read-only on purpose."""
    for d in [scratch, *scratch.rglob("*")]:
        try:
            if d.is_dir() and not d.is_symlink():
                d.chmod(0o755)
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)


def scrubbed_env(scratch: Path) -> dict[str, str]:
    """The only environment student code sees."""
    tmp = str(scratch / "tmp")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": tmp,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": tmp,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


@dataclass
class Worker:
    """A running sandboxed worker: the zygote its function children are forked from."""

    proc: subprocess.Popen[bytes]
    control: socket.socket  # our end of the control channel (see channel.py)
    scratch: Path
    isolation: Isolation
    confirmed: bool = True  # False: started on trust, see `confirm`
    uid: int = -1  # the sandbox user it runs as (when root), released when it is closed
    output: channel.Capped = field(default_factory=lambda: channel.Capped(256 * 1024))
    calls: itertools.count[int] = field(default_factory=itertools.count)
    greeted: bool | None = None  # whether its ready message came (None: not read yet)
    ahead: channel.Call | None = None  # the first function of a job, sent ahead (see `send`)
    queued: list[dict[str, Any]] = field(default_factory=list)  # the job's functions, for `collect`

    def stdout_fd(self) -> int:
        out = self.proc.stdout
        return out.fileno() if out is not None and not out.closed else -1

    def close(self, *, wait: bool = True) -> None:
        """Kill it; `wait=False` when we exit next (the system then collects what is left)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.ahead is not None:
            self.ahead.abandon()
            self.ahead = None
        if wait:
            self.proc.wait()
            reap_orphans()
            release_uid(self.uid)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.control.close()


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the subreaper of our sandboxes: a namespace's init whose launcher died is
    re-parented to us instead of lingering as a zombie that counts against the sandbox user's
    process limit."""
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(wait: float = 0.05) -> None:
    """Collect exited orphans (they die a moment after their launcher, hence the short wait)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)


def start(scratch: Path, limits: Limits, *, hide: list[str] | None = None, preload: str = PRELOAD) -> Worker:
    """Start a confined worker in `scratch`.

    Until the machine's isolation is known, a worker starts at once with the strongest layers,
    unconfirmed: `confirm` waits for it to say it works, which settles what the machine allows
    without a probe in the way of a cold `grader run`.
    """
    adopt_orphans()
    if _ISOLATION is None:
        try:
            return _spawn(scratch, limits, _noted(strongest()), hide or [], preload, confirmed=False)
        except (OSError, subprocess.SubprocessError):
            pass  # the jail could not even be applied: probe what can
    return _spawn(scratch, limits, available_isolation(), hide or [], preload)


def strongest() -> Isolation:
    """Every layer; the separate user only when we are root to switch to it."""
    return Isolation(True, True, True, os.geteuid() == 0)


def greet(worker: Worker, timeout: float) -> bool:
    """Read the worker's ready message (once); whether it came and says it can work."""
    if worker.greeted is None:
        msg = channel.receive(worker, time.monotonic() + timeout)
        worker.greeted = msg is not None and msg.get("ready") is True and msg.get("ok") is True
        if msg is None or msg.get("ready") is not True:
            worker.greeted = None if msg is None else False
            return False
    return bool(worker.greeted)


def confirm(worker: Worker, limits: Limits, timeout: float) -> bool:
    """Wait for an unconfirmed worker to say it is ready; its layers then become the machine's.
    False when it cannot work under them (it died, or could not import its helpers)."""
    global _ISOLATION
    if worker.confirmed:
        return True
    if not greet(worker, timeout):
        return False
    worker.confirmed = True
    if _ISOLATION is None:
        _ISOLATION = worker.isolation
    return True


def _spawn(
    scratch: Path, limits: Limits, iso: Isolation, hide: list[str], preload: str, *, confirmed: bool = True
) -> Worker:
    cfg = jail_config(scratch, limits, iso, hidden(hide))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one packet, one message
    try:
        proc = subprocess.Popen(
            # -S: the site directories come by name; their .pth hooks (an editable install's
            # import finder among them) would cost every worker start ~20 ms for nothing
            [sys.executable, "-I", "-S", "-B", "-c", HARNESS_SOURCE],
            cwd=scratch,
            env={
                **scrubbed_env(scratch),
                "GRADER_CONTROL_FD": str(theirs.fileno()),
                "GRADER_PRELOAD": preload,
                "GRADER_PIDNS": "1" if iso.pids else "",
                "GRADER_SITE": os.pathsep.join(site_dirs()),
                # the jail's private copies of the shared folders (never the host's), emptied
                # between functions
                "GRADER_CLEAN": os.pathsep.join(jail.shared_to_cover(cfg["shared"], cfg["needed"]))
                if iso.mounts
                else "",
            },
            stdin=subprocess.DEVNULL,  # jobs never reach the zygote: see channel.py
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(theirs.fileno(),),
            preexec_fn=lambda: jail.apply(cfg),
            close_fds=True,
        )
    except BaseException:
        ours.close()
        release_uid(cfg["uid"])
        raise
    finally:
        theirs.close()
    return Worker(proc, ours, scratch, iso, confirmed, uid=cfg["uid"])


def send(worker: Worker, job: dict[str, Any]) -> bool:
    """Hand a job to the worker: its first function starts at once (the child runs while the
    caller goes on), the others when `collect` gets to them. False when the worker is gone."""
    worker.queued = list(job.get("tasks", []))
    if not worker.queued:
        return worker.proc.poll() is None
    worker.ahead = channel.Call(worker, channel.anonymous(worker.queued[0]))
    return worker.ahead.sent


def collect(worker: Worker, deadline: float, limits: Limits) -> dict[str, dict[str, Any]]:
    """Each function's raw result of the job sent, one fresh child of the zygote after another;
    functions without one (the worker died, or the deadline passed) are missing."""
    results: dict[str, dict[str, Any]] = {}
    call, worker.ahead = worker.ahead, None
    tasks, worker.queued = worker.queued, []
    if worker.greeted is None:  # its ready message comes first (a confirmed worker's too)
        greet(worker, max(deadline - time.monotonic(), 0.0))
    for task in tasks:
        if worker.greeted is None or time.monotonic() > deadline:
            break
        call = call or channel.Call(worker, channel.anonymous(task))
        got = call.finish(limits.result_bytes)
        call = None
        if got is None:
            break
        results[task["function"]] = channel.named(got, task)
    if call is not None:
        call.abandon()
    return results


def submit(
    worker: Worker, job: dict[str, Any], *, timeout: float, limits: Limits
) -> dict[str, dict[str, Any]]:
    """Run a job; return each function's raw result. Functions without one are missing."""
    deadline = time.monotonic() + timeout
    return collect(worker, deadline, limits) if send(worker, job) else {}
