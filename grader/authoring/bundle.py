"""The Gradescope autograder zip: setup.sh, run_autograder, the grader's source and one assignment.

The zip holds what grading needs and nothing more: the package, the assignment's released files
and spec, and its expected values. Never the reference solutions or the mistake catalogue. With a
secret configured it also holds the secret cases' expected document (`expected/secret/`, which
grading then judges hidden cases by), never the secret itself: Gradescope's servers draw nothing.
Layout inside Gradescope's container: the zip is unpacked into /autograder/source, setup.sh
installs the grader into /autograder/venv, and run_autograder grades /autograder/submission
into /autograder/results/results.json.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from pathlib import Path

from grader.errors import SpecError
from grader.judging import hidden
from grader.reading import assignment as spec
from grader.reading import secret
from grader.reading.assignment import Assignment

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, while it builds the autograder image.
set -euo pipefail
cd /autograder/source
PY=""
for c in python3.13 python3.12 python3.11 python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    PY="$c"; break
  fi
done
if [ -z "$PY" ]; then
  apt-get update
  apt-get install -y python3.11 python3.11-venv
  PY=python3.11
fi
if ! "$PY" -m venv /autograder/venv; then
  apt-get update
  apt-get install -y "$(basename "$PY")-venv" || apt-get install -y python3-venv
  "$PY" -m venv /autograder/venv
fi
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install /autograder/source
chmod -R go-rwx /autograder/source  # the answer key is root's, never student code's
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it, write results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
GRADER="${{GRADER:-$ROOT/venv/bin/grader}}"
PYTHON="${{PYTHON:-$(dirname "$GRADER")/python}}"  # the grader's own interpreter
export GRADER_ROOT="$ROOT/source"
RESULTS="$ROOT/results"
mkdir -p "$RESULTS"
# Student code reads neither the answer key nor the grader and cannot write the results, even in
# a container that allows no mount namespace (no CAP_SYS_ADMIN): it runs as a user of its own.
chmod -R go-rwx "$ROOT/source"
chmod 700 "$RESULTS"
# nor the platform's files beside them (Gradescope's submission_metadata.json holds every earlier
# upload's whole results, hidden tests included): all but the upload and the grader's interpreter
for f in "$ROOT"/* "$ROOT"/.[!.]*; do
  case "$f" in "$ROOT/submission" | "$ROOT/venv") ;; *) [ -e "$f" ] && chmod -R go-rwx "$f" ;; esac
done
fail() {{
  printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$1" > "$RESULTS/results.json"
  exit 0
}}
user="$("$PYTHON" -m grader.authoring.bundle user)" || user=unknown
[ "$user" = yes ] || fail "The autograder cannot run student code as a user of its own here and \
will not run it as root: please tell the course staff."
# the path ends in a NUL, not a line break: a folder named "x<newline>/elsewhere" picks nothing else
nb=""
IFS= read -r -d '' nb < <("$PYTHON" -m grader.authoring.bundle pick "$ROOT/submission" {notebook!r})
[ -n "$nb" ] || fail "No notebook (.ipynb) in the submission: upload {notebook}."
rm -f "$RESULTS/results.json"
"$GRADER" run "$nb" --assignment {name} --fast --format gradescope --output "$RESULTS"
[ -f "$RESULTS/results.json" ] || fail "The autograder could not grade this; please tell the course staff."
"$PYTHON" -m grader.authoring.bundle note "$RESULTS/results.json"  # the layers this machine lacks, shown
"""

_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not _SKIP & set(p.relative_to(folder).parts)
    )


