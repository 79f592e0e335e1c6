"""numadam.minimize: SciPy conventions, results, stopping, bounds, callbacks."""
import numpy as np
import pytest
from scipy.optimize import Bounds, OptimizeResult, rosen, rosen_der

import numadam
from cases import CASES, case_id
from reference import Reference


def quad(x, a):
    return 0.5 * np.sum(a * x * x)


def quad_grad(x, a):
    return a * x


def test_rosenbrock_adam_reaches_optimum():
    res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="adam",
                           options={"lr": 1e-2, "maxiter": 20000})
    assert isinstance(res, OptimizeResult)
    assert np.max(np.abs(res.x - 1.0)) < 1e-3
    assert res.fun == pytest.approx(rosen(res.x))
    np.testing.assert_allclose(res.jac, rosen_der(res.x))
    assert res.x.dtype == np.float64 and res.x.shape == (2,)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_minimize_follows_reference_step_for_step(case):
    """minimize's iterates equal the NumPy reference driven by the same jac."""
    method, opts = case
    a = np.linspace(0.5, 3.0, 7)
    x0 = np.linspace(-2, 2, 7)
    res = numadam.minimize(quad, quad_grad, x0, method=method, args=(a,),
                           options=dict(opts, maxiter=200, gtol=0))
    ref = Reference(method, x0, **opts)  # maximize flips the sign inside both
    for _ in range(200):
        ref.step(a * ref.x)
    assert res.nit == 200 and res.status == 1 and not res.success
    assert np.max(np.abs(ref.x - x0)) > 1e-3
    # Schedule-Free returns the eval point, not the y it took gradients at
    expected = ref.eval_point() if numadam.METHODS[method].modes else ref.x
    np.testing.assert_allclose(res.x, expected, rtol=1e-12, atol=1e-14)


def test_bounds_projected_every_step_matches_reference():
    a = np.array([1.0, 2.0, 3.0])
    x0 = np.array([2.0, -2.0, 0.5])
    lb, ub = np.array([0.5, -np.inf, -1.0]), np.array([np.inf, -1.0, 0.2])
    seen = []
    res = numadam.minimize(quad, quad_grad, x0, args=(a,), method="adam",
                           options={"lr": 0.05, "maxiter": 300, "gtol": 0},
                           bounds=Bounds(lb, ub), callback=lambda xk: seen.append(xk))
    ref = Reference("adam", np.clip(x0, lb, ub), lr=0.05)
    for _ in range(300):
        ref.step(a * ref.x)
        ref.x = np.clip(ref.x, lb, ub)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    np.testing.assert_allclose(res.x, [0.5, -1.0, 0.0], atol=1e-2)
    assert all(np.all((s >= lb) & (s <= ub)) for s in seen)
    # the same box as a list of pairs
    res2 = numadam.minimize(quad, quad_grad, x0, args=(a,),
                            options={"lr": 0.05, "maxiter": 300, "gtol": 0},
                            bounds=[(0.5, None), (None, -1.0), (-1.0, 0.2)])
    np.testing.assert_array_equal(res.x, res2.x)


def test_gtol_zero_runs_exactly_maxiter():
    a = np.ones(3)
    res = numadam.minimize(quad, quad_grad, np.ones(3), args=(a,),
                           options={"maxiter": 37, "gtol": 0})
    assert res.nit == 37 and res.status == 1
    assert res.njev == 38  # x0 and every iterate
    assert res.nfev == 1   # only the final value is reported (x0's check is not)
    assert res.message == numadam.STATUS_MESSAGES[1]


def test_gtol_stops_with_success():
    a = np.array([1.0, 4.0])
    res = numadam.minimize(quad, quad_grad, [1.0, 1.0], args=(a,),
                           method="sgd", options={"lr": 0.1, "gtol": 1e-6})
    assert res.success and res.status == 0
    assert np.linalg.norm(res.jac) <= 1e-6
    assert 0 < res.nit < 10000


def test_jac_true_evaluates_once_per_step():
    calls = []

    def fg(x):
        calls.append(1)
        return rosen(x), rosen_der(x)

    res = numadam.minimize(fg, True, [0.0, 0.0], options={"maxiter": 50, "gtol": 0})
    assert len(calls) == 51 == res.nfev == res.njev
    assert res.fun == pytest.approx(rosen(res.x))
    ref = numadam.minimize(rosen, rosen_der, [0.0, 0.0], options={"maxiter": 50, "gtol": 0})
    np.testing.assert_array_equal(res.x, ref.x)


