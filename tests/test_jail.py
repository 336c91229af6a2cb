"""The jail's unprivileged path: namespaces through a user namespace, and no way back out."""

from __future__ import annotations

import ctypes
import os
from dataclasses import replace
from pathlib import Path

import pytest

from grader import jail, sandbox


def _in_child(cfg: dict, secret: Path) -> int:
    """Apply `cfg` in a child, then try to see the secret, even by unmounting its cover."""
    pid = os.fork()
    if pid == 0:
        try:
            jail.apply(cfg)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.umount2(str(secret.parent).encode(), 2)  # MNT_DETACH: must not be allowed
            libc.unshare(jail.CLONE_NEWUSER | jail.CLONE_NEWNS)  # a namespace of its own does not help
            libc.umount2(str(secret.parent).encode(), 2)
            os._exit(3 if secret.exists() else 0)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_user_namespace_path_hides_secrets_for_good(tmp_path: Path) -> None:
    probe = sandbox.available_isolation()
    if not probe.mounts:
        pytest.skip("this machine allows no mount namespace")
    secret_dir = tmp_path / "expected"
    secret_dir.mkdir()
    secret = secret_dir / "answers.json"
    secret.write_text("{}")
    scratch = sandbox.prepare_scratch(Path("."), ())
    try:
        iso = replace(probe, user=False)
        cfg = {**sandbox.jail_config(scratch, sandbox.Limits(), iso, [str(secret_dir)]), "userns": True}
        cfg["shared"] = []  # keep tmp_path (under /tmp) visible: only the secret is covered
        assert _in_child(cfg, secret) == 0
    finally:
        sandbox.remove_scratch(scratch)
