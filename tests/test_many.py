"""minimize_many: many independent problems, compiled, in parallel."""
import numpy as np
import pytest
from numba import njit

import numadam


@njit
def quad_fg(x, a, b):
    """f = 0.5 * sum(a * (x - b)**2): a convex quadratic, conditioning max(a)/min(a)."""
    r = x - b
    return 0.5 * np.sum(a * r * r), a * r


@njit
def quad_f(x, a, b):
    r = x - b
    return 0.5 * np.sum(a * r * r)


@njit
def quad_g(x, a, b):
    return a * (x - b)


@pytest.fixture(scope="module")
def quadratics():
    rng = np.random.default_rng(0)
    n, p = 1000, 4
    cond = 10.0 ** rng.uniform(0, 3, n)                      # conditioning 1..1000
    A = np.exp(np.log(cond)[:, None] * rng.uniform(0, 1, (n, p)))
    A[:, 0] = 1.0
    B = rng.standard_normal((n, p))
    X0 = rng.standard_normal((n, p))
    return A, B, X0


@pytest.mark.xdist_group("quad_fg")   # one worker: one compilation of quad_fg
def test_many_equals_minimize_on_each(quadratics):
    A, B, X0 = quadratics
    opts = {"lr": 0.02, "maxiter": 3000, "gtol": 1e-6}
    res = numadam.minimize_many(quad_fg, True, X0, data=(A, B), options=opts)
    assert res.x.shape == X0.shape and res.fun.shape == (1000,)
    assert set(res.summary) <= {0, 1} and res.summary.get(0, 0) > 100
    # problems stop at their own iteration: their nit differ
    assert len(np.unique(res.nit)) > 50 and res.nit.min() < 3000
    for i in range(0, 1000, 37):
        r = numadam.minimize(quad_fg, True, X0[i], args=(A[i], B[i]), options=opts)
        assert r.nit == res.nit[i] and r.status == res.status[i]
        assert np.array_equal(r.x, res.x[i])
        assert r.fun == res.fun[i]
        np.testing.assert_array_equal(r.jac, res.jac[i])


@pytest.mark.xdist_group("quad_fg")   # one worker: one compilation of quad_fg
def test_each_block_solver_compiles_once(quadratics):
    """The prange loop types its index uint64 in the gufunc and int64 outside:
    the per-block solver must be compiled once, for int64 (twice doubled the
    compile time of every minimize_many specialisation)."""
    from numba import types

    from numadam._kernels import generate
    A, B, X0 = quadratics
    numadam.minimize_many(quad_fg, True, X0[:4], data=(A[:4], B[:4]),
                          options={"maxiter": 3})
    loops = [m for name, m in generate._MODULES.items() if name.startswith("numadam_many_")]
    assert loops
    for m in loops:
        if m._block.signatures:
            assert [sig[0] for sig in m._block.signatures] == [types.int64]


@pytest.mark.parametrize("method, opts", [("nadam", {"lr": 0.01}),
                                          ("rmsprop", {"centered": True, "lr": 1e-3}),
                                          ("sgd", {"lr": 1e-3, "momentum": 0.9})])
def test_separate_jac_and_methods(quadratics, method, opts):
    A, B, X0 = quadratics
    A, B, X0 = A[:50], B[:50], X0[:50]
    opts = dict(opts, maxiter=300, gtol=0)
    res = numadam.minimize_many(quad_f, quad_g, X0, data=(A, B), method=method, options=opts)
    for i in (0, 17, 49):
        r = numadam.minimize(quad_f, quad_g, X0[i], args=(A[i], B[i]), method=method,
                             options=opts)
        assert np.array_equal(r.x, res.x[i]) and r.fun == res.fun[i]


@pytest.mark.xdist_group("quad_fg")   # one worker: one compilation of quad_fg
def test_a_nan_problem_fails_alone(quadratics):
    # NaN in a problem's data: its objective and gradient are NaN from the start
    # (quad_fg as above: one compilation; tests/test_hostile.py has an objective
    # that turns NaN with a finite gradient)
    A, B, X0 = quadratics
    A = A[:200].copy()
    A[[5, 77], 0] = np.nan
    res = numadam.minimize_many(quad_fg, True, X0[:200], data=(A, B[:200]),
                                options={"lr": 0.02, "maxiter": 3000, "gtol": 1e-6})
    assert res.status[5] == 3 and res.status[77] == 3 and not res.success[5]
    assert res.nit[5] == 0 and np.array_equal(res.x[5], X0[5])
    others = np.delete(np.arange(200), [5, 77])
    assert np.all(res.status[others] != 3)
    np.testing.assert_allclose(res.x[others][res.status[others] == 0],
                               B[:200][others][res.status[others] == 0], atol=1e-5)
    assert "2 with status 3 (the objective or the gradient was NaN" in res.message


