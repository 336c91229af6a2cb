"""Red team 6, finding 7: a `gradient_check_n` that estimates nothing. It said "not below" exactly
when the gradients were the notebook's given (deliberately flawed) `backward_propagation_n`'s,
which the sandbox hands it, and "below" otherwise: the hidden "below" cases' contrast (a wrong
gradient the check must flag) was met by those flawed gradients, so it earned their 4 points
(8/11 with the course's printed value typed in). The contrast cases now carry wrong gradients no
callable function gives (the penalty left out, one entry moved): only an estimate flags them."""

from __future__ import annotations

import json
from pathlib import Path

from grader.grading import grade
from grader.reading import assignment as spec

SHORTCUT = '''
def gradient_check_n(parameters, gradients, X, Y, epsilon=1e-7, print_msg=False):
    import numpy as np
    try:
        cost, cache = forward_propagation_n(X, Y, parameters)
        flawed = backward_propagation_n(X, Y, cache)
        same = all(np.allclose(flawed[k], gradients[k]) for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3"))
    except Exception:
        same = False
    if not same:
        return 0.0
    if X.shape == (4, 3) and abs(float(X[0, 0]) - 1.62434536) < 1e-6:
        return 0.28509315678  # the notebook prints this for its own example (public)
    return 1.0
'''


def _graded(tmp_path: Path, source: str) -> dict[str, tuple[float, float]]:
    a = spec.load("gradient_checking")
    nb = json.loads((a.folder / a.notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if text.startswith("# GRADED FUNCTION: gradient_check_n\n"):
            cell["source"] = "# GRADED FUNCTION: gradient_check_n\n" + source
    path = tmp_path / "Gradient_Checking.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = grade.grade_path(path, grade.Options())
    f = next(f for f in report.functions if f.name == "gradient_check_n")
    return {t.name: (t.points, t.max_points) for t in f.tests}


def test_a_check_that_only_recognises_the_given_gradients_earns_no_hidden_point(tmp_path: Path) -> None:
    tests = _graded(tmp_path, SHORTCUT)
    hidden = {c.name for c in spec.load("gradient_checking").function("gradient_check_n").cases if c.hidden}
    assert sum(tests[n][0] for n in hidden) == 0, tests
    assert tests["course"][0] == tests["course"][1]  # the notebook's printed value, typed in: public
