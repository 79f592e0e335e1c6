"""Test problems used by the demo, the examples and the benchmarks.

Plain NumPy objectives with their gradients, in the ``fun(x, *args)``
convention of :func:`numadam.minimize`.
"""
import numpy as np

__all__ = ["rosenbrock", "rosenbrock_2d", "quadratic", "make_logistic_regression", "logistic_loss",
           "make_multinomial", "softmax_loss", "reddi_counterexample"]


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


def rosenbrock_2d(x):
    """2-D Rosenbrock and its gradient, written with scalars so that
    ``numba.njit(rosenbrock_2d)`` compiles it (the compiled-loop example).

    Parameters
    ----------
    x : numpy.ndarray, shape (2,)

    Returns
    -------
    f : float
    g : numpy.ndarray, shape (2,), ``x``'s dtype

    Examples
    --------
    >>> import numpy as np
    >>> from numadam.problems import rosenbrock, rosenbrock_2d
    >>> x = np.array([-1.2, 1.0])
    >>> bool(np.allclose(rosenbrock_2d(x)[1], rosenbrock(x)[1]))
    True
    """
    a, b = x[0], x[1]
    g = np.empty_like(x)
    g[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1] = 200.0 * (b - a * a)
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, g


def quadratic(x, a, b):
    """``sum(a * (x - b)**2)`` and its gradient, as ``(f, g)``: one convex problem.

    Written for :func:`numba.njit` (wrap it to use it with
    :func:`numadam.minimize_many`), with one row of ``a`` (curvatures, > 0)
    and ``b`` (the minimiser) per problem.

    Parameters
    ----------
    x, a, b : numpy.ndarray, shape (n,)

    Returns
    -------
    f : float
    g : numpy.ndarray, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from numadam.problems import quadratic
    >>> f, g = quadratic(np.zeros(2), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    >>> float(f), g
    (3.0, array([-2., -4.]))
    """
    r = x - b
    return np.sum(a * r * r), 2 * a * r


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


def make_multinomial(n_samples=20000, n_features=50, n_classes=10, seed=0, scale=1.0,
                     dtype=np.float64):
    """Synthetic multi-class data drawn from a softmax model with known weights.

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        Data size.
    seed : int
        Seed of the :func:`numpy.random.default_rng` that draws everything.
    scale : float
        Standard deviation of the generating weights (larger: easier classes).
    dtype : numpy dtype, default float64
        dtype of ``X`` and ``W_true``.

    Returns
    -------
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray of int64, shape (n_samples,)
        Class labels in ``range(n_classes)``.
    W_true : numpy.ndarray, shape (n_features, n_classes)

    Examples
    --------
    >>> from numadam.problems import make_multinomial
    >>> X, y, W = make_multinomial(100, 5, 3)
    >>> X.shape, y.shape, W.shape, int(y.max()) < 3
    ((100, 5), (100,), (5, 3), True)
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_features, n_classes)) * scale / np.sqrt(n_features)
    X = rng.standard_normal((n_samples, n_features))
    z = X @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random((n_samples, 1))
    y = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), n_classes - 1).astype(np.int64)
    return X.astype(dtype), y, W.astype(dtype)


def softmax_loss(W, X, y, l2=0.0):
    """Mean multinomial logistic (cross-entropy) loss + ``l2/2 ||W||^2``, and gradient.

    Parameters
    ----------
    W : numpy.ndarray, shape (n_features, n_classes)
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray of int, shape (n_samples,)
    l2 : float
        L2 penalty.

    Returns
    -------
    f : float
    g : numpy.ndarray, ``W``'s shape and dtype

    Examples
    --------
    >>> import numpy as np
    >>> from numadam.problems import softmax_loss
    >>> f, g = softmax_loss(np.zeros((2, 3)), np.eye(2), np.array([0, 2]))
    >>> bool(abs(f - np.log(3)) < 1e-12), g.shape
    (True, (2, 3))
    """
    n = X.shape[0]
    z = X @ W
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    f = float(np.mean(np.log(s[:, 0]) - z[rows, y]) + 0.5 * l2 * np.sum(W * W))
    p = e / s
    p[rows, y] -= 1.0
    g = X.T @ p / n + l2 * W
    return f, g.astype(W.dtype, copy=False)


def reddi_counterexample(n_steps, C=3.0, period=3, small=-1.0):
    """The online problem of Reddi, Kale & Kumar (2018), Section 3.

    ``f_t(x) = C*x`` when ``t % period == 1`` (t = 1, 2, ...), else
    ``small*x``, on the feasible set [-1, 1].  The optimum is x = -1 when
    ``C + (period-1)*small > 0``.  Returned as per-step data for
    :func:`numadam.minimize` with ``batch_size=1, shuffle=False``, together
    with the objective ``fun(x, c) -> (c*x, c)``.

    Parameters
    ----------
    n_steps : int
        Length of the sequence.
    C, period, small : float, int, float
        The paper's Section 3 uses C = 3 (period 3, small -1); its Section 5
        variant uses C = 1010, period 101, small -10.

    Returns
    -------
    coefficients : numpy.ndarray, shape (n_steps,)
        The gradient of ``f_t``, t = 1..n_steps.
    fun : callable
        ``fun(x, c)`` returns ``(mean(c) * x[0], [mean(c)])``: for a
        one-sample batch the loss ``f_t`` and its gradient; for the whole
        sequence the average loss.

    Examples
    --------
    >>> from numadam.problems import reddi_counterexample
    >>> c, fun = reddi_counterexample(6)
    >>> c.tolist()
    [3.0, -1.0, -1.0, 3.0, -1.0, -1.0]
    """
    t = np.arange(1, n_steps + 1)
    coefficients = np.where(t % period == 1, C, small).astype(np.float64)

    def fun(x, c):
        mean = float(np.mean(c))
        return mean * float(x[0]), np.full(x.shape, mean, dtype=x.dtype)

    return coefficients, fun
