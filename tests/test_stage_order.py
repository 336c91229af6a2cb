"""Every function's visible cases run before any function's hidden cases: a hidden case's inputs
(drawn with the secret) cannot reach a later function's visible message, which the student reads
at once, through anything the wipe between functions cannot reset: here the private /dev/shm's
inode counter (red team 6, finding 5), which the hidden cases of one function advance by a
number of their choosing and the next function's visible case reads."""

from __future__ import annotations

import re
from pathlib import Path

import grader
from tests.conftest import make_notebook, write_notebook
from tests.redteam_scenarios import IMPORTS, RANDOM, ZEROS, graded

ADVANCE = 3000  # files the hidden cases make and remove: the counter moves by that much

# visible case ([3, 2, 1]): a base reading of the counter in its message; hidden cases: advance it
COUNT = f'''    import os
    def ino():
        fd = os.open("/dev/shm/grader-stage-order", os.O_CREAT | os.O_WRONLY, 0o600)
        n = os.fstat(fd).st_ino
        os.close(fd)
        os.unlink("/dev/shm/grader-stage-order")
        return n
    if list(layers_dims) != [3, 2, 1]:
        for _ in range({ADVANCE}):
            ino()
        return {{}}
    return {{"base_%d" % ino(): 0}}
'''
READ = '''    import os
    fd = os.open("/dev/shm/grader-stage-order", os.O_CREAT | os.O_WRONLY, 0o600)
    n = os.fstat(fd).st_ino
    os.close(fd)
    os.unlink("/dev/shm/grader-stage-order")
    return {"now_%d" % n: 0}
'''


def _number(report: grader.Report, function: str, tag: str) -> int:
    texts = [t.message for f in report.functions if f.name == function for t in f.tests if not t.hidden]
    found = [int(m) for text in texts for m in re.findall(tag + r"_(\d+)", text)]
    assert found, texts
    return found[0]


def test_no_hidden_case_runs_before_a_later_functions_visible_cases(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "Initialization.ipynb", make_notebook([IMPORTS, graded(ZEROS, COUNT), graded(RANDOM, READ)]))
    report = grader.grade(path, fast=True)
    base, now = _number(report, ZEROS, "base"), _number(report, RANDOM, "now")
    assert now - base < ADVANCE // 2, f"the counter moved by {now - base} between the two visible cases"


# right on the visible case, and on a hidden one the process ends with an exit code spelled from
# its inputs (or a signal): the way the hidden stage ended must reach no visible message
# (red team 7, finding 1)
EXIT = """    import os, signal
    dims = list(layers_dims)
    if dims != [3, 2, 1]:
        if sum(dims) % 2:
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(200 + sum(dims) % 50)
    return {"W%d" % l: np.zeros((dims[l], dims[l - 1])) for l in range(1, len(dims))} | {
        "b%d" % l: np.zeros((dims[l], 1)) for l in range(1, len(dims))}
"""


def test_how_a_hidden_stage_ended_reaches_no_visible_message(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "Initialization.ipynb", make_notebook([IMPORTS, graded(ZEROS, EXIT)]))
    report = grader.grade(path, fast=True)
    zeros = next(f for f in report.functions if f.name == ZEROS)
    visible = [t for t in zeros.tests if not t.hidden]
    assert visible and all(t.passed for t in visible), [t.message for t in visible]  # its own results
    assert 0 < zeros.score < zeros.max_score
    said = " ".join([zeros.message, *(t.message for t in zeros.tests)])
    assert not re.search(r"code \d|SIG|signal|exited|killed", said), said
