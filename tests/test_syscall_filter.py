"""The syscall filter itself (grader/sandbox/syscalls.py, installed by jail.apply): its numbers
against the kernel's headers, its program read on paper for both architectures, every refusal
checked against the running kernel, and how a machine without it is reported and probed.

The attacks it stops, graded as students' code in every mode, are in test_syscall_attacks.py.
"""

from __future__ import annotations

import ctypes
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grader.cli import main
from grader.sandbox import isolation, jail, landlock, syscalls
from grader.sandbox.limits import Isolation, Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from tests.jailkit import exit_code_in_child, saw_in_function
from tests.redteam_scenarios import REFERENCE

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),  # arm64 uses the generic table
}
ALLOW, ERRNO = syscalls.RET_ALLOW, syscalls.RET_ERRNO
EPERM, EOPNOTSUPP, ENOSYS = 1, 95, 38
AF_INET, AF_INET6, AF_PACKET = 2, 10, 17
FORK_FLAGS, THREAD_FLAGS = 0x01200011, 0x003D0F00  # what glibc's fork and pthread_create pass clone
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def verdict(code: list[syscalls.Insn], nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """What the filter answers for a call: a reference interpreter of the BPF subset we emit."""
    data = {syscalls.NR_AT: nr & 0xFFFFFFFF, syscalls.ARCH_AT: arch}
    for i, value in enumerate((*args, 0, 0, 0, 0, 0, 0)[:6]):
        data[syscalls._low_word(i)] = value & 0xFFFFFFFF
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == syscalls.RET:
            return k
        if op == syscalls.LD_ABS:
            acc, pc = data[k], pc + 1
            continue
        hit = {syscalls.JEQ: acc == k, syscalls.JGE: acc >= k, syscalls.JSET: bool(acc & k)}[op]
        pc += 1 + (jt if hit else jf)


@pytest.mark.parametrize("arch", sorted(syscalls.NUMBERS))
def test_the_numbers_are_the_kernels(arch: str) -> None:
    header = HEADERS[arch]
    if not header.exists():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    text = header.read_text()
    defined = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", text)}
    assert syscalls.NUMBERS[arch] == {name: defined[name] for name in syscalls.NUMBERS[arch]}
    names = {rule.name for rule in syscalls.RULES}
    assert names - set(syscalls.NUMBERS[arch]) == names - set(defined)  # every call the arch has


@pytest.mark.parametrize("arch", sorted(syscalls.NUMBERS))
def test_the_program_on_paper(arch: str) -> None:
    code = syscalls.instructions(arch)
    assert code is not None and len(code) < 4096  # the kernel's BPF_MAXINSNS
    numbers, audit = syscalls.NUMBERS[arch], syscalls.AUDIT_ARCH[arch]
    for rule in syscalls.RULES:
        if rule.name in numbers:
            refused = 2 if rule.allowed is not None else rule.flags or 0  # an argument it refuses
            assert verdict(code, numbers[rule.name], audit, (refused,)) == ERRNO | rule.errno, rule.name
    socket, clone, personality = numbers["socket"], numbers["clone"], numbers["personality"]
    assert verdict(code, socket, audit, (1, 1)) == ALLOW  # AF_UNIX
    assert verdict(code, socket, audit, (1 | 1 << 32,)) == ALLOW  # the kernel reads an int: AF_UNIX
    assert verdict(code, socket, audit, (AF_INET | 1 << 32,)) == ERRNO | EPERM
    for family in (AF_INET, AF_INET6, AF_PACKET, 0, 0xFFFF):
        assert verdict(code, socket, audit, (family,)) == ERRNO | EPERM
    assert verdict(code, socket, audit, (16,)) == ERRNO | EOPNOTSUPP  # netlink: see syscalls.RULES
    assert verdict(code, numbers["socketpair"], audit, (AF_INET,)) == ERRNO | EPERM
    assert verdict(code, clone, audit, (FORK_FLAGS,)) == verdict(code, clone, audit, (THREAD_FLAGS,)) == ALLOW
    for flag in (CLONE_NEWUSER, CLONE_NEWNET, 0x00020000):
        assert verdict(code, clone, audit, (FORK_FLAGS | flag,)) == ERRNO | EPERM
    assert verdict(code, numbers["clone3"], audit) == ERRNO | ENOSYS  # libc falls back to clone
    assert verdict(code, personality, audit, (0xFFFFFFFF,)) == verdict(code, personality, audit) == ALLOW
    assert verdict(code, personality, audit, (0x0040000,)) == ERRNO | EPERM  # ADDR_NO_RANDOMIZE
    refused = {numbers[r.name] for r in syscalls.RULES if r.name in numbers}
    for nr in set(range(460)) - refused:  # everything else passes
        assert verdict(code, nr, audit) == ALLOW, nr
    for other in (0x40000003, 0xC000003E, 0xC00000B7):  # i386, and the other of our two
        if other != audit:
            assert verdict(code, numbers["socket"], other, (1,)) == ERRNO | EPERM
            assert verdict(code, 0, other) == ERRNO | EPERM  # anything through another ABI
    x32 = verdict(code, syscalls.X32_BIT | 39, audit)  # getpid through x32's numbers
    assert x32 == (ERRNO | EPERM if arch == "x86_64" else ALLOW)  # aarch64 has no such ABI


def _args(rule: syscalls.Rule) -> list[int]:
    """Arguments the kernel would refuse anyway (bad pointers, bad values): should the filter
    let a call through, nothing happens but a wrong errno."""
    if rule.name in ("shmget", "msgget", "semget"):
        return [-1, 0, 0]  # no IPC_CREAT: ENOENT, nothing made
    first = 2 if rule.allowed is not None else (CLONE_NEWUSER | 0x00010000) if rule.flags else -1
    return [first, -1, -1, -1, -1, -1]  # clone: CLONE_THREAD without CLONE_SIGHAND is EINVAL


def test_every_refusal_holds_in_the_running_kernel() -> None:
    program = syscalls.program()
    if program is None:
        pytest.skip(syscalls.why_missing())
    numbers = syscalls.NUMBERS[syscalls.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    wrong: list[str] = []

    def check() -> int:
        jail._filter_syscalls(program)
        for rule in syscalls.RULES:
            if rule.name in numbers:
                ctypes.set_errno(0)
                got = libc.syscall(ctypes.c_long(numbers[rule.name]), *map(ctypes.c_long, _args(rule)))
                if got != -1 or ctypes.get_errno() != rule.errno:
                    wrong.append(f"{rule.name}: {got} errno {ctypes.get_errno()}")
        if syscalls.machine() == "x86_64" and (libc.syscall(syscalls.X32_BIT | 39), ctypes.get_errno()) != (
            -1,
            1,
        ):
            wrong.append("getpid through x32")
        print("\n".join(wrong), flush=True)
        return 1 if wrong else 0

    assert exit_code_in_child(check) == 0


def test_no_table_no_filter_and_the_report_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscalls, "machine", lambda: "riscv64")
    assert syscalls.program() is None and "riscv64" in syscalls.why_missing()
    iso = isolation._noted(isolation.strongest())
    assert not iso.syscalls and not iso.complete
    assert any(n.startswith("no syscall filter (we have no system call table for riscv64") for n in iso.notes)
    scratch = prepare_scratch(Path("."), ())
    cfg = isolation.jail_config(scratch, Limits(), iso, isolation.secrets())
    try:
        assert cfg["syscalls"] is None  # nothing to install: the jail goes on without it
        assert exit_code_in_child(lambda: (jail.apply(cfg), 0)[1]) == 0
    finally:
        isolation.release_uid(cfg["uid"])
        remove_scratch(scratch)


def test_a_complete_isolation_needs_the_filter() -> None:
    assert not Isolation(True, True, True, True, syscalls=False).complete
    noted = isolation._noted(Isolation(True, True, True, True, syscalls=False))
    assert [n for n in noted.notes if "syscall" in n] == [
        "no syscall filter (the kernel refused a seccomp filter): student code may open network"
        " sockets, use SysV IPC, io_uring, ptrace and every other system call the kernel allows it"
    ]
    without_ns = isolation._noted(Isolation(False, True, True, True, ipc=False, files=False)).notes
    assert any("abstract ones" in n for n in without_ns)  # what the filter cannot stop
    scoped = isolation._noted(Isolation(False, True, True, True, ipc=False)).notes  # Landlock's scopes do
    assert any("abstract ones" in n for n in scoped) == (landlock.version() < landlock.SCOPED_SINCE)
    assert any("unix sockets that file permissions let" in n for n in scoped)  # pathname ones, always
    assert any("refuses SysV IPC and POSIX queues" in n for n in without_ns)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["run", "--fast", "--format", "json", *args, str(REFERENCE)])