def test_callback_styles_and_stop_iteration():
    legacy, new = [], []
    numadam.minimize(rosen, rosen_der, [0.0, 0.0], options={"maxiter": 5, "gtol": 0},
                     callback=lambda xk: legacy.append(xk))

    def cb(intermediate_result):
        new.append(intermediate_result)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = numadam.minimize(rosen, rosen_der, [0.0, 0.0], options={"maxiter": 5, "gtol": 0},
                           callback=cb)
    assert len(legacy) == 5 and all(isinstance(x, np.ndarray) for x in legacy)
    assert not np.array_equal(legacy[0], legacy[-1])  # copies, not one live view
    assert len(new) == 3 and isinstance(new[0], OptimizeResult)
    assert new[-1].fun == pytest.approx(rosen(new[-1].x))
    assert res.status == 99 and not res.success and res.nit == 3
    assert res.message == "`callback` raised `StopIteration`."
    np.testing.assert_array_equal(res.x, new[-1].x)


def test_a_keyword_only_callback_is_called_as_scipy_calls_it():
    """SciPy passes ``intermediate_result`` by keyword: a callback of one
    keyword-only parameter works with SciPy's own methods, and so with
    numadam (one array, several arrays, scipy.optimize.minimize's front door);
    it raised TypeError ("takes 0 positional arguments")."""
    import scipy.optimize
    seen = []

    def cb(*, intermediate_result):
        seen.append(intermediate_result.nit)
    numadam.minimize(rosen, rosen_der, [0.0, 0.0], options={"maxiter": 3, "gtol": 0},
                     callback=cb)
    numadam.minimize(lambda p: (float(p["a"] @ p["a"]), {"a": 2 * p["a"]}), True,
                     {"a": np.ones(2)}, options={"maxiter": 3, "gtol": 0}, callback=cb)
    scipy.optimize.minimize(rosen, [0.0, 0.0], jac=rosen_der, callback=cb,
                            method=numadam.scipy_method("adam"),
                            options={"maxiter": 3, "gtol": 0})
    assert seen == [1, 2, 3] * 3


def test_with_data_the_callbacks_fun_is_the_minibatch_loss_at_its_x():
    """``intermediate_result.fun`` is the loss of the minibatch just used at
    ``intermediate_result.x`` (SciPy's: the value at x), whether the objective
    is fused or not and whether a history record fell on the step (it was the
    loss before the step in some of these cases and after it in others)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])

    def loss(w, Xb, yb):
        r = Xb @ w - yb
        return 0.5 * np.mean(r * r)

    def grad(w, Xb, yb):
        return Xb.T @ (Xb @ w - yb) / len(yb)
    for fun, jac, extra in [(lambda w, a, b: (loss(w, a, b), grad(w, a, b)), True, {}),
                            (loss, grad, {}), (loss, grad, {"history": 2})]:
        rows = []

        def cb(intermediate_result):
            r = intermediate_result
            rows.append((r.fun, loss(r.x, X, y)))
        numadam.minimize(fun, jac, np.zeros(3), data=(X, y), rng=0, callback=cb,
                         options={"batch_size": 64, "shuffle": False, "maxiter": 4,
                                  "lr": 0.1, **extra})
        assert len(rows) == 4 and all(f == fx for f, fx in rows), rows


def test_a_gradient_of_none_or_a_long_tuple_is_named():
    """A jac that writes into out= and forgets to return it, or a fused fun
    returning three values, gets a message that says so (it said "must hold
    real numbers; got dtype object" and "got tuple")."""
    def jac(x, out):
        np.multiply(2, x - 1, out=out)
    with pytest.raises(TypeError, match="jac returned None"):
        numadam.minimize(lambda x: float(np.sum((x - 1) ** 2)), jac, [0.0, 0.0])
    with pytest.raises(TypeError, match=r"fun must return \(f, g\); got a tuple of 3"):
        numadam.minimize(lambda x: (0.0, 2 * x, "extra"), True, [0.0, 0.0])


def test_shapes_and_dtypes_are_kept():
    x0 = np.ones((2, 3), dtype=np.float32)
    seen = []

    def f(x):
        seen.append((x.shape, x.dtype))
        return float(np.sum(x ** 2)), 2 * x

    res = numadam.minimize(f, True, x0, method="adamw", options={"maxiter": 10})
    assert res.x.shape == (2, 3) and res.x.dtype == np.float32
    assert res.jac.shape == (2, 3)
    assert seen[0] == ((2, 3), np.float32)
    assert np.all(x0 == 1)  # x0 itself untouched
    res = numadam.minimize(lambda x: float(x @ x), lambda x: 2 * x, [3, 4],
                           options={"maxiter": 2})
    assert res.x.dtype == np.float64


def test_float32_run_matches_float32_reference():
    a = np.linspace(1, 2, 5)
    x0 = np.linspace(-1, 1, 5).astype(np.float32)
    res = numadam.minimize(quad, quad_grad, x0, args=(a.astype(np.float32),),
                           options={"maxiter": 200, "gtol": 0, "lr": 1e-2})
    ref = Reference("adam", x0, lr=1e-2)
    for _ in range(200):
        ref.step(a * ref.x)
    assert res.x.dtype == np.float32
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-5, atol=1e-6)


def test_maximize_option():
    res = numadam.minimize(lambda x: -quad(x, 1.0), lambda x: -x, [1.0, -1.0],
                           method="adam", options={"maximize": True, "lr": 0.05,
                                                   "maxiter": 2000})
    np.testing.assert_allclose(res.x, 0.0, atol=1e-3)
    assert res.fun == pytest.approx(0.0, abs=1e-6)


