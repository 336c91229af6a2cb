"""The download layouts: from a notebook's place (and the layout's metadata) to its student.

Each layout maps the notebooks `found.collect` finds under a folder (links refused there, as for
any folder) to hand-ins; a notebook the layout cannot place is listed as skipped, never guessed.
What each vendor's layout is, and which documentation it follows: docs/handins.md.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from grader.course import found as walk
from grader.course.handins import exchange
from grader.course.handins.model import NO_OPTIONS, Handin, Options

NAMES = ("plain", "nbgrader", "canvas", "moodle", "gradescope", "classroom")
METADATA_BYTES = 16 << 20  # submission_metadata.yml of a class of thousands is a few MB

# Canvas's ContentZipper: "<sortable name>[_LATE]_<user id>" (the name lowercased, word characters
# only, underscores kept, no "_<digits>_" left in it) or, graded anonymously, "[LATE_]anon_<anonymous
# id>", then "_<attachment id>_<the file's name>"
CANVAS = re.compile(r"^(?P<name>.+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$", re.I)
CANVAS_ANONYMOUS = re.compile(r"^(?P<late>late_)?(?P<uid>anon_[a-z0-9]+)_(?P<sub>\d+)_(?P<file>.+)$", re.I)
RESUBMITTED = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)(?P<ext>\.ipynb)$", re.I)  # Canvas: Work-1.ipynb
MOODLE_DIR = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_file_?$")
MOODLE_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)$")
# GitHub's rule for a username: letters, digits and single inner hyphens, at most 39 characters
GITHUB_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


class LayoutError(Exception):
    """The folder is not in the layout named (said in one line)."""


@dataclass
class Found:
    handins: list[Handin] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (file, what to look at)


def detect(root: Path, options: Options = NO_OPTIONS) -> str:
    """The layout of the folder `root`: the first whose marks it carries, else plain."""
    if _gradescope_base(root) is not None:
        return "gradescope"
    if _nbgrader_base(root) is not None:
        return "nbgrader"
    names = [p.name for p in _children(root)]
    if any(MOODLE_DIR.match(n) or MOODLE_FILE.match(n) for n in names):
        return "moodle"
    files, _ = walk.collect([root], skip=options.skip)
    if any(_canvas_name(f.name) for f in files):
        return "canvas"
    dirs = _clones(root, options)
    if _common_prefix(dirs) and any((d / ".git").is_dir() for d in dirs):
        return "classroom"
    return "plain"


def read(name: str, root: Path, options: Options = NO_OPTIONS) -> Found:
    """The hand-ins under `root` read as layout `name`."""
    readers: dict[str, Callable[[Path, Options], Found]] = {
        "plain": _plain,
        "nbgrader": _nbgrader,
        "canvas": _canvas,
        "moodle": _moodle,
        "gradescope": _gradescope,
        "classroom": _classroom,
    }
    if name not in readers:
        raise LayoutError(f"unknown layout {name!r}; known: {', '.join(NAMES)}")
    return readers[name](root, options)


def read_one(path: Path) -> Found:
    """A notebook named directly: its own student (the file's stem)."""
    files, refused = walk.collect([path])
    return Found([Handin(path.stem, path, str(path), time=_mtime(path))], [], refused)


# ----------------------------------------------------------------------------- the layouts


def _walk(root: Path, options: Options) -> tuple[list[tuple[Path, PurePosixPath]], dict[Path, str]]:
    files, refused = walk.collect([root], skip=options.skip)
    rel = [(f, PurePosixPath(f.relative_to(root).as_posix())) for f in files]
    return [(f, r) for f, r in rel if ".git" not in r.parts], refused


def _plain(root: Path, options: Options) -> Found:
    """Student = the first folder below `root`, or the file's stem for a file at the top."""
    files, refused = _walk(root, options)
    out = Found(refused=refused)
    for f, rel in files:
        student = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        out.handins.append(Handin(student, f, str(rel), time=_mtime(f)))
    return out


def _nbgrader_base(root: Path) -> tuple[str, Path] | None:
    for kind in ("submitted", "inbound"):
        if root.name == kind:
            return kind, root
        if (root / kind).is_dir() and not (root / kind).is_symlink():
            return kind, root / kind
    return None


def _nbgrader(root: Path, options: Options) -> Found:
    """submitted/<student>/<assignment>/<notebook>.ipynb (timestamp.txt beside it), or the
    exchange's inbound/<student>+<assignment>+<timestamp>[+<random>]/<notebook>.ipynb: a folder
    its student does not own is skipped, its time checked against the notebook's (exchange.py)."""
    found = _nbgrader_base(root)
    if found is None:
        raise LayoutError("no submitted/ or inbound/ folder (nbgrader's course layout)")
    kind, base = found
    files, refused = _walk(base, options)
    out = Found(refused=refused)
    for f, rel in files:
        if kind == "submitted" and len(rel.parts) >= 3:
            student, assignment = rel.parts[0], rel.parts[1]
            stamp = _read_small(base / student / assignment / "timestamp.txt")
            when = _parse_time(stamp.strip()) if stamp else None
        elif kind == "inbound" and len(rel.parts) >= 2 and rel.parts[0].count("+") >= 2:
            student, assignment, stamp = rel.parts[0].split("+")[:3]
            why = exchange.not_theirs(base / rel.parts[0], f, student) if options.check_owner else None
            if why:
                out.skipped.append((str(f), why))
                continue
            when, note = exchange.trusted_time(_parse_time(stamp), f)
            if note:
                out.notes.append((str(f), note))
        else:
            out.skipped.append((str(f), f"not where nbgrader puts a hand-in ({kind}/...)"))
            continue
        out.handins.append(Handin(student, f, f"{kind}/{rel}", assignment=assignment, time=when))
    return out


def _canvas_name(name: str) -> re.Match[str] | None:
    return CANVAS_ANONYMOUS.match(name) or CANVAS.match(name)


def _canvas(root: Path, options: Options) -> Found:
    """<lastfirst>[_LATE]_<user id>_<attachment id>_<file name> (anonymous grading:
    [LATE_]anon_<anonymous id>_<attachment id>_<file name>), the file name with Canvas's `-N`
    suffix when the student handed in a file of that name before."""
    files, refused = _walk(root, options)
    out = Found(refused=refused)
    for f, rel in files:
        m = _canvas_name(f.name)
        if m is None:
            out.skipped.append(
                (str(f), "not named as Canvas names a hand-in (name_userid_attachmentid_file)")
            )
            continue
        again = RESUBMITTED.match(m["file"])
        attempt = int(m["sub"]) * 1000 + (int(again["n"]) if again else 0)
        name = m.groupdict().get("name") or ""
        out.handins.append(
            Handin(m["uid"], f, str(rel), name=name, time=_mtime(f), late=bool(m["late"]), attempt=attempt)
        )
    return out


def _moodle(root: Path, options: Options) -> Found:
    """A folder per participant, `Full Name_<id>_assignsubmission_file_/`, or (an older
    download) the same prefix on each file."""
    files, refused = _walk(root, options)
    out = Found(refused=refused)
    for f, rel in files:
        m = MOODLE_DIR.match(rel.parts[0]) if len(rel.parts) > 1 else MOODLE_FILE.match(rel.parts[0])
        if m is None:
            out.skipped.append(
                (str(f), "not in a Moodle participant folder (Full Name_id_assignsubmission_file_)")
            )
            continue
        out.handins.append(Handin(m["id"], f, str(rel), name=m["name"], time=_mtime(f)))
    return out


def _gradescope_base(root: Path) -> Path | None:
    if (root / "submission_metadata.yml").is_file():
        return root
    inner = [d for d in _children(root) if d.is_dir() and (d / "submission_metadata.yml").is_file()]
    return inner[0] if len(inner) == 1 else None


def _gradescope(root: Path, options: Options) -> Found:
    """A folder per submission and submission_metadata.yml naming each one's submitters."""
    base = _gradescope_base(root)
    if base is None:
        raise LayoutError("no submission_metadata.yml (Gradescope's export)")
    meta = _gradescope_metadata(base / "submission_metadata.yml")
    files, refused = _walk(base, options)
    out = Found(refused=refused)
    for f, rel in files:
        entry = meta.get(rel.parts[0]) if len(rel.parts) > 1 else None
        people = entry.get("submitters") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(people, list) or not people:
            out.skipped.append((str(f), "its folder has no submitters in submission_metadata.yml"))
            continue
        when = _parse_time(entry.get("created_at"))
        number = re.sub(r"\D", "", rel.parts[0])
        for who in people:
            who = _plain_keys(who) if isinstance(who, dict) else {}
            sid = str(who.get("sid") or who.get("email") or who.get("name") or "").strip()
            if not sid:
                out.skipped.append((str(f), "a submitter without sid, email or name"))
                continue
            name, email = str(who.get("name") or ""), str(who.get("email") or "")
            out.handins.append(
                Handin(sid, f, str(rel), name=name, email=email, time=when, attempt=int(number or 0))
            )
    return out


def _gradescope_metadata(path: Path) -> dict[str, Any]:
    import yaml

    text = _read_small(path)
    if text is None:
        raise LayoutError(f"{path.name} cannot be read (a link, not a file, or over {METADATA_BYTES} bytes)")
    try:
        data = yaml.safe_load(text)  # plain data only: no tags, no objects
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of thousands of digits
        raise LayoutError(f"{path.name} is not YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(data, dict):
        raise LayoutError(f"{path.name} does not map submission folders to their metadata")
    return {str(k): _plain_keys(v) if isinstance(v, dict) else v for k, v in data.items()}


def _plain_keys(d: dict[Any, Any]) -> dict[str, Any]:
    """Gradescope writes Ruby symbols as keys (`:submitters:` is the key ':submitters')."""
    return {str(k).lstrip(":"): v for k, v in d.items()}


def classroom_prefix(root: Path, options: Options = NO_OPTIONS) -> str:
    """The assignment prefix ("hw1-") that the two or more clones in `root` share, else ""."""
    return _common_prefix(_clones(root, options))


def _clones(root: Path, options: Options) -> list[Path]:
    """The folders in `root` that may be clones: not hidden, not a link, not --output."""
    skip = {s.resolve() for s in options.skip}
    return [d for d in _dirs(root) if not d.name.startswith(".") and d.resolve() not in skip]


def _common_prefix(dirs: list[Path]) -> str:
    prefix = os.path.commonprefix([d.name for d in dirs]) if len(dirs) >= 2 else ""
    return prefix[: prefix.rfind("-") + 1] if "-" in prefix else ""


def _prefix(root: Path, dirs: list[Path], options: Options) -> str:
    """The assignment prefix of the clones in `root`: as named, else the one the clones share,
    else the one the run's other Classroom folders share; never guessed from one name, since a
    GitHub username may hold '-' itself (hw-mal-alice: is it mal-alice's or alice's?)."""
    if options.prefix:
        return options.prefix.rstrip("-") + "-"
    fits = {p for p in (_common_prefix(dirs), *options.prefixes) if p}
    fits = {p for p in fits if all(d.name.startswith(p) for d in dirs)}
    if len(fits) == 1 or not dirs:
        return fits.pop() if fits else ""
    names = ", ".join(d.name for d in dirs[:3]) + (", ..." if len(dirs) > 3 else "")
    raise LayoutError(
        f"cannot tell the assignment prefix of {names} from the usernames (a GitHub username may "
        "hold '-'): name it with --assignment-prefix"
    )


def _classroom(root: Path, options: Options) -> Found:
    """GitHub Classroom clones: a folder `<assignment prefix>-<username>` per student."""
    dirs = _clones(root, options)
    prefix = _prefix(root, dirs, options)
    files, refused = _walk(root, options)
    out = Found(refused=refused)
    for f, rel in files:
        top = rel.parts[0]
        user = top[len(prefix) :] if top.startswith(prefix) else ""
        if len(rel.parts) < 2 or not GITHUB_USER.match(user):
            out.skipped.append((str(f), f"not in a clone folder named {prefix}<GitHub username>"))
            continue
        when = _last_commit(root / top) or _mtime(f)
        out.handins.append(Handin(user, f, str(rel), assignment=prefix[:-1], time=when))
    return out


def _last_commit(clone: Path) -> float | None:
    """When the clone's HEAD last moved (.git/logs/HEAD's last line), without running git."""
    text = _read_small(clone / ".git" / "logs" / "HEAD")
    lines = text.strip().splitlines() if text else []
    m = re.search(r"> (\d+) [-+]\d{4}\t", lines[-1]) if lines else None
    return float(m.group(1)) if m else None


# ----------------------------------------------------------------------------- small readers


def _children(root: Path) -> list[Path]:
    try:
        return sorted(root.iterdir())
    except OSError:
        return []


def _dirs(root: Path) -> list[Path]:
    return [p for p in _children(root) if p.is_dir() and not p.is_symlink()]


def _read_small(path: Path, limit: int = METADATA_BYTES) -> str | None:
    """A small metadata file's text; never through a link, never a FIFO, never unbounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = f.read(limit + 1)
    return data.decode("utf-8", "replace") if len(data) <= limit else None


def _mtime(path: Path) -> float | None:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def _parse_time(value: Any) -> float | None:
    """A time from metadata: a datetime (YAML), or text in ISO form ('UTC' or an offset)."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        text = re.sub(r"\s*(UTC|Z)$", "+00:00", value.strip())
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # more than microseconds
        text = re.sub(r" ([-+]\d\d:?\d\d)$", r"\1", text)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
