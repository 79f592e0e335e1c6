"""First call in a new process with a warm disk cache (issue 15's acceptance).

The user's functions are ``njit(cache=True)`` in a module of their own (written
to a temporary directory); one process warms numba's and numadam's caches (an
empty temporary cache directory each, ``NUMBA_CACHE_DIR`` and
``NUMADAM_CACHE_DIR``), then new processes time, after the imports:

* ``minimize``'s compiled loop on 2-D Rosenbrock, 20,000 Adam steps;
* ``minimize_many`` on 100 small problems (4-parameter quadratics, 500 steps).

``python -m bench.first_call`` prints the medians of 5 new processes.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

#: the user's module: its functions are njit(cache=True) (tests/test_cabi.py
#: loads the compiled loop with rosen_out from the cache in a new process)
USER_OBJECTIVES = '''
import numpy as np
from numba import njit


@njit(cache=True)
def rosen_out(x, out):
    a, b = x[0], x[1]
    out[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    out[1] = 200.0 * (b - a * a)
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, out


@njit(cache=True)
def quad_out(x, a, b, out):
    f = 0.0
    for k in range(x.size):
        r = x[k] - b[k]
        out[k] = a[k] * r
        f += 0.5 * a[k] * r * r
    return f, out
'''

_TIMED = '''
import json, time
import numpy as np
import scipy.optimize
import numba
import numadam
from user_objectives import quad_out, rosen_out
rng = np.random.default_rng(0)
A = 10.0 ** rng.uniform(0, 2, (100, 4))
B = rng.standard_normal((100, 4))
X0 = rng.standard_normal((100, 4))
out = {}
t0 = time.perf_counter()
r = numadam.minimize(rosen_out, True, np.array([-1.2, 1.0]),
                     options={"lr": 1e-2, "maxiter": 20000, "gtol": 0})
out["minimize, compiled loop (Rosenbrock, 20,000 steps)"] = time.perf_counter() - t0
assert r.compiled
t0 = time.perf_counter()
numadam.minimize_many(quad_out, True, X0, data=(A, B),
                      options={"lr": 0.02, "maxiter": 500, "gtol": 0})
out["minimize_many (100 quadratics, 500 steps)"] = time.perf_counter() - t0
print(json.dumps(out))
'''


def measure(repeats=5):
    """``{case: [seconds of each new process]}`` and the warm-up's times."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "user_objectives.py"), "w") as f:
            f.write(textwrap.dedent(USER_OBJECTIVES))
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache"),
                   NUMADAM_CACHE_DIR=os.path.join(tmp, "numadam-cache"),
                   PYTHONPATH=tmp + os.pathsep + os.environ.get("PYTHONPATH", ""))

        def once():
            res = subprocess.run([sys.executable, "-c", _TIMED], env=env, cwd=tmp,
                                 capture_output=True, text=True, timeout=600)
            if res.returncode:
                raise RuntimeError(res.stderr[-2000:])
            return json.loads(res.stdout.strip().splitlines()[-1])

        cold = once()
        runs = [once() for _ in range(repeats)]
    return cold, {k: [r[k] for r in runs] for k in runs[0]}


def main():
    cold, warm = measure()
    print("| first call, new process | cold cache (s) | warm cache, median of 5 (s) |"
          " range (s) |")
    print("|---|---:|---:|---|")
    for k, v in warm.items():
        print(f"| {k} | {cold[k]:.2f} | {statistics.median(v):.3f} | "
              f"{min(v):.3f}-{max(v):.3f} |")


if __name__ == "__main__":
    main()
