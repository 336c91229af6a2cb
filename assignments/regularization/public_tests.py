"""Visible checks for the regularization assignment (the newer edition's `<function>_test`).

Each test calls the student's function on the example shown in the notebook (inputs from
testCases.py) and compares the result with the values printed there. It prints a short message
when everything matches and raises AssertionError saying what differs otherwise.
"""

import numpy as np
import testCases as _cases


def _check_array(name, what, got, want, atol):
    want = np.asarray(want, dtype=float)
    assert isinstance(got, np.ndarray), (
        f"{name}: {what} should be a numpy array, got {type(got).__name__}"
    )
    assert got.shape == want.shape, f"{name}: {what} has shape {got.shape}, expected {want.shape}"
    assert np.allclose(got, want, rtol=0, atol=atol), (
        f"{name}: wrong values in {what}.\nExpected:\n{want}\nGot:\n{got}"
    )


def _check_grads(name, grads, expected, atol):
    assert isinstance(grads, dict), f"{name} should return a dict, got {type(grads).__name__}"
    for key, want in expected.items():
        assert key in grads, f"{name}: the gradients have no key {key!r}"
        _check_array(name, key, grads[key], want, atol)


def compute_cost_with_regularization_test(target):
    """The notebook's example with lambd = 0.1."""
    name = "compute_cost_with_regularization"
    A3, Y, parameters = _cases.compute_cost_with_regularization_test_case()
    cost = target(A3, Y, parameters, 0.1)
    assert np.ndim(cost) == 0, (
        f"{name} should return a number, got an array of shape {np.shape(cost)}"
    )
    expected = 1.7864859451590758
    assert abs(float(cost) - expected) < 1e-9, (
        f"{name}: expected cost {expected}, got {float(cost)}"
    )
    print(f"{name}: all tests passed.")


def backward_propagation_with_regularization_test(target):
    """The notebook's example with lambd = 0.7 (values printed with 8 decimals)."""
    name = "backward_propagation_with_regularization"
    X, Y, cache = _cases.backward_propagation_with_regularization_test_case()
    grads = target(X, Y, cache, 0.7)
    expected = {
        "dW1": [[-0.25604646, 0.12298827, -0.28297129], [-0.17706303, 0.34536094, -0.4410571]],
        "dW2": [[0.79276486, 0.85133918], [-0.0957219, -0.01720463], [-0.13100772, -0.03750433]],
        "dW3": [[-1.77691347, -0.11832879, -0.09397446]],
    }
    _check_grads(name, grads, expected, atol=1e-8)
    print(f"{name}: all tests passed.")


def forward_propagation_with_dropout_test(target):
    """The notebook's example with keep_prob = 0.7 (values printed with 8 decimals)."""
    name = "forward_propagation_with_dropout"
    X, parameters = _cases.forward_propagation_with_dropout_test_case()
    out = target(X, parameters, 0.7)
    assert isinstance(out, tuple) and len(out) == 2, f"{name} should return the pair (A3, cache)"
    A3, cache = out
    _check_array(
        name, "A3", A3, [[0.36974721, 0.00305176, 0.04565099, 0.49683389, 0.36974721]], 1e-8
    )
    assert len(cache) == 14, (
        f"{name}: the cache should hold 14 items"
        f" (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3), got {len(cache)}"
    )
    for index, what, shape in ((1, "D1", (2, 5)), (6, "D2", (3, 5))):
        got = np.shape(cache[index])
        assert got == shape, (
            f"{name}: cache[{index}] should be the mask {what} of shape {shape}, got shape {got}"
        )
    print(f"{name}: all tests passed.")


def backward_propagation_with_dropout_test(target):
    """The notebook's example: cache from keep_prob = 0.5, gradients with keep_prob = 0.8.

    The printed values have 8 decimals and the last one may differ by one unit, hence atol 2e-8.
    """
    name = "backward_propagation_with_dropout"
    X, Y, cache = _cases.backward_propagation_with_dropout_test_case()
    grads = target(X, Y, cache, 0.8)
    expected = {
        "dA1": [[0.36544439, 0, -0.00188233, 0, -0.17408748], [0.65515713, 0, -0.00337459, 0, 0]],
        "dA2": [
            [0.58180856, 0, -0.00299679, 0, -0.27715731],
            [0, 0.53159854, 0, 0.53159854, -0.34089673],
            [0, 0, -0.00292733, 0, 0],
        ],
    }
    _check_grads(name, grads, expected, atol=2e-8)
    print(f"{name}: all tests passed.")
