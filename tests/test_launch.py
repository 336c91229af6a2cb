"""The console script's early start: a worker booting before the command line is parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import launch
from grader.reading import assignment as spec
from grader.sandbox import run

REF = spec.load("initialization").reference_notebook


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["run", str(REF)], (REF, None, ())),
        (["run", "--fast", str(REF), "--format", "json"], (REF, None, ())),
        (["run", str(REF), "--assignment", "initialization"], (REF, "initialization", ())),
        (["run", f"--output={REF.parent}", str(REF)], (REF, None, (str(REF.parent.resolve()),))),
    ],
)
def test_reads_a_single_run(args: list[str], expect: tuple) -> None:
    assert launch.single_run(args) == expect


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["check", str(REF)],
        ["run"],
        ["run", str(REF), str(REF)],  # two notebooks: a batch
        ["run", str(REF), "--jobs", "2"],
        ["run", str(REF), "-j", "2"],
        ["run", str(REF), "--scheduler", "local"],
        ["run", str(REF.parent)],  # a folder: a batch
        ["run", "missing.ipynb"],
        ["run", str(REF), "--output"],  # a value is missing: click will say so
        ["run", str(REF), "--assignment", "a", "--assignment", "b"],
        ["run", "--", str(REF)],
        ["run", str(REF), "--help"],
    ],
)
def test_anything_else_gets_no_early_start(args: list[str]) -> None:
    assert launch.single_run(args) is None


def test_the_command_claims_the_early_worker_or_it_is_closed(tmp_path: Path) -> None:
    run.start_early(REF, None, ())
    early = run._EARLY[(str(REF.resolve()), None, ())]
    claimed = run.prestart(REF, None, ())
    assert claimed is early and not run._EARLY  # the same worker, not a second one
    claimed.session.close()

    run.start_early(REF, None, ())
    unclaimed = run._EARLY[(str(REF.resolve()), None, ())]
    other = run.prestart(REF, "initialization", (str(tmp_path),))  # click read something else
    assert other is not None and other is not unclaimed
    other.session.close()
    worker = unclaimed.session._workers["initialization"]
    run._close_unclaimed()  # what happens at exit
    assert worker.proc.poll() is not None and not worker.scratch.exists()


def test_an_unreadable_notebook_gets_no_early_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("<html>not a notebook</html>")
    assert run.prestart(bad, None, ()) is None


def test_an_early_start_that_fails_leaves_the_command_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("a reader bug")

    monkeypatch.setattr(run.notebook, "parse", boom)
    run.start_early(REF, None, ())  # must not raise: click's run reports whatever it is
    assert not run._EARLY
