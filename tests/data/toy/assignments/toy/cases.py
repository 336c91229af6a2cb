"""Case builders for the toy assignment."""

import numpy as np


def vector(ref, n, seed):
    rng = np.random.RandomState(seed)
    return {"v": rng.randn(n, 1)}