def test_bounds_schedule_and_float32(quadratics):
    A, B, X0 = quadratics
    opts = {"lr": numadam.schedules.cosine(0.05, 500), "maxiter": 500, "gtol": 0,
            "clip_norm": 1.0}
    res = numadam.minimize_many(quad_fg, True, X0[:20].astype(np.float32),
                                data=(A[:20].astype(np.float32), B[:20].astype(np.float32)),
                                bounds=[(-0.5, 0.5)] * 4, options=opts)
    assert res.x.dtype == np.float32
    assert np.all(np.abs(res.x) <= 0.5)
    r = numadam.minimize(quad_fg, True, X0[3].astype(np.float32),
                         args=(A[3].astype(np.float32), B[3].astype(np.float32)),
                         bounds=[(-0.5, 0.5)] * 4, options=opts)
    assert np.array_equal(r.x, res.x[3])


@njit
def wrong_size(x):
    return 0.0, np.zeros(x.size + 1)


def test_bad_input():
    X0 = np.zeros((3, 2))
    with pytest.raises(TypeError, match="fun must be a numba.njit function"):
        numadam.minimize_many(lambda x: (0.0, x), True, X0)
    with pytest.raises(ValueError, match=r"x0 must have shape \(n_problems, n_params\)"):
        numadam.minimize_many(quad_fg, True, np.zeros(3), data=(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match=r"data\[1\] must have one entry per problem"):
        numadam.minimize_many(quad_fg, True, X0, data=(np.ones((3, 2)), np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"fun's gradient must return an array of shape \(2,\)"):
        numadam.minimize_many(wrong_size, True, X0)
    with pytest.raises(ValueError, match="'nan_policy' of minimize_many must be"):
        numadam.minimize_many(quad_fg, True, X0, data=(np.ones((3, 2)), np.ones((3, 2))),
                              options={"nan_policy": "raise"})
    with pytest.raises(TypeError, match="option 'history' is not available"):
        numadam.minimize_many(quad_fg, True, X0, data=(np.ones((3, 2)), np.ones((3, 2))),
                              options={"history": 10})
    # an unknown option's message lists what minimize_many takes, not minimize's
    # loop options that it refuses (it listed epochs, history, checkpoint, ...)
    with pytest.raises(TypeError, match="option 'tol'") as err:
        numadam.minimize_many(quad_fg, True, X0, data=(np.ones((3, 2)), np.ones((3, 2))),
                              options={"tol": 1e-6})
    for refused in ("epochs", "history", "checkpoint", "shuffle", "patience"):
        assert refused not in str(err.value)
    assert "maxiter" in str(err.value) and "nan_policy" in str(err.value)
    for key in ("epochs", "shuffle", "checkpoint_every"):
        with pytest.raises(TypeError, match=f"option '{key}' is not available in "
                                            "minimize_many"):
            numadam.minimize_many(quad_fg, True, X0,
                                  data=(np.ones((3, 2)), np.ones((3, 2))),
                                  options={key: 1})
    with pytest.raises(ValueError, match=r"x0 contains NaN or infinity \(problem 1\)"):
        numadam.minimize_many(quad_fg, True, np.array([[0.0, 0], [np.nan, 0], [0, 0]]),
                              data=(np.ones((3, 2)), np.ones((3, 2))))
    # found by review: these gave errors from inside (len() of unsized object, a dict
    # update's message, numba's NotImplementedError)
    D = (np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"x0 must have shape .*got shape \(\)"):
        numadam.minimize_many(quad_fg, True, np.nan, data=D)
    for bad in ("lr", 5, [("lr", 0.1)]):
        with pytest.raises(TypeError, match="options must be a dict; got"):
            numadam.minimize_many(quad_fg, True, X0, data=D, options=bad)
    with pytest.raises(TypeError, match=r"data\[1\] must hold numbers \(bool, int, float32 "
                                        r"or float64\).*got dtype float16"):
        numadam.minimize_many(quad_fg, True, X0, data=(D[0], D[1].astype(np.float16)))
    with pytest.raises(ValueError, match=r"data\[1\] must have one entry per problem along "
                                         r"axis 0 \(3\); got shape \(\)"):
        numadam.minimize_many(quad_fg, True, X0, data=(D[0], np.float64(1.0)))
    none = numadam.minimize_many(fg_plain, True, X0, data=None, options={"maxiter": 3})
    some = numadam.minimize_many(fg_plain, True, X0, options={"maxiter": 3})
    np.testing.assert_array_equal(none.x, some.x)      # data=None: no data, as minimize's


@njit
def fg_plain(x):
    return np.sum(x * x), 2.0 * x


@njit
def fg_rows(x, a, c, w, k):
    """A problem with a data row ``a``, a per-problem scalar ``c`` (1-D data), a
    per-problem matrix ``w`` (3-D data) and an int argument ``k``."""
    r = x - a
    g = 2.0 * c * r + w[:, 0] * 0.0 + k * 0.0
    return c * np.sum(r * r), g


_RNG = np.random.default_rng(3)
_A, _C = _RNG.standard_normal((120, 5)), _RNG.uniform(0.5, 2, 120)
_W, _X0 = _RNG.standard_normal((120, 5, 2)), _RNG.standard_normal((120, 5))


@pytest.mark.parametrize("case", ["maxiter 0", "gtol", "skip and a schedule",
                                  "clip_norm and bounds", "amsgrad", "one large problem"])
def test_every_feature_of_the_block_loop_gives_minimizes_bits(case):
    """The generated loop's paths (the whole-block step, runs, problems on
    their own step count after a skip, clipping per problem, projection,
    the large-problem norms) each give minimize's iterates, bit for bit."""
    data, x0, kw = (_A, _C, _W), _X0, {}
    opts = {"lr": 0.05, "maxiter": 300, "gtol": 1e-7}
    if case == "maxiter 0":
        opts["maxiter"] = 0
    elif case == "skip and a schedule":
        data = (_A, np.where(np.arange(120) % 7 == 0, np.nan, _C), _W)
        opts = {"lr": numadam.schedules.cosine(0.05, 300), "maxiter": 300, "gtol": 0,
                "nan_policy": "skip"}
    elif case == "clip_norm and bounds":
        kw["bounds"] = [(-0.5, 0.5)] * 5
        opts["clip_norm"] = 0.5
    elif case == "amsgrad":
        kw["method"] = "amsgrad"
    elif case == "one large problem":      # 20,000 parameters: a block of one
        x0, data = _RNG.standard_normal((2, 20000)), (
            _RNG.standard_normal((2, 20000)), np.ones(2), np.zeros((2, 20000, 2)))
        opts = {"lr": 0.05, "maxiter": 50, "gtol": 1e-3}
    res = numadam.minimize_many(fg_rows, True, x0, data=data, args=(3,), options=opts, **kw)
    for i in range(0, len(x0), 13):
        r = numadam.minimize(fg_rows, True, x0[i], args=tuple(d[i] for d in data) + (3,),
                             options=opts, **kw)
        assert (r.status, r.nit) == (res.status[i], res.nit[i]), i
        np.testing.assert_array_equal(r.x, res.x[i])
        assert r.fun == res.fun[i] or (np.isnan(r.fun) and np.isnan(res.fun[i]))
    if case == "skip and a schedule":
        assert res.nskip[0] > 0 and res.status[0] == 3 and res.nskip[1] == 0


def _const_rows():
    """The row lengths of the many-problems loops loaded so far that have one
    as a constant."""
    import re
    import sys
    return {int(m) for n, mod in list(sys.modules.items())
            if n.startswith("numadam_many_") and mod.__doc__
            for m in re.findall(r"'NROW': (\d+)", mod.__doc__) if int(m)}


@pytest.mark.parametrize("n", [1, 5, 16, 17])
def test_constant_row_lengths_give_minimizes_bits(n):
    """Problems of up to CONST_ROW (16) parameters run a loop whose row
    length is a constant (their evaluations vectorise across problems);
    longer rows the general loop.  Each problem is minimize's, bit for bit."""
    from bench.loops import quad_fg_out as quad_out   # its loop runs over the row
    from numadam._kernels.many_loop import CONST_ROW
    rng = np.random.default_rng(n)
    A = 10.0 ** rng.uniform(0, 2, (40, n))
    B = rng.standard_normal((40, n))
    X0 = rng.standard_normal((40, n))
    opts = {"lr": 0.02, "maxiter": 400, "gtol": 1e-5}
    res = numadam.minimize_many(quad_out, True, X0, data=(A, B), options=opts)
    assert (n in _const_rows()) == (n <= CONST_ROW)
    for i in range(0, 40, 7):
        r = numadam.minimize(quad_out, True, X0[i], args=(A[i], B[i]), options=opts)
        assert r.nit == res.nit[i] and r.status == res.status[i]
        assert np.array_equal(r.x, res.x[i]) and r.fun == res.fun[i]


def test_a_gradient_returned_as_an_overlapping_view_of_out_is_copied_as_its_values():
    """An out= objective that returns a view of its out array other than the
    array itself (here reversed): the loop copies the gradient's values (as a
    slice assignment would, through a copy), not elements it has already
    overwritten; every problem is minimize's on it alone."""
    from test_cabi import reversed_out as _reversed_out   # (its objective: a view of out)
    B = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, 7.0]])
    opts = {"lr": 0.1, "maxiter": 300, "gtol": 0}
    res = numadam.minimize_many(_reversed_out, True, np.zeros_like(B), data=(B,), options=opts)
    for i in range(2):
        one = numadam.minimize(_reversed_out, True, np.zeros(4), args=(B[i],), options=opts)
        np.testing.assert_array_equal(res.x[i], one.x)
    np.testing.assert_allclose(res.x, B, atol=1e-3)


