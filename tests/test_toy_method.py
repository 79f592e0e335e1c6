"""A method added by one declaration (``tests/toy_method.py``): every kernel
the generator makes of it, against a NumPy float64 implementation.

Its CUDA kernels are tested on the simulator by ``tests/gpu/test_cuda_kernels.py``.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

import numadam
import toy_method
from numadam._kernels import generate, load_cpu

#: the toy's test table: (options) cases, as tests/cases.py for the package's methods
TOY_CASES = [
    {},
    {"lr": 0.05, "beta": 0.5},
    {"weight_decay": 0.1, "maximize": True},
    {"clip_value": 0.3, "beta": 0.0},
]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture(autouse=True)
def toy():
    toy_method.register()
    yield numadam.METHODS[toy_method.NAME]
    toy_method.unregister()


class SignDescent:
    """Sign descent with momentum in NumPy float64, from its definition."""

    def __init__(self, x, lr=1e-2, beta=0.9, weight_decay=0.0, maximize=False,
                 clip_value=None):
        self.x = np.array(x, np.float64)
        self.m = np.zeros_like(self.x)
        self.lr, self.beta, self.wd = lr, beta, weight_decay
        self.maximize, self.clip = maximize, clip_value

    def step(self, g):
        g = np.array(g, np.float64)
        if self.maximize:
            g = -g
        if self.clip is not None:
            g = np.clip(g, -self.clip, self.clip)
        g = g + self.wd * self.x
        self.m = self.beta * self.m + (1 - self.beta) * g
        self.x = self.x - self.lr * np.sign(self.m)


def grads(n, steps, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((steps, n)) * 10.0 ** rng.uniform(-2, 2, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", TOY_CASES, ids=str)
def test_the_generated_kernel_matches_numpy(opts, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(101).astype(dtype)
    x0 = x.copy()
    ref = SignDescent(x, **opts)
    opt = numadam.Optimizer(x, method=toy_method.NAME, **opts)
    for g in grads(101, 50).astype(dtype):
        opt.step(g)
        ref.step(g)
    assert x.dtype == dtype and opt.state["exp_avg"].dtype == dtype
    # a sign flip of m in float32 moves an element by 2 lr: compare most elements
    close = np.abs(x - ref.x) <= TOL[dtype] * np.maximum(1, np.abs(ref.x))
    assert close.mean() >= (1.0 if dtype == np.float64 else 0.97)
    assert np.max(np.abs(ref.x - x0)) > 0.1   # it moved
    np.testing.assert_allclose(opt.state["exp_avg"], ref.m, rtol=1e-4 if
                               dtype == np.float32 else 1e-12, atol=1e-6)


def test_serial_and_parallel_kernels_agree_bitwise():
    n = load_cpu().PARALLEL_THRESHOLD + 7
    out = []
    for variant in ("serial", "parallel"):
        x = np.linspace(-1, 1, n)
        opt = numadam.Optimizer(x, method=toy_method.NAME, lr=0.1)
        opt._kernel = getattr(opt._kernels, variant)
        for g in grads(n, 3):
            opt.step(g)
        out.append((x, opt.state["exp_avg"]))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])
    assert not np.array_equal(out[0][0], np.linspace(-1, 1, n))


def test_the_guard_keeps_non_finite_elements():
    x = np.ones(5)
    opt = numadam.Optimizer(x, method=toy_method.NAME, lr=0.5)
    g = np.array([1.0, np.nan, -1.0, np.inf, 2.0])
    with pytest.raises(FloatingPointError, match="update of 2 of 5"):
        opt.step(g)
    np.testing.assert_array_equal(x, [0.5, 1.0, 1.5, 1.0, 0.5])


@njit
def quad_fg(x, a, b):
    r = x - b
    return 0.5 * np.sum(a * r * r), a * r


def test_minimize_compiled_and_ordinary_loops_agree_with_numpy():
    a, b = np.array([1.0, 3.0, 0.5]), np.array([0.3, -0.2, 1.0])
    x0 = np.zeros(3)
    opts = dict(lr=0.01, maxiter=300, gtol=0)
    fast = numadam.minimize(quad_fg, True, x0, args=(a, b), method=toy_method.NAME,
                            options=opts)
    slow = numadam.minimize(quad_fg, True, x0, args=(a, b), method=toy_method.NAME,
                            options=dict(opts, compiled=False))
    assert fast.compiled and not slow.compiled
    assert np.array_equal(fast.x, slow.x) and fast.nit == slow.nit == 300
    ref = SignDescent(x0, lr=0.01)
    for _ in range(300):
        ref.step(a * (ref.x - b))
    np.testing.assert_allclose(fast.x, ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fast.x, b, atol=0.03)    # sign descent reaches b to ~lr


def test_minimize_many_matches_minimize_on_each():
    rng = np.random.default_rng(3)
    A, B = rng.uniform(0.5, 2, (30, 4)), rng.standard_normal((30, 4))
    X0 = np.zeros((30, 4))
    opts = dict(lr=0.02, maxiter=200, gtol=1e-3)
    res = numadam.minimize_many(quad_fg, True, X0, data=(A, B), method=toy_method.NAME,
                                options=opts)
    for i in (0, 11, 29):
        r = numadam.minimize(quad_fg, True, X0[i], args=(A[i], B[i]),
                             method=toy_method.NAME, options=opts)
        assert r.nit == res.nit[i] and r.status == res.status[i]
        assert np.array_equal(r.x, res.x[i])


def test_the_generated_module_is_named_by_its_content(toy, tmp_path):
    """A change to the per-element math is a new file: no stale kernel loads."""
    module = toy.rule.cpu_module()
    path = pathlib.Path(module.__file__)
    assert path.parent == pathlib.Path(generate._kernel_dir())
    assert path.name.startswith("numadam_sign_descent_") and path.suffix == ".py"
    src = path.read_text()
    assert "def update(x, g, m, gmul, clip, wd, lr, beta, c_beta):" in src
    changed = src.replace("beta * m + c_beta * g", "beta * m + c_beta * g * 2")
    assert changed != src
    other = generate.load(changed, "sign_descent")
    assert other.__file__ != module.__file__
    assert generate.load(src, "sign_descent") is module   # the same text: the same module


def test_the_cache_directory_is_chosen_by_the_environment(tmp_path):
    code = ("import numpy as np, numadam; x = np.ones(3); numadam.Adam(x).step(x); "
            "m = numadam.METHODS['adam'].rule.cpu_module(); print(m.__file__)")
    env = dict(os.environ, NUMADAM_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)   # (numba's own choice, which numba's cache obeys)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert pathlib.Path(out).parent == tmp_path / "kernels"
    # numba's cache of the generated kernels sits beside them
    assert list((tmp_path / "kernels").glob("__pycache__/*.nbi"))


def test_an_update_function_reading_another_global_is_refused():
    from numadam._methods import Rule, State

    def update(x, g, gmul, clip, wd, lr):
        return (x - lr * g * TOY_CASES[0].get("k", 1),)

    with pytest.raises(TypeError, match="reads \\['TOY_CASES'\\]"):
        Rule("bad", update, toy_method.scalars, hyper=lambda o: ())

    def update2(x, g, _m, gmul, clip, wd):
        return x, _m

    with pytest.raises(TypeError, match="taken by the generated kernels"):
        Rule("bad", update2, toy_method.scalars, hyper=lambda o: (), states=[State("m")])
