"""Visible checks for the initialization assignment (the newer edition's `<function>_test`).

Each test calls the student's function on the example shown in the notebook and compares the
result with the values printed there. It prints a short message when everything matches and
raises AssertionError saying what differs otherwise.
"""

import numpy as np


def _check_parameters(name, got, expected, atol=1e-8):
    assert isinstance(got, dict), f"{name} should return a dict, got {type(got).__name__}"
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing, f"{name}: missing keys {missing}"
    assert not extra, f"{name}: unexpected keys {extra}"
    for key, want in expected.items():
        have = got[key]
        assert isinstance(have, np.ndarray), f"{name}: {key} should be a numpy array"
        assert have.shape == want.shape, (
            f"{name}: {key} has shape {have.shape}, expected {want.shape}"
            + ("; (n_l, n_prev) is the right order" if have.shape == want.shape[::-1] else "")
        )
        assert have.dtype.kind == "f", f"{name}: {key} should hold floats, got dtype {have.dtype}"
        assert np.allclose(have, want, rtol=0, atol=atol), (
            f"{name}: wrong values in {key}.\nExpected:\n{want}\nGot:\n{have}"
        )


def initialize_parameters_zeros_test(target):
    """Layer sizes [3, 2, 1]: every weight and bias is zero."""
    got = target([3, 2, 1])
    expected = {
        "W1": np.zeros((2, 3)),
        "b1": np.zeros((2, 1)),
        "W2": np.zeros((1, 2)),
        "b2": np.zeros((1, 1)),
    }
    _check_parameters("initialize_parameters_zeros", got, expected)
    print("initialize_parameters_zeros: all tests passed.")


def initialize_parameters_random_test(target):
    """Layer sizes [3, 2, 1] with seed 3: large random weights, zero biases."""
    got = target([3, 2, 1])
    expected = {
        "W1": np.array([[17.88628473, 4.36509851, 0.96497468],
                        [-18.63492703, -2.77388203, -3.54758979]]),
        "b1": np.zeros((2, 1)),
        "W2": np.array([[-0.82741481, -6.27000677]]),
        "b2": np.zeros((1, 1)),
    }
    _check_parameters("initialize_parameters_random", got, expected)
    print("initialize_parameters_random: all tests passed.")


def initialize_parameters_he_test(target):
    """Layer sizes [2, 4, 1] with seed 3: weights scaled by sqrt(2 / n_prev), zero biases."""
    got = target([2, 4, 1])
    expected = {
        "W1": np.array([[1.78862847, 0.43650985],
                        [0.09649747, -1.8634927],
                        [-0.2773882, -0.35475898],
                        [-0.08274148, -0.62700068]]),
        "b1": np.zeros((4, 1)),
        "W2": np.array([[-0.03098412, -0.33744411, -0.92904268, 0.62552248]]),
        "b2": np.zeros((1, 1)),
    }
    _check_parameters("initialize_parameters_he", got, expected)
    print("initialize_parameters_he: all tests passed.")
