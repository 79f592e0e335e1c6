"""One pass per step in minimize (issue 15, item 4): with gtol=0 and nothing
else reading the gradient's norm, a large run leaves the gradient's
finiteness to the step's guard instead of a separate pass over it."""
import numpy as np
import pytest
from numba import njit

import numadam

N = 40_000          # above the parallel threshold (32768): the pass matters there


def _objective(bad_at, n=N):
    """A quadratic whose gradient has a NaN in element 7 from call ``bad_at`` on."""
    calls = []

    def fg(x):
        calls.append(1)
        g = x - 1.0
        if len(calls) > bad_at:
            g = g.copy()
            g[7] = np.nan
        return 0.5 * float(g[0] ** 2), g
    return fg


def _run(gtol, policy="stop", bad_at=3, n=N):
    return numadam.minimize(_objective(bad_at, n), True, np.zeros(n),
                            options={"lr": 0.1, "maxiter": 10, "gtol": gtol,
                                     "nan_policy": policy, "compiled": False})


def test_a_folded_run_stops_on_a_nan_gradient_found_by_the_step():
    folded = _run(gtol=0)
    tested = _run(gtol=1e-300)          # the norm pass runs (gtol > 0)
    assert folded.status == tested.status == 3 and not folded.success
    assert "found by the step itself" in folded.message
    assert "found by the step" not in tested.message
    # the separate test stops before the step: x is the iterate after 3 steps;
    # folded, the elements with a finite gradient took a 4th step, element 7
    # and its state kept their values
    assert folded.nit == tested.nit == 3
    assert folded.x[7] == tested.x[7]
    assert np.all(folded.x[:7] > tested.x[:7])
    np.testing.assert_array_equal(np.delete(folded.x, 7)[1:] > np.delete(tested.x, 7)[1:],
                                  True)


def test_a_folded_run_raises_with_nan_policy_raise():
    with pytest.raises(FloatingPointError, match="non-finite gradient, or an overflow"):
        _run(gtol=0, policy="raise")


def test_folding_keeps_every_result_of_a_finite_run():
    a = _run(gtol=0, bad_at=10**9)
    b = _run(gtol=1e-300, bad_at=10**9)
    assert a.status == b.status == 1
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fun == b.fun and a.nit == b.nit == 10


@pytest.mark.parametrize("gtol, policy, n", [(1e-8, "stop", N), (0, "skip", N),
                                             (0, "stop", 1000)])
def test_no_folding_where_the_norm_is_read_or_the_step_must_be_skipped(gtol, policy, n):
    res = _run(gtol=gtol, policy=policy, n=n)
    assert res.status == 3 and "found by the step itself" not in res.message
    if policy == "skip":
        assert res.nskip == 7            # every step from the 4th on was skipped
    # x is the iterate after 3 steps, every element (the NaN was seen first)
    ref = _run(gtol=1e-300, n=n).x
    np.testing.assert_array_equal(res.x, ref)


@njit
def _nan_beyond(x):
    """A quadratic whose gradient has a NaN in element 7 once x[0] > 0.25
    (after 3 Adam steps of lr 0.1 from 0)."""
    g = x - 1.0
    if x[0] > 0.25:
        g[7] = np.nan
    return 0.5 * g[0] * g[0], g


@pytest.mark.parametrize("policy", ["stop", "raise"])
def test_the_compiled_loop_folds_as_the_ordinary_loop(policy):
    opts = {"lr": 0.1, "maxiter": 10, "nan_policy": policy}

    def run(gtol, compiled):
        return numadam.minimize(_nan_beyond, True, np.zeros(N),
                                options=dict(opts, gtol=gtol, compiled=compiled))
    if policy == "raise":
        with pytest.raises(FloatingPointError, match="non-finite gradient, found by"):
            run(0, True)
        return
    folded, ordinary = run(0, True), run(0, False)
    assert folded.compiled and not ordinary.compiled
    assert folded.status == ordinary.status == 3
    assert "found by the step itself" in folded.message
    np.testing.assert_array_equal(folded.x, ordinary.x)
    tested = run(1e-300, True)       # the norm pass: stopped before the 4th step
    assert tested.x[7] == folded.x[7] and np.all(folded.x[:7] > tested.x[:7])
