"""The compiled loop (numba.njit fun/jac) against the ordinary loop."""
import numpy as np
import pytest
from numba import njit

import numadam
from numadam.problems import rosenbrock_2d
from numadam import schedules as S
from cases import ONE_PASS, case_id


rosen_fg = njit(rosenbrock_2d)


@njit
def rosen_f(x):
    return rosen_fg(x)[0]


@njit
def rosen_g(x):
    return rosen_fg(x)[1]


@njit
def logistic_fg(w, X, y, l2):
    z = X @ w
    f = 0.0
    r = np.empty_like(z)
    for i in range(z.size):
        f += np.logaddexp(0.0, z[i]) - y[i] * z[i]
        r[i] = 1.0 / (1.0 + np.exp(-z[i])) - y[i]
    n = z.size
    return f / n + 0.5 * l2 * (w @ w), (X.T @ r) / n + l2 * w


def both(fun, jac, x0, **kw):
    a = numadam.minimize(fun, jac, x0, **kw)
    opts = dict(kw.pop("options", {}), compiled=False)
    b = numadam.minimize(fun, jac, x0, options=opts, **kw)
    assert a.compiled and not b.compiled
    return a, b


def assert_same(a, b, rtol=1e-12):
    assert a.nit == b.nit and a.status == b.status
    assert a.nfev == b.nfev and a.njev == b.njev
    np.testing.assert_allclose(a.x, b.x, rtol=rtol, atol=0)
    assert np.array_equal(a.x, b.x)  # in fact bitwise: the same code computes both


#: each method's first case: the objective's forms (fun and jac apart, data in
#: ``args``) are the loop's, not the method's, so they run once per method,
#: and every case's options with one form (a compiled loop per case and form:
#: about 2 s each, 156 of them before this split)
FIRST_OF_EACH = [c for i, c in enumerate(ONE_PASS)
                 if c[0] not in [d[0] for d in ONE_PASS[:i]]]


@pytest.mark.parametrize("case", ONE_PASS, ids=case_id)
def test_rosenbrock_every_method(case):
    method, opts = case
    a, b = both(rosen_fg, True, np.array([-1.2, 1.0]), method=method,
                options=dict(opts, maxiter=1000, gtol=0))
    assert_same(a, b)


@pytest.mark.parametrize("case", FIRST_OF_EACH, ids=case_id)
def test_rosenbrock_fun_and_jac_apart_every_method(case):
    method, opts = case
    a, b = both(rosen_f, rosen_g, np.array([-1.2, 1.0]), method=method,
                options=dict(opts, maxiter=1000, gtol=0))
    assert_same(a, b)


@pytest.mark.parametrize("method", ["lamb", "prodigy"])
def test_a_two_pass_method_runs_the_ordinary_loop(method):
    """LAMB's step needs its norms between two passes: no compiled loop (yet);
    auto falls back, compiled=True says why."""
    res = numadam.minimize(rosen_fg, True, np.array([-1.2, 1.0]), method=method,
                           options={"maxiter": 50, "gtol": 0})
    assert not res.compiled and res.nit == 50
    with pytest.raises(ValueError, match="here: a method whose step is not one elementwise pass"):
        numadam.minimize(rosen_fg, True, np.array([-1.2, 1.0]), method=method,
                         options={"maxiter": 50, "compiled": True})


@pytest.fixture(scope="module")
def logistic_data():
    from numadam.problems import make_logistic_regression
    return make_logistic_regression(500, 6, seed=2)


@pytest.mark.parametrize("case", FIRST_OF_EACH, ids=case_id)
def test_logistic_regression_every_method(case, logistic_data):
    X, y, _ = logistic_data
    method, opts = case
    a, b = both(logistic_fg, True, np.zeros(6), args=(X, y, 1e-3), method=method,
                options=dict(opts, maxiter=1000, gtol=0))
    assert_same(a, b)


