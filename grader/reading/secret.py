"""The per-installation secret that seeds hidden cases, and where its expected values live.

The secret is 32 random bytes in `$XDG_CONFIG_HOME/grader/secret` (0600, in a 0700 folder;
`~/.config` without XDG_CONFIG_HOME), or the value of GRADER_SECRET. Expected values computed on
secret cases go beside it (`.../grader/expected/`), never into the repository. Nothing here
imports numpy: reading the secret is on the path of a cold `grader run`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from grader.errors import SpecError

ENV = "GRADER_SECRET"
MIN_LENGTH = 16  # characters of a GRADER_SECRET value: shorter is guessable
SHARED = ""  # the variant every student shares (no --variants per-student)


def folder() -> Path:
    """The grader's configuration folder: the secret and the secret cases' expected values. A
    relative XDG_CONFIG_HOME is ignored, as the XDG specification says (it would name another
    folder whenever the working directory changes)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "grader"


def path() -> Path:
    return folder() / "secret"


def init(*, force: bool = False) -> Path:
    """Write a new random secret (0600); refuse to replace one unless `force`."""
    target = path()
    if target.exists() and not force:
        raise SpecError(f"{target} exists already: give --force to replace it (every secret case changes)")
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    tmp = target.with_name(f".secret.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(os.urandom(32).hex() + "\n")  # the kernel's CSPRNG, as `secrets` uses
    os.replace(tmp, target)
    return target


def forget_cases() -> int:
    """Remove the secret cases' expected files (shared and every student's variant): made with a
    secret just replaced, they answer nothing any more, and are answer keys all the same. Links
    are never followed; a folder left empty is removed. Returns how many files were removed."""
    removed = 0
    for top, dirs, names in os.walk(folder() / "expected", topdown=False, followlinks=False):
        for name in names:
            doc = os.path.join(top, name)
            if name.endswith(".json") and not os.path.islink(doc):
                os.unlink(doc)
                removed += 1
        for d in dirs:
            try:
                os.rmdir(os.path.join(top, d))
            except OSError:  # not empty (something else in it), or a link: left alone
                pass
    return removed


def load() -> bytes | None:
    """The configured secret, or None when there is none."""
    value = os.environ.get(ENV)
    if value is not None:
        if len(value.strip()) < MIN_LENGTH:
            raise SpecError(f"{ENV} is shorter than {MIN_LENGTH} characters: too easy to guess")
        return value.strip().encode()
    try:
        text = path().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SpecError(f"{path()} cannot be read ({exc.strerror})") from None
    if len(text) < MIN_LENGTH:
        raise SpecError(f"{path()} is shorter than {MIN_LENGTH} characters: run `grader secret init --force`")
    return text.encode()


def mac(secret: bytes, *parts: str) -> bytes:
    """HMAC-SHA256 of the parts (joined by NUL) under the secret."""
    return hmac.new(secret, "\0".join(parts).encode(), hashlib.sha256).digest()


def fingerprint(secret: bytes) -> str:
    """A short one-way name of the secret: tells expected files of another secret apart."""
    return mac(secret, "fingerprint").hex()[:16]


def variant_of(secret: bytes, student: str | None) -> str:
    """A student's variant id (SHARED without a student): one-way, so it names no student."""
    return SHARED if student is None else mac(secret, "student", student).hex()[:16]


def expected_path(assignment: str, variant: str = SHARED) -> Path:
    """Where the secret cases' expected values of an assignment (and variant) are kept."""
    base = folder() / "expected"
    return base / f"{assignment}.json" if variant == SHARED else base / assignment / f"{variant}.json"