def _add(
    zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False, private: bool = False
) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
    info.external_attr = (0o100755 if executable else 0o100600 if private else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def write(a: Assignment, path: Path, *, root: Path | None = None) -> Path:
    """Write the autograder zip for one assignment."""
    root = root or spec.project_root()
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise SpecError(f"{pyproject} is missing: build the bundle from a source checkout of grader")
    if not a.expected_path.is_file():
        raise SpecError(f"{a.expected_path} is missing: run `grader expected {a.name}` first")
    hidden_doc = _secret_document(a)
    package = Path(__file__).resolve().parents[1]  # the whole grader package
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        _add(zf, "setup.sh", SETUP.encode(), executable=True)
        _add(zf, "run_autograder", RUN.format(name=a.name, notebook=a.notebook).encode(), executable=True)
        for extra in ("pyproject.toml", "README.md"):
            if (root / extra).is_file():
                _add(zf, extra, (root / extra).read_bytes())
        for p in _files(package):
            _add(zf, f"grader/{p.relative_to(package).as_posix()}", p.read_bytes())
        for p in _files(a.folder):
            _add(zf, f"assignments/{a.name}/{p.relative_to(a.folder).as_posix()}", p.read_bytes())
        _add(zf, f"expected/{a.name}.json", a.expected_path.read_bytes(), private=True)
        if hidden_doc is not None:  # unzipped owner-only; run_autograder makes sure (chmod go-rwx)
            _add(zf, SECRET_MEMBER.format(name=a.name), hidden_doc, private=True)
    return path


SECRET_MEMBER = "expected/secret/{name}.json"  # hidden.bundled_path, inside the zip


def _secret_document(a: Assignment) -> bytes | None:
    """The shared variant's secret document when a secret is configured (refused in one line,
    naming the command, when it is missing or stale), else None: the public hidden cases grade."""
    key = secret.load()
    if key is None:
        return None
    hidden.current(a, key)
    return secret.expected_path(a.name).read_bytes()


def describe(path: Path, name: str) -> str:
    """One line on which hidden cases the autograder zip at `path` grades with."""
    with zipfile.ZipFile(path) as zf:
        carried = SECRET_MEMBER.format(name=name) in zf.namelist()
    if carried:
        return "hidden cases: the secret ones (their expected values are in the zip; the secret is not)"
    return "hidden cases: the public ones from expected/ (no secret configured; see `grader secret init`)"


def _user() -> str:
    """`yes` when student code gets a user of its own here (run_autograder refuses otherwise)."""
    from grader.sandbox import isolation

    return "yes" if isolation.available_isolation().user else "no"


def pick(submission: Path, notebook: str) -> Path | None:
    """The notebook to grade in an upload: a regular file inside `submission` (links are not
    followed, checkpoints skipped), named `notebook` if one is, else any `.ipynb`; the shallowest,
    then the first by path."""
    named: list[Path] = []
    others: list[Path] = []
    for folder, dirs, files in os.walk(submission):  # does not follow linked folders
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        for f in files:
            path = Path(folder) / f
            if f.endswith(".ipynb") and stat.S_ISREG(path.lstat().st_mode):
                (named if f == notebook else others).append(path)
    found = named or others
    return min(found, key=lambda p: (len(p.relative_to(submission).parts), str(p))) if found else None


def _note(results: Path) -> None:
    """Add the sandbox's missing layers to results.json's `output`, which students see."""
    from grader.sandbox import isolation

    notes = isolation.available_isolation().notes
    if notes:
        data = json.loads(results.read_text(encoding="utf-8"))
        shown = "\n".join(f"Sandbox: {n}" for n in notes)
        data["output"] = f"{data.get('output', '')}\n{shown}".strip()
        results.write_text(json.dumps(data), encoding="utf-8")


if __name__ == "__main__":  # run_autograder's helpers: `user`, `pick FOLDER NAME`, `note RESULTS_JSON`
    if sys.argv[1] == "user":
        print(_user())
    elif sys.argv[1] == "pick":
        chosen = pick(Path(sys.argv[2]), sys.argv[3])
        if chosen is not None:
            sys.stdout.write(f"{chosen}\0")
    else:
        _note(Path(sys.argv[2]))
