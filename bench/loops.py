"""Per-iteration cost of the loop paths on 2-D Rosenbrock, and many-problems throughput.

* Rosenbrock from (-1.2, 1), 20,000 Adam steps (lr 1e-2), time per iteration of:
  numadam's compiled loop (njit fun), its ordinary loop (the same njit fun, forced
  with ``compiled=False``; and a plain NumPy fun), a hand-written single ``@njit``
  Adam loop, and a torch.optim.Adam loop with a hand-written gradient (when torch
  is installed).  Interleaved rounds, medians; ratios per round.
* Many problems: 20,000 random convex quadratics (4 parameters) solved by
  ``minimize_many`` against a loop of ``minimize`` calls (compiled loop per call)
  on a sample, in problems per second.
"""
import math
import statistics
import time

import numpy as np
from numba import njit

import numadam
from numadam.problems import rosenbrock_2d

STEPS = 20000


rosen_fg = njit(rosenbrock_2d)


def rosen_fg_numpy(x):
    a, b = x[0], x[1]
    return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2,
            np.array([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)]))


@njit
def handwritten_adam(x, steps, lr, b1, b2, eps):
    """Adam on Rosenbrock, everything inlined: the floor for a compiled loop."""
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, steps + 1):
        a, b = x[0], x[1]
        g0 = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
        g1 = 200.0 * (b - a * a)
        bc1 = 1.0 - b1 ** t
        bc2 = 1.0 - b2 ** t
        for i, gi in ((0, g0), (1, g1)):
            m[i] = b1 * m[i] + (1.0 - b1) * gi
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi
            x[i] -= lr / bc1 * m[i] / (math.sqrt(v[i]) / math.sqrt(bc2) + eps)
    return x


def torch_loop(steps):
    import torch
    p = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-2)
    for _ in range(steps):
        with torch.no_grad():
            a, b = p[0].item(), p[1].item()
        p.grad = torch.tensor([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a),
                               200.0 * (b - a * a)], dtype=torch.float64)
        opt.step()
    return p


def rosenbrock_table(rounds=5):
    x0 = np.array([-1.2, 1.0])
    opts = {"lr": 1e-2, "maxiter": STEPS, "gtol": 0}
    cases = {
        "numadam compiled loop (njit fun)":
            (lambda: numadam.minimize(rosen_fg, True, x0, options=opts), STEPS),
        "numadam ordinary loop (njit fun, compiled=False)":
            (lambda: numadam.minimize(rosen_fg, True, x0, options=dict(opts, compiled=False)),
             STEPS),
        "numadam ordinary loop (NumPy fun)":
            (lambda: numadam.minimize(rosen_fg_numpy, True, x0, options=opts), STEPS),
        "hand-written @njit Adam loop":
            (lambda: handwritten_adam(x0.copy(), STEPS, 1e-2, 0.9, 0.999, 1e-8), STEPS),
    }
    try:
        import torch  # noqa: F401
        cases["torch.optim.Adam loop, hand-written gradient"] = (lambda: torch_loop(2000), 2000)
    except ImportError:
        pass
    for fn, _ in cases.values():
        fn()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, (fn, n) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) / n)
    comp = times["numadam compiled loop (njit fun)"]
    hand = times["hand-written @njit Adam loop"]
    ratios = {"compiled / hand-written": statistics.median(c / h for c, h in zip(comp, hand))}
    tk = "torch.optim.Adam loop, hand-written gradient"
    if tk in times:
        ratios["torch / compiled"] = statistics.median(t / c for t, c in zip(times[tk], comp))
    ratios["ordinary / compiled"] = statistics.median(
        o / c for o, c in zip(times["numadam ordinary loop (njit fun, compiled=False)"], comp))
    return {k: statistics.median(v) for k, v in times.items()}, ratios


@njit
def quad_fg(x, a, b):
    r = x - b
    return 0.5 * np.sum(a * r * r), a * r


def many_table(n_problems=20000, sample=200):
    rng = np.random.default_rng(0)
    A = 10.0 ** rng.uniform(0, 2, (n_problems, 4))
    B = rng.standard_normal((n_problems, 4))
    X0 = rng.standard_normal((n_problems, 4))
    opts = {"lr": 0.02, "maxiter": 2000, "gtol": 1e-6}
    numadam.minimize_many(quad_fg, True, X0[:2], data=(A[:2], B[:2]), options=opts)
    numadam.minimize(quad_fg, True, X0[0], args=(A[0], B[0]), options=opts)
    t0 = time.perf_counter()
    res = numadam.minimize_many(quad_fg, True, X0, data=(A, B), options=opts)
    t_many = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(sample):
        numadam.minimize(quad_fg, True, X0[i], args=(A[i], B[i]), options=opts)
    t_loop = (time.perf_counter() - t0) / sample
    return {"problems": n_problems, "mean steps": float(res.nit.mean()),
            "minimize_many problems/s": n_problems / t_many,
            "minimize loop problems/s": 1.0 / t_loop,
            "speed-up": t_loop * n_problems / t_many}


def report(emit, checks):
    times, ratios = rosenbrock_table()
    emit("\n## Rosenbrock, 20,000 Adam steps: time per iteration\n")
    emit("| loop | us/iteration |")
    emit("|---|---:|")
    for k, v in times.items():
        emit(f"| {k} | {v * 1e6:.3f} |")
    emit("")
    for k, v in ratios.items():
        emit(f"- {k}: {v:.1f}x")
    checks.append(("compiled loop within 3x of a hand-written njit loop",
                   ratios["compiled / hand-written"] <= 3.0, ratios["compiled / hand-written"]))
    if "torch / compiled" in ratios:
        checks.append(("compiled loop >= 300x faster than a torch loop",
                       ratios["torch / compiled"] >= 300, ratios["torch / compiled"]))
    many = many_table()
    emit("\n## Many problems: 20,000 convex quadratics (4 parameters, cond. up to 100)\n")
    for k, v in many.items():
        emit(f"- {k}: {v:,.1f}" if isinstance(v, float) else f"- {k}: {v}")