def test_every_option_that_runs_compiled(logistic_data):
    X, y, _ = logistic_data
    opts = dict(lr=S.warmup(S.cosine(0.1, 800), 50), clip_norm=0.5, clip_value=0.3,
                maxiter=1000, gtol=1e-4, history=37, weight_decay=1e-3)
    a, b = both(logistic_fg, True, np.zeros(6), args=(X, y, 1e-3), method="adamw",
                bounds=[(-0.5, 0.5)] * 6, options=opts)
    assert_same(a, b)
    for k in b.history:
        assert np.array_equal(a.history[k], b.history[k]), k
    assert a.history.step[-1] == a.nit


def test_gtol_stops_at_the_same_iteration():
    a, b = both(rosen_fg, True, np.array([-1.2, 1.0]),
                options={"lr": 1e-2, "maxiter": 20000, "gtol": 1e-6})
    assert a.status == 0 and a.nit < 20000
    assert_same(a, b)


def test_float32_runs_compiled_too():
    a, b = both(rosen_fg, True, np.array([-1.2, 1.0], np.float32),
                options={"maxiter": 500, "gtol": 0})
    assert a.x.dtype == np.float32
    assert_same(a, b)


def test_long_runs_cross_chunks_identically():
    a, b = both(rosen_fg, True, np.array([-1.2, 1.0]), method="nadam",
                options={"lr": S.exponential(2e-3, 0.99999), "maxiter": 70000,
                         "gtol": 0, "history": 7000})
    assert_same(a, b)
    assert np.array_equal(a.history.step, b.history.step)
    assert np.array_equal(a.history.lr, b.history.lr)


@njit
def nan_after(x, limit):
    g = x - 3.0
    if x[0] > limit:
        g[0] = np.nan
    return 0.5 * np.sum((x - 3.0) ** 2), g


def policy_run(fun, x0, limit, method, policy):
    """``fun(x, limit, ...)`` (it goes bad past ``limit``) under ``nan_policy``:
    ``"raise"`` runs the compiled loop alone (the caller expects the error);
    else the compiled and the ordinary loop, checked equal, are returned."""
    opts = {"lr": 0.1, "maxiter": 50, "gtol": 0, "nan_policy": policy}
    if policy == "raise":
        return numadam.minimize(fun, True, x0, args=(limit,), method=method,
                                options=dict(opts, compiled=True))
    a, b = both(fun, True, x0, args=(limit,), method=method, options=opts)
    assert_same(a, b)
    return a, b


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_nan_policies_compiled(policy):
    a, b = policy_run(nan_after, np.zeros(2), 0.5, "sgd", policy)
    assert a.status == 3   # a "skip" run that ends on a NaN gradient ends with 3 too
    if policy == "skip":
        assert a.nskip == b.nskip > 0


def test_nan_policy_raise_compiled():
    with pytest.raises(FloatingPointError, match="iteration 2: the gradient is NaN"):
        policy_run(nan_after, np.zeros(2), 0.5, "sgd", "raise")


def test_falls_back_where_it_cannot_run_compiled():
    seen = []
    r = numadam.minimize(rosen_fg, True, np.array([-1.2, 1.0]), callback=seen.append,
                         options={"maxiter": 5})
    assert not r.compiled and len(seen) == 5
    r = numadam.minimize(lambda x: rosen_fg(x), True, np.array([-1.2, 1.0]),
                         options={"maxiter": 5})
    assert not r.compiled
    with pytest.raises(ValueError, match="compiled=True needs .*here: callback"):
        numadam.minimize(rosen_fg, True, np.array([-1.2, 1.0]), callback=seen.append,
                         options={"maxiter": 5, "compiled": True})
    with pytest.raises(ValueError, match="option 'compiled' must be"):
        numadam.minimize(rosen_fg, True, np.array([-1.2, 1.0]), options={"compiled": 1})


@njit
def g32(x):
    return (2 * x).astype(np.float32)


def test_a_gradient_of_another_dtype_falls_back_and_agrees():
    r = numadam.minimize(lambda x: 0.0, g32, np.ones(3), options={"maxiter": 10})
    assert not r.compiled and r.x.dtype == np.float64
    ref = numadam.minimize(lambda x: 0.0, lambda x: (2 * x).astype(np.float32),
                           np.ones(3), options={"maxiter": 10})
    assert np.array_equal(r.x, ref.x)


