"""Compile every CUDA step kernel to PTX without a GPU (numba-cuda + NVRTC).

Run by ``.ci/run`` in a separate environment with ``numadam[cuda]`` installed:
every generated kernel (each flag combination of each method), in float32 and
float64, int8 state's row step of minimize_many (a device function), and the
reduction kernels must
compile for a real device (compute capability 8.0).  (Kernels that call
non-inlined device functions -- the many-problems kernel, which calls the
user's functions -- need a device to compile and are covered by the simulator
tests.)  One process per core (up to 4), each compiling every n-th kernel:
3 min 18 s in one process on CI's 2 cores, 1 min 47 s in two.
"""
import sys

import numpy as np
from numba import types
from numba.core import config

import numadam
from numadam._kernels import cuda as K


def signatures(dtype):
    """Every variant (flag combination) of every declared rule, with its signature."""
    from numadam._kernels import generate as G
    nb = types.float32 if dtype == np.float32 else types.float64
    A, I, B = nb[::1], types.int64[::1], types.boolean
    rules = {m.rule.name: m.rule for m in numadam.METHODS.values()}
    for rule in rules.values():
        sig = rule.signature
        whens = [s.when for s in rule.states]
        for values in G.variants(sig.flags):
            kernels = rule.kernels_for(values)
            n_arrays = len(G.present(sig, whens, values))
            types_ = (A, A) + (A,) * n_arrays + (I,)
            scalars = tuple(B if s in sig.bools else nb for s in sig.scalars) + (nb,)
            yield kernels, "cuda", types_ + scalars
            if rule.first is not None:   # a two-pass rule's first pass: its parts too
                yield kernels, "cuda_first", (A, A) + (A,) * n_arrays + (
                    I, types.float64[:, ::1]) + scalars
            # low-precision state (state_dtype): bfloat16 bits, int8 codes and absmax
            have = G.present(sig, whens, values)
            for fmt, stored in (("bfloat16", types.uint16[::1]), ("int8", types.uint8[::1])):
                if not rule.moments:
                    continue
                arrays = ()
                for st in have:
                    if st not in rule.moments:
                        arrays += (A,)
                    elif fmt == "bfloat16":
                        arrays += (stored,)
                    else:
                        arrays += (stored, types.float32[::1])
                yield (rule.kernels_for(values, fmt), "cuda",
                       (A, A) + arrays + (types.uint32, types.int64, I) + scalars)
                if fmt == "int8":   # minimize_many's row step, a device function
                    yield (rule.kernels_for(values, fmt), "row",
                           (A, A) + arrays + (types.uint32, types.int64) + scalars)


def jobs():
    """Every compilation to check: ``(label, function, signature, device)``."""
    for dtype in (np.float32, np.float64):
        for kernels, which, sig in signatures(dtype):
            name = (kernels.name + ("" if which == "cuda" else "_" + which.replace("cuda_", ""))
                    + (f" ({kernels.fmt})" if kernels.fmt else ""))
            yield (f"{name:24s} {np.dtype(dtype).name}",
                   lambda kernels=kernels, which=which: getattr(kernels, which).py_func,
                   sig, which == "row")
    f32 = types.float32[::1]
    for name, sig in (("sumsq_blocks", (f32, f32, f32, f32, types.float64, types.boolean,
                                        types.float64[::1])),
                      ("sum_parts", (types.float64[::1], types.float64[::1]))):
        yield name, lambda name=name: getattr(K, name).py_func, sig, False


def check(part, parts):
    """Compile this process's share of :func:`jobs` (every ``parts``-th one
    from ``part``); prints a line each, then the counts."""
    from numba import cuda
    assert not config.ENABLE_CUDASIM
    failures = passed = 0
    for index, (label, fn, sig, device) in enumerate(jobs()):
        if index % parts != part:
            continue
        try:
            ptx, _ = cuda.compile_ptx(fn(), sig, cc=(8, 0), device=device)
            passed += 1
            print(f"ok   {label}: {len(ptx)} bytes of PTX")
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"FAIL {label}: {exc}")
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


def main(argv):
    """``ptx_check.py``: the checks in one process per core (each compiles its
    share; the kernels' generated modules are written atomically, so the
    processes may write the same one), their output in order, the counts
    summed.  ``ptx_check.py PART PARTS``: one share, in this process."""
    import os
    import re
    import subprocess
    if argv:
        return check(int(argv[0]), int(argv[1]))
    parts = max(1, min(4, len(os.sched_getaffinity(0))))
    procs = [subprocess.Popen([sys.executable, __file__, str(k), str(parts)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(parts)]
    passed = failures = 0
    status = 0
    for proc in procs:
        out, _ = proc.communicate()
        lines = out.rstrip("\n").splitlines()
        counts = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1] if lines else "")
        print("\n".join(lines[:-1] if counts else lines))
        if counts is None or proc.returncode:
            status = 1
        if counts:
            passed += int(counts[1])
            failures += int(counts[2])
    print(f"{passed} passed, {failures} failed")
    return 1 if failures or status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
