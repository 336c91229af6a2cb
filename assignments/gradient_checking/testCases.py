"""The example inputs used in the gradient-checking notebook."""

import numpy as np


def gradient_check_n_test_case():
    """Four features, three examples and random parameters for the 4 -> 5 -> 3 -> 1 network.

    Returns (X, Y, parameters): X of shape (4, 3), labels Y = [1, 1, 0] and a dictionary with
    W1 (5, 4), b1 (5, 1), W2 (3, 5), b2 (3, 1), W3 (1, 3), b3 (1, 1).
    """
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([1, 1, 0])
    parameters = {}
    for name, shape in (("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)),
                        ("W3", (1, 3)), ("b3", (1, 1))):
        parameters[name] = np.random.randn(*shape)
    return x, y, parameters
