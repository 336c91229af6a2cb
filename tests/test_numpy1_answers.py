"""Answers written for the course's numpy 1.x grade as they did then (numpy 2 removed what they use).

A real student's `compute_cost_with_regularization` summed a generator with np.sum; the course's
own run printed the right cost, and numpy 2 raises TypeError on it. Aliases such as np.float and
np.NaN went the same way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.grading import grade
from grader.reading import assignment as spec
from grader.sandbox import compat

PENALTY = "    L2_regularization_cost = lambd / (2 * m) * (np.sum(np.square(W1)) + np.sum(np.square(W2)) + np.sum(np.square(W3)))\n"
OLD_STYLE = {
    "generator": "    L2_regularization_cost = lambd * np.sum((np.sum(np.square(W)) for W in [W1, W2, W3])) / (m * 2)\n",
    "aliases": (
        "    assert np.NaN != np.NaN and np.Inf > 0 and np.float(1) == 1.0 and np.int(2) == 2\n"
        "    L2_regularization_cost = np.float_(lambd / (2 * m) * np.product([1.0]) * np.sum([np.sum(np.square(W)) for W in [W1, W2, W3]]))\n"
    ),
}


@pytest.mark.parametrize("style", sorted(OLD_STYLE))
def test_numpy1_answer_earns_full_marks(style: str, tmp_path: Path) -> None:
    a = spec.load("regularization")
    nb = json.loads(a.reference_notebook.read_text(encoding="utf-8"))
    hits = [c for c in nb["cells"] if c["cell_type"] == "code" and PENALTY in c["source"]]
    assert len(hits) == 1
    hits[0]["source"] = [line if line != PENALTY else OLD_STYLE[style] for line in hits[0]["source"]]
    path = tmp_path / f"{style}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = grade.grade_path(path, grade.Options())
    cost = next(f for f in report.functions if f.name == "compute_cost_with_regularization")
    assert cost.score == cost.max_score, cost.message


def test_only_missing_names_are_added() -> None:
    class Fake:
        pass

    fake = Fake()
    fake.nan = float("nan")
    fake.inf = float("inf")
    fake.sum = np.sum
    fake.float = "numpy's own"  # a numpy that still has a name keeps its meaning
    compat.restore_numpy1(fake)
    assert fake.float == "numpy's own" and fake.int is int and fake.Inf == float("inf")
    assert fake.NINF == float("-inf") and not hasattr(fake, "product")  # no prod to alias


def test_sum_of_a_generator_is_pythons_sum_and_arrays_are_untouched() -> None:
    class Fake:
        sum = staticmethod(np.sum)

    fake = Fake()
    compat.restore_numpy1(fake)
    assert fake.sum(x * x for x in range(4)) == 14
    out = np.zeros(())
    assert fake.sum((x for x in range(3)), None, None, out) is out and out == 3
    assert fake.sum(np.ones((2, 3)), axis=0).tolist() == [2.0, 2.0, 2.0]
