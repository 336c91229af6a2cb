"""The syscall filter: the system calls student code is refused, as a seccomp program.

A layer that needs no namespace and no capability: once a process may gain no privileges
(PR_SET_NO_NEW_PRIVS), it may install a seccomp filter on itself, which every process it starts
inherits and none can remove. A container without CAP_SYS_ADMIN (Docker's default capabilities,
how Gradescope runs autograders) gives the sandbox no network and no IPC namespace; this filter
still keeps student code off the network and out of the host's SysV IPC, among the rest of
`RULES`. It is classic BPF assembled here by hand (no libseccomp), shipped to the jail as hex in
its configuration (the jail runs standard library only) and installed there as its last step.

A refused call fails with EPERM ("Operation not permitted", a plain PermissionError in Python),
never a kill: a student's error message then says what happened (two exceptions, each said at its
rule: netlink sockets get EOPNOTSUPP, clone3 ENOSYS). The program checks the
architecture first: a call made through another ABI (i386's `int 0x80` on x86_64, or x32, whose
numbers carry bit 0x40000000) would have numbers of its own, and is refused whatever it is.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass

EPERM, ENOSYS, EOPNOTSUPP = 1, 38, 95
AF_UNIX, AF_NETLINK = 1, 16
# clone's flags that make namespaces (clone's own CSIGNAL bits hold CLONE_NEWTIME's value)
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
PER_LINUX, PER_QUERY = 0, 0xFFFFFFFF


@dataclass(frozen=True)
class Rule:
    """A system call refused with `errno`: always, or unless its argument `arg` (the low 32 bits:
    the kernel reads an int there) is one of `allowed` (`errnos`: other errnos for some values),
    or when that argument has a bit of `flags` set."""

    name: str
    why: str
    allowed: tuple[int, ...] | None = None
    errnos: tuple[tuple[int, int], ...] = ()
    flags: int = 0
    arg: int = 0
    errno: int = EPERM


def _each(why: str, names: str) -> tuple[Rule, ...]:
    return tuple(Rule(name, why) for name in names.split())


_URING = "io_uring makes socket and file calls that this filter never sees"
_SYSV = "the host's own without an IPC namespace: objects outlive the sandbox, pass data between students"
_MQ = "POSIX message queues: the host's own without an IPC namespace, as SysV's"
_OTHERS = "reads or changes another process's memory or descriptors"
_KEYS = "keyrings are per user, not per sandbox: a channel between sandboxes, and kernel attack surface"
_MOUNTS = "the jail's mounts are settled before student code runs: changing them serves only to escape"
_MACHINE = "the machine's own: needs a capability student code should never hold, refused even if it did"

RULES: tuple[Rule, ...] = (
    # netlink: EOPNOTSUPP, the one failure of getifaddrs() libzmq survives (the kernel's ipykernel
    # binds a TCP pipe for its forked processes' output; refused, it goes on without one)
    Rule(
        "socket",
        "the network, where no network namespace hides it: unix sockets only",
        allowed=(AF_UNIX,),
        errnos=((AF_NETLINK, EOPNOTSUPP),),
    ),
    Rule("socketpair", "pairs of unix sockets only (the harness's own channels)", allowed=(AF_UNIX,)),
    *_each(_URING, "io_uring_setup io_uring_enter io_uring_register"),
    *_each(_SYSV, "shmget shmat shmdt shmctl msgget msgsnd msgrcv msgctl semget semop semtimedop semctl"),
    *_each(_MQ, "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr"),
    *_each(_OTHERS, "ptrace process_vm_readv process_vm_writev pidfd_getfd process_madvise"),
    *_each(_KEYS, "keyctl add_key request_key"),
    Rule("bpf", "eBPF programs: a large kernel attack surface, never needed"),
    Rule("perf_event_open", "performance counters: kernel attack surface and side channels"),
    Rule("userfaultfd", "a classic tool for winning kernel races, never needed"),
    *_each(_MOUNTS, "mount umount2 pivot_root chroot mount_setattr open_tree move_mount fsopen fsconfig"),
    *_each(_MOUNTS, "fsmount fspick"),
    Rule("unshare", "new namespaces: kernel attack surface (user namespaces), never needed"),
    Rule("setns", "entering another namespace: never needed"),
    Rule("clone", "new namespaces through clone: as unshare", flags=CLONE_NAMESPACES),
    Rule("clone3", "its flags lie in memory a filter cannot read: ENOSYS sends libc to clone", errno=ENOSYS),
    Rule("personality", "Linux's only: no READ_IMPLIES_EXEC, no ASLR off", allowed=(PER_LINUX, PER_QUERY)),
    *_each(_MACHINE, "kexec_load kexec_file_load init_module finit_module delete_module reboot swapon"),
    *_each(_MACHINE, "swapoff acct syslog open_by_handle_at iopl ioperm"),
)

# Each architecture's numbers (x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64: the
# generic table, include/uapi/asm-generic/unistd.h) and its AUDIT_ARCH_* value. A call missing
# from an architecture's table (iopl on aarch64) does not exist there.
_X86_64 = {
    "socket": 41, "socketpair": 53, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "shmget": 29, "shmat": 30, "shmdt": 67, "shmctl": 31, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
    "msgctl": 71, "semget": 64, "semop": 65, "semtimedop": 220, "semctl": 66, "mq_open": 240,
    "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
    "process_madvise": 440, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "mount_setattr": 442, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "unshare": 272, "setns": 308, "clone": 56,
    "clone3": 435, "personality": 135, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "syslog": 103, "open_by_handle_at": 304, "iopl": 172, "ioperm": 173,
}  # fmt: skip
_AARCH64 = {
    "socket": 198, "socketpair": 199, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "shmget": 194, "shmat": 196, "shmdt": 197, "shmctl": 195, "msgget": 186, "msgsnd": 189, "msgrcv": 188,
    "msgctl": 187, "semget": 190, "semop": 193, "semtimedop": 192, "semctl": 191, "mq_open": 180,
    "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438,
    "process_madvise": 440, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
    "perf_event_open": 241, "userfaultfd": 282, "mount": 40, "umount2": 39, "pivot_root": 41,
    "chroot": 51, "mount_setattr": 442, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "unshare": 97, "setns": 268, "clone": 220,
    "clone3": 435, "personality": 92, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
    "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
    "syslog": 116, "open_by_handle_at": 265,
}  # fmt: skip
NUMBERS = {"x86_64": _X86_64, "aarch64": _AARCH64}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_BIT = 0x40000000  # x86_64's x32 ABI: the same AUDIT_ARCH, numbers with this bit set

# classic BPF, as seccomp runs it over struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6]}
LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ/JGE/JSET|K, BPF_RET|K
NR_AT, ARCH_AT, ARGS_AT = 0, 4, 16
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000

Insn = tuple[int, int, int, int]  # code, jump if true, jump if false, k


def machine() -> str:
    return os.uname().machine


def why_missing(arch: str | None = None) -> str:
    """Why this machine gets no filter from us ('' when it does)."""
    arch = arch or machine()
    return "" if arch in NUMBERS else f"we have no system call table for {arch} (only {', '.join(NUMBERS)})"


def _refuse(errno: int) -> Insn:
    return (RET, 0, 0, RET_ERRNO | errno)


def _low_word(arg: int) -> int:
    """Where the low 32 bits of argument `arg` lie in seccomp_data."""
    return ARGS_AT + 8 * arg + (0 if sys.byteorder == "little" else 4)


def _block(nr: int, rule: Rule) -> list[Insn]:
    """The instructions for one rule, entered with the call's number loaded; a call that is not
    `nr` jumps past them. A rule that loads an argument ends in a return either way (the number
    is no longer loaded)."""
    if rule.allowed is not None:
        verdicts = [*((v, RET_ALLOW) for v in rule.allowed), *((v, RET_ERRNO | e) for v, e in rule.errnos)]
        body = [(LD_ABS, 0, 0, _low_word(rule.arg))]
        for value, verdict in verdicts:
            body += [(JEQ, 0, 1, value), (RET, 0, 0, verdict)]
        body.append(_refuse(rule.errno))
    elif rule.flags:
        body = [(LD_ABS, 0, 0, _low_word(rule.arg)), (JSET, 1, 0, rule.flags), (RET, 0, 0, RET_ALLOW)]
        body.append(_refuse(rule.errno))
    else:
        body = [_refuse(rule.errno)]
    return [(JEQ, 0, len(body), nr), *body]


def instructions(arch: str | None = None) -> list[Insn] | None:
    """The filter for `arch` (this machine's by default) as BPF instructions; None without a table."""
    arch = arch or machine()
    numbers = NUMBERS.get(arch)
    if numbers is None:
        return None
    code: list[Insn] = [
        (LD_ABS, 0, 0, ARCH_AT),
        (JEQ, 1, 0, AUDIT_ARCH[arch]),
        _refuse(EPERM),
        (LD_ABS, 0, 0, NR_AT),
    ]
    if arch == "x86_64":
        code += [(JGE, 0, 1, X32_BIT), _refuse(EPERM)]
    for rule in RULES:
        if rule.name in numbers:
            code += _block(numbers[rule.name], rule)
    return [*code, (RET, 0, 0, RET_ALLOW)]


def program(arch: str | None = None) -> str | None:
    """The filter as the jail installs it: struct sock_filter[] as hex (None without a table)."""
    code = instructions(arch)
    return None if code is None else b"".join(struct.pack("=HBBI", *insn) for insn in code).hex()