@njit
def arange_f(x):
    return 0.5 * np.sum(x * x * np.arange(1, x.size + 1) / x.size)


@njit
def arange_g(x):
    return x * np.arange(1, x.size + 1) / x.size


@njit
def arange_fg(x, a):
    return arange_f(x) * a, arange_g(x) * np.float32(a)


@njit
def star_fg(x, *a):
    """An objective of ``*args`` (numba's inliner of IR refused it with a
    NotImplementedError)."""
    return arange_f(x) * a[0], arange_g(x) * np.float32(a[0])


def test_the_loops_evaluate_the_objective_as_numba_compiled_it():
    """The compiled loops call the user's function as numba compiled it: numba
    computes ``x * arange / n`` of float32 ``x`` in float64, rounded once, by
    itself, and in float32, rounded twice, where its IR is inlined into a
    caller (the loops inlined it so before, and ran another objective: 1 ulp
    apart in a quarter of the elements)."""
    x = np.random.default_rng(3).standard_normal(300).astype(np.float32)
    g = arange_g(x)
    np.testing.assert_array_equal(g, (x.astype(np.float64) * np.arange(1, 301) / 300)
                                  .astype(np.float32))
    for n in (5, 300, 9000):   # the tiny, the small and the serial loop
        x0 = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        opts = {"maxiter": 6, "lr": 1e-2, "gtol": 0}
        a, b = both(arange_f, arange_g, x0, options=opts)
        assert_same(a, b)
        for fg in (arange_fg, star_fg):
            a, b = both(fg, True, x0, args=(2.0,), options=opts)
            assert_same(a, b)
    X0 = np.random.default_rng(4).standard_normal((3, 300)).astype(np.float32)
    many = numadam.minimize_many(arange_fg, True, X0, args=(2.0,),
                                 options={"maxiter": 6, "lr": 1e-2, "gtol": 0})
    star = numadam.minimize_many(star_fg, True, X0, args=(2.0,),
                                 options={"maxiter": 6, "lr": 1e-2, "gtol": 0})
    np.testing.assert_array_equal(star.x, many.x)
    for i in range(3):
        one = numadam.minimize(arange_fg, True, X0[i], args=(2.0,),
                               options={"maxiter": 6, "lr": 1e-2, "gtol": 0,
                                        "compiled": False})
        np.testing.assert_array_equal(many.x[i], one.x)


@njit
def divides_by_zero(x):
    """Divides by zero once x[0] < 0.75 (the fifth step at lr 0.1): in the loop."""
    d = 0.0 if x[0] < 0.75 else 1.0
    return 1.0 / d, np.ones_like(x)


def test_the_objectives_error_model_is_its_own_in_the_compiled_loop():
    """numba's default error model raises ZeroDivisionError: so does the
    objective in the compiled loop, as when the ordinary loop calls it (the
    loop compiled it with error_model="numpy" before: inf, then nan_policy)."""
    for compiled in (False, True):
        with pytest.raises(ZeroDivisionError):
            numadam.minimize(divides_by_zero, True, np.ones(3),
                             options={"maxiter": 20, "lr": 0.1, "compiled": compiled})


@njit
def bad_shape(x):
    return 0.0, np.zeros(x.size + 1)


def test_wrong_gradient_shape_compiled():
    with pytest.raises(ValueError, match="fun's gradient must have the parameters' shape"):
        numadam.minimize(bad_shape, True, np.ones(2))


# -- the tiny loop (at most TINY elements: iterate and state in registers) --
def _tiny_loops():
    """The docstrings' first lines of the tiny compiled loops loaded so far."""
    import sys
    return {m.__doc__.splitlines()[1] for n, m in list(sys.modules.items())
            if n.startswith("numadam_") and "_loop" in n and m.__doc__
            and "tiny (" in m.__doc__}


