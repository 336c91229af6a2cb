"""The class list: `--roster CSV` maps the ids hand-ins carry to names, emails and sections."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

from grader.course.handins.model import Handin
from grader.errors import GraderError

# the header names accepted for each field (compared lower-cased, spaces and '_' ignored)
COLUMNS = {
    "id": ("id", "studentid", "sid", "userid", "username", "login"),
    "name": ("name", "fullname", "student", "studentname"),
    "email": ("email", "emailaddress", "mail"),
    "section": ("section", "group"),
    "sis_id": ("sisuserid", "sisid", "idnumber"),
    "login": ("sisloginid", "loginid"),
}
MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""
    section: str = ""
    sis_id: str = ""
    login: str = ""


def load(path: Path) -> dict[str, Student]:
    """The roster's students by id; a roster without an id column is refused in one line."""
    try:
        text = path.read_bytes()[: MAX_BYTES + 1].decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"--roster {path}: cannot be read ({exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise GraderError(f"--roster {path}: empty")
    where = _columns(rows[0])
    if "id" not in where:
        raise GraderError(f"--roster {path}: no id column (one of: {', '.join(COLUMNS['id'])})")
    out: dict[str, Student] = {}
    for row in rows[1:]:
        cell = {k: row[i].strip() if i < len(row) else "" for k, i in where.items()}
        if cell["id"]:
            out[cell["id"]] = Student(**cell)
    return out


def _columns(header: list[str]) -> dict[str, int]:
    keys = [h.strip().lower().replace(" ", "").replace("_", "") for h in header]
    where: dict[str, int] = {}
    for field, names in COLUMNS.items():
        for i, k in enumerate(keys):
            if k in names and i not in where.values():
                where[field] = i
                break
    return where


@dataclass(frozen=True)
class Matched:
    handins: list[Handin]
    unknown: list[str]  # students handing in who are not on the roster
    missing: list[str]  # students on the roster with no hand-in


def match(handins: list[Handin], students: dict[str, Student]) -> Matched:
    """Each hand-in under its roster id (by id, else by email), with the roster's name and email."""
    by_email = {s.email.lower(): s for s in students.values() if s.email}
    out, unknown = [], []
    for h in handins:
        s = students.get(h.student) or (by_email.get(h.email.lower()) if h.email else None)
        if s is None:
            unknown.append(h.student)
            out.append(h)
            continue
        out.append(replace(h, student=s.id, name=s.name or h.name, email=s.email or h.email))
    seen = {h.student for h in out}
    return Matched(out, sorted(set(unknown)), sorted(i for i in students if i not in seen))
