"""
Adam's non-convergence and AMSGrad's fix (Reddi, Kale & Kumar, 2018)
====================================================================

The online problem of Section 3: on the feasible set [-1, 1], the loss is
``f_t(x) = C*x`` with C = 3 when ``t % 3 == 1`` and ``-x`` otherwise.  The
average loss ``(C - 2)/3 * x`` is minimised at x = -1, yet Adam with
beta1 = 0, beta2 = 1/(1 + C**2) and step ``0.5*sqrt(1 - beta2)/sqrt(t)``
drifts to x = +1, the worst point, while AMSGrad converges to -1.

The sequence of losses is handed to ``numadam.minimize`` as per-step data
(one sample per step, in order); the iterates are recorded by a callback,
and the plot is saved as a PNG, by default ``amsgrad_counterexample.png`` in
the current directory::

    python examples/amsgrad_counterexample.py [output.png]
"""
import math
import os
import sys

import numpy as np

import numadam
from numadam.problems import reddi_counterexample

out = sys.argv[1] if len(sys.argv) > 1 else "amsgrad_counterexample.png"
n_steps = 30000
C = 3.0
beta2 = 1.0 / (1.0 + C ** 2)
coefficients, fun = reddi_counterexample(n_steps, C=C)

paths = {}
for method in ("adam", "amsgrad"):
    path = np.empty(n_steps)

    def record(xk):  # legacy callback(xk): a copy of the iterate after each step
        record.k += 1
        path[record.k - 1] = xk[0]

    record.k = 0

    res = numadam.minimize(
        fun, True, [0.0], method=method, data=(coefficients,), bounds=[(-1.0, 1.0)],
        callback=record,
        options={"lr": numadam.schedules.inverse_sqrt(0.5 * math.sqrt(1 - beta2)),
                 "betas": (0.0, beta2), "batch_size": 1, "shuffle": False,
                 "epochs": 1, "gtol": 0})
    paths[method] = path
    # average regret against the best fixed point x* = -1
    regret = np.mean(coefficients * (path - (-1.0)))
    print(f"{method:>8}: x after {res.nit} steps = {res.x[0]:+.4f}; "
          f"average regret {regret:.3f}")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

fig = Figure(figsize=(6.4, 4.0), layout="constrained")
FigureCanvasAgg(fig)
ax = fig.add_subplot()
steps = np.arange(1, n_steps + 1)
for method, path in paths.items():
    ax.plot(steps, path, label=method)
ax.axhline(-1.0, color="k", lw=0.8, ls="--", label="optimum x* = -1")
ax.set_xscale("log")
ax.set_xlabel("step t")
ax.set_ylabel("x_t")
ax.set_ylim(-1.1, 1.1)
ax.set_title(f"Reddi et al. (2018): f_t = {C:g}x if t % 3 == 1 else -x, on [-1, 1]")
ax.legend()
fig.savefig(out, dpi=120)
print("saved", os.path.relpath(out))
assert paths["adam"][-1] > 0.99 and paths["amsgrad"][-1] < -0.9
