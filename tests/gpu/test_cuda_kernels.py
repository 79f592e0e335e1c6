"""CUDA kernels against the CPU kernels, on the CUDA simulator or a real GPU.

Run by ``tests/test_cuda.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(the simulator must be chosen before numba is imported), and directly when a
GPU is present.  Sizes are small: the simulator runs each thread in Python.
"""
import contextlib
import pathlib
import sys
import threading

import numpy as np
import pytest

from numba import config, cuda

import numadam
from cases import CASES, case_id

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from bench.loops import quad_into  # noqa: E402 - the bench's objective, one source

pytestmark = pytest.mark.skipif(
    not (config.ENABLE_CUDASIM or cuda.is_available()),
    reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda.py runs this file "
           "on the simulator)")


@pytest.fixture(autouse=True, scope="module")
def _simulator_switches_threads_often():
    """The simulator runs a block's threads as Python threads and polls them
    from the launching thread, which holds the GIL for a whole switch
    interval per turn: at Python's 5 ms a block of 256 threads mostly waits
    on that loop.  At 0.3 ms this file runs 2-3x faster (an int8 test: 14.6
    -> 4-5 s; 50 ms: 115 s).  Its swaps of the ``cuda`` module, thread-safe
    (:func:`_swapped_cuda_module`)."""
    if not config.ENABLE_CUDASIM:
        yield
        return
    from numba.cuda.simulator import kernel
    before, swap = sys.getswitchinterval(), kernel.swapped_cuda_module
    sys.setswitchinterval(3e-4)
    kernel.swapped_cuda_module = _swapped_cuda_module
    yield
    sys.setswitchinterval(before)
    kernel.swapped_cuda_module = swap


_SWAPS, _SWAPS_LOCK = {}, threading.Lock()


@contextlib.contextmanager
def _swapped_cuda_module(fn, fake):
    """The simulator's swap of ``cuda`` in a device function's module for the
    kernel's fake module, made thread-safe: numba's swaps on entry and
    restores on exit, per call, so a thread leaving a device function put the
    real module back while another thread was still in that module
    (``module 'numba.cuda' has no attribute 'local'``, intermittent, often at
    a short switch interval; NVIDIA/numba-cuda#690, fixed there).  Here the
    first thread in swaps, the last one out restores."""
    from numba import cuda
    space = fn.__globals__
    with _SWAPS_LOCK:
        entry = _SWAPS.get(id(space))
        if entry is None:
            real = {k: v for k, v in space.items() if v is cuda}
            space.update(dict.fromkeys(real, fake))
            entry = _SWAPS[id(space)] = [0, real]
        entry[0] += 1
    try:
        yield
    finally:
        with _SWAPS_LOCK:
            entry[0] -= 1
            if not entry[0]:
                space.update(entry[1])
                del _SWAPS[id(space)]


N = 70     # spans several blocks of the simulator's 16 threads
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
    import copy
    import pickle
    for copier in (pickle.dumps, copy.deepcopy, copy.copy):
        with pytest.raises(TypeError, match="over device arrays cannot be pickled or copied"):
            copier(opt)


@cuda.jit
def _quad_grad_kernel(x, a, b, g):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        g[i] = a[i] * (x[i] - b[i])


def test_a_callbacks_stop_or_exception_on_the_device_is_the_cpus():
    """StopIteration ends the run with status 99, another exception reaches the
    caller (found by review: the device source lacked both, AttributeError)."""
    def fg(x):
        return 0.0, x

    def stop(xk):
        raise StopIteration

    def fails(xk):
        raise KeyError("mine")

    r = numadam.minimize(fg, True, np.ones(3), device="cuda", callback=stop,
                         options={"maxiter": 5})
    assert r.status == 99 and r.nit == 1
    with pytest.raises(KeyError, match="mine"):
        numadam.minimize(fg, True, np.ones(3), device="cuda", callback=fails,
                         options={"maxiter": 5})


