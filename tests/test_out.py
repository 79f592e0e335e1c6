"""numpy's ``out=`` convention: a gradient function with a parameter named
``out`` gets one preallocated array of x's shape and dtype, in every loop."""
import pathlib
import sys

import numpy as np
import pytest
from numba import njit

import numadam
from numadam.problems import logistic_loss, make_logistic_regression

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench.loops import quad_fg as quad  # noqa: E402 - the bench's objectives
from bench.loops import quad_fg_out as quad_out  # noqa: E402


@njit
def rosen_alloc(x):
    a, b = x[0], x[1]
    g = np.empty_like(x)
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a)
    g[1] = 200 * (b - a * a)
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2, g


@njit
def rosen_out(x, out):
    a, b = x[0], x[1]
    out[0] = -2 * (1 - a) - 400 * a * (b - a * a)
    out[1] = 200 * (b - a * a)
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2, out


@njit
def rosen_f(x):
    return rosen_alloc(x)[0]


@njit
def rosen_g_out(x, out):
    rosen_out(x, out)
    return out


X0 = np.array([-1.2, 1.0])
OPTS = {"lr": 1e-3, "maxiter": 3000, "gtol": 0}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_and_ordinary_loops_write_into_one_array(dtype):
    x0 = X0.astype(dtype)
    ref = numadam.minimize(rosen_alloc, True, x0, options=OPTS)
    fast = numadam.minimize(rosen_out, True, x0, options=OPTS)
    slow = numadam.minimize(rosen_out, True, x0, options=dict(OPTS, compiled=False))
    split = numadam.minimize(rosen_f, rosen_g_out, x0, options=OPTS)
    assert ref.compiled and fast.compiled and split.compiled and not slow.compiled
    for r in (fast, slow, split):
        assert np.array_equal(r.x, ref.x) and np.array_equal(r.jac, ref.jac)
        assert r.x.dtype == dtype and r.nit == ref.nit == 3000
    assert not np.array_equal(ref.x, x0)


def test_the_python_loop_passes_the_same_array_every_call():
    seen = []

    def fg(x, out):
        seen.append(out)
        assert out.shape == x.shape and out.dtype == x.dtype
        out[...] = 2 * x
        return float(np.sum(x * x)), out

    x0 = np.ones((2, 3), np.float32)
    res = numadam.minimize(fg, True, x0, options={"maxiter": 50, "gtol": 0, "lr": 0.01})
    assert len(seen) == 51 and all(o is seen[0] for o in seen)
    assert res.jac is not seen[0] and res.jac.shape == (2, 3)   # the result's own copy
    np.testing.assert_array_equal(res.jac, 2 * res.x)


def test_keyword_only_out_runs_the_ordinary_loop():
    def fg(x, *, out):
        out[:] = 2 * x
        return float(x @ x), out

    res = numadam.minimize(fg, True, np.ones(3), options={"maxiter": 5, "gtol": 0})
    assert res.nit == 5

    with pytest.raises(ValueError, match="an out parameter that is not the one after"):
        numadam.minimize(lambda x, out: (float(x @ x), 2 * x), True, np.ones(3),
                         options={"compiled": True})


def test_minibatches_and_history_with_out():
    X, y, _ = make_logistic_regression(300, 4, seed=1)

    def loss_out(w, Xb, yb, out):
        f, g = logistic_loss(w, Xb, yb)
        out[:] = g
        return f, out

    kw = dict(data=(X, y), rng=3, options={"batch_size": 32, "epochs": 3, "lr": 0.05,
                                             "gtol": 0, "history": 5})
    a = numadam.minimize(logistic_loss, True, np.zeros(4), **kw)
    b = numadam.minimize(loss_out, True, np.zeros(4), **kw)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.jac, b.jac)
    np.testing.assert_array_equal(a.history.loss, b.history.loss)


@njit
def quad_f(x, a, b):
    return quad(x, a, b)[0]


@njit
def quad_g_out(x, a, b, out):
    for k in range(x.size):
        out[k] = a[k] * (x[k] - b[k])
    return out


@njit
def quad_out_misplaced(x, out, a, b):
    return quad_out(x, a, b, out)


def test_minimize_many_passes_each_problem_its_row():
    rng = np.random.default_rng(0)
    A, B = rng.uniform(1, 5, (100, 4)), rng.standard_normal((100, 4))
    X0 = np.zeros((100, 4))
    o = {"lr": 0.05, "maxiter": 300, "gtol": 1e-3}
    ref = numadam.minimize_many(quad, True, X0, data=(A, B), options=o)
    split = numadam.minimize_many(quad_f, quad_g_out, X0, data=(A, B), options=o)
    fused = numadam.minimize_many(quad_out, True, X0, data=(A, B), options=o)
    for res, keys in ((fused, ("x", "jac", "nit", "status", "nfev", "njev")),
                      (split, ("x", "jac", "nit", "status", "njev"))):
        for k in keys:
            assert np.array_equal(res[k], ref[k]), k
    assert np.all(split.nfev == 1)   # a separate fun: evaluated at the end only
    assert ref.summary[0] > 50   # most converged: the runs differ
    with pytest.raises(TypeError, match="parameter 'out' must come right after x"):
        numadam.minimize_many(quad_out_misplaced, True, X0, data=(A, B), options=o)


def test_mpi_single_process_with_out():
    pytest.importorskip("mpi4py")
    import numadam.mpi
    X, y, _ = make_logistic_regression(200, 3, seed=2)

    def loss_out(w, Xb, yb, out):
        f, g = logistic_loss(w, Xb, yb)
        out[:] = g
        return f, out
    kw = dict(rng=1, options={"batch_size": 20, "maxiter": 30, "lr": 0.05})
    a = numadam.mpi.minimize(logistic_loss, True, np.zeros(3), (X, y), **kw)
    b = numadam.mpi.minimize(loss_out, True, np.zeros(3), (X, y), **kw)
    assert np.array_equal(a.x, b.x) and a.nit == b.nit == 30
