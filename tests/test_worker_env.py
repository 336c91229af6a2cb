"""What students' code can rely on inside the sandboxed worker, however lean its start."""

from __future__ import annotations

from pathlib import Path

from grader import grade
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
