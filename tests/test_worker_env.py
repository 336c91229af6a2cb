"""What students' code can rely on inside the sandboxed worker, however lean its start."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from grader.grading import grade
from grader.sandbox import isolation, scratch
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import BODY, IMPORTS, RANDOM, ZEROS, graded

# A correct answer that first leans on what an ordinary interpreter offers: the builtins `site`
# installs, and the scientific packages beside numpy (imported from inside the function).
LEANING = graded(
    ZEROS,
    """    assert callable(exit) and callable(quit) and callable(help) and "Python" in str(copyright)
    import scipy.special
    import sklearn.utils
    assert scipy.special.expit(0.0) == 0.5 and sklearn.utils.check_random_state(0) is not None
"""
    + BODY[ZEROS],
)


def test_builtins_and_scientific_packages_are_there(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "leaning.ipynb", make_notebook([IMPORTS, LEANING]))
    report = grade.grade_path(path, grade.Options(assignment="initialization"))
    zeros = next(f for f in report.functions if f.name == ZEROS)
    assert zeros.status == "passed" and zeros.score == zeros.max_score, zeros.message


PEEK = graded(
    ZEROS,
    """    import os
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    raise RuntimeError(f"PIDS {pids}")
""",
)


def test_student_code_sees_no_process_but_its_sandboxs(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not isolation.available_isolation().user:
        pytest.skip("a sandbox user of its own, and with it a private /proc, needs root")
    path = write_notebook(tmp_path / "peek.ipynb", make_notebook([IMPORTS, PEEK]))
    report = grade.grade_path(path, grade.Options(assignment="initialization"))
    zeros = next(f for f in report.functions if f.name == ZEROS)
    seen = [int(p) for p in re.findall(r"\d+", zeros.message.split("PIDS", 1)[1].split("]", 1)[0])]
    assert os.getpid() not in seen and 1 not in seen  # neither the grader nor the machine's init
    assert len(seen) <= 2, seen  # the sandbox's own launcher at most


LEAVE = graded(
    ZEROS,
    """    import os, tempfile
    for d in ("/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir()):
        if os.access(d, os.W_OK):
            open(os.path.join(d, "left-by-a-student"), "w").write("answers")
"""
    + BODY[ZEROS],
)
LOOK = """    import os, tempfile
    seen = [d for d in ("/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir())
            if os.path.exists(os.path.join(d, "left-by-a-student"))]
    raise RuntimeError(f"SEEN {seen}")
"""


def test_no_function_and_no_submission_finds_files_an_earlier_one_left(tmp_path: Path) -> None:
    if not isolation.available_isolation().mounts:
        pytest.skip("private temporary folders need a mount namespace")
    from grader.course import batch

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cells = [IMPORTS, LEAVE, graded(RANDOM, LOOK)]
    first = write_notebook(tmp_path / "a" / "first.ipynb", make_notebook(cells))
    second = write_notebook(tmp_path / "b" / "second.ipynb", make_notebook([IMPORTS, graded(ZEROS, LOOK)]))
    plan = batch.Plan(jobs=1, cache=False)  # one worker grades both, one after the other
    outcome = batch.run_batch([first, second], grade.Options(assignment="initialization"), plan)
    messages = [f["message"] for r in outcome.reports for f in r["functions"] if "SEEN" in f["message"]]
    assert len(messages) == 2 and all("SEEN []" in m for m in messages), messages


def test_emptying_the_temporary_folders_spares_what_the_jail_binds_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a needed folder under /tmp (a venv there, say) is bound back into the jail's private /tmp:
    # emptying /tmp between functions must not reach through to it, however writable it is
    if not isolation.available_isolation().mounts:
        pytest.skip("private temporary folders need a mount namespace")
    keep = Path(tempfile.mkdtemp(prefix="needed-", dir="/tmp"))
    (keep / "lib.py").write_text("# part of an environment that lives under /tmp\n")
    for p in (keep, keep / "lib.py"):
        p.chmod(0o777)  # writable by the sandbox's user too
    real = isolation._needed
    monkeypatch.setattr(isolation, "_needed", lambda: [*real(), str(keep)])
    try:
        path = write_notebook(keep.parent / f"{keep.name}.ipynb", make_notebook([IMPORTS, LEAVE]))
        report = grade.grade_path(path, grade.Options(assignment="initialization"))
        assert report.functions[0].status == "passed"
        assert (keep / "lib.py").exists(), "emptying /tmp deleted a folder the jail bound back"
    finally:
        path.unlink(missing_ok=True)
        shutil.rmtree(keep, ignore_errors=True)


# ----------------------------------------------------------------------------- numerics settings

# What OpenBLAS chose, and the numerics settings student code was given, raised as its error.
BLAS = """    import json, os, numpy, threadpoolctl
    seen = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")}
    seen["arch"] = [i.get("architecture") for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
"""


def _openblas_core(coretype: str | None) -> list[str]:
    """The kernels OpenBLAS uses in a fresh interpreter with OPENBLAS_CORETYPE set to `coretype`."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update({"OPENBLAS_CORETYPE": coretype} if coretype else {})
    code = "import json, numpy, threadpoolctl; print(json.dumps([i.get('architecture') for i in "
    code += "threadpoolctl.threadpool_info() if i.get('internal_api') == 'openblas']))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def other_core() -> tuple[str, list[str]]:
    """An OPENBLAS_CORETYPE that makes OpenBLAS use other kernels than it detects here, and those."""
    pytest.importorskip("threadpoolctl")
    detected = _openblas_core(None)
    if not detected:
        pytest.skip("numpy does not use OpenBLAS here")
    for core in ("Prescott", "Nehalem", "Sandybridge", "Haswell", "ARMV8", "NEOVERSEN1"):
        chosen = _openblas_core(core)
        if chosen != detected:
            return core, chosen
    pytest.skip("no core type tried changes OpenBLAS's choice here")


def _blas_seen(message: str) -> dict[str, object]:
    found = re.search(r"BLAS(\{.*?\})SALB", message)
    assert found, message
    return dict(json.loads(found.group(1)))


def test_a_graded_function_computes_with_the_graders_openblas_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_core: tuple[str, list[str]]
) -> None:
    core, chosen = other_core  # as if the grader had been started with them: a machine needs them
    monkeypatch.setenv("OPENBLAS_CORETYPE", core)
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1024")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # ours stays: one thread per sandbox
    body = BLAS + '    raise RuntimeError("BLAS" + json.dumps(seen) + "SALB")\n'
    path = write_notebook(tmp_path / "blas.ipynb", make_notebook([IMPORTS, graded(ZEROS, body)]))
    report = grade.grade_path(path, grade.Options(assignment="initialization"))
    seen = _blas_seen(report.functions[0].message)
    assert seen == {
        "OPENBLAS_CORETYPE": core,
        "OPENBLAS_L2_SIZE": "1024",
        "OPENBLAS_NUM_THREADS": "1",
        "arch": chosen,
    }


def test_the_full_run_computes_with_the_graders_openblas_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_core: tuple[str, list[str]]
) -> None:
    from grader.sandbox import execute

    core, chosen = other_core
    monkeypatch.setenv("OPENBLAS_CORETYPE", core)
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1024")
    cell = textwrap.dedent(BLAS) + 'raise RuntimeError("BLAS" + json.dumps(seen) + "SALB")\n'
    path = write_notebook(tmp_path / "blas.ipynb", make_notebook([cell]))
    result = execute.run_notebook(path, "initialization", output=None, cell_timeout=60)
    assert result["errors"], result
    seen = _blas_seen(result["errors"][0]["evalue"])
    assert seen == {
        "OPENBLAS_CORETYPE": core,
        "OPENBLAS_L2_SIZE": "1024",
        "OPENBLAS_NUM_THREADS": "1",
        "arch": chosen,
    }


def test_only_numerics_settings_pass_and_our_thread_counts_win(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in scratch.NUMERICS_ENV:
        monkeypatch.setenv(name, f"value-of-{name}")
    for name in (
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_VERBOSE",
        "GOTOBLAS_MAIN_FREE",
        "SECRET",
    ):
        monkeypatch.setenv(name, "8")
    env = scratch.scrubbed_env(Path("/nonexistent"))
    assert {k: env.get(k) for k in scratch.NUMERICS_ENV} == {k: f"value-of-{k}" for k in scratch.NUMERICS_ENV}
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert not {"OPENBLAS_VERBOSE", "GOTOBLAS_MAIN_FREE", "SECRET"} & set(env)
