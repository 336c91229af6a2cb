"""Helpers for the regularization assignment: a fixed 3-layer network, its data and plots.

The network is LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID. Data is column-major:
X has shape (n_features, m) and labels have shape (1, m). scipy.io and matplotlib are imported
inside the functions that need them, so importing this module stays cheap.
"""

import numpy as np


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-x))


def relu(x):
    """Rectified linear unit max(0, x), elementwise."""
    return np.maximum(0, x)


def initialize_parameters(layer_dims):
    """Starting parameters for a network with sizes layer_dims = [n_0, n_1, ..., n_L].

    Seeds numpy's generator with 3, then draws W_l = randn(n_l, n_{l-1}) / sqrt(n_{l-1}) for
    l = 1..L in order; every b_l is zeros of shape (n_l, 1).
    """
    np.random.seed(3)
    parameters = {}
    for layer in range(1, len(layer_dims)):
        n, n_prev = layer_dims[layer], layer_dims[layer - 1]
        parameters["W" + str(layer)] = np.random.randn(n, n_prev) / np.sqrt(n_prev)
        parameters["b" + str(layer)] = np.zeros((n, 1))
    return parameters


def compute_cost(a3, Y):
    """Mean cross-entropy of the predictions a3 against the labels Y, both of shape (1, m).

    NaN terms (0 * log(0)) are skipped.
    """
    m = Y.shape[1]
    per_example = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    return 1.0 / m * np.nansum(per_example)


def forward_propagation(X, parameters):
    """Run the 3-layer network on X.

    Returns (A3, cache): A3 is the sigmoid output of shape (1, m) and cache is the tuple
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) that backward_propagation reads.
    """
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]

    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)

    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, cache


def backward_propagation(X, Y, cache):
    """Gradients of the mean cross-entropy for the 3-layer network, without regularization.

    Returns a dict with keys dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1.
    """
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache

    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)

    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)

    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)

    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def update_parameters(parameters, grads, learning_rate):
    """One step of plain gradient descent on every W_l and b_l; returns the parameters dict."""
    L = len(parameters) // 2
    for k in range(1, L + 1):
        parameters["W" + str(k)] = parameters["W" + str(k)] - learning_rate * grads["dW" + str(k)]
        parameters["b" + str(k)] = parameters["b" + str(k)] - learning_rate * grads["db" + str(k)]
    return parameters


def predict(X, y, parameters):
    """Predict labels (A3 > 0.5) for X, print the accuracy against y and return the predictions.

    Returns an int array of shape (1, m) holding 0s and 1s.
    """
    a3, _ = forward_propagation(X, parameters)
    p = (a3 > 0.5).astype(int)
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p


def predict_dec(parameters, X):
    """Boolean predictions (A3 > 0.5) of shape (1, m), for drawing decision boundaries."""
    a3, _ = forward_propagation(X, parameters)
    return a3 > 0.5


def load_2D_dataset(path="datasets/data.mat", plot=True):
    """Read a 2-D two-class data set from a MATLAB file with keys X, y, Xval and yval.

    Returns (train_X, train_Y, test_X, test_Y): X arrays of shape (2, m), label arrays of shape
    (1, m). The training set is drawn as a scatter plot unless plot is False.
    """
    import scipy.io

    data = scipy.io.loadmat(path)
    train_X = data["X"].T
    train_Y = data["y"].T
    test_X = data["Xval"].T
    test_Y = data["yval"].T

    if plot:
        import matplotlib.pyplot as plt

        plt.scatter(train_X[0, :], train_X[1, :], c=train_Y[0, :], s=40, cmap=plt.cm.Spectral)
    return train_X, train_Y, test_X, test_Y


def plot_decision_boundary(model, X, y):
    """Shade the plane by model's prediction and overlay the points X coloured by labels y.

    `model` maps an (n_points, 2) array of coordinates to predictions (one per point).
    """
    import matplotlib.pyplot as plt

    pad, step = 1.0, 0.01
    x_min, x_max = X[0, :].min() - pad, X[0, :].max() + pad
    y_min, y_max = X[1, :].min() - pad, X[1, :].max() + pad
    xx, yy = np.meshgrid(np.arange(x_min, x_max, step), np.arange(y_min, y_max, step))
    grid = np.c_[xx.ravel(), yy.ravel()]
    Z = np.asarray(model(grid)).reshape(xx.shape)

    plt.contourf(xx, yy, Z, cmap=plt.cm.Spectral)
    plt.ylabel("x2")
    plt.xlabel("x1")
    plt.scatter(X[0, :], X[1, :], c=np.ravel(y), s=40, cmap=plt.cm.Spectral)
    plt.show()