def test_a_kernel_refusing_the_filter_degrades_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(program: str) -> None:  # as prctl(PR_SET_SECCOMP) without CONFIG_SECCOMP_FILTER
        raise OSError(22, "seccomp: Invalid argument")

    before = isolation.available_isolation()
    monkeypatch.setattr(isolation, "_ISOLATION", None)
    monkeypatch.setattr(jail, "_filter_syscalls", refused)
    iso = isolation.available_isolation()
    assert not iso.syscalls and not iso.complete
    layers = ("network", "ipc", "mounts", "pids", "proc", "readonly", "user", "budget")
    assert {k: getattr(iso, k) for k in layers} == {k: getattr(before, k) for k in layers}  # the rest kept
    assert any("the kernel refused a seccomp filter" in n for n in iso.notes)
    isolation._ISOLATION = None
    required = _cli("--require-isolation")
    assert required.exit_code != 0 and "no syscall filter" in required.output
    isolation._ISOLATION = None
    graded = _cli()
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert report["score"] == report["max_score"]
    assert any(n.startswith("no syscall filter") for n in report["isolation"])


def test_the_filter_is_on_where_student_code_runs(tmp_path: Path) -> None:
    if not isolation.available_isolation().syscalls:
        pytest.skip("no syscall filter on this machine: " + "; ".join(isolation.available_isolation().notes))
    code = 'obs["mode"] = open("/proc/self/status").read().split("Seccomp:")[1].split()[0]\n'
    assert saw_in_function(code, tmp_path / "alice") == {"mode": "2"}  # SECCOMP_MODE_FILTER
