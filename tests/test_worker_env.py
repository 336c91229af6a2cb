"""What students' code can rely on inside the sandboxed worker, however lean its start."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.grading import grade
from grader.sandbox import isolation
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
