"""Landlock: an allow-list of the machine's files that needs neither a mount nor a capability.

Since Linux 5.13 an unprivileged process may restrict itself, and all it will start, to a set of
files and folders, each with the rights it keeps there (the kernel's
Documentation/userspace-api/landlock.rst). `jail.apply` calls `restrict_files` in every sandbox
process (the zygote, the full run's kernel) once nothing it does needs the file system any more,
on what the sandbox's root shows as well (`allowed`, from the jail's own configuration): the
system's folders and the interpreter's installation readable and executable, the scratch
readable, its tmp/ and the private tmp places writable, the harmless devices, /proc readable.
With a mount namespace it is defence in depth. Without one (a container without CAP_SYS_ADMIN)
it is what keeps student code from classmates' notebooks, the reports, the expected values, the
home folders and everything else of the machine. Names stay visible to stat(), not to listing.

Landlock grants by hierarchy, and no rule takes a right away: a folder that holds a hidden one
(site-packages holding the grader, a folder holding the venv and the expected values) is never
granted itself, only each of its entries but the one on the way to the hidden folder, and so on
down (`_grant`). The machine's /tmp, /var/tmp and /dev/shm, writable without a mount namespace,
are granted whole or not at all: where a hidden folder lies in one (or, when student code runs
as the grader's own user, a folder it is shown, which it could then change), student code could
not even make a file at its top, and its other entries are other people's (student code keeps
the scratch's tmp/, its TMPDIR and HOME).

Sent into the sandbox as text too, joined into jail.py's in place of its import of it (see
`worker.joined`): standard library only, and no `from __future__` import.
"""

import ctypes
import os
import stat
from typing import Any

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # every architecture but alpha
CREATE_RULESET_VERSION, RULE_PATH_BENEATH, NO_NEW_PRIVS = 1, 1, 38  # the last: PR_SET_NO_NEW_PRIVS

# access rights to files and folders (linux/landlock.h)
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
# the rights each ABI version added (4 and 6 added network and scoping rights, 7 logging flags)
ADDED = {1: (1 << 13) - 1, 2: REFER, 3: TRUNCATE, 5: IOCTL_DEV}
ON_FILES = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a rule on a file may name

# ABI 6 scopes: no abstract unix socket and no signal outside the sandbox's own Landlock domain
# (without a network namespace, abstract sockets are the machine's, and no filter can read an
# address: another sandbox's or a service's socket was one connect away)
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL, SCOPED_SINCE = 1, 2, 6

READ = READ_FILE | READ_DIR
RUN = READ | EXECUTE
MAKE = MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_SYM | REMOVE_DIR | REMOVE_FILE | REFER
WRITE = READ | WRITE_FILE | TRUNCATE | MAKE  # no EXECUTE: nothing the sandbox wrote runs as a program
DEVICE = READ_FILE | WRITE_FILE | TRUNCATE  # no IOCTL_DEV, no MAKE_CHAR/MAKE_BLOCK anywhere


def _syscall(number: int, *args: Any) -> int:
    """A system call, every argument passed as a whole register (the kernel reads them so)."""
    whole = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(ctypes.CDLL(None, use_errno=True).syscall(ctypes.c_long(number), *whole))


def version() -> int:
    """The running kernel's Landlock ABI version; 0 without Landlock (see `why_missing`)."""
    return max(_syscall(SYS_CREATE_RULESET, ctypes.c_void_p(None), 0, CREATE_RULESET_VERSION), 0)


def why_missing() -> str:
    """Why this kernel gives no Landlock, or "" when it does."""
    if _syscall(SYS_CREATE_RULESET, ctypes.c_void_p(None), 0, CREATE_RULESET_VERSION) > 0:
        return ""
    err = ctypes.get_errno()
    if err == 95:  # EOPNOTSUPP
        return "Landlock is built into this kernel but not enabled (the lsm= boot option)"
    if err == 38:  # ENOSYS
        return "this kernel has no Landlock (Linux 5.13 or later), or a seccomp profile refuses it"
    return f"Landlock refused: {os.strerror(err)}"


def handled(abi: int) -> int:
    """The rights a ruleset handles under ABI version `abi`: those the kernel knows (a right it
    does not know cannot be refused, and asking for it makes the kernel refuse the ruleset)."""
    return sum(rights for since, rights in ADDED.items() if since <= abi)


def _below(path: str, top: str) -> bool:
    return path != top and path.startswith(top.rstrip("/") + "/")


