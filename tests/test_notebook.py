"""Reading notebooks as students leave them, and finding each answer's code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grader.errors import NotebookError
from grader.judging import feedback
from grader.reading import notebook, selection
from tests.conftest import make_notebook

GRADED = frozenset({"scale", "unit"})


def parse(cells: list, **kw: object) -> notebook.Parsed:
    return notebook.parse(notebook.loads(json.dumps(make_notebook(cells, **kw)).encode()))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"cells": [', "not valid JSON"),
        (b"<!DOCTYPE html><html></html>", "HTML"),
        ('{"nbformat": 4}'.encode("utf-16"), "UTF-16"),
        (b'{"nbformat": 99, "cells": []}', "nbformat 99"),
        (b'{"nbformat": 4, "metadata": [], "cells": []}', "metadata"),
        (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}', "source is int"),
        (b"[1, 2]", "not a notebook"),
        (b'{"cells": []}', "nbformat"),
        (b"\xff\xfe\xfd", "UTF-16"),
        (b"\x80abc", "not UTF-8"),
    ],
)
def test_unreadable_files_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(NotebookError, match=reason):
        notebook.loads(data)


def test_nbformat3_and_crlf() -> None:
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": ["#GRADED FUNCTION: scale\r\n", "def scale(v):\r\n", "    return v"],
                    }
                ]
            }
        ],
    }
    parsed = notebook.parse(notebook.loads(json.dumps(v3).encode()))
    assert "scale" in parsed.definitions and parsed.markers == {"scale": [1]}


def test_marker_variants_and_missing_marker() -> None:
    parsed = parse(["  #  graded function:scale\ndef scale(v):\n    return v", "def unit(v):\n    return v"])
    assert parsed.markers == {"scale": [1]}
    assert "unit" in parsed.definitions  # found by its def, marker or not


def test_only_the_def_runs_not_test_calls_in_the_graded_cell() -> None:
    parsed = parse(
        ["# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 3\n\nprint(scale(1))\nraise SystemExit"]
    )
    ans = selection.answer(parsed, "scale", exclude=frozenset({"unit"}))
    assert ans.units and "print(scale" not in ans.units[-1].source and "raise" not in ans.units[-1].source


def test_magics_are_neutralised_with_lines_kept() -> None:
    src = "%matplotlib inline\n%load_ext autoreload\n!pip install x\nfiles = !ls\ndef scale(v):\n    return v"
    out = notebook.neutralise(src)
    assert out.count("\n") == src.count("\n") and "!" not in out and "%" not in out
    parsed = parse([src])
    assert parsed.definitions["scale"][0].unit.source.count("\n") == 6
    assert notebook.neutralise("%%bash\nrm -rf /\n").strip() == ""


def test_duplicates_last_wins_with_a_warning_unless_graded_cell_identity() -> None:
    first = "# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 3"
    second = "def scale(v):\n    return v * 4"
    ans = selection.answer(parse([first, second]), "scale", exclude=frozenset())
    assert ans.definition is not None and ans.definition.cell.index == 2
    assert ans.warnings and "cell 1, cell 2" in ans.warnings[0]
    official = {
        "cell_type": "code",
        "metadata": {"nbgrader": {"grade_id": "cell-abc", "solution": True, "grade": False}},
        "source": first,
        "outputs": [],
        "execution_count": None,
    }
    ans = selection.answer(parse([official, second]), "scale", exclude=frozenset())
    assert ans.definition is not None and ans.definition.cell.index == 1


def test_helpers_from_other_cells_and_needed_imports_only() -> None:
    parsed = parse(
        [
            "import numpy as np\nimport matplotlib.pyplot as plt\nfrom toyutils import *",
            "def helper(v):\n    return np.abs(v) + other()",
            "def other():\n    return 1",
            "# GRADED FUNCTION: scale\ndef scale(v):\n    return helper(v)",
            "def unit(v):\n    return v",
        ]
    )
    ans = selection.answer(parsed, "scale", exclude=frozenset({"unit"}))
    sources = "".join(u.source for u in ans.units)
    assert "import numpy" in sources and "matplotlib" not in sources and "import *" in sources
    assert "def helper" in sources and "def other" in sources and "def unit" not in sources


def test_provided_names_are_not_taken_from_the_student() -> None:
    parsed = parse(
        ["def unit(v):\n    return 'fake'", "# GRADED FUNCTION: scale\ndef scale(v):\n    return unit(v)"]
    )
    ans = selection.answer(parsed, "scale", exclude=frozenset({"unit"}))
    assert all("fake" not in u.source for u in ans.units)


def test_syntax_error_elsewhere_in_the_cell_still_finds_the_def() -> None:
    parsed = parse(["# GRADED FUNCTION: scale\ndef scale(v):\n    return v * 3\n\nprint(scale(2)"])
    assert "scale" in parsed.definitions and 1 in parsed.syntax_errors
    broken = parse(["# GRADED FUNCTION: scale\ndef scale(v):\n    return v *\n"])
    ans = selection.answer(broken, "scale", exclude=frozenset())
    assert ans.definition is None and ans.syntax_error and "cell 1" in ans.syntax_error


def test_globals_the_function_reads_are_flagged() -> None:
    parsed = parse(
        ["layers_dims = [2, 3]", "# GRADED FUNCTION: scale\ndef scale(v):\n    return len(layers_dims)"]
    )
    ans = selection.answer(parsed, "scale", exclude=frozenset())
    assert ans.global_names == {"layers_dims"}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("### START CODE HERE ###", "### END CODE HERE ###"),
        ("### START CODE HERE ### (≈ 1 line)", "### END CODER HERE ###"),  # the older edition's typo
        ("# YOUR CODE STARTS HERE", "# YOUR CODE ENDS HERE"),  # the newer edition
    ],
)
def test_placeholders_between_markers(start: str, end: str) -> None:
    src = f"def scale(v):\n    {start}\n    a = v\n    b = None\n    {end}\n    c = None\n    return b"
    parsed = parse([src])
    assert selection.placeholders(parsed.definitions["scale"][0]) == [4]


def test_valid_python_is_never_rewritten() -> None:
    src = 'def scale(v):\n    note = """\n%d items\n!important\n"""\n    return v  # really?'
    parsed = parse([src])
    assert parsed.definitions["scale"][0].unit.source.strip() == src
    assert notebook.neutralise("x = 1  # why?\nnp.zeros?") == "x = 1  # why?\npass"


def test_identical_cells_in_different_notebooks_keep_their_own_places() -> None:
    # the same cell text shares one syntax tree across notebooks; where it sits does not
    same = "def helper(v):\n    return v + 1\n"
    first = parse([same])
    second = parse(["x = 1", "y = 2", same])
    assert first.definitions["helper"][0].unit.filename == "cell 1"
    assert second.definitions["helper"][0].unit.filename == "cell 3"
    assert first.definitions["helper"][0].node is second.definitions["helper"][0].node
    big = "def big(v):\n" + "    v = v + 1\n" * 2000 + "    return v\n"  # too big to share
    assert parse([big]).definitions["big"][0].node is not parse([big]).definitions["big"][0].node


def test_pathological_text_is_read_in_linear_time(tmp_path) -> None:
    # a megabyte of blank lines and a megabyte-long line of spaces inside the START/END region:
    # patterns that backtrack quadratically would hold the grader for hours (no sandbox timeout
    # protects the grader's own process); a bound of a minute only catches that, not slowness
    cell = (
        "# GRADED FUNCTION: scale\n" + " \n" * 500_000 + "def scale(v):\n    ### START CODE HERE ###\n"
        + "    b = None\n    c = (1 +\n" + " " * 1_000_000 + "2)\n    ### END CODE HERE ###\n    return b\n"
    )  # fmt: skip
    path = tmp_path / "slow.ipynb"
    path.write_text(json.dumps(make_notebook([cell])))
    code = (
        "import sys; from pathlib import Path; from grader.reading import notebook, selection; "
        "p = notebook.parse(notebook.read(Path(sys.argv[1]))); "
        "d = p.definitions['scale'][0]; print(sorted(p.markers), selection.placeholders(d))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['scale']", "[500004]"]


def test_empty_regions_between_markers() -> None:
    src = (
        "def grad(x, theta):\n    # YOUR CODE STARTS HERE\n    # dtheta = ...\n\n    # YOUR CODE ENDS HERE\n"
        "    ### START CODE HERE ###\n    y = 2\n    ### END CODE HERE ###\n    return dtheta"
    )
    parsed = parse([src])
    d = parsed.definitions["grad"][0]
    assert selection.empty_regions(d) == [2]  # the first region holds only a comment
    ans = selection.answer(parsed, "grad", exclude=frozenset())
    assert feedback.placeholder_hint(ans) == "the part between the code markers is empty (cell 1, line 2)"


@pytest.mark.parametrize(
    "deep",
    [
        "x = " + "-" * 100_000 + "1",  # past the parser's own limits
        "x = " + "+".join(["1"] * 5_000),  # parses in C, but too deep to build Python's tree
        "f = " + "lambda: " * 50_000 + "1",
        "def broken(:\n    y = " + "-" * 100_000 + "1",  # and the rescue of defs meets it too
    ],
)
def test_code_nested_too_deeply_is_a_syntax_error_of_its_cell(deep: str) -> None:
    parsed = parse([deep, "def fine(v):\n    return v"])
    assert "fine" in parsed.definitions
    assert 1 in parsed.syntax_errors


def test_a_cell_python_cannot_encode_is_a_syntax_error_that_says_why() -> None:
    parsed = parse(["x = '\ud800'", "def fine(v):\n    return v"])  # a lone surrogate in the JSON
    assert "fine" in parsed.definitions
    assert parsed.syntax_errors[1].startswith("not readable as Python (UnicodeEncodeError")
