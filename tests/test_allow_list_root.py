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
from dataclasses import replace
from pathlib import Path

import pytest

from grader.course import batch
from grader.grading import grade
from grader.sandbox import execute, isolation, jail
from grader.sandbox.limits import Limits
from grader.sandbox.scratch import prepare_scratch, remove_scratch
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import IMPORTS, ZEROS, graded
from tests.test_isolation_layers import _body, _cell, _exit_code_in_child, _graded, _seen

ROOTLESS = os.geteuid() != 0


def _mounts_or_skip() -> None:
    iso = isolation.available_isolation()
    if not iso.mounts:
        assert any("mount namespace" in n for n in iso.notes)  # then the report says so
        pytest.skip("this machine gives the sandbox no mount namespace")


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
    _mounts_or_skip()
    code = _look(canaries)
    assert _graded(code, tmp_path / "fn") == {}
    assert _cell(code, tmp_path / "nb") == {}


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
    folder.mkdir(parents=True)
    if cell:
        source = (
            "import json, os\nobs = {}\n" + WALK + '\nraise RuntimeError("OBS" + json.dumps(obs) + "SBO")\n'
        )
        path = write_notebook(folder / "submission.ipynb", make_notebook([source]))
        result = execute.run_notebook(path, "initialization", output=None, cell_timeout=240)
        assert result["errors"], result
        return _seen(result["errors"][0]["evalue"])
    path = write_notebook(folder / "submission.ipynb", make_notebook([IMPORTS, graded(ZEROS, _body(WALK))]))
    report = grade.grade_path(path, grade.Options(assignment="initialization", timeout=240))
    return _seen(report.functions[0].message)


def test_the_only_writable_places_are_the_scratch_tmp_and_the_private_tmpfs(tmp_path: Path) -> None:
    _mounts_or_skip()
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
    _mounts_or_skip()
    for seen in (_graded(NUMPY, tmp_path / "fn"), _cell(NUMPY, tmp_path / "nb")):
        assert seen["sys"] is False and seen["matmul"] is True, seen
        assert seen["cpus"] == os.cpu_count(), seen
        assert seen["blas"] and all(n == 1 for _, n in seen["blas"]), seen  # OPENBLAS_NUM_THREADS=1


def test_a_secret_inside_a_shown_folder_is_covered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an installation whose site-packages hold our own code, say: the folder is shown, the
    # secret inside it is an empty read-only folder
    _mounts_or_skip()
    shown = Path(tempfile.mkdtemp(prefix="shown-", dir=Path.home() if ROOTLESS else "/srv"))
    secret = shown / "pkg" / "expected"
    secret.mkdir(parents=True)
    (secret / "answers.json").write_text("{}")
    (shown / "lib.py").write_text("")
    for d in [shown, *shown.rglob("*")]:
        d.chmod(0o755 if d.is_dir() else 0o644)
    real = isolation._needed
    monkeypatch.setattr(isolation, "_needed", lambda: [*real(), str(shown)])
    scratch = prepare_scratch(Path("."), ())
    iso = replace(isolation.available_isolation(), user=False, pids=False, proc=False)
    cfg = isolation.jail_config(scratch, Limits(), iso, isolation.hidden([str(secret)]))

    def inside() -> int:
        jail.apply(cfg)
        if not (shown / "lib.py").exists():
            return 3
        return 4 if os.listdir(secret) else 0

    try:
        assert _exit_code_in_child(inside) == 0
    finally:
        remove_scratch(scratch)
        shutil.rmtree(shown, ignore_errors=True)


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return sorted(" ".join(line.split()[4:]) for line in f)  # without the ids, which the kernel reuses


def test_nothing_stays_mounted_on_the_host(tmp_path: Path) -> None:
    # the root is built, pivoted into and detached inside the sandbox's own mount namespace
    _mounts_or_skip()
    before = _mountinfo()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    subs = [
        write_notebook(
            tmp_path / name / "sub.ipynb", make_notebook([IMPORTS, graded(ZEROS, _body("obs[1] = 1"))])
        )
        for name in ("a", "b")
    ]
    plan = batch.Plan(jobs=1, cache=False, fast=False, output=tmp_path / "out", cell_timeout=30)
    outcome = batch.run_batch(subs, grade.Options(assignment="initialization"), plan)
    assert len(outcome.reports) == 2
    assert _mountinfo() == before
