"""Train the course's three models (zeros, random x10, He) and return the figures it printed.

`grader reproduce initialization` calls `steps` and `run`; the figure ids match the
[[reproduce]] entries of assignments/initialization/assignment.toml.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

MODELS = ("zeros", "random", "he")
NUM_ITERATIONS = 15000
TICK = 100  # iterations per progress unit
COST_AT = (0, 1000, 14000)


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
    train_X, train_Y, test_X, test_Y = ns["load_dataset"](plot=False)

    original = {k: ns[k] for k in ("compute_loss", "update_parameters")}
    costs: list[float] = []
    count = [0]

    def compute_loss(a3: np.ndarray, Y: np.ndarray) -> float:
        cost = original["compute_loss"](a3, Y)
        costs.append(float(cost))
        return cost

    def update_parameters(parameters: dict, grads: dict, learning_rate: float) -> dict:
        count[0] += 1
        if count[0] % TICK == 0:
            advance(1)
        return original["update_parameters"](parameters, grads, learning_rate)

    figures: dict[str, float] = {}
    ns.update(compute_loss=compute_loss, update_parameters=update_parameters)
    try:
        for init in MODELS:
            costs.clear()
            with np.errstate(all="ignore"):  # x10 weights: log(0) in the cost, by design
                parameters = ns["model"](
                    train_X, train_Y, learning_rate=0.01, num_iterations=NUM_ITERATIONS,
                    print_cost=False, initialization=init,
                )
            for i in COST_AT:
                figures[f"{init}_cost_{i}"] = costs[i]
            figures[f"{init}_train_acc"] = _accuracy(ns, train_X, train_Y, parameters)
            figures[f"{init}_test_acc"] = _accuracy(ns, test_X, test_Y, parameters)
    finally:
        ns.update(original)
    return figures
