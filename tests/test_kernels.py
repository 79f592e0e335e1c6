"""Every method's fused kernel against the NumPy float64 reference."""
import numpy as np
import pytest

import numadam
from numadam._kernels import load_cpu
from cases import CASES, case_id
from reference import Reference

STEPS = 200
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def gradients(n, steps, seed):
    """Random gradients whose scale varies by 1e-3..1e3 across coordinates."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-3, 3, size=n)
    return rng.standard_normal((steps, n)) * scale


def rel_err(a, ref):
    return np.max(np.abs(np.asarray(a, np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-300)


def run_pair(method, opts, dtype, n=257, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal(n).astype(dtype)
    ref = Reference(method, x, **opts)
    opt = numadam.Optimizer(x, method=method, **opts)
    for g in gradients(n, steps, seed).astype(dtype):
        opt.step(g)
        ref.step(g)
    return x, opt, ref


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_reference(case, dtype):
    method, opts = case
    x, opt, ref = run_pair(method, opts, dtype)
    tol = TOL[dtype]
    if method == "prodigy" and dtype == np.float32:
        # Prodigy learns its step size d from sums of the float32 state: the
        # float32 run's d parts from the float64 reference's by about 1.5%
        # (prodigyopt's float32 run agrees with numadam's to 2e-6:
        # tests/test_references.py)
        tol = 0.05
    assert x.dtype == dtype
    assert rel_err(x, ref.x) < tol
    # the run really moved the parameters (a test that cannot fail is a defect)
    x0 = np.random.default_rng(1).standard_normal(x.size)
    assert np.max(np.abs(ref.x - x0)) > 1e-4
    expected = ref.state()
    assert set(opt.state) == set(expected)
    for name, arr in opt.state.items():
        assert arr.dtype == dtype
        assert rel_err(arr, expected[name]) < tol, name


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_parallel_kernel_equals_serial(case):
    """Above the size threshold the prange kernel runs: bitwise the same."""
    method, opts = case
    cpu = load_cpu()
    n = cpu.PARALLEL_THRESHOLD + 13
    g = gradients(n, 3, 5)
    xs = []
    for variant in ("serial", "parallel"):
        x = np.linspace(-1, 1, n)
        opt = numadam.Optimizer(x, method=method, **opts)
        pair = opt._spec.kernel(opt._opts)
        opt._kernel = getattr(pair, variant)
        if pair._first is not None:   # a two-pass rule: its first pass too
            opt._first = getattr(pair._first, variant)
        for gi in g:
            opt.step(gi)
        xs.append((x, opt.state))
    assert np.array_equal(xs[0][0], xs[1][0])
    for name in xs[0][1]:
        assert np.array_equal(xs[0][1][name], xs[1][1][name])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_first_step_moves_by_lr_whatever_the_scale(dtype):
    g = np.array([1e-6, -1e-3, 1.0, -1e3, 1e6, 0.0]).astype(dtype)
    x = np.zeros(g.size, dtype)
    lr, eps = 1e-3, 1e-8
    numadam.Adam(x, lr=lr, eps=eps).step(g)
    gd = np.abs(g.astype(np.float64))
    expected = lr * gd / (gd + eps)
    np.testing.assert_allclose(np.abs(x), expected, rtol=TOL[dtype], atol=0)
    assert np.all(np.sign(x) == -np.sign(g))
    # "lr up to eps": every move is at most lr, and lr within eps/|g|
    assert np.all(np.abs(x.astype(np.float64)) <= lr * (1 + TOL[dtype]))
    np.testing.assert_allclose(np.abs(x[2:5]), lr, rtol=1e-6)


def test_amsgrad_spellings_agree_bitwise():
    g = gradients(50, 100, 3)
    xa, xb = np.ones(50), np.ones(50)
    a = numadam.AMSGrad(xa)
    b = numadam.Adam(xb, amsgrad=True)
    for gi in g:
        a.step(gi)
        b.step(gi)
    assert np.array_equal(xa, xb)
    assert not np.array_equal(xa, np.ones(50))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_maximize_equals_minimize_of_negative(case):
    method, opts = case
    g = gradients(40, 30, 7)
    opts_min = dict(opts, maximize=False)
    opts_max = dict(opts, maximize=True)
    x1, x2 = np.linspace(-1, 1, 40), np.linspace(-1, 1, 40)
    o1 = numadam.Optimizer(x1, method=method, **opts_min)
    o2 = numadam.Optimizer(x2, method=method, **opts_max)
    for gi in g:
        o1.step(-gi)
        o2.step(gi)
    assert np.array_equal(x1, x2)


def test_adamw_decays_toward_zero_with_zero_gradient():
    x = np.full(5, 2.0)
    opt = numadam.AdamW(x, lr=0.1, weight_decay=0.5)
    opt.step(np.zeros(5))
    np.testing.assert_array_equal(x, 2.0 * (1 - 0.1 * 0.5))


def test_zero_gradient_leaves_adam_unchanged():
    x = np.linspace(-3, 3, 11)
    before = x.copy()
    opt = numadam.Adam(x)
    for _ in range(10):
        opt.step(np.zeros(11))
    np.testing.assert_array_equal(x, before)


def test_radam_first_steps_unrectified():
    # steps 1..5 with beta2 = 0.999: x -= lr * m / bc1 exactly
    x = np.zeros(3)
    opt = numadam.RAdam(x, lr=0.1)
    g = np.array([1.0, -2.0, 1e-9])
    opt.step(g)
    np.testing.assert_allclose(x, -0.1 * g, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_guards_fused_multiply_add_is_screens_value(dtype):
    # the generated modules' screen (one fma: a * 0 + c) against the plain
    # Python of numadam._kernels._math.screen, bit for bit, on the values the
    # guard meets: finite (zeros, subnormals, the largest), infinite, NaN
    from numadam._kernels import _math
    from numadam._methods import get_method
    fused = get_method("adam").rule.cpu_module().screen
    fin = np.finfo(dtype)
    values = [0.0, -0.0, 1.5, -2.0, fin.max, -fin.max, fin.smallest_subnormal, np.inf,
              -np.inf, np.nan]
    for a in map(dtype, values):
        for c in map(dtype, [0.0, -0.0, np.nan]):
            with np.errstate(invalid="ignore"):
                want = _math.screen(a, c)
            got = dtype(fused(a, c))   # (numba returns a Python float)
            assert (np.isnan(got) and np.isnan(want)) or (
                np.asarray(got).tobytes() == np.asarray(want).tobytes()), (a, c, got, want)
            assert np.isnan(got) == (not (np.isfinite(a) and np.isfinite(c)))
