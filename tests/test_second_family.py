"""The second family's own rules, and every new method in every front door.

The kernel tests (tests/cases.py) check each method against the NumPy
reference, tests/test_references.py and tests/test_torch.py against the
implementations ALGORITHMS.md names; here: what a user of each method trips
on (ADOPT's first step, Rprop's full-batch nature, ASGD's average) and
minimize_many giving minimize's iterates for every new method.
"""
import warnings

import numpy as np
import pytest

import numadam
from numadam.problems import logistic_loss, make_logistic_regression, rosenbrock

_FG = {}
NEW = ("schedule_free_adamw", "adadelta", "rprop", "asgd", "lion", "adopt", "ademamix", "adabelief", "yogi",
       "adan")


def test_the_second_family_is_declared_with_classes():
    for name in NEW:
        assert name in numadam.METHODS
    assert numadam.Lion(np.zeros(2)).method == "lion"
    assert numadam.ADOPT(np.zeros(2)).method == "adopt"


def test_adopt_takes_no_parameter_step_on_its_first_iteration():
    x = np.array([1.0, -2.0, 3.0])
    opt = numadam.ADOPT(x, lr=0.1)
    opt.step(np.array([0.5, 0.0, -4.0]))
    assert np.array_equal(x, [1.0, -2.0, 3.0])
    assert np.array_equal(opt.state["exp_avg_sq"], [0.25, 0.0, 16.0])
    assert np.array_equal(opt.state["exp_avg"], [0.0, 0.0, 0.0])
    opt.step(np.array([0.5, 1.0, -4.0]))
    # step 2: g / max(sqrt(v), eps) clipped to +-1, m = 0.1 * that, x -= lr * m
    assert np.allclose(x, [1.0 - 0.1 * 0.1 * 1.0, -2.0 - 0.1 * 0.1 * 1.0, 3.0 + 0.01])
    res = numadam.minimize(rosenbrock, True, np.array([-1.2, 1.0]), method="adopt",
                           options={"maxiter": 1, "gtol": 0})
    assert res.nit == 1 and np.array_equal(res.x, [-1.2, 1.0])


def test_lion_moves_every_coordinate_by_exactly_lr():
    x = np.array([1.0, -2.0, 3.0, 4.0])
    opt = numadam.Lion(x, lr=0.25)
    opt.step(np.array([1e-9, -1e6, 3.0, 0.0]))
    assert np.array_equal(x, [0.75, -1.75, 2.75, 4.0])


def test_rprop_warns_for_minibatches_and_refuses_a_schedule():
    X, y, _ = make_logistic_regression(200, 4)
    with pytest.warns(UserWarning, match="full-batch method"):
        numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y), method="rprop",
                         options={"epochs": 1, "batch_size": 50})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = numadam.minimize(logistic_loss, True, np.zeros(4), args=(X, y),
                               method="rprop", options={"maxiter": 200})
    assert res.fun < logistic_loss(np.zeros(4), X, y)[0]
    with pytest.raises(TypeError, match="rprop's lr is the initial step size"):
        numadam.Rprop(np.zeros(2), lr=numadam.schedules.constant(0.1))
    with pytest.raises(ValueError, match="etas"):
        numadam.Rprop(np.zeros(2), etas=(1.2, 0.5))


def test_asgd_average_is_its_state():
    x = np.array([1.0, -1.0])
    opt = numadam.ASGD(x, lr=0.1, t0=3)
    xs = []
    for _ in range(8):
        opt.step(2 * x)
        xs.append(x.copy())
    # mu_t = 1/max(1, t-1-t0): ax copies x up to step t0 + 2 (= 5), then
    # averages the iterates from that step on
    expected = np.mean(xs[4:], axis=0)
    assert np.allclose(opt.state["ax"], expected, rtol=1e-14)


def test_bad_options_of_the_new_methods_name_themselves():
    with pytest.raises(TypeError, match="'betas' must hold 3 values"):
        numadam.Adan(np.zeros(2), betas=(0.9, 0.9))
    with pytest.raises(ValueError, match="alpha_warmup"):
        numadam.AdEMAMix(np.zeros(2), alpha_warmup=0)
    with pytest.raises(TypeError, match="use_clipping"):
        numadam.ADOPT(np.zeros(2), use_clipping="yes")
    with pytest.raises(ValueError, match="lr\\(0\\) = 0"):
        numadam.Lion(np.zeros(2), weight_decay=0.1, decoupled_weight_decay=True,
                     lr=lambda k: 0.0 if k == 0 else 0.1)


