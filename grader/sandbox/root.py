"""What the sandbox's root shows of the host's system, besides the interpreter and the scratch.

The root is an allow-list (see jail.py): these folders and files, read-only, where they exist,
and an /etc/passwd and /etc/group of its own.
"""

from __future__ import annotations

import sys

from grader.sandbox.jail import NOBODY

# programs and the libraries they load, and of /etc only what loading and running them reads
# (the dynamic linker's cache, time zone, fonts, MIME types, Python's and Jupyter's configuration)
SYSTEM = (
    *("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/nix", "/gnu"),
    *(f"/etc/{name}" for name in (
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
        "host.conf", "hosts", "mime.types", "fonts", "alternatives", "os-release", "python3",
        f"python{sys.version_info.major}.{sys.version_info.minor}", "matplotlibrc", "jupyter",
        "ipython",
    )),
)  # fmt: skip


def users(uid: int, gid: int, home: str) -> dict[str, str]:
    """The sandbox's /etc/passwd and /etc/group: root, nobody and the user student code runs as,
    none of the host's (their names and home folders are none of its business)."""
    accounts = {0: "root:x:0:0:root:/root", NOBODY: f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent"}
    accounts.setdefault(uid, f"student:x:{uid}:{gid}:student:{home}")
    groups = {0: "root:x:0:", NOBODY: f"nogroup:x:{NOBODY}:"}
    groups.setdefault(gid, f"student:x:{gid}:")
    return {
        "/etc/passwd": "".join(f"{line}:/usr/sbin/nologin\n" for line in accounts.values()),
        "/etc/group": "".join(f"{line}\n" for line in groups.values()),
    }
