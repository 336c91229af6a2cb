"""Generate assignments/regularization/datasets/data.mat, the project's own 2-D data set.

The course's file may not ship with the project, so this script builds a stand-in with the same
layout: keys X (211, 2) float64, y (211, 1) uint8, Xval (200, 2) float64, yval (200, 1) uint8,
coordinates in about [-0.6, 0.3] x [-0.66, 0.57]. The design is ours: points uniform in the
box, labelled by which side of a wavy diagonal line they fall on, with the labels of points
near the line blurred by noise and a few labels flipped outright, so that a large network can
overfit the training set.

The output is byte-for-byte deterministic (fixed seed, fixed file header):

    python reference/regularization/make_data.py            # write the file
    python reference/regularization/make_data.py --check    # exit 1 if the file differs
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

SEED = 20240611
OUT = (
    Path(__file__).resolve().parents[2] / "assignments" / "regularization" / "datasets" / "data.mat"
)
HEADER = b"MATLAB 5.0 MAT-file, regularization data set written by make_data.py"

TRAIN = {"m": 211, "x1": (-0.60, 0.30), "x2": (-0.66, 0.57)}
TEST = {"m": 200, "x1": (-0.50, 0.29), "x2": (-0.79, 0.60)}
BLUR = 0.06  # standard deviation of the noise added to the signed distance from the line
FLIP = 0.04  # probability that a label is flipped outright


def boundary(x1: np.ndarray) -> np.ndarray:
    """The wavy diagonal: class 1 lies above it."""
    u = x1 + 0.15
    return -0.05 + 0.95 * u + 0.07 * np.sin(13.0 * u) + 0.04 * np.cos(29.0 * u)


def sample(rng: np.random.RandomState, m: int, x1: tuple[float, float], x2: tuple[float, float]):
    """m labelled points: coordinates (m, 2) float64 and labels (m, 1) uint8."""
    X = np.column_stack([rng.uniform(*x1, size=m), rng.uniform(*x2, size=m)])
    side = X[:, 1] - boundary(X[:, 0]) + BLUR * rng.standard_normal(m)
    y = side > 0
    y ^= rng.random_sample(m) < FLIP
    return np.round(X, 6), y.astype(np.uint8).reshape(m, 1)


def build() -> bytes:
    """The .mat file's bytes."""
    import scipy.io

    rng = np.random.RandomState(SEED)  # legacy generator: its stream is frozen
    X, y = sample(rng, TRAIN["m"], TRAIN["x1"], TRAIN["x2"])
    Xval, yval = sample(rng, TEST["m"], TEST["x1"], TEST["x2"])
    buf = io.BytesIO()
    scipy.io.savemat(
        buf, {"X": X, "y": y, "Xval": Xval, "yval": yval}, format="5", do_compression=False
    )
    data = bytearray(buf.getvalue())
    data[:116] = HEADER.ljust(116, b" ")  # savemat stamps the creation time here
    return bytes(data)


def main(argv: list[str]) -> int:
    data = build()
    if "--check" in argv:
        same = OUT.is_file() and OUT.read_bytes() == data
        print(f"{OUT}: {'up to date' if same else 'DIFFERS from make_data.py'}")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