@pytest.mark.parametrize("method", ["nadam", "lamb", "prodigy", "adam-bfloat16"])
def test_minimize_on_the_device_matches_the_cpu(method):
    """(LAMB, Prodigy: the two-pass methods, their sums on the device; Adam with
    bfloat16 state: the state on the device, the same random bits.)"""
    method, _, fmt = method.partition("-")
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 3, N), rng.standard_normal(N)
    ad, bd = cuda.to_device(a), cuda.to_device(b)

    def jac_dev(x):
        g = cuda.device_array_like(x)
        _quad_grad_kernel[2, 32](x, ad, bd, g)
        return g

    def fun_dev(x):
        xh = x.copy_to_host()
        return float(0.5 * np.sum(a * (xh - b) ** 2))

    opts = {"lr": 0.05, "maxiter": 25, "gtol": 0, "history": 5}
    if fmt:
        opts["state_dtype"] = fmt
    seen = []
    x0 = np.full(N, 0.1)      # (LAMB's trust ratio needs a nonzero start)
    res = numadam.minimize(fun_dev, jac_dev, x0, method=method, options=opts,
                           bounds=[(-0.5, 0.5)] * N, device="cuda",
                           callback=lambda xk: seen.append(1))
    ref = numadam.minimize(lambda x: float(0.5 * np.sum(a * (x - b) ** 2)),
                           lambda x: a * (x - b), x0, method=method,
                           options=opts, bounds=[(-0.5, 0.5)] * N)
    assert res.device == "cuda" and res.nit == ref.nit == 25 and len(seen) == 25
    np.testing.assert_allclose(res.x.copy_to_host(), ref.x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(res.history.loss, ref.history.loss, rtol=1e-12)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)
    if method != "nadam":
        return
    with pytest.raises(TypeError, match="option 'patience' is not available with device='cuda'"):
        numadam.minimize(fun_dev, jac_dev, np.zeros(N), device="cuda",
                         options={"patience": 3})
    with pytest.raises(TypeError, match="jac must be a device array like params"):
        numadam.minimize(fun_dev, lambda x: np.zeros(N), np.zeros(N), device="cuda")


def test_the_gpu_benchmark_runs(tmp_path):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    from bench.gpu import main
    out = tmp_path / "gpu.md"
    assert main(["--sizes", "100", "--rounds", "1", "--out", str(out)]) in (0, 1)
    text = out.read_text()
    assert "numadam Adam" in text and "stream ceiling" in text
    assert "numadam Adam bfloat16 state" in text and "numadam Adam int8 state" in text


#: the bench's quadratic (value, gradient into an array), compiled for the device
_quad_into = cuda.jit(device=True)(quad_into)


@cuda.jit(device=True)
def _quad_dev(x, g, a, b):
    """The many-problems convention: ``(x, g, *data) -> f``."""
    return _quad_into(x, a, b, g)


@cuda.jit(device=True)
def _quad_dev_f(x, a, b):
    f = 0.0
    for k in range(x.size):
        r = x[k] - b[k]
        f += 0.5 * a[k] * r * r
    return f


@cuda.jit(device=True)
def _quad_dev_g(x, g, a, b):
    for k in range(x.size):
        g[k] = a[k] * (x[k] - b[k])


def _quad_host(x, a, b):
    r = x - b
    return 0.5 * float(np.sum(a * r * r)), a * r


@pytest.mark.parametrize("method, opts", [("adam", {"lr": 0.05}),
                                          ("rmsprop", {"lr": 0.01, "centered": True}),
                                          ("nadam", {"lr": 0.02, "clip_norm": 1.0}),
                                          ("schedule_free_adamw", {"lr": 0.05}),
                                          ("adopt", {"lr": 0.05, "cautious": True})])
def test_minimize_many_on_the_device_matches_the_cpu(method, opts):
    rng = np.random.default_rng(0)
    P, p = 40, 3
    A, B = rng.uniform(1, 5, (P, p)), rng.standard_normal((P, p))
    A[7, 0] = np.nan                      # one broken problem
    X0 = rng.standard_normal((P, p))
    options = dict(opts, maxiter=60, gtol=1e-3)
    res = numadam.minimize_many(_quad_dev, True, X0, data=(A, B), method=method,
                                options=options, device="cuda")
    assert res.device == "cuda" and res.status[7] == 3
    for i in (0, 5, 7, 39):
        r = numadam.minimize(_quad_host, True, X0[i], args=(A[i], B[i]), method=method,
                             options=options)
        assert r.nit == res.nit[i] and r.status == res.status[i]
        np.testing.assert_allclose(res.x[i], r.x, rtol=1e-13, atol=1e-15)
    res2 = numadam.minimize_many(_quad_dev_f, _quad_dev_g, X0, data=(A, B), method=method,
                                 options=options, device="cuda")
    np.testing.assert_array_equal(res2.x, res.x)


