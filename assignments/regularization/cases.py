"""Case builders for the regularization assignment.

Visible cases take the notebook's examples from the reference namespace (which imports the
test-case functions of testCases.py), so they are exactly what a student sees. Hidden cases draw
a network of their own: `np.random.seed(seed)`, then X = randn(n_0, m), then W1, b1, W2, b2,
W3, b3 from randn in that order (each W_l divided by sqrt(n_{l-1}) so that the output does not
saturate; biases are non-zero on purpose, so an answer that penalises them is caught), then the
labels. Builders import only numpy and the standard library.
"""

import numpy as np


def _network(seed, dims, m):
    """(X, Y, parameters) for the 3-layer network with sizes dims = [n_0, n_1, n_2, 1]."""
    np.random.seed(seed)
    n0, n1, n2, n3 = (int(n) for n in dims)
    X = np.random.randn(n0, m)
    parameters = {}
    for layer, (n, n_prev) in enumerate(((n1, n0), (n2, n1), (n3, n2)), start=1):
        parameters["W" + str(layer)] = np.random.randn(n, n_prev) / np.sqrt(n_prev)
        parameters["b" + str(layer)] = np.random.randn(n, 1)
    Y = (np.random.rand(1, m) > 0.5).astype(np.int64)
    return X, Y, parameters


# ------------------------------------------------------------------------ the notebook's examples


def cost_course(ref):
    """compute_cost_with_regularization on the notebook's example, lambd = 0.1."""
    A3, Y, parameters = ref.compute_cost_with_regularization_test_case()
    return {"A3": A3, "Y": Y, "parameters": parameters, "lambd": 0.1}


def l2_backward_course(ref):
    """backward_propagation_with_regularization on the notebook's example, lambd = 0.7."""
    X, Y, cache = ref.backward_propagation_with_regularization_test_case()
    return {"X": X, "Y": Y, "cache": cache, "lambd": 0.7}


def dropout_forward_course(ref):
    """forward_propagation_with_dropout on the notebook's example, keep_prob = 0.7."""
    X, parameters = ref.forward_propagation_with_dropout_test_case()
    return {"X": X, "parameters": parameters, "keep_prob": 0.7}


def dropout_backward_course(ref):
    """backward_propagation_with_dropout on the notebook's example (cache built with
    keep_prob = 0.5), called with keep_prob = 0.8."""
    X, Y, cache = ref.backward_propagation_with_dropout_test_case()
    return {"X": X, "Y": Y, "cache": cache, "keep_prob": 0.8}


# ------------------------------------------------------------------------ hidden cases


def cost(ref, seed, dims, m, lambd):
    """The network's own predictions on random data, scored with penalty weight lambd."""
    X, Y, parameters = _network(seed, dims, m)
    A3, _ = ref.forward_propagation(X, parameters)
    return {"A3": A3, "Y": Y, "parameters": parameters, "lambd": float(lambd)}


def l2_backward(ref, seed, dims, m, lambd):
    """Gradients with penalty weight lambd, from the cache of a plain forward pass."""
    X, Y, parameters = _network(seed, dims, m)
    _, cache = ref.forward_propagation(X, parameters)
    return {"X": X, "Y": Y, "cache": cache, "lambd": float(lambd)}


def dropout_forward(ref, seed, dims, m, keep_prob):
    """A dropout forward pass of a random network."""
    X, _, parameters = _network(seed, dims, m)
    return {"X": X, "parameters": parameters, "keep_prob": float(keep_prob)}


def dropout_backward(ref, seed, dims, m, forward_keep_prob, keep_prob):
    """Dropout gradients from the reference's dropout forward pass with forward_keep_prob."""
    X, Y, parameters = _network(seed, dims, m)
    _, cache = ref.forward_propagation_with_dropout(X, parameters, float(forward_keep_prob))
    return {"X": X, "Y": Y, "cache": cache, "keep_prob": float(keep_prob)}