@njit
def quad_out(x, scale, out):
    """A separable quadratic writing its gradient into ``out`` (any shape)."""
    f = 0.0
    xf, of = x.reshape(x.size), out.reshape(out.size)
    for i in range(xf.size):
        d = xf[i] - (i + 1.0)
        f += scale * d * d
        of[i] = 2.0 * scale * d
    return f, out


#: each method on two shapes, each shape for two methods (every pair compiles
#: a loop of its own: the 25 pairs took 100 s of the suite)
@pytest.mark.parametrize("method,opts,shape", [
    ("adam", {}, (1,)), ("adam", {}, (2, 4)),
    ("adamw", {"amsgrad": True}, (3,)), ("adamw", {"amsgrad": True}, (9,)),
    ("lion", {"lr": 1e-3}, (8,)), ("lion", {"lr": 1e-3}, (1,)),
    ("nadam", {}, (2, 4)), ("nadam", {}, (9,)),
    ("sgd", {"momentum": 0.9, "nesterov": True}, (3,)),
    ("sgd", {"momentum": 0.9, "nesterov": True}, (8,))])
def test_tiny_problems_are_the_ordinary_loop_bit_for_bit(shape, method, opts):
    """Up to TINY (8) elements the compiled loop carries x and the state in
    registers (a tuple each); 9 elements take the small loop.  Both equal the
    ordinary loop bit for bit, with history, a schedule, clipping and gtol."""
    from numadam._kernels.cached_loop import TINY
    x0 = np.zeros(shape)
    for kw in ({"maxiter": 700, "gtol": 0},
               {"maxiter": 3000, "gtol": 1e-3, "history": 50, "clip_norm": 5.0,
                "lr": S.warmup(S.cosine(0.05, 3000), 20)}):
        a, b = both(quad_out, True, x0, args=(0.5,), method=method,
                    options=dict(opts, **kw))
        assert_same(a, b)
        assert a.x.shape == shape
        if "history" in kw:
            for k in b.history:
                assert np.array_equal(a.history[k], b.history[k]), k
    n = int(np.prod(shape))
    assert (f"tiny ({n} elements)" in " ".join(_tiny_loops())) == (n <= TINY)


def test_tiny_float32_stays_float32():
    a, b = both(quad_out, True, np.zeros(5, np.float32), args=(np.float32(0.5),),
                options={"maxiter": 300, "gtol": 0})
    assert a.x.dtype == np.float32
    assert_same(a, b)


@njit
def overflow_at(x, limit, out):
    """Element 1's gradient 1e200 once x[0] passes ``limit``: its v overflows
    (the step's guard keeps that element; the others take the step)."""
    for i in range(x.size):
        out[i] = x[i] - 3.0
    if x[0] > limit:
        out[1] = 1e200
    return 0.5 * np.sum((x - 3.0) ** 2), out


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_tiny_loop_guard_keeps_the_overflowing_element(policy):
    a, _ = policy_run(overflow_at, np.zeros(4), 0.2, "adam", policy)
    assert a.status == 3 and 0 < a.nit < 50
    assert "tiny (4 elements)" in " ".join(_tiny_loops())
    with pytest.raises(FloatingPointError, match="an update was NaN or infinite"):
        policy_run(overflow_at, np.zeros(4), 0.2, "adam", "raise")


def test_tiny_loop_state_is_written_back(monkeypatch):
    """The optimizer's state arrays hold the tiny loop's state at each exit:
    a run in chunks of a few iterations each (every chunk a call of the
    loop, starting from the arrays) equals the ordinary loop."""
    from numadam import _compiled
    monkeypatch.setattr(_compiled, "CHUNK_SECONDS", 1e-9)
    a, b = both(quad_out, True, np.zeros(3), args=(0.5,), method="adam",
                options={"lr": 0.05, "maxiter": 300, "gtol": 0})
    assert_same(a, b)
    # a schedule: each chunk's table of rates ends where the loop's burst of
    # per-step scalars must stop (loop.fill_scalars)
    a, b = both(quad_out, True, np.zeros(3), args=(0.5,), method="adamw",
                options={"lr": S.warmup(S.cosine(0.05, 300), 30), "maxiter": 300,
                         "gtol": 0, "history": 25})
    assert_same(a, b)
    for k in b.history:
        assert np.array_equal(a.history[k], b.history[k]), k


