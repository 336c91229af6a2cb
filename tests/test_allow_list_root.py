"""The sandbox's root is an allow-list (issue 10, finding 3's last layer): a fresh tmpfs holding
only what student code needs, the host's root detached. A deny-list of covers missed /var and
/run (a docker socket, other users' runtime folders, /var/lib, logs) and every folder made on
the host after it was written. Each must hold from a graded function and from a notebook cell,
as root and as a plain user: .ci/run runs this file as both.

Student code reports only what is wrong (a cell's error keeps 300 characters), by raising it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course import batch
from grader.grading import grade
from grader.sandbox import isolation
from tests.jailkit import (
    ROOTLESS,
    in_jail,
    mounts_or_skip,
    readable_by_all,
    saw_in_cell,
    saw_in_function,
    submission,
)


def _plant(folder: Path) -> Path:
    folder.mkdir(mode=0o755)
    canary = folder / "canary"
    canary.write_text("CANARY")
    canary.chmod(0o644)
    return canary


@pytest.fixture
def canaries() -> Iterator[list[str]]:
    """World-readable files where a deny-list does not look: a top-level folder made today, and
    one under /var/lib (as root; a plain user can make neither)."""
    tag = secrets.token_hex(4)
    folders = [Path(f"/data-{tag}"), Path(f"/var/lib/grader-canary-{tag}")]
    planted = [str(_plant(f)) for f in folders if os.access(f.parent, os.W_OK)]
    yield planted
    for f in folders:
        shutil.rmtree(f, ignore_errors=True)


# the system's top-level folders the sandbox shows (those the host has), and its own
SYSTEM_TOPS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "nix", "gnu"}
OWN_TOPS = {"dev", "proc", "tmp", "var"}


def _expected_top() -> set[str]:
    """The top-level names the sandbox's root may have: the system's folders, its own, and the
    first folder of each path the interpreter needs (/root when Python lives in /root/.pyenv)."""
    system = {t for t in SYSTEM_TOPS if os.path.lexists("/" + t)}
    return system | OWN_TOPS | {Path(p).parts[1] for p in isolation._needed()}


LOOK = """
needed, top = NEEDED, set(os.listdir("/"))
obs["extra"] = sorted(top - set(EXPECTED))
obs["var"] = sorted(set(os.listdir("/var")) - {"tmp"})
obs["there"] = [p for p in ("/run", "/sys", "/srv", "/mnt", "/media", "/boot") if os.path.lexists(p)]
obs["read"] = []
for name in CANARIES:
    try:
        obs["read"].append(open(name).read())
    except OSError:
        pass

def inside(path):
    return any(path == n or path.startswith(n + "/") for n in needed)

def leads(path):  # a folder on the way to a needed path
    return any(n.startswith(path + "/") for n in needed)

obs["stray"] = []
for name in sorted(top - set(SYSTEM)):  # /root holding /root/.pyenv/...: only the way there
    for folder, dirs, files in os.walk("/" + name):
        names = (os.path.join(folder, x) for x in dirs + files)
        obs["stray"] += [p for p in names if not (inside(p) or leads(p))]
        dirs[:] = [d for d in dirs if leads(os.path.join(folder, d))]
obs["stray"] = obs["stray"][:3]
obs = {k: v for k, v in obs.items() if v}  # what is wrong, only
"""


def _look(canaries: list[str]) -> str:
    system = SYSTEM_TOPS | OWN_TOPS
    return (
        LOOK.replace("NEEDED", repr(isolation._needed()))
        .replace("EXPECTED", repr(sorted(_expected_top())))
        .replace("SYSTEM", repr(sorted(system)))
        .replace("CANARIES", repr(canaries))
    )


def test_nothing_of_the_host_is_there_but_what_student_code_needs(
    canaries: list[str], tmp_path: Path
) -> None:
    mounts_or_skip()
    code = _look(canaries)
    assert saw_in_function(code, tmp_path / "fn") == {}
    assert saw_in_cell(code, tmp_path / "nb") == {}


WALK = """
import errno
obs["writable"] = []
for folder, dirs, files in os.walk("/"):
    if folder == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
    probe = os.path.join(folder, ".planted-" + str(os.getpid()))
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        continue
    os.unlink(probe)
    obs["writable"].append(folder)
