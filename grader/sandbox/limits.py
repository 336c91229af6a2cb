"""What a sandbox may use (`Limits`) and which isolation layers it got (`Isolation`): plain data,
passed to the jail, keyed by the answer cache, and shown in reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker (each function child inherits them)."""

    memory_mb: int = 2048  # each process's address space, and the sandbox's memory in all (a cgroup)
    cpu_seconds: int = 120  # per process
    file_size_mb: int = 16
    tmp_mb: int = 64  # the writable tmp folder, and each of /tmp, /var/tmp, /dev/shm
    processes: int = 64  # in the sandbox at once
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
    files: bool = True  # Landlock: an allow-list of the machine's files, mounts or not (landlock.py)
    budget: bool = True  # a cgroup: memory and processes bounded for the sandbox as a whole
    syscalls: bool = True  # a seccomp filter refusing sockets but unix ones, SysV IPC, ptrace...

    @property
    def complete(self) -> bool:
        """All layers isolation needs. Not `files`: with a mount namespace Landlock is defence in
        depth, and without one isolation is incomplete whatever Landlock holds back."""
        layers = (self.network, self.ipc, self.mounts, self.pids, self.proc, self.readonly, self.user)
        return all(layers) and self.budget and self.syscalls
