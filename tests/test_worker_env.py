"""What students' code can rely on inside the sandboxed worker, however lean its start."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from grader import grade, sandbox
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import BODY, IMPORTS, ZEROS, graded

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
    if os.geteuid() != 0 or not sandbox.available_isolation().user:
        pytest.skip("a sandbox user of its own, and with it a private /proc, needs root")
    path = write_notebook(tmp_path / "peek.ipynb", make_notebook([IMPORTS, PEEK]))
    report = grade.grade_path(path, grade.Options(assignment="initialization"))
    zeros = next(f for f in report.functions if f.name == ZEROS)
    seen = [int(p) for p in re.findall(r"\d+", zeros.message.split("PIDS", 1)[1].split("]", 1)[0])]
    assert os.getpid() not in seen and 1 not in seen  # neither the grader nor the machine's init
    assert len(seen) <= 2, seen  # the sandbox's own launcher at most