def test_tiny_loop_scalars_in_bursts_cross_the_schedules_tables():
    """Long runs with a schedule: the per-step scalars computed SCALAR_BURST
    steps at a time, across chunks, equal the ordinary loop's."""
    from numadam._kernels.cached_loop import SCALAR_BURST
    steps = 5 * SCALAR_BURST + 17
    for method in ("adam", "nadam", "lion"):
        a, b = both(quad_out, True, np.zeros(6), args=(0.5,), method=method,
                    options={"lr": S.exponential(2e-2, 0.999), "maxiter": steps,
                             "gtol": 0})
        assert_same(a, b)


def test_closures_over_other_values_are_other_objectives():
    """The same source closing over other values is another function: the
    compiled loops are not shared between them (found by review: the second
    closure ran the first one's objective, in minimize's compiled loop and in
    minimize_many)."""
    def make(c):
        @njit
        def fg(x, a):
            r = x - c * a
            return np.sum(r * r), 2.0 * r
        return fg

    f1, f5 = make(1.0), make(5.0)
    o = {"lr": 0.1, "maxiter": 2000}
    for f, c in ((f1, 1.0), (f5, 5.0)):
        r = numadam.minimize(f, True, np.zeros(2), args=(1.0,), options=o)
        assert r.compiled
        np.testing.assert_allclose(r.x, c, rtol=1e-4)
        m = numadam.minimize_many(f, True, np.zeros((2, 2)), data=(np.ones(2),), options=o)
        np.testing.assert_allclose(m.x, c, rtol=1e-4)
    from numadam._cabi import _stamp
    assert _stamp(f1) != _stamp(f5) and _stamp(make(1.0)) == _stamp(f1)


def test_compiled_true_refuses_a_gradient_it_would_have_to_convert():
    """The guide: compiled=True raises instead of falling back (found by review:
    a float64 gradient of a float32 x0, or a float for a 0-d x0, fell back to
    the ordinary loop silently); 'auto' falls back with the same results."""
    @njit
    def fg(x):
        r = x - 1.0
        return np.sum(r * r), 2.0 * r

    for x0, what in ((np.zeros(3, np.float32), r"fun returned a float64 array of shape "
                                               r"\(3,\) as the gradient of x0, a float32"),
                     (np.array(0.0), r"fun returned a float as the gradient of x0, a "
                                     r"float64 array of shape \(\)")):
        with pytest.raises(ValueError, match="option compiled=True: " + what):
            numadam.minimize(fg, True, x0, options={"maxiter": 10, "compiled": True})
        auto = numadam.minimize(fg, True, x0, options={"maxiter": 10})
        plain = numadam.minimize(fg, True, x0, options={"maxiter": 10, "compiled": False})
        assert not auto.compiled and auto.x.dtype == x0.dtype
        np.testing.assert_array_equal(auto.x, plain.x)


def test_an_objective_returned_as_a_1_element_array_runs_as_the_ordinary_loop():
    """'auto' runs it as compiled=False does (it failed to compile the loop);
    compiled=True says what to change (found by review)."""
    @njit
    def fg(x):
        return np.array([np.sum(x * x)]), 2.0 * x

    auto = numadam.minimize(fg, True, np.ones(2), options={"maxiter": 5})
    plain = numadam.minimize(fg, True, np.ones(2), options={"maxiter": 5, "compiled": False})
    assert not auto.compiled and auto.fun == plain.fun and isinstance(auto.fun, float)
    np.testing.assert_array_equal(auto.x, plain.x)
    with pytest.raises(ValueError, match=r"option compiled=True: fun returned a float64 "
                                         r"array of shape \(1,\) as the objective"):
        numadam.minimize(fg, True, np.ones(2), options={"maxiter": 5, "compiled": True})
