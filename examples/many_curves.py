"""
Fitting 100,000 noisy exponential decays at once
================================================

One model, many data sets: ``y = a * exp(-b t) + c`` fitted to every one of
100,000 synthetic curves of 50 points (think one curve per pixel, per cell,
per star) with ``numadam.minimize_many``: a compiled objective for ONE
curve, and every curve minimised independently, in parallel, with its own
Adam state and stopping test.

For comparison, a Python loop of ``scipy.optimize.least_squares`` and a loop
of ``numadam.minimize`` calls run on samples of the curves, and their times
are extrapolated to all of them.  Run it as a script::

    python examples/many_curves.py [n_curves]
"""
import sys
import time

import numpy as np
from numba import njit
from scipy.optimize import least_squares

import numadam

n_curves = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
n_points = 50


@njit
def loss(p, t, y):
    """Half the mean squared residual of one curve, and its gradient."""
    a, b, c = p[0], p[1], p[2]
    f = ga = gb = gc = 0.0
    for k in range(t.size):
        e = np.exp(-b * t[k])
        r = a * e + c - y[k]
        f += r * r
        ga += r * e
        gb -= r * a * t[k] * e
        gc += r
    n = t.size
    g = np.empty(3)
    g[0], g[1], g[2] = ga / n, gb / n, gc / n
    return 0.5 * f / n, g


# synthetic curves with known parameters
rng = np.random.default_rng(0)
t = np.linspace(0.0, 5.0, n_points)
truth = np.column_stack([rng.uniform(1, 3, n_curves), rng.uniform(0.5, 2, n_curves),
                         rng.uniform(-1, 1, n_curves)])
Y = truth[:, :1] * np.exp(-truth[:, 1:2] * t) + truth[:, 2:]
Y += 0.05 * rng.standard_normal(Y.shape)
T = np.broadcast_to(t, Y.shape)               # per-curve data: row i is curve i
X0 = np.column_stack([Y[:, 0] - Y[:, -1], np.ones(n_curves), Y[:, -1]])  # a crude guess
options = {"lr": numadam.schedules.cosine(0.05, 1000), "maxiter": 1000, "gtol": 1e-8}

numadam.minimize_many(loss, True, X0[:2], data=(T[:2], Y[:2]), options=options)  # compile
t0 = time.perf_counter()
res = numadam.minimize_many(loss, True, X0, data=(T, Y), options=options)
t_many = time.perf_counter() - t0
err = np.abs(res.x - truth)
print(res.message)
print(f"minimize_many: {n_curves} curves in {t_many:.2f} s "
      f"({n_curves / t_many:,.0f} curves/s); median |error| of (a, b, c): "
      f"{np.round(np.median(err, axis=0), 4)}")

# scipy.optimize.least_squares in a Python loop, on a sample
sample = rng.choice(n_curves, size=min(200, n_curves), replace=False)
t0 = time.perf_counter()
ls = np.array([least_squares(lambda p, y=Y[i]: p[0] * np.exp(-p[1] * t) + p[2] - y,
                             X0[i]).x for i in sample])
t_ls = (time.perf_counter() - t0) / len(sample) * n_curves
print(f"least_squares loop: {t_ls:.1f} s for all curves (extrapolated from "
      f"{len(sample)}); median |error| on the sample "
      f"{np.round(np.median(np.abs(ls - truth[sample]), axis=0), 4)}")

# numadam.minimize in a loop (the compiled loop per curve), on a sample
numadam.minimize(loss, True, X0[0], args=(t, Y[0]), options=options)
sample = sample[:100]
t0 = time.perf_counter()
for i in sample:
    numadam.minimize(loss, True, X0[i], args=(t, Y[i]), options=options)
t_loop = (time.perf_counter() - t0) / len(sample) * n_curves
print(f"numadam.minimize loop: {t_loop:.1f} s for all curves (extrapolated from "
      f"{len(sample)})")
print(f"minimize_many is {t_ls / t_many:.0f}x faster than the least_squares loop and "
      f"{t_loop / t_many:.0f}x faster than the minimize loop")
assert np.median(err[:, 1]) < 0.05
