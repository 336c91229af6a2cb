"""Scale-out: a 2-worker Dask LocalCluster fills the same gradebook as the local pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import batch, grade, gradebook
from tests.batchkit import toy, write

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'grader[dask]')")


def _book(folder: Path) -> list[dict]:
    with gradebook.open_path(folder) as book:
        return [{k: v for k, v in r.items() if k != "graded_at"} for r in book.rows()]


def test_local_cluster_matches_the_local_pool(toy_root: Path, tmp_path: Path) -> None:
    bodies = ["out = v * FACTOR", "out = v * 2.0", "out = v * FACTOR  # mine", "out = v / 0", "out = v * 3.0"]
    paths = [
        write(tmp_path / "class" / f"s{i}", "Toy", toy(scale=b, note=str(i))) for i, b in enumerate(bodies)
    ]
    paths.append(tmp_path / "class" / "broken.ipynb")
    paths[-1].write_text('{"cells": [')
    options = grade.Options()
    local = batch.run_batch(paths, options, batch.Plan(jobs=2, output=tmp_path / "local"))
    dask = batch.run_batch(paths, options, batch.Plan(jobs=2, output=tmp_path / "dask", scheduler="local"))
    assert dask.graded == len(paths)
    assert dask.reports == local.reports
    assert _book(tmp_path / "dask") == _book(tmp_path / "local")
    assert [r["score"] for r in dask.reports] == [5.0, 2.0, 5.0, 2.0, 5.0, 0.0]
