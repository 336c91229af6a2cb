"""Case builders for the gradient-checking assignment.

The one-parameter functions take plain numbers. `gradient_check_n` takes a network's
parameters, a gradients dictionary, X and Y; the gradients come from the notebook's given
(deliberately wrong) `backward_propagation_n`, from the correct backward pass written here, or
from that pass with one entry moved (`perturbed`).
Cases whose `setup` in assignment.toml swaps in another cost (an L2 penalty, tanh hidden units)
get gradients from the matching backward pass below, so the numbers in both places must agree
(lambd = 0.7).

Builders import only numpy and the standard library.
"""

import numpy as np

SHAPES = (("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)),
          ("b3", (1, 1)))


def pair(ref, x, theta, epsilon=None):
    """The call f(x, theta) or, with epsilon, f(x, theta, epsilon)."""
    args = {"x": x, "theta": theta}
    if epsilon is not None:
        args["epsilon"] = float(epsilon)
    return args


def _forward(X, parameters, activation):
    """Hidden activations and output of the 4 -> 5 -> 3 -> 1 network."""
    hidden = {"relu": lambda z: np.maximum(0, z), "tanh": np.tanh}[activation]
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    A1 = hidden(np.dot(W1, X) + b1)
    A2 = hidden(np.dot(W2, A1) + b2)
    A3 = 1 / (1 + np.exp(-(np.dot(W3, A2) + b3)))
    return A1, A2, A3


def backward(X, Y, parameters, activation="relu", lambd=0.0):
    """Correct gradients of the mean cross-entropy (+ lambd / (2m) * sum of squared weights).

    Same keys as the notebook's backward_propagation_n.
    """
    m = X.shape[1]
    A1, A2, A3 = _forward(X, parameters, activation)
    W1, W2, W3 = parameters["W1"], parameters["W2"], parameters["W3"]
    if activation == "relu":
        slope1, slope2 = (A1 > 0).astype(float), (A2 > 0).astype(float)
    else:
        slope1, slope2 = 1 - A1 ** 2, 1 - A2 ** 2
    dZ3 = A3 - Y
    dW3 = np.dot(dZ3, A2.T) / m + lambd / m * W3
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = dA2 * slope2
    dW2 = np.dot(dZ2, A1.T) / m + lambd / m * W2
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = dA1 * slope1
    dW1 = np.dot(dZ1, X.T) / m + lambd / m * W1
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


PARAMETER_GRADIENTS = ("dW1", "db1", "dW2", "db2", "dW3", "db3")


def perturbed(grads, seed):
    """Correct gradients with one entry of one parameter's gradient moved by 0.1 to 0.5 (its
    place, sign and size drawn from `seed`): wrong in a way no function the student can call
    reproduces, so a check can flag them only by estimating the gradient itself (the notebook's
    flawed backward_propagation_n is no guide to them)."""
    rng = np.random.RandomState(seed)
    out = {k: np.array(v, dtype=float) for k, v in grads.items()}
    key = PARAMETER_GRADIENTS[rng.randint(len(PARAMETER_GRADIENTS))]
    index = tuple(rng.randint(n) for n in out[key].shape)
    out[key][index] += rng.choice((-1.0, 1.0)) * rng.uniform(0.1, 0.5)
    return out


def _gradients(ref, X, Y, parameters, gradients, lambd, seed):
    if gradients == "given":  # the notebook's backward_propagation_n, bugs included
        _, cache = ref.forward_propagation_n(X, Y, parameters)
        return ref.backward_propagation_n(X, Y, cache)
    if gradients in ("relu", "tanh"):
        return backward(X, Y, parameters, gradients, lambd)
    if gradients == "perturbed":
        return perturbed(backward(X, Y, parameters, "relu", lambd), seed)
    raise ValueError(f"unknown gradients {gradients!r}")


def _call(ref, X, Y, parameters, gradients, lambd, epsilon, seed=0):
    grads = _gradients(ref, X, Y, parameters, gradients, lambd, seed)
    args = {"parameters": parameters, "gradients": grads, "X": X, "Y": Y}
    if epsilon is not None:
        args["epsilon"] = float(epsilon)
    return args


def conditioned(X, Y, parameters, activation="relu"):
    """Refuse (ValueError) a draw on which a gradient check's answer is decided by rounding, not
    by the code: a ReLU input within 1e-3 of its kink (a step of epsilon crosses it), an output
    unit saturated (log(A3) loses its digits), or gradients so small that the difference of two
    estimates is mostly noise. Secret cases draw again; the public cases never call this."""
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    Z1 = np.dot(W1, X) + b1
    A1, A2, A3 = _forward(X, parameters, activation)
    Z2 = np.dot(W2, A1) + b2
    if activation == "relu" and (min(np.abs(Z1).min(), np.abs(Z2).min()) < 1e-3 or not A2.any()):
        raise ValueError("a ReLU input at its kink, or a dead layer")
    if A3.min() < 0.02 or A3.max() > 0.98:
        raise ValueError("a saturated output")
    grads = backward(X, Y, parameters, activation)
    if np.sqrt(sum(np.sum(grads[k] ** 2) for k in ("dW1", "dW2", "dW3", "db1", "db2", "db3"))) < 0.05:
        raise ValueError("gradients too small to tell right from wrong")


def _parameters(rng):
    return {name: rng.randn(*shape) for name, shape in SHAPES}


def course_network(ref, gradients="given", lambd=0.0, epsilon=None, seed=None, well_conditioned=False):
    """The notebook's example (gradient_check_n_test_case) with the chosen gradients; with a
    seed (secret cases), the example's X and Y with parameters drawn from it."""
    X, Y, parameters = ref.gradient_check_n_test_case()
    if seed is not None:
        parameters = _parameters(np.random.RandomState(seed))
    if well_conditioned:
        conditioned(X, Y, parameters, "tanh" if gradients == "tanh" else "relu")
    return _call(ref, X, Y, parameters, gradients, lambd, epsilon, seed)


def random_network(ref, seed, m, gradients="given", lambd=0.0, epsilon=None, well_conditioned=False):
    """Another draw: X of shape (4, m), labels of shape (1, m), standard normal parameters."""
    rng = np.random.RandomState(seed)
    X = rng.randn(4, m)
    Y = (rng.rand(1, m) > 0.5).astype(int)
    parameters = _parameters(rng)
    if well_conditioned:
        conditioned(X, Y, parameters, "tanh" if gradients == "tanh" else "relu")
    return _call(ref, X, Y, parameters, gradients, lambd, epsilon, seed)