def _device_is_cpu(method, options, X0, A, B):
    """minimize_many of the quadratic on the device: the CPU's result bit for
    bit (x, nit, status), as minimize gives it on each problem (the CPU's
    minimize_many is that, bit for bit: tests/test_many.py; compiling its loop
    here took most of these tests' time); returns the device's."""
    res = numadam.minimize_many(_quad_dev, True, X0, data=(A, B), method=method,
                                options=options, device="cuda")
    for i in range(len(X0)):
        r = numadam.minimize(_quad_host, True, X0[i], args=(A[i], B[i]), method=method,
                             options=options)
        np.testing.assert_array_equal(res.x[i], r.x, err_msg=f"problem {i}")
        assert (res.nit[i], res.status[i]) == (r.nit, r.status), i
    return res


@pytest.mark.parametrize("method, opts", [("adam", {"lr": 0.05}),
                                          ("adopt", {"lr": 0.05, "cautious": True})])
def test_minimize_many_on_the_device_with_bfloat16_state(method, opts):
    """bfloat16 state, one thread per problem: each problem's elements draw the
    random bits minimize's run on it alone draws (float64: the CPU's
    minimize_many bit for bit)."""
    rng = np.random.default_rng(1)
    P, p = 8, 3
    A, B = rng.uniform(1, 5, (P, p)), rng.standard_normal((P, p))
    X0 = rng.standard_normal((P, p))
    options = dict(opts, maxiter=10, gtol=0.0, state_dtype="bfloat16")
    res = _device_is_cpu(method, options, X0, A, B)
    full = numadam.minimize_many(_quad_dev, True, X0, data=(A, B), method=method,
                                 options=dict(options, state_dtype=None), device="cuda")
    assert not np.array_equal(res.x, full.x)
    if method != "adam":
        return
    # int8 keeps full precision under 4096 parameters per problem
    r8 = numadam.minimize_many(_quad_dev, True, X0, data=(A, B), method=method,
                               options=dict(options, state_dtype="int8"), device="cuda")
    np.testing.assert_array_equal(r8.x, full.x)


@pytest.mark.parametrize("method, opts", [("adam", {"lr": 0.05}),
                                          ("adopt", {"lr": 0.05, "cautious": True})])
