"""Toy-assignment submissions for the batch, gradebook and Dask tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_notebook

IMPORTS = "import numpy as np\nfrom toyutils import FACTOR"
NORM = "def norm2(v):\n    return float(np.sqrt(np.sum(v ** 2)))"
SCALE = (
    '# GRADED FUNCTION: scale\n\ndef scale(v):\n    """Multiply v by FACTOR."""\n    {body}\n    return out'
)
UNIT = '# GRADED FUNCTION: unit\n\ndef unit(v):\n    """v divided by its norm."""\n    n = norm2(v)\n    {body}\n    return u'


def toy(scale: str = "out = v * FACTOR", unit: str = "u = v / n", note: str = "") -> dict:
    """A toy submission; `note` changes the bytes (and so the content hash) but not the answers."""
    return make_notebook(
        [("markdown", f"# Toy {note}"), IMPORTS, NORM, SCALE.format(body=scale), UNIT.format(body=unit)]
    )


def write(folder: Path, name: str, nb: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path
