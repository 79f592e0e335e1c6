"""Compile latency and import time, each measured in fresh processes.

* ``import numadam`` (and, for scale, ``import scipy.optimize``, ``import
  torch`` and ``import jax, optax`` when installed): median wall time of the
  import in new interpreters;
* the first call of ``minimize`` (2-D Rosenbrock, NumPy ``fun``, 10 Adam steps),
  of ``Adam.step`` on an array, of the compiled loop (njit ``fun``) and of
  ``minimize_many``, in a new process: **cold** with an empty numba cache
  directory (everything compiles), then **cached** in another new process with
  the same directory (kernels load from disk; the user's function here is
  defined in a ``-c`` script, which numba cannot cache, so the compiled loop
  and ``minimize_many``, which compile it in, compile again:
  ``bench/first_call.py`` measures ``njit(cache=True)`` functions);
* optax's first jitted Adam step in a new process, for comparison.
"""
import os
import statistics
import subprocess
import sys
import tempfile

_FIRST_CALL = r"""
import time, json
t0 = time.perf_counter()
import numpy as np
import numadam
t_import = time.perf_counter() - t0
from scipy.optimize import rosen, rosen_der
out = {}
t0 = time.perf_counter()
numadam.minimize(rosen, rosen_der, [-1.2, 1.0], options={"maxiter": 10})
out["minimize (NumPy fun), first call"] = time.perf_counter() - t0
t0 = time.perf_counter()
numadam.minimize(rosen, rosen_der, [-1.2, 1.0], options={"maxiter": 10})
out["minimize (NumPy fun), second call"] = time.perf_counter() - t0
x = np.zeros(1000, np.float32)
t0 = time.perf_counter()
numadam.Adam(x).step(np.ones(1000, np.float32))
out["Adam(x).step, float32, first call"] = time.perf_counter() - t0
from numba import njit
from numadam.problems import rosenbrock_2d
fg = njit(rosenbrock_2d)
t0 = time.perf_counter()
numadam.minimize(fg, True, np.array([-1.2, 1.0]), options={"maxiter": 10})
out["compiled loop (njit fun), first call"] = time.perf_counter() - t0
t0 = time.perf_counter()
numadam.minimize_many(fg, True, np.zeros((4, 2)), options={"maxiter": 10})
out["minimize_many, first call"] = time.perf_counter() - t0
print(json.dumps(out))
"""

_OPTAX_FIRST = r"""
import time, json
t0 = time.perf_counter()
import jax, jax.numpy as jnp, optax
tx = optax.adam(1e-3)
@jax.jit
def step(p, s, g):
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s
p = jnp.zeros(1000, jnp.float32)
s = tx.init(p)
t1 = time.perf_counter()
step(p, s, jnp.ones(1000, jnp.float32))[0].block_until_ready()
print(json.dumps({"optax.adam jitted step, first call": time.perf_counter() - t1}))
"""


def _run(code, env=None):
    import json
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_time(module, repeats=5):
    """Median seconds to import ``module`` in a fresh interpreter."""
    code = ("import time, json; t0 = time.perf_counter(); import " + module +
            "; print(json.dumps(time.perf_counter() - t0))")
    return statistics.median(_run(code) for _ in range(repeats))


def measure(peers=(), smoke=False):
    """``(imports, first_calls)``: ``{module: s}`` and ``{call: {"cold": s, "cached": s}}``.

    ``smoke``: one import of each, no first calls (they compile for seconds)."""
    repeats = 1 if smoke else 5
    imports = {"numadam": import_time("numadam", repeats),
               "scipy.optimize": import_time("scipy.optimize", repeats)}
    if smoke:
        return imports, {}
    if any(p.startswith("torch") for p in peers):
        imports["torch"] = import_time("torch", 3)
    if "optax" in peers:
        imports["jax, optax"] = import_time("jax, optax", 3)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = _run(_FIRST_CALL, env)
        cached = _run(_FIRST_CALL, env)
    calls = {k: {"cold": cold[k], "cached": cached[k]} for k in cold}
    if "optax" in peers:
        for k, v in _run(_OPTAX_FIRST).items():
            calls[k] = {"cold": v, "cached": v}
    return imports, calls


def report(emit, checks, peers=(), smoke=False):
    """The compile-latency section; returns what :func:`measure` returned."""
    imports, calls = measure(peers, smoke)
    emit("\n## Compile latency (fresh processes)\n")
    emit("| import | seconds |")
    emit("|---|---:|")
    for k, v in imports.items():
        emit(f"| `import {k}` | {v:.3f} |")
    emit("")
    if not calls:
        emit("- first calls not measured (--smoke)")
    emit("| first call in a new process | cold cache, s | warm disk cache, s |")
    emit("|---|---:|---:|")
    for k, v in calls.items():
        emit(f"| {k} | {v['cold']:.3f} | {v['cached']:.3f} |")
    checks.append(("import numadam < 0.5 s", imports["numadam"] < 0.5, imports["numadam"]))
    return imports, calls