places = ("/tmp", "/var/tmp", "/dev/shm", os.environ["TMPDIR"])
obs["missing"] = [d for d in places if d not in obs["writable"]]
# what student code made in them (the kernel's .ipython) is writable too, nothing else
obs["writable"] = [w for w in obs["writable"] if not any(w == d or w.startswith(d + "/") for d in places)]
obs = {k: v[:4] for k, v in obs.items() if v}
"""


def _walked(folder: Path, *, cell: bool) -> object:
    """What WALK found, as a graded function or a cell, with time for a loaded machine (it
    visits some 30,000 folders)."""
    return saw_in_cell(WALK, folder, timeout=240) if cell else saw_in_function(WALK, folder, timeout=240)


def test_the_only_writable_places_are_the_scratch_tmp_and_the_private_tmpfs(tmp_path: Path) -> None:
    mounts_or_skip()
    if not isolation.available_isolation().readonly:
        assert any("read-only" in n for n in isolation.available_isolation().notes)
        pytest.skip("this machine cannot mount the grader read-only (the report says so)")
    assert _walked(tmp_path / "fn", cell=False) == {}
    assert _walked(tmp_path / "nb", cell=True) == {}


NUMPY = """
import numpy as np
from threadpoolctl import threadpool_info
a = np.arange(40_000, dtype=float).reshape(200, 200) % 7
want = sum(float(a[0, k]) * float(a[k, 1]) for k in range(200))
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
obs = {"sys": os.path.exists("/sys"), "cpus": os.cpu_count(), "matmul": bool((a @ a)[0, 1] == want),
       "blas": [(i["internal_api"], i["num_threads"]) for i in blas]}
"""


def test_no_sys_and_numpy_still_counts_cpus_and_multiplies(tmp_path: Path) -> None:
    # /sys is not shown: numpy and OpenBLAS find the CPUs through sched_getaffinity and /proc
    mounts_or_skip()
    for saw in (saw_in_function(NUMPY, tmp_path / "fn"), saw_in_cell(NUMPY, tmp_path / "nb")):
        assert saw["sys"] is False and saw["matmul"] is True, saw
        assert saw["cpus"] == os.cpu_count(), saw
        assert saw["blas"] and all(n == 1 for _, n in saw["blas"]), saw  # OPENBLAS_NUM_THREADS=1


def test_a_secret_inside_a_shown_folder_is_covered() -> None:
    # an installation whose site-packages hold our own code, say: the folder is shown, the
    # secret inside it is an empty read-only folder
    mounts_or_skip()
    shown = Path(tempfile.mkdtemp(prefix="shown-", dir=Path.home() if ROOTLESS else "/srv"))
    secret = shown / "pkg" / "expected"
    secret.mkdir(parents=True)
    (secret / "answers.json").write_text("{}")
    (shown / "lib.py").write_text("")
    readable_by_all(shown)

    def inside() -> int:
        if not (shown / "lib.py").exists():
            return 3
        return 4 if os.listdir(secret) else 0

    try:
        assert in_jail(inside, shown=[shown], hide=[secret]) == 0
    finally:
        shutil.rmtree(shown, ignore_errors=True)


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return sorted(" ".join(line.split()[4:]) for line in f)  # without the ids, which the kernel reuses


def test_nothing_stays_mounted_on_the_host(tmp_path: Path) -> None:
    # the root is built, pivoted into and detached inside the sandbox's own mount namespace
    mounts_or_skip()
    before = _mountinfo()
    subs = [submission(tmp_path / name, "obs[1] = 1") for name in ("a", "b")]
    plan = batch.Plan(jobs=1, cache=False, fast=False, output=tmp_path / "out", cell_timeout=30)
    outcome = batch.run_batch(subs, grade.Options(assignment="initialization"), plan)
    assert len(outcome.reports) == 2
    assert _mountinfo() == before
