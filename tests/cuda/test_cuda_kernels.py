"""CUDA kernels against the CPU kernels, on the CUDA simulator or a real GPU.

Run by ``tests/test_cuda.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(the simulator must be chosen before numba is imported), and directly when a
GPU is present.  Sizes are small: the simulator runs each thread in Python.
"""
import numpy as np
import pytest
from numba import config, cuda

import numadam
from cases import CASES, case_id

pytestmark = pytest.mark.skipif(
    not (config.ENABLE_CUDASIM or cuda.is_available()),
    reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda.py runs this file "
           "on the simulator)")

N = 70     # spans several blocks of the simulator's 32 threads
TOL = {np.float64: 1e-13, np.float32: 1e-6}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gpu_kernel_matches_cpu_kernel(case, dtype):
    method, opts = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(N).astype(dtype)
    grads = (rng.standard_normal((3, N)) * 10.0 ** rng.uniform(-2, 2, N)).astype(dtype)
    xd = cuda.to_device(x)
    gpu = numadam.Optimizer(xd, method=method, **opts)
    cpu = numadam.Optimizer(x, method=method, **opts)
    for g in grads:
        assert gpu.step(cuda.to_device(g))
        cpu.step(g)
    out = xd.copy_to_host()
    assert out.dtype == dtype
    scale = max(1.0, np.abs(x).max())
    assert np.max(np.abs(out - x)) / scale <= TOL[dtype]
    saved = gpu.state_dict()
    for k, v in cpu.state.items():
        assert saved["state"][k].dtype == dtype
        np.testing.assert_allclose(saved["state"][k], v, rtol=TOL[dtype] * 10, atol=0)


def test_guard_and_skip_on_the_device():
    x = np.linspace(-1, 1, N)
    xd = cuda.to_device(x)
    opt = numadam.Adam(xd, nan_policy="skip")
    g = np.ones(N)
    g[3] = np.nan
    assert opt.step(cuda.to_device(g)) is False and opt.t == 0
    np.testing.assert_array_equal(xd.copy_to_host(), x)
    opt = numadam.Adam(xd)
    with pytest.raises(FloatingPointError, match="step 1: the update of 1 of 70"):
        opt.step(cuda.to_device(g))
    out = xd.copy_to_host()
    assert out[3] == x[3] and np.all(np.isfinite(out)) and out[0] != x[0]


def test_state_dict_round_trip_on_the_device():
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((6, N))
    x = np.zeros(N)
    xd = cuda.to_device(x)
    opt = numadam.NAdam(xd)
    for g in grads[:3]:
        opt.step(cuda.to_device(g))
    saved = opt.state_dict()
    yd = cuda.to_device(xd.copy_to_host())
    opt2 = numadam.NAdam(yd)
    opt2.load_state_dict(saved)
    for g in grads[3:]:
        opt.step(cuda.to_device(g))
        opt2.step(cuda.to_device(g))
    np.testing.assert_array_equal(xd.copy_to_host(), yd.copy_to_host())


def test_device_input_errors():
    xd = cuda.to_device(np.zeros(N))
    opt = numadam.Adam(xd)
    with pytest.raises(TypeError, match="grad must be a device array like params"):
        opt.step(np.zeros(N))
    with pytest.raises(ValueError, match=r"grad must have the parameters' shape \(70,\)"):
        opt.step(cuda.to_device(np.zeros(N + 1)))
    with pytest.raises(TypeError, match="grad must have the parameters' dtype float64"):
        opt.step(cuda.to_device(np.zeros(N, np.float32)))
    with pytest.raises(ValueError, match="params contains NaN"):
        numadam.Adam(cuda.to_device(np.array([np.nan, 1.0])))
    with pytest.raises(TypeError, match="params must have dtype float32 or float64"):
        numadam.Adam(cuda.to_device(np.zeros(3, np.int32)))
