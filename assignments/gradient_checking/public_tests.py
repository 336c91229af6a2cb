"""Visible checks for the gradient-checking assignment (the newer edition's `<function>_test`).

Each test calls the student's function on the example shown in the notebook and compares the
result with the values printed there. It prints a short message when everything matches and
raises AssertionError saying what differs otherwise. The gradient checks call the student's
own collaborators (forward_propagation, forward_propagation_n, ...) from the notebook.
"""

import numpy as np
from gc_utils import relu, sigmoid
from testCases import gradient_check_n_test_case

# difference printed for the notebook's example with its flawed backward pass; machines
# disagree in about the twelfth digit (0.2850931567761623 here).
COURSE_DIFFERENCE = 0.28509315678069896


def _number(name, value):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok or (isinstance(value, np.ndarray) and value.shape == ())
    assert ok, f"{name} should return a number, got {type(value).__name__}"
    return float(value)


def forward_propagation_test(target):
    """x = 2, theta = 4: J = theta * x = 8."""
    J = _number("forward_propagation", target(2, 4))
    assert np.isclose(J, 8.0, rtol=0, atol=1e-12), f"forward_propagation(2, 4) gave {J}, expected 8"
    print("forward_propagation: all tests passed.")


def backward_propagation_test(target):
    """x = 2, theta = 4: dJ/dtheta = x = 2."""
    dtheta = _number("backward_propagation", target(2, 4))
    assert np.isclose(dtheta, 2.0, rtol=0, atol=1e-12), (
        f"backward_propagation(2, 4) gave {dtheta}, expected 2 (the derivative of theta * x)"
    )
    print("backward_propagation: all tests passed.")


def gradient_check_test(target, printed=None):
    """x = 2, theta = 4: the backward pass is right, so the difference is tiny (about 2.9e-10).

    Some copies of the notebook also pass the difference they printed: it must be the same.
    """
    difference = _number("gradient_check", target(2, 4))
    if printed is not None:
        assert np.isclose(_number("the printed difference", printed), difference, rtol=1e-6, atol=0), (
            f"the difference printed above ({printed}) is not what gradient_check(2, 4) returns ({difference})"
        )
    assert np.isfinite(difference) and difference >= 0, (
        f"gradient_check(2, 4) gave {difference}; a relative difference is a non-negative number"
    )
    assert difference < 1e-7, (
        f"gradient_check(2, 4) gave {difference}, expected a value below 1e-7 (about 2.9e-10): "
        "check the two-sided estimate and the formula of the relative difference"
    )
    print("gradient_check: all tests passed.")


def _gradients(X, Y, parameters, flawed):
    """Gradients of the network's cost; `flawed` reproduces the notebook's two mistakes."""
    m = X.shape[1]
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    A1 = relu(np.dot(W1, X) + b1)
    A2 = relu(np.dot(W2, A1) + b2)
    A3 = sigmoid(np.dot(W3, A2) + b3)
    dZ3 = A3 - Y
    dZ2 = np.dot(W3.T, dZ3) * (A2 > 0)
    dZ1 = np.dot(W2.T, dZ2) * (A1 > 0)
    return {
        "dW1": np.dot(dZ1, X.T) / m,
        "db1": np.sum(dZ1, axis=1, keepdims=True) / m * (4 if flawed else 1),
        "dW2": np.dot(dZ2, A1.T) / m * (2 if flawed else 1),
        "db2": np.sum(dZ2, axis=1, keepdims=True) / m,
        "dW3": np.dot(dZ3, A2.T) / m,
        "db3": np.sum(dZ3, axis=1, keepdims=True) / m,
    }


def gradient_check_n_test(target, parameters=None, gradients=None, X=None, Y=None):
    """The notebook's example, once with the flawed gradients and once with correct ones.

    Some copies of the notebook also pass their own example (parameters, gradients, X, Y): the
    check must then say "correct" exactly when those gradients are the true ones.
    """
    if gradients is not None:
        _own_example(target, parameters, gradients, X, Y)
    X, Y, parameters = gradient_check_n_test_case()
    flawed_gradients = _gradients(X, Y, parameters, flawed=True)
    flawed = _number("gradient_check_n", target(parameters, flawed_gradients, X, Y))
    assert abs(flawed - COURSE_DIFFERENCE) < 1e-8, (
        f"with the notebook's flawed gradients gradient_check_n gave {flawed}, "
        f"expected {COURSE_DIFFERENCE} (to about 8 decimals)"
    )
    right_gradients = _gradients(X, Y, parameters, flawed=False)
    right = _number("gradient_check_n", target(parameters, right_gradients, X, Y))
    assert right < 2e-7, (
        f"with correct gradients gradient_check_n gave {right}, expected a value below 2e-7 "
        "(about 1.19e-07): is every entry of theta nudged on a fresh copy, in both directions?"
    )
    print("gradient_check_n: all tests passed.")


def _own_example(target, parameters, gradients, X, Y):
    truth = _gradients(X, Y, parameters, flawed=False)
    right = all(np.allclose(gradients[k], truth[k], rtol=1e-6, atol=1e-9) for k in truth)
    difference = _number("gradient_check_n", target(parameters, gradients, X, Y))
    if right:
        assert difference < 2e-7, f"the gradients passed are correct, yet gradient_check_n gave {difference}"
    else:
        assert difference > 2e-7, f"the gradients passed are wrong, yet gradient_check_n gave {difference}"