def _broken_schedule(t):
    raise RuntimeError("bug in my schedule")


@pytest.mark.parametrize("schedule, exc, match", [
    (_broken_schedule, RuntimeError, "bug in my schedule"),
    (lambda t: -1.0, ValueError, "returned -1.0 at step 0"),
    (lambda t: np.array([0.1]), TypeError, "expected a real number"),
])
def test_a_schedule_refused_at_step_0_raises_its_error(schedule, exc, match):
    """As minimize raises it (found by review: an empty table of learning rates
    read as 'no schedule', and every problem ran at lr 0)."""
    @njit
    def fg(x):
        return np.sum((x - 1.0) ** 2), 2.0 * (x - 1.0)

    for run in (lambda: numadam.minimize_many(fg, True, np.zeros((2, 2)),
                                              options={"lr": schedule, "maxiter": 20}),
                lambda: numadam.minimize(fg, True, np.zeros(2),
                                         options={"lr": schedule, "maxiter": 20})):
        with pytest.raises(exc, match=match):
            run()



def test_a_division_by_zero_is_status_3_for_that_problem_whichever_it_is():
    """The loop's error model is numpy's: inf or NaN, status 3 for the problem
    that divides, also when it is problem 0 (found by review: the check of
    problem 0 from Python raised ZeroDivisionError); a function that asks
    for Python's error model gets its ZeroDivisionError."""
    @njit
    def fg(x, c):
        r = x - 1.0 / c
        return np.sum(r * r), 2.0 * r

    o = {"lr": 0.1, "maxiter": 50}
    for c, want in (([1.0, 0.0, 2.0], [1, 3, 1]), ([0.0, 1.0, 2.0], [3, 1, 1]),
                    ([0.0, 0.0], [3, 3])):
        r = numadam.minimize_many(fg, True, np.zeros((len(c), 2)), data=(np.array(c),),
                                  options=o)
        assert r.status.tolist() == want

    @njit(error_model="python")
    def strict(x, c):
        r = x - 1.0 / c
        return np.sum(r * r), 2.0 * r

    with pytest.raises(ZeroDivisionError):
        numadam.minimize_many(strict, True, np.zeros((2, 2)), data=(np.array([0.0, 1.0]),),
                              options=o)


def test_an_objective_returned_as_an_array_is_refused_clearly():
    @njit
    def fg(x):
        return np.array([np.sum(x * x)]), 2.0 * x

    with pytest.raises(TypeError, match=r"fun must return a number as the objective of one "
                                        r"problem; got a float64 array of shape \(1,\)"):
        numadam.minimize_many(fg, True, np.ones((2, 2)), options={"maxiter": 5})
