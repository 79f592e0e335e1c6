"""The compiled loop's objectives side by side on 2-D Rosenbrock, 200,000 Adam
steps (lr 1e-2, ``gtol=0``), in one process: an njit ``out=`` objective
(compiled into the loop), a hand-written ``numba.cfunc`` and a C function
built with the system's ``cc`` (both through the C pointer), a hand-written
``@njit`` Adam loop, and optax's whole loop in ``jax.jit`` (``fori_loop``)
when installed.  Interleaved rounds, medians, ratios paired per round.

``python -m bench.cabi`` prints the table.
"""
import ctypes
import os
import shutil
import statistics
import subprocess
import tempfile

import numpy as np
from numba import carray, cfunc, types

import numadam

from .loops import emit_table, handwritten_adam, interleaved, optax_loops, rosen_fg_out

STEPS = 200_000

_SIG = types.float64(types.intp, types.CPointer(types.float64),
                     types.CPointer(types.float64), types.voidptr)


def rosen_cfunc():
    """2-D Rosenbrock as a hand-written cfunc (numadam's C signature), compiled
    on first use (a cfunc compiles when it is defined)."""
    if not _CFUNC:
        @cfunc(_SIG, error_model="numpy")
        def rosen(n, xp, gp, ud):
            x = carray(xp, (n,))
            g = carray(gp, (n,))
            a, b = x[0], x[1]
            g[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
            g[1] = 200.0 * (b - a * a)
            return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
        _CFUNC.append(rosen)
    return _CFUNC[0]


_CFUNC = []


#: 2-D Rosenbrock in C, numadam's signature (tests/test_cabi.py builds it too)
ROSEN_C = r"""
#include <stdint.h>
double rosen(intptr_t n, const double *x, double *g, void *user_data) {
    double a = x[0], b = x[1];
    g[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a);
    g[1] = 200.0 * (b - a * a);
    return 100.0 * (b - a * a) * (b - a * a) + (1.0 - a) * (1.0 - a);
}
"""


def c_rosenbrock(directory):
    """Rosenbrock compiled with the system's C compiler, as a typed ctypes
    function; None without a compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, lib = os.path.join(directory, "rosen.c"), os.path.join(directory, "librosen.so")
    with open(src, "w") as f:
        f.write(ROSEN_C)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", lib, src], check=True)
    fn = ctypes.CDLL(lib).rosen
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_double),
                   ctypes.POINTER(ctypes.c_double), ctypes.c_void_p]
    return fn


def measure(rounds=7, peers=("optax",), steps=STEPS):
    """``(ns per iteration by loop, ratios)``, medians of interleaved rounds."""
    x0 = np.array([-1.2, 1.0])
    opts = {"lr": 1e-2, "maxiter": steps, "gtol": 0}
    cf = rosen_cfunc()
    with tempfile.TemporaryDirectory() as tmp:
        c_fn = c_rosenbrock(tmp)
        cases = {
            "numadam compiled loop, njit out= objective": lambda: numadam.minimize(
                rosen_fg_out, True, x0, options=opts),
            "numadam compiled loop, hand-written cfunc": lambda: numadam.minimize(
                cf, True, x0, options=opts),
            "hand-written @njit Adam loop": lambda: handwritten_adam(
                x0.copy(), steps, 1e-2, 0.9, 0.999, 1e-8),
        }
        if c_fn is not None:
            cases["numadam compiled loop, C function (cc -O2, ctypes)"] = (
                lambda: numadam.minimize(c_fn, True, x0, options=opts))
        if "optax" in peers:
            cases["optax.adam, whole loop in jax.jit (fori_loop)"] = optax_loops(steps)[1]
        times = interleaved(cases, rounds, per=steps / 1e9)   # ns per iteration
    njit_key = "numadam compiled loop, njit out= objective"
    ratios = {}
    for k in times:
        if k != njit_key:
            ratios[f"{k} / njit out="] = statistics.median(
                a / b for a, b in zip(times[k], times[njit_key]))
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def report(emit, rounds=7, peers=("optax",)):
    times, ratios = measure(rounds, peers)
    emit_table(emit, f"Rosenbrock, {STEPS:,} Adam steps: the compiled loop's objectives",
               ("loop", "ns per iteration"), [(k, f"{v:.1f}") for k, v in times.items()],
               ratios)
    return times, ratios


def main():
    report(print)


if __name__ == "__main__":
    main()