def test_minimize_many_on_the_device_with_int8_state(method, opts, monkeypatch):
    """int8 state from MIN_INT8 parameters per problem: each thread steps its
    problem's row block by block (the new moments in a local buffer, the
    block's absmax, then its codes): the CPU's minimize_many bit for bit
    (float64), a broken problem stopped, the last block partial.  MIN_INT8
    lowered from 4096 to 256 (the simulator runs each thread in Python: 4300
    parameters took 17 s a method), so that 600 = 2 * 256 + 88."""
    from numadam import _lowp
    monkeypatch.setattr(_lowp, "MIN_INT8", 256)
    rng = np.random.default_rng(2)
    P, p = 3, 600
    A, B = rng.uniform(1, 5, (P, p)), rng.standard_normal((P, p))
    A[1, 599] = np.nan
    X0 = rng.standard_normal((P, p))
    options = dict(opts, maxiter=3, gtol=0.0, state_dtype="int8")
    res = _device_is_cpu(method, options, X0, A, B)
    assert list(res.status) == [1, 3, 1] and list(res.nit) == [3, 0, 3]
    full = numadam.minimize(_quad_host, True, X0[0], args=(A[0], B[0]), method=method,
                            options=dict(options, state_dtype=None))
    assert not np.array_equal(res.x[0], full.x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_toy_method_generated_for_the_device(dtype):
    """The test-suite-only method of tests/toy_method.py: its CUDA kernel and its
    many-problems device function, generated from its one declaration."""
    import toy_method
    toy_method.register()
    try:
        rng = np.random.default_rng(2)
        x = rng.standard_normal(N).astype(dtype)
        xd = cuda.to_device(x)
        opts = dict(lr=0.05, beta=0.8, weight_decay=0.01)
        gpu = numadam.Optimizer(xd, method=toy_method.NAME, **opts)
        cpu = numadam.Optimizer(x, method=toy_method.NAME, **opts)
        for g in rng.standard_normal((4, N)).astype(dtype):
            assert gpu.step(cuda.to_device(g))
            cpu.step(g)
        np.testing.assert_array_equal(xd.copy_to_host(), x)
        np.testing.assert_allclose(gpu.state_dict()["state"]["exp_avg"],
                                   cpu.state["exp_avg"], rtol=TOL[dtype] * 10, atol=0)
        P, p = 20, 3
        A, B = rng.uniform(1, 5, (P, p)), rng.standard_normal((P, p))
        X0 = rng.standard_normal((P, p)).astype(dtype)
        options = dict(lr=0.02, maxiter=40, gtol=1e-3)
        res = numadam.minimize_many(_quad_dev, True, X0, data=(A, B),
                                    method=toy_method.NAME, options=options,
                                    device="cuda")
        for i in (0, 19):
            r = numadam.minimize(_quad_host, True, X0[i].astype(np.float64),
                                 args=(A[i], B[i]), method=toy_method.NAME,
                                 options=options)
            if dtype == np.float64:
                assert r.nit == res.nit[i] and r.status == res.status[i]
                np.testing.assert_allclose(res.x[i], r.x, rtol=1e-13, atol=1e-15)
            assert res.x[i].dtype == dtype
        assert np.all(res.nit > 0)
    finally:
        toy_method.unregister()


def test_minimize_on_the_device_passes_one_out_array():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(1, 3, N), rng.standard_normal(N)
    ad, bd = cuda.to_device(a), cuda.to_device(b)
    seen = []

    def jac_alloc(x):
        g = cuda.device_array_like(x)
        _quad_grad_kernel[2, 32](x, ad, bd, g)
        return g

    def jac_out(x, out):
        seen.append(out)
        _quad_grad_kernel[2, 32](x, ad, bd, out)
        return out

    def fun_dev(x):
        xh = x.copy_to_host()
        return float(0.5 * np.sum(a * (xh - b) ** 2))

    opts = {"lr": 0.05, "maxiter": 12, "gtol": 0}
    ref = numadam.minimize(fun_dev, jac_alloc, np.zeros(N), options=opts, device="cuda")
    res = numadam.minimize(fun_dev, jac_out, np.zeros(N), options=opts, device="cuda")
    np.testing.assert_array_equal(res.x.copy_to_host(), ref.x.copy_to_host())
    np.testing.assert_array_equal(res.jac, ref.jac)
    assert len(seen) == 13 and all(o is seen[0] for o in seen)


def test_gtol_on_the_device_tests_the_projected_gradient_as_the_cpu():
    """A minimum outside the box: the full gradient stays large at the solution,
    the projected one vanishes; the device stops where the CPU stops."""
    rng = np.random.default_rng(6)
    a, b = rng.uniform(1, 3, N), rng.uniform(-2, 2, N)   # many b outside [-0.5, 0.5]
    ad, bd = cuda.to_device(a), cuda.to_device(b)

    def jac_dev(x, out):
        _quad_grad_kernel[2, 32](x, ad, bd, out)
        return out

    def fun_dev(x):
        xh = x.copy_to_host()
        return float(0.5 * np.sum(a * (xh - b) ** 2))

    opts = {"lr": 0.05, "maxiter": 3000, "gtol": 1e-4}
    box = [(-0.5, 0.5)] * N
    res = numadam.minimize(fun_dev, jac_dev, np.zeros(N), options=opts, bounds=box,
                           device="cuda")
    ref = numadam.minimize(lambda x: float(0.5 * np.sum(a * (x - b) ** 2)),
                           lambda x: a * (x - b), np.zeros(N), options=opts, bounds=box)
    assert ref.status == 0 and ref.nit < 3000
    assert (res.status, res.nit) == (ref.status, ref.nit)
    np.testing.assert_allclose(res.x.copy_to_host(), ref.x, rtol=1e-13, atol=1e-15)


_LOWP_DEVICE = [("adam", {}), ("adamw", {"amsgrad": True}),
                ("rmsprop", {"centered": True, "momentum": 0.9}),
                ("lion", {"cautious": True}), ("sgd", {}),
                ("lamb", {"weight_decay": 0.01}), ("prodigy", {"lr": 100.0})]


#: every method in float64 (exact); in float32 (within a tolerance on the
#: simulator, which runs the update in Python) one one-pass and one two-pass
#: method: the kernels' float32 code is each method's same template
@pytest.mark.parametrize("method,opts,dtype", [(m, o, np.float64) for m, o in _LOWP_DEVICE]
                         + [(m, o, np.float32) for m, o in _LOWP_DEVICE
                            if m in ("adam", "lamb")])
@pytest.mark.parametrize("fmt", ["bfloat16", "int8"])
def test_low_precision_state_on_the_device_is_the_cpu_bit_for_bit(method, opts, fmt, dtype,
                                                                  monkeypatch):
    """``state_dtype`` on the device: the same parameters and the same stored
    state as the CPU's, bit for bit in float64 (int8 blocks of 256 threads,
    their absmax by an exact tree of integer maxima; bfloat16's random bits
    from the same counter).  In float32 the simulator runs the element's
    update in Python, in float64 (numba returns a float32 result to Python
    as a float): there, within the kernels' tolerance and one code.  int8
    applies from 4096 elements: lowered to 256 here (the simulator runs each
    thread in Python), so that 400 elements make a full int8 block and a
    partial one (each thread a Python thread: 600 elements, a third more
    threads, cost a third more of the simulator's time).  LAMB and Prodigy (two passes: the first reads the decoded
    state, the step stores it) add their sums on the device in another order
    than the CPU's blocks: there too, within the tolerance."""
    from numadam import _lowp
    from numadam._methods import get_method
    monkeypatch.setattr(_lowp, "MIN_INT8", 256)
    n = 400
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n).astype(dtype)
    grads = (rng.standard_normal((2, n)) * 10.0 ** rng.uniform(-3, 1, n)).astype(dtype)
    xd = cuda.to_device(x)
    gpu = numadam.Optimizer(xd, method=method, state_dtype=fmt, **opts)
    cpu = numadam.Optimizer(x, method=method, state_dtype=fmt, **opts)
    for g in grads:
        assert gpu.step(cuda.to_device(g))
        cpu.step(g)
    exact = ((dtype == np.float64 or not config.ENABLE_CUDASIM)
             and not get_method(method).two_pass)
    out = xd.copy_to_host()
    if exact:
        np.testing.assert_array_equal(out, x)
    else:
        assert np.max(np.abs(out - x)) / np.abs(x).max() <= TOL[dtype]
    saved = gpu.state_dict()["state"]
    assert set(saved) == set(cpu.state)
    assert {k: v.dtype for k, v in saved.items()} == {k: v.dtype for k, v in cpu.state.items()}
    for k, v in cpu.state.items():
        if exact:
            np.testing.assert_array_equal(saved[k], v, err_msg=k)
        elif v.dtype in (np.uint8, np.uint16):   # codes or bits: at most the next one
            step = np.abs(saved[k].astype(np.int64) - v.astype(np.int64))
            assert step.max() <= 1 and (step > 0).mean() < 0.05, k
        else:
            np.testing.assert_allclose(saved[k], v, rtol=1e-5, err_msg=k)


