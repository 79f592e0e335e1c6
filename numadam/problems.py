"""Test problems used by the demo, the examples and the benchmarks.

Plain NumPy objectives with their gradients, in the ``fun(x, *args)``
convention of :func:`numadam.minimize`.
"""
import numpy as np

__all__ = ["rosenbrock", "make_logistic_regression", "logistic_loss"]


def rosenbrock(x):
    """2-D (or n-D) Rosenbrock function and its gradient, as ``(f, g)``.

    Parameters
    ----------
    x : numpy.ndarray
        Point of shape ``(n,)``, ``n >= 2``.

    Returns
    -------
    f : float
        ``sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``.
    g : numpy.ndarray
        The gradient, of ``x``'s shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from numadam.problems import rosenbrock
    >>> f, g = rosenbrock(np.array([1.0, 1.0]))
    >>> float(f), bool(np.all(g == 0))
    (0.0, True)
    """
    a, b = x[:-1], x[1:]
    r = b - a * a
    f = float(np.sum(100.0 * r * r + (1.0 - a) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * r - 2.0 * (1.0 - a)
    g[1:] += 200.0 * r
    return f, g


def make_logistic_regression(n_samples=5000, n_features=10, seed=0, dtype=np.float64):
    """Synthetic binary classification data with known generating weights.

    Features are standard normal, the last column is a constant 1 (the
    intercept); labels are drawn as ``y ~ Bernoulli(sigmoid(X @ w_true))``.

    Parameters
    ----------
    n_samples, n_features : int
        Data size; ``n_features`` includes the intercept column.
    seed : int
        Seed of the :func:`numpy.random.default_rng` that draws everything.
    dtype : numpy dtype, default float64
        dtype of ``X`` and ``w_true``.

    Returns
    -------
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray of {0, 1}, shape (n_samples,)
    w_true : numpy.ndarray, shape (n_features,)

    Examples
    --------
    >>> from numadam.problems import make_logistic_regression
    >>> X, y, w = make_logistic_regression(100, 3)
    >>> X.shape, y.shape, w.shape
    ((100, 3), (100,), (3,))
    """
    rng = np.random.default_rng(seed)
    w_true = rng.uniform(-2.0, 2.0, size=n_features)
    X = rng.standard_normal((n_samples, n_features))
    X[:, -1] = 1.0
    p = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(n_samples) < p).astype(dtype)
    return X.astype(dtype), y, w_true.astype(dtype)


def logistic_loss(w, X, y, l2=0.0):
    """Mean logistic loss (+ ``l2/2 * ||w||^2``) and its gradient, as ``(f, g)``.

    Parameters
    ----------
    w : numpy.ndarray, shape (n_features,)
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray of {0, 1}, shape (n_samples,)
    l2 : float
        L2 penalty.

    Returns
    -------
    f : float
    g : numpy.ndarray, shape (n_features,), ``w``'s dtype

    Examples
    --------
    >>> import numpy as np
    >>> from numadam.problems import logistic_loss
    >>> f, g = logistic_loss(np.zeros(2), np.eye(2), np.array([1.0, 0.0]))
    >>> round(f, 6), g.tolist()
    (0.693147, [-0.25, 0.25])
    """
    z = X @ w
    # log(1 + exp(z)) - y z, computed stably
    f = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.dot(w, w))
    p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
    g = (X.T @ (p - y)) / X.shape[0] + l2 * w
    return f, g.astype(w.dtype, copy=False)
