"""A copy of the toy assignment in a folder of its own, to break or extend in a test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from grader.cli import main
from grader.judging import prepared
from tests.conftest import TOY


@pytest.fixture
def toy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh copy of tests/data/toy under tmp_path, made the grader's root."""
    root = tmp_path / "root"
    shutil.copytree(TOY, root)
    monkeypatch.setenv("GRADER_ROOT", str(root))
    prepared.prepare.cache_clear()
    yield root
    prepared.prepare.cache_clear()


def cli(*args: str) -> Result:
    """Run the grader's command line in-process."""
    prepared.prepare.cache_clear()  # the root's files change between calls
    return CliRunner().invoke(main, list(args))


def edit(path: Path, old: str, new: str) -> None:
    """Replace text in a file; the text must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new), encoding="utf-8")