def test_nonfinite_gradient_stops_without_stepping():
    def g(x):
        return np.array([np.nan, 1.0]) if x[1] < 0.99 else np.array([0.1, 1.0])

    res = numadam.minimize(lambda x: 0.0, g, [0.0, 1.0], options={"lr": 0.1})
    assert res.status == 3 and not res.success and res.nit == 1
    assert np.all(np.isfinite(res.x))


def test_the_iterate_passed_to_fun_is_read_only():
    def f(x):
        x[0] = 5.0
        return 0.0

    with pytest.raises(ValueError, match="read-only"):
        numadam.minimize(f, True, [1.0])


def test_gtol_with_bounds_uses_the_projected_gradient():
    # minimum of sum((x - 2)^2) on [0, 1]^2 is the corner (1, 1), gradient (-2, -2)
    res = numadam.minimize(lambda x: float(np.sum((x - 2) ** 2)), lambda x: 2 * (x - 2),
                           [0.0, 0.5], options={"lr": 0.1, "maxiter": 5000},
                           bounds=[(0, 1), (0, 1)])
    assert res.status == 0 and res.success and res.nit < 100
    np.testing.assert_array_equal(res.x, [1.0, 1.0])
    np.testing.assert_allclose(res.jac, [-2.0, -2.0])
    # maximize: maximum of -(x-2)^2 on the box, same corner
    res = numadam.minimize(lambda x: -float(np.sum((x - 2) ** 2)), lambda x: -2 * (x - 2),
                           [0.0, 0.5], options={"lr": 0.1, "maxiter": 5000, "maximize": True},
                           bounds=Bounds([0, 0], [1, 1]))
    assert res.status == 0 and res.nit < 100
    np.testing.assert_array_equal(res.x, [1.0, 1.0])


def test_as_a_custom_method_of_scipy_minimize():
    from scipy.optimize import minimize as scipy_minimize
    own = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="nadam",
                           options={"lr": 2e-3, "maxiter": 300, "gtol": 0})
    res = scipy_minimize(rosen, [-1.2, 1.0], jac=rosen_der,
                         method=numadam.scipy_method("nadam"),
                         options={"lr": 2e-3, "maxiter": 300, "gtol": 0})
    np.testing.assert_array_equal(res.x, own.x)
    assert res.nit == 300 and res.method == "nadam"
    # jac=True: scipy hands a memoized fun and a jac that reuses its gradient
    res = scipy_minimize(lambda x: (rosen(x), rosen_der(x)), [-1.2, 1.0], jac=True,
                         method=numadam.scipy_method("nadam"),
                         options={"lr": 2e-3, "maxiter": 300, "gtol": 0})
    np.testing.assert_array_equal(res.x, own.x)
    # tol becomes gtol; bounds and StopIteration callbacks pass through
    res = scipy_minimize(quad, [1.0, 2.0], args=(np.ones(2),), jac=quad_grad, tol=1e-3,
                         method=numadam.scipy_method("sgd"), options={"lr": 0.1},
                         bounds=[(0.5, 2), (None, None)])
    assert res.status == 0 and res.x[0] == 0.5 and abs(res.x[1]) < 1e-3

    def stop(intermediate_result):
        raise StopIteration

    res = scipy_minimize(rosen, [0.0, 0.0], jac=rosen_der, callback=stop,
                         method=numadam.scipy_method())
    assert res.status == 99 and res.nit == 1
    with pytest.raises(ValueError, match="does not take constraints"):
        scipy_minimize(rosen, [0.0, 0.0], jac=rosen_der, method=numadam.scipy_method(),
                       constraints=[{"type": "eq", "fun": lambda x: x[0]}])
    # without a gradient SciPy passes jac=None (or '2-point' when asked): refused,
    # saying that finite differences are not supported
    for jac in (None, "2-point", "3-point", "cs"):
        with pytest.raises(TypeError, match="finite-difference jac .* is not supported"):
            scipy_minimize(rosen, [0.0, 0.0], jac=jac, method=numadam.scipy_method())


@pytest.mark.parametrize("compiled", [False, "auto"])
def test_a_broken_separate_fun_fails_before_the_run(compiled):
    """fun is called at x0 (found by the new-user review: with a separate jac it
    was first called after the whole run, whose result was then lost)."""
    steps = []

    def jac(x):
        steps.append(1)
        return 2 * x

    for fun, exc, match in ((lambda x: None, TypeError, "fun must return a real scalar"),
                            (lambda x: 1.0 / 0.0, ZeroDivisionError, "division by zero")):
        steps.clear()
        with pytest.raises(exc, match=match):
            numadam.minimize(fun, jac, np.array([-1.2, 1.0]),
                             options={"maxiter": 10000, "compiled": compiled})
        assert len(steps) == 1      # x0's gradient only: no step was taken
