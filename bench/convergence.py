"""Convergence per unit time: loss against wall-clock seconds.

Two problems, numadam's methods against SciPy's L-BFGS-B (the deterministic
reference a scientist would otherwise reach for):

* **logistic regression**, 50,000 samples x 100 features, L2 1e-4: numadam
  with minibatches of 256 (``data=``, shuffled, ``rng=0``) at a constant
  learning rate, and Adam with a cosine schedule that decays to 0 at the last
  step of each run (a budgeted run); L-BFGS-B on the full data set;
* **Rosenbrock 2-D** from (-1.2, 1): numadam's compiled loop (njit ``fun``);
  L-BFGS-B with ``scipy.optimize.rosen``/``rosen_der``.

Each point is a whole run stopped at ``maxiter = k`` for a geometric grid of
``k`` (so the time includes everything a user pays: set-up, the loop, the
objective), timed as the best of two, with the suboptimality ``f(x_k) - f*``
evaluated afterwards on the full objective; ``f*`` comes from L-BFGS-B run to
``gtol=1e-12``.  Compilation is excluded (a warm-up run first).
"""
import time

import numpy as np
import scipy.optimize
from numba import njit

import numadam
from numadam.problems import logistic_loss, make_logistic_regression, rosenbrock_2d

#: (label, method, options) of the numadam runs on each problem
LOGISTIC_RUNS = [("adam", "adam", {"lr": 1e-2}), ("amsgrad", "amsgrad", {"lr": 1e-2}),
                 ("adamax", "adamax", {"lr": 2e-2}), ("nadam", "nadam", {"lr": 1e-2}),
                 ("radam", "radam", {"lr": 1e-2}),
                 ("sgd+momentum", "sgd", {"lr": 0.1, "momentum": 0.9}),
                 ("rmsprop", "rmsprop", {"lr": 1e-3}), ("adagrad", "adagrad", {"lr": 0.1})]
ROSEN_RUNS = [("adam", "adam", {"lr": 1e-2}), ("amsgrad", "amsgrad", {"lr": 1e-2}),
              ("adamax", "adamax", {"lr": 2e-2}), ("nadam", "nadam", {"lr": 1e-2}),
              ("radam", "radam", {"lr": 1e-3}),
              ("sgd+momentum", "sgd", {"lr": 2e-4, "momentum": 0.9}),
              ("rmsprop", "rmsprop", {"lr": 1e-3}), ("adagrad", "adagrad", {"lr": 0.5})]


def _timed(run, repeats=2):
    best, res = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run()
        best = min(best, time.perf_counter() - t0)
    return best, res


def _curve(run_k, f_full, grid):
    run_k(grid[0])  # compile / warm up
    ts, fs = [], []
    for k in grid:
        t, res = _timed(lambda: run_k(k))
        ts.append(t)
        fs.append(f_full(res.x))
    return np.array(ts), np.array(fs)


def logistic(max_steps=4000, points=12, scale=1.0, runs=None):
    """``{label: (seconds, f - f*)}`` on the logistic-regression problem."""
    n = int(50_000 * scale)
    X, y, _ = make_logistic_regression(n, 100, seed=1)
    l2 = 1e-4
    w0 = np.zeros(X.shape[1])

    def f_full(w):
        return logistic_loss(w, X, y, l2)[0]

    ref = scipy.optimize.minimize(logistic_loss, w0, args=(X, y, l2), jac=True,
                                  method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0,
                                                              "maxiter": 10000})
    fstar = ref.fun
    out = {}
    grid = np.unique(np.geomspace(10, max_steps, points).astype(int))
    for label, method, opts in LOGISTIC_RUNS[:runs]:
        def run_k(k, method=method, opts=opts):
            return numadam.minimize(logistic_loss, True, w0, args=(l2,), data=(X, y),
                                    method=method, rng=0,
                                    options=dict(opts, batch_size=256, maxiter=int(k), gtol=0))
        ts, fs = _curve(run_k, f_full, grid)
        out[label] = (ts, fs - fstar)

    def cosine_k(k):  # a budgeted run: the learning rate decays to 0 at step k
        return numadam.minimize(logistic_loss, True, w0, args=(l2,), data=(X, y), rng=0,
                                options={"lr": numadam.schedules.cosine(1e-2, int(k)),
                                         "batch_size": 256, "maxiter": int(k), "gtol": 0})
    ts, fs = _curve(cosine_k, f_full, grid)
    out["adam, cosine schedule over the run"] = (ts, fs - fstar)
    lgrid = np.unique(np.geomspace(1, 200, points).astype(int))

    def lbfgs(k):
        return scipy.optimize.minimize(logistic_loss, w0, args=(X, y, l2), jac=True,
                                       method="L-BFGS-B",
                                       options={"maxiter": int(k), "gtol": 0, "ftol": 0})
    ts, fs = _curve(lbfgs, f_full, lgrid)
    out["scipy L-BFGS-B (full batch)"] = (ts, fs - fstar)
    return out


def rosenbrock(max_steps=20000, points=12, runs=None):
    """``{label: (seconds, f - f*)}`` on 2-D Rosenbrock (f* = 0)."""
    fg = njit(rosenbrock_2d)
    x0 = np.array([-1.2, 1.0])

    def f_full(x):
        return float(scipy.optimize.rosen(x))

    out = {}
    grid = np.unique(np.geomspace(10, max_steps, points).astype(int))
    for label, method, opts in ROSEN_RUNS[:runs]:
        def run_k(k, method=method, opts=opts):
            return numadam.minimize(fg, True, x0, method=method,
                                    options=dict(opts, maxiter=int(k), gtol=0))
        out[label] = _curve(run_k, f_full, grid)
    lgrid = np.unique(np.geomspace(1, 60, points).astype(int))

    def lbfgs(k):
        return scipy.optimize.minimize(scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der,
                                       method="L-BFGS-B",
                                       options={"maxiter": int(k), "gtol": 0, "ftol": 0})
    out["scipy L-BFGS-B"] = _curve(lbfgs, f_full, lgrid)
    return out


def report(emit, checks, quick=False, smoke=False):
    """The convergence section; returns ``{problem: {label: (seconds, f - f*)}}``.

    ``smoke``: two methods per problem, short runs, 4 points (checks the code,
    measures nothing)."""
    if smoke:
        data = {"logistic regression": logistic(max_steps=100, points=4, scale=0.02, runs=2),
                "Rosenbrock 2-D": rosenbrock(max_steps=200, points=4, runs=2)}
    else:
        scale = 0.2 if quick else 1.0
        data = {"logistic regression": logistic(max_steps=800 if quick else 4000,
                                                scale=scale),
                "Rosenbrock 2-D": rosenbrock(max_steps=4000 if quick else 20000)}
    for problem, curves in data.items():
        emit(f"\n## Convergence per unit time: {problem}\n")
        emit("| run | seconds to the last point | f - f* at the last point | "
             "seconds to f - f* < 1e-3 |")
        emit("|---|---:|---:|---:|")
        for label, (ts, gap) in curves.items():
            hit = np.nonzero(gap < 1e-3)[0]
            reach = f"{ts[hit[0]]:.4f}" if hit.size else "-"
            emit(f"| {label} | {ts[-1]:.4f} | {gap[-1]:.2e} | {reach} |")
    return data
