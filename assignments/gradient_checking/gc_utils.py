"""Helpers for the gradient-checking assignment: activations and parameter <-> vector packing.

Gradient checking perturbs one parameter at a time, which is easiest when all parameters sit in
one column vector. The functions here flatten the dictionary of a fixed 3-layer network
(layer sizes 4 -> 5 -> 3 -> 1) into such a vector and back, always in the order
W1, b1, W2, b2, W3, b3 (each array flattened row by row), and do the same for its gradients.
"""

import numpy as np

# Parameter names and shapes of the network, in the order they are packed.
SHAPES = (
    ("W1", (5, 4)),
    ("b1", (5, 1)),
    ("W2", (3, 5)),
    ("b2", (3, 1)),
    ("W3", (1, 3)),
    ("b3", (1, 1)),
)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-x))


def relu(x):
    """Rectified linear unit max(0, x), elementwise."""
    return np.maximum(0, x)


def dictionary_to_vector(parameters):
    """Stack W1, b1, W2, b2, W3, b3 into one column vector.

    Returns (theta, keys): theta has shape (n, 1) with n the total number of entries, and keys
    is a list of length n naming the array each entry of theta came from.
    """
    pieces, keys = [], []
    for name, _ in SHAPES:
        column = np.reshape(parameters[name], (-1, 1))
        pieces.append(column)
        keys.extend([name] * column.shape[0])
    return np.concatenate(pieces, axis=0), keys


def vector_to_dictionary(theta):
    """Inverse of dictionary_to_vector: cut a column vector back into W1, b1, ..., b3."""
    parameters, start = {}, 0
    for name, shape in SHAPES:
        size = shape[0] * shape[1]
        parameters[name] = np.reshape(theta[start:start + size], shape)
        start += size
    return parameters


def gradients_to_vector(gradients):
    """Stack dW1, db1, dW2, db2, dW3, db3 into one column vector (same order as the parameters).

    Other entries of the dictionary (dZ3, dA2, ...) are ignored.
    """
    pieces = [np.reshape(gradients["d" + name], (-1, 1)) for name, _ in SHAPES]
    return np.concatenate(pieces, axis=0)
