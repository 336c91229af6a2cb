"""Inputs for the notebook's examples of the four graded functions.

Every function rebuilds its inputs from numpy's seeded generator, so the examples are the same on
every machine. "Seeded parameters" below means: np.random.seed(1), optionally X = randn(3, 5)
first, then W1 = randn(2, 3), b1 = randn(2, 1), W2 = randn(3, 2), b2 = randn(3, 1),
W3 = randn(1, 3), b3 = randn(1, 1), drawn in that order.

Only numpy is imported. Helpers start with an underscore so that `from testCases import *`
brings in nothing but the test-case functions (and np).
"""

import numpy as np

_Y = [[1, 1, 0, 1, 0]]


def _seeded(with_X):
    """(X, parameters) drawn from seed 1; X is None when with_X is False."""
    np.random.seed(1)
    X = np.random.randn(3, 5) if with_X else None
    parameters = {}
    for key, shape in (
        ("W1", (2, 3)),
        ("b1", (2, 1)),
        ("W2", (3, 2)),
        ("b2", (3, 1)),
        ("W3", (1, 3)),
        ("b3", (1, 1)),
    ):
        parameters[key] = np.random.randn(*shape)
    return X, parameters


def _layers(parameters):
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    return W1, b1, W2, b2, W3, b3


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _forward(X, parameters):
    """The plain 3-layer forward pass; its cache (Z1, A1, W1, b1, ..., Z3, A3, W3, b3)."""
    W1, b1, W2, b2, W3, b3 = _layers(parameters)
    Z1 = np.dot(W1, X) + b1
    A1 = np.maximum(0, Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = np.maximum(0, Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = _sigmoid(Z3)
    return (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def _forward_dropout(X, parameters, keep_prob):
    """The forward pass with inverted dropout on both hidden layers (masks from seed 1).

    Its cache is (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3).
    """
    W1, b1, W2, b2, W3, b3 = _layers(parameters)
    np.random.seed(1)
    Z1 = np.dot(W1, X) + b1
    A1 = np.maximum(0, Z1)
    D1 = np.random.rand(*A1.shape) < keep_prob
    A1 = A1 * D1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = np.maximum(0, Z2)
    D2 = np.random.rand(*A2.shape) < keep_prob
    A2 = A2 * D2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = _sigmoid(Z3)
    return (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def compute_cost_with_regularization_test_case():
    """(A3, Y, parameters): fixed predictions for five examples and seeded parameters."""
    _, parameters = _seeded(with_X=False)
    Y_assess = np.array(_Y)
    a3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
    return a3, Y_assess, parameters


def backward_propagation_with_regularization_test_case():
    """(X, Y, cache): seeded X and parameters, cache of the plain forward pass."""
    X_assess, parameters = _seeded(with_X=True)
    Y_assess = np.array(_Y)
    cache = _forward(X_assess, parameters)
    return X_assess, Y_assess, cache


def forward_propagation_with_dropout_test_case():
    """(X, parameters): seeded X and parameters."""
    X_assess, parameters = _seeded(with_X=True)
    return X_assess, parameters


def backward_propagation_with_dropout_test_case():
    """(X, Y, cache): seeded X and parameters, cache of a dropout forward pass, keep_prob = 0.5."""
    X_assess, parameters = _seeded(with_X=True)
    Y_assess = np.array(_Y)
    cache = _forward_dropout(X_assess, parameters, keep_prob=0.5)
    return X_assess, Y_assess, cache
