"""Train the course's three models (no regularization, L2, dropout) and return their figures.

`grader reproduce regularization [--data FILE]` calls `steps` and `run`; the figure ids match the
[[reproduce]] entries of assignments/regularization/assignment.toml. Every figure depends on the
data: with the course's own data file they must equal the course's values, with the bundled
datasets/data.mat they are simply this data set's figures. On the bundled data the unregularized
model over-fits, and thirty thousand iterations amplify the BLAS kernel's last bits: its accuracies
differ by a few points from one processor (or OPENBLAS_CORETYPE) to another, while the course's
data gives the same figures on every kernel measured.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

# (figure prefix, keyword arguments of model): the course's three runs
MODELS = (
    ("noreg", {}),
    ("l2", {"lambd": 0.7}),
    ("dropout", {"keep_prob": 0.86}),
)
NUM_ITERATIONS = 30000
TICK = 100  # iterations per progress unit
COST_AT = (0, 10000, 20000)
BUNDLED = "datasets/data.mat"  # relative to the assignment folder, the cwd of `run`


def steps(data: pathlib.Path | None) -> int:
    """Total progress units: one per TICK iterations of each model."""
    return len(MODELS) * (NUM_ITERATIONS // TICK)


def _accuracy(ns: dict[str, Any], X: np.ndarray, Y: np.ndarray, parameters: dict) -> float:
    with contextlib.redirect_stdout(io.StringIO()):  # `predict` prints the accuracy
        p = ns["predict"](X, Y, parameters)
    return float(np.mean(p[0, :] == Y[0, :]))


def run(
    ns: dict[str, Any], data: pathlib.Path | None, advance: Callable[[int], Any]
) -> dict[str, float]:
    """Train each model with the course's settings, silently; return every figure."""
    path = str(data) if data is not None else BUNDLED
    train_X, train_Y, test_X, test_Y = ns["load_2D_dataset"](path, plot=False)

    # `model` looks these names up in the namespace at every iteration: wrap them to record the
    # cost of each iteration and to tick the progress bar.
    names = ("compute_cost", "compute_cost_with_regularization", "update_parameters")
    original = {k: ns[k] for k in names}
    computed: list[float] = []  # every cost computed; the regularized one calls compute_cost first
    per_iteration: list[float] = []

    def compute_cost(a3: np.ndarray, Y: np.ndarray) -> float:
        cost = original["compute_cost"](a3, Y)
        computed.append(float(cost))
        return cost

    def compute_cost_with_regularization(
        A3: np.ndarray, Y: np.ndarray, parameters: dict, lambd: float
    ) -> float:
        cost = original["compute_cost_with_regularization"](A3, Y, parameters, lambd)
        computed.append(float(cost))
        return cost

    def update_parameters(parameters: dict, grads: dict, learning_rate: float) -> dict:
        per_iteration.append(computed[-1])  # the model's cost for this iteration
        if len(per_iteration) % TICK == 0:
            advance(1)
        return original["update_parameters"](parameters, grads, learning_rate)

    figures: dict[str, float] = {}
    ns.update(
        compute_cost=compute_cost,
        compute_cost_with_regularization=compute_cost_with_regularization,
        update_parameters=update_parameters,
    )
    try:
        for prefix, settings in MODELS:
            computed.clear()
            per_iteration.clear()
            with np.errstate(divide="ignore", invalid="ignore"):  # log(0) once outputs saturate
                parameters = ns["model"](
                    train_X,
                    train_Y,
                    learning_rate=0.3,
                    num_iterations=NUM_ITERATIONS,
                    print_cost=False,
                    **settings,
                )
            for i in COST_AT:
                figures[f"{prefix}_cost_{i}"] = per_iteration[i]
            figures[f"{prefix}_train_acc"] = _accuracy(ns, train_X, train_Y, parameters)
            figures[f"{prefix}_test_acc"] = _accuracy(ns, test_X, test_Y, parameters)
    finally:
        ns.update(original)
    return figures