def _quad_fg(x, a):
    return 0.5 * np.sum(a * x * x), a * x


@pytest.mark.xdist_group("second_family_many")   # one worker: one compilation of fg
@pytest.mark.parametrize("method", NEW)
def test_minimize_many_gives_minimize_s_iterates(method):
    from numba import njit
    fg = _FG.setdefault("fg", njit(_quad_fg))
    rng = np.random.default_rng(5)
    X0 = rng.standard_normal((6, 3))
    A = 10.0 ** rng.uniform(0, 1, (6, 3))
    opts = {"maxiter": 40, "gtol": 0, "lr": 1e-2}
    many = numadam.minimize_many(fg, True, X0, data=(A,), method=method, options=opts)
    for i in (0, 5):
        one = numadam.minimize(fg, True, X0[i], args=(A[i],), method=method,
                               options=dict(opts, compiled=False))
        assert np.array_equal(many.x[i], one.x), method


# -- Schedule-Free AdamW: train and eval points ----------------------------------
def test_schedule_free_train_and_eval_points():
    x0 = np.array([1.0, -2.0, 0.5])
    x = x0.copy()
    opt = numadam.ScheduleFreeAdamW(x, lr=0.1)
    assert opt.mode == "train" and np.array_equal(opt.state["z"], x0)
    for _ in range(20):
        opt.step(2 * x)                     # the gradient at y, the training point
    y, z = x.copy(), opt.state["z"].copy()
    opt.eval()
    assert opt.mode == "eval"
    w = 1 - 1 / 0.9
    assert np.allclose(x, (1 - w) * y + w * z, rtol=1e-15, atol=0)
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step(2 * x)
    opt.eval()                              # idempotent
    sd = opt.state_dict()
    assert sd["mode"] == "eval"
    opt.train()
    assert np.allclose(x, y, rtol=1e-14, atol=1e-16) and opt.mode == "train"
    opt2 = numadam.ScheduleFreeAdamW(np.zeros(3), lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.mode == "eval"
    with pytest.raises(ValueError, match="mode"):
        opt2.load_state_dict(dict(sd, mode="sideways"))
    with pytest.raises(TypeError, match="one point only"):
        numadam.Adam(np.zeros(2)).eval()


def test_schedule_free_checkpoint_records_the_mode(tmp_path):
    x = np.array([1.0, -2.0])
    opt = numadam.ScheduleFreeAdamW(x, lr=0.1)
    opt.step(2 * x)
    opt.eval()
    opt.save(tmp_path / "sf.npz")
    other = numadam.ScheduleFreeAdamW(np.zeros(2), lr=0.1)
    other.load(tmp_path / "sf.npz")
    assert other.mode == "eval" and other.t == 1
    assert np.array_equal(other.state["z"], opt.state["z"])


def test_schedule_free_minimize_returns_the_eval_point():
    x0 = np.array([-1.2, 1.0])
    opts = {"lr": 1e-2, "maxiter": 300, "gtol": 0}
    res = numadam.minimize(rosenbrock, True, x0, method="schedule_free_adamw",
                           options=opts)
    # the same steps by hand: y after 300 steps, then x = lerp(y, z, 1 - 1/b1)
    y = x0.copy()
    opt = numadam.ScheduleFreeAdamW(y, lr=1e-2)
    for _ in range(300):
        opt.step(rosenbrock(y)[1])
    opt.eval()
    assert np.array_equal(res.x, y) and res.nit == 300
    f, g = rosenbrock(res.x)
    assert res.fun == f and np.array_equal(res.jac, g)
    assert res.nfev == 302 and res.njev == 302     # the start, 300 steps, x at the end


def test_schedule_free_run_resumes_from_its_checkpoint(tmp_path):
    """A run's checkpoint holds the training point y (mode "train"), the end of
    the run included: the resumed run goes on from y, bit for bit."""
    from scipy.optimize import rosen, rosen_der
    opts = {"lr": 1e-2, "gtol": 0}
    full = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="schedule_free_adamw",
                            options=dict(opts, maxiter=500))
    path = tmp_path / "sf.npz"
    first = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="schedule_free_adamw",
                             options=dict(opts, maxiter=300, checkpoint=path,
                                          checkpoint_every=300))
    res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="schedule_free_adamw",
                           options=dict(opts, maxiter=500, resume=path))
    assert res.nit == 500 and np.array_equal(res.x, full.x)
    assert not np.array_equal(first.x, res.x)
