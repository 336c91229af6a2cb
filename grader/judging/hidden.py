"""Which hidden cases grade: the secret cases of the configured secret, else the public ones.

With a secret (`grader secret init`, or GRADER_SECRET), the expected document is the one
`grader expected --secret` wrote beside the secret: visible cases as in expected/, every hidden
case that declares `vary` drawn with the secret (and the student's variant). It is refused in one
line naming the command when it was made with another secret, before expected/, the spec or the
cases last changed. Without a secret, expected/ grades and every report says so.

A Gradescope bundle has no secret, only the secret document it was built with, at
`expected/secret/<assignment>.json` (`bundled_path`): with no secret configured, that document
grades where it exists. Its stamp's fingerprint cannot be checked there (no secret); the rest can.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.errors import SpecError
from grader.reading import assignment as spec
from grader.reading import secret
from grader.reading.assignment import Assignment

PUBLIC_NOTE = (
    "hidden cases: the public ones from expected/ (no secret configured, so a copy of the "
    "repository's answer key passes them; see `grader secret init`)"
)
SECRET_NOTE = "hidden cases: drawn with this installation's secret"
BUNDLED_NOTE = "hidden cases: drawn with the course's secret when this autograder was built"


@dataclass(frozen=True)
class Chosen:
    """The expected document that grades, and the line every report carries about it."""

    doc: dict[str, Any]
    note: str
    variant: str | None  # None: the public hidden cases


def _digest(*files: Path) -> str:
    """A digest of the files' bytes (a missing file counts as empty), worked out once per
    version of them: a batch of per-student variants checks a stamp for every student."""
    h = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            h.update(hashlib.sha256(b"").digest())
            continue
        h.update(bytes.fromhex(_file_digest(path, st.st_mtime_ns, st.st_size, st.st_ino)))
    return h.hexdigest()


@lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int, size: int, inode: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp(a: Assignment, key: bytes, variant: str) -> dict[str, str]:
    """What a secret document was computed from: the secret (one-way), the variant, and the
    public expected values and spec it extends (a change to the reference changes expected/)."""
    return {"fingerprint": secret.fingerprint(key), "variant": variant, **_sources(a)}


def _sources(a: Assignment) -> dict[str, str]:
    """The part of a stamp that needs no secret: the public expected values and the spec."""
    return {
        "public": _digest(a.expected_path),
        "spec": _digest(a.folder / "assignment.toml", a.cases_module),
    }


def bundled_path(a: Assignment) -> Path:
    """Where a Gradescope bundle keeps the secret document it was built with."""
    return a.expected_path.parent / "secret" / f"{a.name}.json"


def bundled(a: Assignment) -> dict[str, Any]:
    """The bundle's secret document, refused in one line when the bundle's files disagree with it."""
    path = bundled_path(a)
    again = f"rebuild the autograder: `grader gradescope-bundle {a.name}`"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path} is not readable ({exc}): {again}") from None
    got = doc.get("secret") if isinstance(doc, dict) else None
    if not isinstance(got, dict) or got.get("variant") != secret.SHARED or any(
        got.get(k) != v for k, v in _sources(a).items()
    ):
        raise SpecError(f"{path} is stale (expected/, the spec or the cases changed): {again}")
    found = spec.mismatches(a, doc)
    if found:
        raise SpecError(f"{path} does not match {a.folder / 'assignment.toml'} ({found[0]}): {again}")
    return doc


STAMP_BYTES = 4096  # a stamp is four short strings: it lies within the file's first bytes


def stamped(path: Path) -> dict[str, Any] | None:
    """The stamp a secret document opens with, read without the rest (a class's worth of
    variants is checked before every batch); None when there is none to read so."""
    try:
        with path.open("rb") as f:
            head = f.read(STAMP_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    start = head.find("{", head.find('"secret":')) if head.lstrip().startswith('{\n "secret":') else -1
    try:
        found, _ = json.JSONDecoder().raw_decode(head, start) if start > 0 else (None, 0)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def command(a: Assignment, variant: str) -> str:
    return f"grader expected --secret {a.name}" + (" --student ID" if variant != secret.SHARED else "")


def current(a: Assignment, key: bytes, variant: str = secret.SHARED) -> dict[str, Any]:
    """The secret document of a variant, refused in one line when missing or stale."""
    path = secret.expected_path(a.name, variant)
    run = f"run `{command(a, variant)}`"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path} is missing (a secret is configured): {run}") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path} is not readable ({exc}): {run}") from None
    if not isinstance(doc, dict) or doc.get("secret") != stamp(a, key, variant):
        why = "another secret, or expected/, the spec or the cases changed"
        raise SpecError(f"{path} is stale ({why}): {run}")
    found = spec.mismatches(a, doc)
    if found:
        raise SpecError(f"{path} does not match {a.folder / 'assignment.toml'} ({found[0]}): {run}")
    return doc


def visible(a: Assignment) -> Chosen:
    """What `grader check` judges by: expected/ where there is one (an instructor's checkout),
    else the visible cases' values released beside the student notebook (a student's copy)."""
    if a.expected_path.exists():
        return public(a)
    path = a.visible_expected_path
    again = "the assignment's files are out of step: get a fresh copy (instructors: `grader release`)"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        why = f"neither {a.expected_path} nor {path} exists"
        raise SpecError(f"{why}: run `grader expected {a.name}`") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path} is not readable ({exc}): {again}") from None
    shown = [replace(f, cases=tuple(c for c in f.cases if not c.hidden)) for f in a.functions]
    narrowed = replace(a, functions=tuple(shown))
    found = spec.mismatches(narrowed, doc) if isinstance(doc, dict) else ["not a document"]
    if found:
        raise SpecError(f"{path} does not match {a.folder / 'assignment.toml'} ({found[0]}): {again}")
    return Chosen(doc, "", None)


def public(a: Assignment) -> Chosen:
    """expected/, whatever the secret (`grader check`, and grading without a secret)."""
    return Chosen(spec.current_expected(a), PUBLIC_NOTE, None)


def choose(a: Assignment, variant: str = secret.SHARED) -> Chosen:
    """The document grading uses for this variant, and the note for the reports."""
    key = secret.load()
    if key is None:
        if variant == secret.SHARED and bundled_path(a).exists():
            return Chosen(bundled(a), BUNDLED_NOTE, secret.SHARED)
        return public(a)
    note = SECRET_NOTE + (f" (variant {variant})" if variant != secret.SHARED else "")
    return Chosen(current(a, key, variant), note, variant)


def for_students(note: str) -> str:
    """The note in words students may read (Gradescope shows results.json's `output` to them):
    which kind of hidden cases graded, nothing of their values and no word on what passes them."""
    if note == PUBLIC_NOTE:
        return "Hidden cases: the public ones (no secret was configured for this autograder)."
    if note.startswith((SECRET_NOTE, BUNDLED_NOTE)):
        return "Hidden cases: drawn with the course's secret."
    return ""