def _grant(path: str, access: int, hidden: list[str], rules: list[tuple[str, int]]) -> None:
    """Grant `access` on `path`, or, when a hidden folder lies inside it, on each of its entries
    but the hidden ones (recursively: a right on a folder reaches all beneath it). A symbolic
    link among them is left out: granting it would grant where it points."""
    if path in hidden:
        return
    if not any(_below(h, path) for h in hidden):
        rules.append((path, access))
        return
    try:
        with os.scandir(path) as entries:
            inner = [e.path for e in entries if not e.is_symlink()]
    except OSError:  # out of reach: the sandbox cannot reach it either
        return
    for entry in sorted(inner):
        _grant(entry, access, hidden, rules)


def allowed(cfg: dict[str, Any], places: tuple[str, ...], devices: tuple[str, ...]) -> list[tuple[str, int]]:
    """(path, rights) of everything the sandbox may reach, from the jail's configuration (see
    `isolation.jail_config`): what its root shows (`places`: the tmp places a mount namespace
    makes private, `devices`: the names under /dev it shows), nothing under `cfg["hide"]`."""
    hidden = [os.path.realpath(h) for h in cfg.get("hide", [])]
    scratch = cfg["cwd"]
    shown = [(p, RUN) for p in (*cfg.get("system", []), *cfg.get("needed", [])) if p != scratch]
    shown += [(scratch, READ), ("/proc", READ), *((f"/dev/{d}", DEVICE) for d in devices)]
    shown += [(p, WRITE) for p in ([cfg["tmp"]] if cfg.get("tmp") else [])]
    rules: list[tuple[str, int]] = []
    for path, access in shown:
        _grant(os.path.realpath(path), access, hidden, rules)
    if cfg.get("mounts"):  # fresh tmpfs of the sandbox's own, its own /etc/passwd and /etc/group, and
        rules += [(p, WRITE) for p in places] + [(p, READ_FILE) for p in cfg.get("files", {})]
        return [*rules, ("/", READ_DIR)]  # listing: the root built holds nothing but the allow-list
    # without one, nothing is listed but what is granted (the machine's /home, the submissions)
    # the machine's, shared: whole where no hidden folder lies in it, or not at all; nor where,
    # as the grader's own user, student code would get to write what it is shown (the scratch)
    kept = hidden + ([] if cfg.get("user") else [os.path.realpath(p) for p, _ in shown])
    for place in places:
        real = os.path.realpath(place)
        if not any(k == real or _below(k, real) or _below(real, k) for k in kept):
            rules.append((real, WRITE))
    return rules


class _PathBeneath(ctypes.Structure):  # struct landlock_path_beneath_attr
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _ok(rc: int, what: str) -> None:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock {what}: {os.strerror(err)}")


def restrict(rules: list[tuple[str, int]]) -> None:
    """Restrict the calling process and all it starts to `rules`, each path with its rights, the
    rights masked to what the running kernel knows (the kernel documentation's best effort)."""
    abi = version()
    if abi <= 0:
        raise OSError(38, f"no Landlock: {why_missing()}")
    mask = handled(abi)
    # struct landlock_ruleset_attr: the file rights, the network rights (none), the scopes (ABI 6)
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= SCOPED_SINCE else 0
    attr = (ctypes.c_uint64 * 3)(mask, 0, scoped) if scoped else (ctypes.c_uint64 * 1)(mask)
    ruleset = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    _ok(ruleset, "create_ruleset")
    try:
        for path, access in rules:
            try:  # our paths are resolved: a link there now is not ours to follow
                fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:  # missing, or out of the sandbox's reach anyway
                continue
            try:
                mode = os.fstat(fd).st_mode
                if stat.S_ISLNK(mode):
                    continue
                rights = access & mask & (-1 if stat.S_ISDIR(mode) else ON_FILES)
                rule = _PathBeneath(rights, fd)
                _ok(_syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0), path)
            finally:
                os.close(fd)
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # reads whole registers too
        _ok(prctl(*(ctypes.c_ulong(a) for a in (NO_NEW_PRIVS, 1, 0, 0, 0))), "no_new_privs")
        _ok(_syscall(SYS_RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)


def restrict_files(cfg: dict[str, Any], places: tuple[str, ...], devices: tuple[str, ...]) -> None:
    """The jail's call: restrict us to what `allowed` says, when `cfg` asks for it."""
    if cfg.get("landlock"):
        restrict(allowed(cfg, places, devices))
