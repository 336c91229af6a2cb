"""Helpers for the initialization assignment: a fixed 3-layer network, its data and plots.

The network is LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID. Data is column-major:
X has shape (n_features, m) and labels have shape (1, m). matplotlib and scikit-learn are
imported inside the functions that need them, so importing this module stays cheap.
"""

import numpy as np


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-x))


def relu(x):
    """Rectified linear unit max(0, x), elementwise."""
    return np.maximum(0, x)


def compute_loss(a3, Y):
    """Mean cross-entropy of predictions a3 against labels Y, both of shape (1, m).

    NaN terms (0 * log(0)) are skipped; a confident wrong prediction gives inf.
    """
    m = Y.shape[1]
    per_example = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    return 1.0 / m * np.nansum(per_example)


def forward_propagation(X, parameters):
    """Run the 3-layer network on X.

    Returns (a3, cache) where a3 is the sigmoid output of shape (1, m) and cache is the tuple
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) used by backward_propagation.
    """
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]

    z1 = np.dot(W1, X) + b1
    a1 = relu(z1)
    z2 = np.dot(W2, a1) + b2
    a2 = relu(z2)
    z3 = np.dot(W3, a2) + b3
    a3 = sigmoid(z3)

    cache = (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)
    return a3, cache


def backward_propagation(X, Y, cache):
    """Gradients of the mean cross-entropy for the 3-layer network.

    The 1/m factor is applied once, to dz3; the later products and sums carry it along.
    Returns a dict with keys dz3, dW3, db3, da2, dz2, dW2, db2, da1, dz1, dW1, db1.
    """
    m = X.shape[1]
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) = cache

    dz3 = 1.0 / m * (a3 - Y)
    dW3 = np.dot(dz3, a2.T)
    db3 = np.sum(dz3, axis=1, keepdims=True)

    da2 = np.dot(W3.T, dz3)
    dz2 = np.multiply(da2, np.int64(a2 > 0))
    dW2 = np.dot(dz2, a1.T)
    db2 = np.sum(dz2, axis=1, keepdims=True)

    da1 = np.dot(W2.T, dz2)
    dz1 = np.multiply(da1, np.int64(a1 > 0))
    dW1 = np.dot(dz1, X.T)
    db1 = np.sum(dz1, axis=1, keepdims=True)

    return {
        "dz3": dz3, "dW3": dW3, "db3": db3,
        "da2": da2, "dz2": dz2, "dW2": dW2, "db2": db2,
        "da1": da1, "dz1": dz1, "dW1": dW1, "db1": db1,
    }


def update_parameters(parameters, grads, learning_rate):
    """One step of plain gradient descent on every W_l and b_l; returns the parameters dict."""
    L = len(parameters) // 2
    for k in range(1, L + 1):
        parameters["W" + str(k)] = parameters["W" + str(k)] - learning_rate * grads["dW" + str(k)]
        parameters["b" + str(k)] = parameters["b" + str(k)] - learning_rate * grads["db" + str(k)]
    return parameters


def predict(X, y, parameters):
    """Predict labels (a3 > 0.5) for X, print the accuracy against y and return the predictions.

    Returns an int array of shape (1, m) holding 0s and 1s.
    """
    a3, _ = forward_propagation(X, parameters)
    p = (a3 > 0.5).astype(int)
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p


def predict_dec(parameters, X):
    """Boolean predictions (a3 > 0.5) of shape (1, m), for drawing decision boundaries."""
    a3, _ = forward_propagation(X, parameters)
    return a3 > 0.5


def load_dataset(plot=True):
    """Two noisy concentric circles: 300 training and 100 test points.

    Returns (train_X, train_Y, test_X, test_Y) with X of shape (2, m) and Y of shape (1, m).
    The training set is drawn as a scatter plot unless plot is False.
    """
    from sklearn.datasets import make_circles

    np.random.seed(1)
    train_X, train_Y = make_circles(n_samples=300, noise=.05)
    np.random.seed(2)
    test_X, test_Y = make_circles(n_samples=100, noise=.05)

    train_X = train_X.T
    train_Y = train_Y.reshape((1, train_Y.shape[0]))
    test_X = test_X.T
    test_Y = test_Y.reshape((1, test_Y.shape[0]))

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
    plt.scatter(X[0, :], X[1, :], c=np.ravel(y), cmap=plt.cm.Spectral)
    plt.show()
