"""The C ABI loop on 2-D Rosenbrock, 200,000 Adam steps, side by side in one process:
a hand-written numba.cfunc through the cached compiled loop, an njit out= objective
wrapped into a cfunc, and optax's whole loop in jax.jit (fori_loop).  Prints the
median ns per iteration of 7 interleaved rounds.  ``python -m bench.cabi``."""
import time, statistics, math, numpy as np
import numadam
from numba import cfunc, carray, types, njit
from bench.loops import optax_loops, rosen_fg_out
N=200000
sig = types.float64(types.intp, types.CPointer(types.float64), types.CPointer(types.float64), types.voidptr)
@cfunc(sig, error_model="numpy", cache=True)
def cr(n, xp, gp, ud):
    x = carray(xp, (n,)); g = carray(gp, (n,))
    a, b = x[0], x[1]
    g[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1] = 200.0 * (b - a * a)
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
x0 = np.array([-1.2, 1.0]); opts = {"lr": 1e-2, "maxiter": N, "gtol": 0}
py, whole = optax_loops(N)
r1 = numadam.minimize(cr, True, x0, options=opts); r2 = numadam.minimize(rosen_fg_out, True, x0, options=opts)
r3 = numadam.minimize(cr, True, x0, options=dict(opts, maxiter=2000, compiled=False))
r4 = numadam.minimize(cr, True, x0, options=dict(opts, maxiter=2000))
assert r1.compiled and np.array_equal(r1.x, r2.x) and np.array_equal(r3.x, r4.x)
cases = {"cfunc": lambda: numadam.minimize(cr, True, x0, options=opts), "njit out=": lambda: numadam.minimize(rosen_fg_out, True, x0, options=opts), "optax": whole}
for f in cases.values(): f()
T = {k: [] for k in cases}
for _ in range(7):
    for k, f in cases.items():
        t = time.perf_counter(); f(); T[k].append((time.perf_counter() - t) / N * 1e9)
for k, v in T.items():
    print(f"{k}: {statistics.median(v):.1f} ns per iteration")