@pytest.mark.skipif(not config.ENABLE_CUDASIM, reason="the simulator's warnings")
def test_the_simulator_does_not_warn_of_the_random_bits_wrapping():
    """The random bits' Weyl sequence wraps modulo 2**32 by design; on the
    simulator its uint32 arithmetic runs on NumPy scalars, which warn of the
    wrap ("overflow encountered in scalar multiply").  A user's run on the
    simulator must not show that (the GPU never does)."""
    import warnings
    x = np.linspace(-1, 1, N)
    opt = numadam.Adam(cuda.to_device(x), state_dtype="bfloat16")
    g = cuda.to_device(np.ones(N))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(2):
            opt.step(g)
    assert not [w for w in seen if "overflow" in str(w.message)], [str(w.message) for w in seen]
    assert not np.array_equal(opt._flat.copy_to_host(), x)


@pytest.mark.parametrize("fmt", ["bfloat16", "int8"])
def test_low_precision_state_beyond_its_range_is_an_overflow_on_the_device(fmt, monkeypatch):
    """float64 parameters whose new second moment (1e40) is beyond float32's
    range: the device's step keeps that element and reports it, as the CPU's
    (tests/test_lowp.py); no infinity is stored.  (int8 from 256 elements
    here, as above: 600 make two full blocks and a partial one.)"""
    import warnings
    from numadam import _lowp
    monkeypatch.setattr(_lowp, "MIN_INT8", 256)
    n = 600
    x = np.zeros(n)
    xd = cuda.to_device(x)
    opt = numadam.Adam(xd, betas=(0.9, 0.0), state_dtype=fmt, nan_policy="raise")
    g = np.ones(n)
    g[[3, 300]] = 1e20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # (the simulator's float32 overflow)
        with pytest.raises(FloatingPointError, match=f"update of 2 of {n} elements"):
            opt.step(cuda.to_device(g))
    out = xd.copy_to_host()
    assert out[3] == out[300] == 0 and (np.delete(out, [3, 300]) < 0).all()
    for name, arr in opt.state_dict()["state"].items():
        if arr.dtype == np.uint16:
            arr = _lowp.bf16_widen(arr)
        assert np.isfinite(arr.astype(np.float64)).all(), name


