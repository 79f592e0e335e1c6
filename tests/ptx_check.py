"""Compile every CUDA step kernel to PTX without a GPU (numba-cuda + NVRTC).

Run by ``.ci/run`` in a separate environment with ``numadam[cuda]`` installed:
every method's generated kernel, in float32 and float64, and the reduction kernels must
compile for a real device (compute capability 8.0).  (Kernels that call
non-inlined device functions -- the many-problems kernel, which calls the
user's functions -- need a device to compile and are covered by the simulator
tests.)
"""
import sys

import numpy as np
from numba import types
from numba.core import config

import numadam
from numadam._kernels import cuda as K


def signatures(dtype):
    nb = types.float32 if dtype == np.float32 else types.float64
    A, I, B = nb[::1], types.int64[::1], types.boolean
    for method, opts in [("adam", {}), ("adam", {"amsgrad": True}), ("adamax", {}),
                         ("nadam", {}), ("radam", {}), ("sgd", {}),
                         ("sgd", {"momentum": 0.9}), ("rmsprop", {"centered": True}),
                         ("adagrad", {})]:
        spec = numadam.METHODS[method]
        o = spec.resolve(opts)
        scalars = spec.scalar_fn(o)(spec.hyper(o), 1, 1e-3, 1.0, spec.init_host(o))[0]
        n_arrays = len(spec.kernel_arrays(o, spec.init_state(o, np.zeros(2)), np.zeros(2)))
        sig = (A, A) + (A,) * n_arrays + (I,)
        sig += tuple(B if isinstance(s, (bool, np.bool_)) else nb for s in scalars) + (nb,)
        yield spec.kernel(o), sig


def main():
    from numba import cuda
    assert not config.ENABLE_CUDASIM
    failures = passed = 0
    for dtype in (np.float32, np.float64):
        for kernels, sig in signatures(dtype):
            name = kernels.name
            try:
                ptx, _ = cuda.compile_ptx(kernels.cuda.py_func, sig, cc=(8, 0))
                passed += 1
                print(f"ok   {name:14s} {np.dtype(dtype).name}: {len(ptx)} bytes of PTX")
            except Exception as exc:  # noqa: BLE001
                failures += 1
                print(f"FAIL {name} {np.dtype(dtype).name}: {exc}")
    for name, sig in (("sumsq_blocks", (types.float32[::1], types.float64[::1])),
                      ("sum_parts", (types.float64[::1], types.float64[::1]))):
        try:
            cuda.compile_ptx(getattr(K, name).py_func, sig, cc=(8, 0))
            passed += 1
            print(f"ok   {name}")
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"FAIL {name}: {exc}")
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
