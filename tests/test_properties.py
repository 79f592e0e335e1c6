"""Property tests (hypothesis): random hyperparameters and gradients."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numadam
from reference import Reference

SETTINGS = settings(max_examples=int(__import__("os").environ.get("NUMADAM_HYPOTHESIS_EXAMPLES", 60)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

unit = st.floats(0.0, 0.99)
betas = st.tuples(unit, st.floats(0.0, 0.999))


def method_options():
    """(method, options) with every hyperparameter drawn from its valid range."""
    common = dict(weight_decay=st.floats(0.0, 0.5), maximize=st.booleans(),
                  lr=st.floats(1e-4, 0.5))
    adam_like = dict(common, betas=betas, eps=st.floats(1e-10, 1e-2))
    return st.one_of(
        st.tuples(st.just("adam"), st.fixed_dictionaries(dict(
            adam_like, amsgrad=st.booleans(), decoupled_weight_decay=st.booleans()))),
        st.tuples(st.just("adamw"), st.fixed_dictionaries(dict(adam_like, amsgrad=st.booleans()))),
        st.tuples(st.just("amsgrad"), st.fixed_dictionaries(adam_like)),
        st.tuples(st.just("adamax"), st.fixed_dictionaries(adam_like)),
        st.tuples(st.just("nadam"), st.fixed_dictionaries(dict(
            adam_like, momentum_decay=st.floats(0.0, 0.1),
            decoupled_weight_decay=st.booleans()))),
        st.tuples(st.just("radam"), st.fixed_dictionaries(dict(
            adam_like, decoupled_weight_decay=st.booleans()))),
        st.tuples(st.just("sgd"), st.fixed_dictionaries(dict(
            common, momentum=unit, dampening=st.floats(0.0, 1.0)))),
        st.tuples(st.just("sgd"), st.fixed_dictionaries(dict(
            common, momentum=st.floats(0.01, 0.99), nesterov=st.just(True)))),
        st.tuples(st.just("rmsprop"), st.fixed_dictionaries(dict(
            common, alpha=unit, eps=st.floats(1e-10, 1e-2), momentum=unit,
            centered=st.booleans()))),
        st.tuples(st.just("adagrad"), st.fixed_dictionaries(dict(
            common, lr_decay=st.floats(0.0, 1.0), eps=st.floats(1e-10, 1e-2),
            initial_accumulator_value=st.floats(0.0, 1.0)))),
    )


@SETTINGS
@given(case=method_options(), seed=st.integers(0, 2**32 - 1),
       scale=st.floats(-3, 3), n=st.integers(1, 40))
def test_every_kernel_matches_the_reference(case, seed, scale, n):
    method, opts = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    grads = rng.standard_normal((20, n)) * 10.0 ** scale
    ref = Reference(method, x, **opts)
    opt = numadam.Optimizer(x, method=method, **opts)
    for g in grads:
        with np.errstate(all="ignore"):
            ref.step(g)
        try:
            opt.step(g)
        except FloatingPointError:
            # a diverging setting (e.g. centered rmsprop with alpha = 0 divides by
            # eps): the reference went non-finite too; the kernel kept x finite
            assert not np.all(np.isfinite(ref.x)) and np.all(np.isfinite(x))
            return
    err = np.max(np.abs(x - ref.x)) / max(1.0, np.max(np.abs(ref.x)))
    assert err < 1e-9, (method, opts, err)


@pytest.mark.filterwarnings("ignore:overflow encountered")
@SETTINGS
@given(case=method_options(), seed=st.integers(0, 2**32 - 1))
def test_maximize_f_equals_minimize_minus_f(case, seed):
    method, opts = case
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, 5)
    x0 = rng.standard_normal(5)
    o_max = dict(opts, maximize=True, gtol=0, maxiter=30)
    o_min = dict(opts, maximize=False, gtol=0, maxiter=30)
    r_max = numadam.minimize(lambda x: -float(a @ x ** 2), lambda x: -2 * a * x, x0,
                             method=method, options=o_max)
    r_min = numadam.minimize(lambda x: float(a @ x ** 2), lambda x: 2 * a * x, x0,
                             method=method, options=o_min)
    assert np.array_equal(r_max.x, r_min.x)


@SETTINGS
@given(case=method_options(), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(
    [np.float32, np.float64]))
def test_bounds_hold_after_every_step(case, seed, dtype):
    method, opts = case
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-2, 0, 6)
    hi = lo + rng.uniform(0, 2, 6)
    lo[0], hi[1] = -np.inf, np.inf
    seen = []
    numadam.minimize(lambda x: 0.0, lambda x: rng.standard_normal(x.shape) * 10,
                     rng.standard_normal(6).astype(dtype), method=method,
                     bounds=list(zip(lo, hi)), callback=lambda xk: seen.append(xk),
                     options=dict(opts, gtol=0, maxiter=25))
    lo32, hi32 = lo.astype(dtype), hi.astype(dtype)
    assert len(seen) == 25
    for xk in seen:
        assert np.all(xk >= lo32) and np.all(xk <= hi32)


@SETTINGS
@given(opts=st.fixed_dictionaries(dict(lr=st.floats(1e-4, 1.0), betas=betas,
                                       eps=st.floats(1e-10, 1e-2), amsgrad=st.booleans(),
                                       maximize=st.booleans())),
       seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30))
def test_a_zero_gradient_leaves_adam_unchanged(opts, seed, steps):
    x = np.random.default_rng(seed).standard_normal(7)
    before = x.copy()
    opt = numadam.Adam(x, **opts)
    for _ in range(steps):
        opt.step(np.zeros(7))
    assert np.array_equal(x, before)


@pytest.mark.filterwarnings("ignore:overflow encountered")
@SETTINGS
@given(case=method_options(), seed=st.integers(0, 2**32 - 1))
def test_the_stateful_optimizer_and_minimize_agree(case, seed):
    method, opts = case
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 4))
    A = A @ A.T / 4 + np.eye(4)
    x0 = rng.standard_normal(4)
    res = numadam.minimize(lambda x: 0.5 * float(x @ A @ x), lambda x: A @ x, x0,
                           method=method, options=dict(opts, gtol=0, maxiter=40))
    x = x0.copy()
    opt = numadam.Optimizer(x, method=method, **opts)
    diverged = False
    for _ in range(40):
        g = A @ x
        if not np.all(np.isfinite(g)):   # minimize stops before such a step
            diverged = True
            break
        try:
            opt.step(g)
        except FloatingPointError:       # an overflow: minimize stops there too
            diverged = True
            break
    assert np.array_equal(res.x, x)
    assert (res.status == 3) == diverged