#: a device function in a module of its own (its globals apart from the
#: kernel's), which spends a while before it uses ``cuda.local``
_ELSEWHERE = '''
@cuda.jit(device=True)
def local_sum(x, i):
    s = 0.0
    for k in range(300):
        s += x[i] * k
    buf = cuda.local.array(4, np.float64)
    for k in range(4):
        buf[k] = s + k
    return buf[0] + buf[1] + buf[2] + buf[3]
'''


@pytest.mark.skipif(not config.ENABLE_CUDASIM, reason="the simulator's threads")
def test_the_simulator_s_threads_share_a_device_function_s_module():
    """Many threads in one device function of another module than the
    kernel's (as the generated kernels call each other): with numba's swap
    of ``cuda`` a thread leaving put the real module back under the others
    (at this file's switch interval, 4 launches of 10 failed; of 3 runs of 10
    launches, 2 failed)."""
    elsewhere = {"cuda": cuda, "np": np}
    exec(_ELSEWHERE, elsewhere)
    local_sum = elsewhere["local_sum"]

    @cuda.jit
    def kernel(x, out):
        i = cuda.grid(1)
        if i < x.size:
            out[i] = local_sum(x, i)

    x = np.arange(256.0)
    for _ in range(20):
        out = np.zeros(256)
        kernel[1, 256](x, out)
        np.testing.assert_array_equal(out, 4 * x * (299 * 300 / 2) + 6)


def test_a_huge_finite_gradient_is_clipped_on_the_device_as_on_the_cpu():
    """Its float64 sum of squares overflows (|g| > 1.3e154): the CPU's rescaled
    norm, not a non-finite one (found by review: the device clipped nothing,
    skipped the step, or stopped with status 3)."""
    g = np.full(4, 1e200)
    for opts in ({"clip_norm": 1.0}, {"clip_norm": 1.0, "nan_policy": "skip"}):
        x = np.ones(4)
        numadam.SGD(x, lr=0.1, **opts).step(g)
        xd = cuda.to_device(np.ones(4))
        assert numadam.SGD(xd, lr=0.1, **opts).step(cuda.to_device(g))
        np.testing.assert_array_equal(xd.copy_to_host(), x)

    def fg(x):
        return 0.0, cuda.to_device(np.full(4, 1e200))

    r = numadam.minimize(fg, True, np.ones(4), method="sgd", device="cuda",
                         options={"lr": 0.1, "clip_norm": 1.0, "maxiter": 2})
    ref = numadam.minimize(lambda x: (0.0, np.full(4, 1e200)), True, np.ones(4),
                           method="sgd", options={"lr": 0.1, "clip_norm": 1.0, "maxiter": 2})
    assert r.status == ref.status == 1 and r.nit == 2
    np.testing.assert_array_equal(r.x.copy_to_host(), ref.x)
    # minimize_many: one problem's gradient of 1e200 (a = 1e200 * 2 / (x - b))
    A, B = np.full((2, 3), 1e200), np.zeros((2, 3))
    X0 = np.ones((2, 3))
    for options in ({"lr": 0.1, "maxiter": 2, "gtol": 0.0, "clip_norm": 1.0},
                    {"lr": 0.1, "maxiter": 2, "gtol": 0.0}):
        _device_is_cpu("sgd", options, X0, A, B)


def test_minimize_many_on_the_device_skips_and_counts_as_the_cpu():
    """nan_policy='skip': a problem still non-finite at the end has status 3, and
    the result has nskip, nfev and njev (found by review: status 1, no counts)."""
    rng = np.random.default_rng(2)
    A, B = rng.uniform(1, 2, (3, 3)), rng.standard_normal((3, 3))
    A[1, 0] = np.nan
    X0 = np.zeros((3, 3))
    options = {"lr": 0.05, "maxiter": 5, "nan_policy": "skip"}
    res = _device_is_cpu("adam", options, X0, A, B)
    assert res.status.tolist() == [1, 3, 1] and res.nskip.tolist() == [0, 5, 0]
    assert res.nfev.tolist() == res.njev.tolist() == [6, 6, 6]
