"""A fourth assignment is only folders: the toy under tests/data/toy runs through every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from grader.cli import main
from tests.conftest import make_notebook, write_notebook


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_release_and_expected_are_current(toy_root: Path) -> None:
    assert _run("release", "--check")[0] == 0
    code, out = _run("expected", "--check")
    assert code == 0, out


def test_reference_full_marks_blank_zero(toy_root: Path) -> None:
    code, out = _run("run", "--fast", "--format", "json", str(toy_root / "reference/toy/Toy.ipynb"))
    ref = json.loads(out)
    assert code == 0 and ref["score"] == ref["max_score"] == 5
    code, out = _run("run", "--fast", "--format", "json", str(toy_root / "assignments/toy/Toy.ipynb"))
    blank = json.loads(out)
    assert blank["status"] == "graded" and blank["score"] == 0
    assert all("not implemented yet" in f["message"] for f in blank["functions"])


def test_one_wrong_function_loses_only_its_points(toy_root: Path, tmp_path: Path) -> None:
    nb = make_notebook(
        [
            "import numpy as np\nfrom toyutils import FACTOR",
            "# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 2.0",
            "# GRADED FUNCTION: unit\ndef unit(v):\n    return v / norm2(v)",
        ]
    )
    path = write_notebook(tmp_path / "wrong-scale.ipynb", nb)
    report = json.loads(_run("run", "--fast", "--format", "json", str(path))[1])
    scores = {f["name"]: (f["score"], f["status"]) for f in report["functions"]}
    assert scores == {"scale": (0.0, "failed"), "unit": (2.0, "passed")}
    visible = report["functions"][0]["tests"][0]
    hidden = report["functions"][0]["tests"][1]
    assert "expected" in visible["message"] and "got" in visible["message"]
    assert hidden["hidden"] and "expected" not in hidden["message"]


def test_expected_check_names_changed_entries(toy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "toy"
    shutil.copytree(toy_root, root)
    doc = json.loads((root / "expected/toy.json").read_text())
    doc["functions"]["unit"]["noisy"]["output"]["data"][0][0] += 1e-6
    (root / "expected/toy.json").write_text(json.dumps(doc))
    import os

    os.environ["GRADER_ROOT"] = str(root)
    code, out = _run("expected", "--check")
    assert code == 1 and "unit/noisy: output changed" in out


def test_release_check_fails_when_reference_changes(toy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "toy"
    shutil.copytree(toy_root, root)
    ref = root / "reference/toy/Toy.ipynb"
    ref.write_text(ref.read_text().replace("Scale a vector", "Scale one vector"))
    import os

    os.environ["GRADER_ROOT"] = str(root)
    code, out = _run("release", "--check")
    assert code == 1 and "out of date" in out
