"""Minibatches, stochastic gradients, clipping, patience, history, progress, plots."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import numadam
from numadam import schedules as S
from numadam.problems import logistic_loss, make_logistic_regression, reddi_counterexample
from reference import Reference


def lsq(w, X, y):
    r = X @ w - y
    return 0.5 * float(np.mean(r * r)), X.T @ r / len(y)


@pytest.fixture(scope="module")
def logistic():
    X, y, w_true = make_logistic_regression(4000, 8, seed=3)
    l2 = 1e-3
    ref = scipy_minimize(logistic_loss, np.zeros(8), args=(X, y, l2), jac=True,
                         method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
    return X, y, l2, ref


def test_minibatch_logistic_reaches_lbfgs_loss(logistic):
    X, y, l2, ref = logistic
    res = numadam.minimize(logistic_loss, True, np.zeros(8), args=(l2,), data=(X, y),
                           method="adam", rng=0,
                           options={"lr": S.cosine(0.05, 40 * 32), "batch_size": 128,
                                    "epochs": 40, "gtol": 0})
    assert res.status == 2 and res.nit == 40 * 32 and res.epoch == 40
    assert res.fun - ref.fun < 1e-3
    # fun and jac are reported on the whole data set
    f, g = logistic_loss(res.x, X, y, l2)
    assert res.fun == f
    np.testing.assert_array_equal(res.jac, g)


def test_reddi_counterexample_adam_fails_amsgrad_converges():
    n = 30000
    c, fun = reddi_counterexample(n, C=3.0)
    b2 = 1 / (1 + 3.0 ** 2)
    ends = {}
    for method in ("adam", "amsgrad"):
        res = numadam.minimize(
            fun, True, [0.0], method=method, data=(c,), bounds=[(-1, 1)],
            options={"lr": S.inverse_sqrt(0.5 * math.sqrt(1 - b2)), "betas": (0.0, b2),
                     "batch_size": 1, "shuffle": False, "epochs": 1, "gtol": 0})
        assert res.nit == n
        ends[method] = res.x[0]
    assert ends["adam"] > 0.99       # the worst point of [-1, 1]
    assert ends["amsgrad"] < -0.99   # the minimiser


def _batches_seen(data, **options):
    seen = []

    def f(w, idx):
        seen.append(idx.copy())
        return 0.0, np.zeros_like(w)

    numadam.minimize(f, True, np.zeros(1), data=data, rng=0,
                     options=dict(options, gtol=0))
    return seen[:-1]  # the last call is the full-data evaluation


def test_every_epoch_is_a_permutation_with_a_partial_last_batch():
    seen = _batches_seen((np.arange(10),), batch_size=4, epochs=3)
    assert [len(b) for b in seen] == [4, 4, 2] * 3
    epochs = [np.concatenate(seen[i:i + 3]) for i in (0, 3, 6)]
    for e in epochs:
        assert sorted(e) == list(range(10))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled


def test_drop_last_and_no_shuffle():
    seen = _batches_seen(np.arange(10), batch_size=4, epochs=2, drop_last=True,
                         shuffle=False)
    assert [b.tolist() for b in seen] == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2


def test_batch_size_larger_than_data():
    seen = _batches_seen(np.arange(5), batch_size=50, epochs=2)
    assert [len(b) for b in seen] == [5, 5]


def test_args_are_passed_whole_after_the_batch():
    X = np.arange(12.0).reshape(6, 2)
    calls = []

    def f(w, Xb, scale):
        calls.append((Xb.shape, scale))
        return 0.0, np.zeros_like(w)

    numadam.minimize(f, True, np.zeros(2), data=X, args=(7,),
                     options={"batch_size": 4, "epochs": 1, "gtol": 0})
    assert calls == [((4, 2), 7), ((2, 2), 7), ((6, 2), 7)]


def test_same_seed_same_bits_other_seed_other_result():
    X, y, _ = make_logistic_regression(500, 5, seed=0)

    def run(seed):
        return numadam.minimize(logistic_loss, True, np.zeros(5), data=(X, y), rng=seed,
                                options={"lr": 0.05, "batch_size": 16, "epochs": 3,
                                         "gtol": 0}).x

    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    g = np.random.default_rng(1)
    assert np.array_equal(numadam.minimize(
        logistic_loss, True, np.zeros(5), data=(X, y), rng=np.random.default_rng(1),
        options={"lr": 0.05, "batch_size": 16, "epochs": 3, "gtol": 0}).x, a)
    assert isinstance(g, np.random.Generator)


def test_a_stochastic_jac_gets_numadams_generator():
    draws = []

    def noisy_grad(x, rng):
        e = rng.standard_normal(x.shape)
        draws.append(e[0])
        return x + 0.1 * e

    def run(seed):
        draws.clear()
        r = numadam.minimize(lambda x: 0.5 * float(x @ x), noisy_grad, np.ones(3),
                             rng=seed, options={"lr": 0.05, "maxiter": 200, "gtol": 0})
        return r.x, list(draws)

    (x1, d1), (x2, d2), (x3, _) = run(5), run(5), run(6)
    assert np.array_equal(x1, x2) and d1 == d2 and len(d1) == 201
    assert not np.array_equal(x1, x3)
    assert np.max(np.abs(x1)) < 0.2


DETERMINISM_SCRIPT = r"""
import hashlib, numpy as np, numadam
from numadam.problems import logistic_loss
rng = np.random.default_rng(0)
n, d = 2000, 40000        # parameters above the parallel threshold
X = rng.standard_normal((n, 3)); y = (rng.random(n) < 0.5).astype(float)
W = rng.standard_normal((3, d)) * 0.01
def f(w, Xb, yb):
    z = Xb @ (W @ w) * 1e-2
    p = 1 / (1 + np.exp(-z))
    return float(np.mean(np.logaddexp(0, z) - yb * z)), W.T @ (Xb.T @ (p - yb)) * 1e-2 / len(yb)
h = hashlib.sha256()
for method in ("adam", "nadam", "rmsprop"):
    r = numadam.minimize(f, True, np.zeros(d), data=(X, y), method=method, rng=3,
                         options={"lr": 1e-2, "batch_size": 64, "epochs": 2, "gtol": 1e-12,
                                  "clip_norm": 0.5, "history": 5})
    h.update(r.x.tobytes()); h.update(r.history.grad_norm.tobytes())
print(h.hexdigest())
"""


def test_bitwise_identical_for_any_number_of_threads():
    out = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        out.append(subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=env,
                                  capture_output=True, text=True, check=True).stdout)
    assert out[0] == out[1] and len(out[0].strip()) == 64


@pytest.mark.parametrize("method", ["adam", "sgd", "nadam", "adagrad"])
def test_clipping_matches_reference(method):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((50, 6)) * 10.0 ** rng.uniform(-1, 2, (50, 1))
    x = np.linspace(-1, 1, 6)
    opt = numadam.Optimizer(x, method=method, clip_norm=1.5, clip_value=0.4,
                            weight_decay=0.1, maximize=True)
    ref = Reference(method, x, weight_decay=0.1, maximize=True)
    clipped_any = False
    for g in grads:
        gn = np.linalg.norm(g)
        gc = g * (1.5 / gn) if gn > 1.5 else g
        clipped_any |= bool(np.any(np.abs(gc) > 0.4))
        gc = np.clip(gc, -0.4, 0.4)
        opt.step(g)
        ref.step(gc)
    assert clipped_any
    np.testing.assert_allclose(x, ref.x, rtol=1e-12, atol=1e-15)


def test_clip_norm_in_minimize_uses_the_norm_it_already_has():
    a = np.array([100.0, 1.0])
    res = numadam.minimize(lambda x: 0.0, lambda x: a * x, [1.0, 1.0], method="sgd",
                           options={"lr": 0.1, "clip_norm": 1.0, "maxiter": 1, "gtol": 0})
    g = a * np.array([1.0, 1.0])
    np.testing.assert_allclose(res.x, 1.0 - 0.1 * g / np.linalg.norm(g), rtol=1e-15)


def test_clipping_does_not_hide_nan():
    x = np.ones(2)
    opt = numadam.SGD(x, clip_norm=1.0, clip_value=1.0)
    with pytest.raises(FloatingPointError, match="step 1: the update of 1 of 2 elements"):
        opt.step(np.array([np.nan, 1.0]))
    assert x[0] == 1.0          # the NaN was caught, not clipped into a number
    assert x[1] == 1.0 - 1e-3   # the norm is NaN: no scaling; value clipping kept 1.0


def test_patience_stops_a_noisy_run_on_its_plateau():
    def noisy(x, rng):
        g = x - 1.0 + 0.3 * rng.standard_normal(x.shape)
        return 0.5 * float(np.sum((x - 1) ** 2)) + 0.01 * rng.standard_normal(), g

    res = numadam.minimize(noisy, True, np.zeros(5), rng=0,
                           options={"lr": 0.05, "maxiter": 100000, "patience": 300,
                                    "ema": 0.99, "gtol": 0})
    assert res.status == 4 and res.success
    assert res.message == numadam.STATUS_MESSAGES[4]
    assert 300 < res.nit < 100000
    assert np.max(np.abs(res.x - 1)) < 0.2


def test_history_arrays_at_the_chosen_interval():
    res = numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(3),
                           options={"lr": 0.01, "maxiter": 95, "gtol": 0, "history": 10})
    h = res.history
    assert isinstance(h.loss, np.ndarray) and h.step.dtype == np.int64
    np.testing.assert_array_equal(h.step, list(range(0, 100, 10)) + [95])
    assert h.loss[0] == 3.0 and h.loss[-1] == res.fun
    np.testing.assert_allclose(h.grad_norm[0], 2 * math.sqrt(3))
    np.testing.assert_allclose(h.lr, 0.01)
    # lr from a schedule, epochs with data
    X = np.ones((10, 1))
    res = numadam.minimize(lambda w, Xb: (0.0, np.ones_like(w)), True, np.zeros(1), data=X,
                           options={"lr": S.exponential(0.1, 0.5), "batch_size": 5,
                                    "epochs": 3, "gtol": 0, "history": 2})
    np.testing.assert_array_equal(res.history.step, [0, 2, 4, 6])
    np.testing.assert_allclose(res.history.epoch, [0, 1, 2, 3])
    np.testing.assert_allclose(res.history.lr, 0.1 * 0.5 ** np.array([0, 2, 4, 6]))


def test_history_with_separate_jac_evaluates_fun_only_at_records():
    calls = []

    def f(x):
        calls.append(1)
        return float(x @ x)

    res = numadam.minimize(f, lambda x: 2 * x, np.ones(2),
                           options={"maxiter": 100, "gtol": 0, "history": 25})
    assert len(res.history.step) == 5 and len(calls) == 5 == res.nfev


def test_disp_false_prints_nothing(capsys):
    X = np.ones((20, 1))
    numadam.minimize(lambda w, Xb: (float(w @ w), 2 * w), True, np.ones(1), data=X,
                     options={"batch_size": 4, "epochs": 2, "patience": 3})
    numadam.minimize(lambda x: float(x @ x), lambda x: 2 * x, np.ones(2),
                     options={"maxiter": 50, "history": 5})
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_disp_true_shows_progress_and_summary(capsys):
    numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(2),
                     options={"maxiter": 50, "gtol": 0, "disp": True})
    out = capsys.readouterr()
    assert "loss=" in out.err and "50" in out.err
    assert "Maximum number of iterations" in out.out and "Iterations: 50" in out.out


def test_plot_renders_one_line_per_result(tmp_path):
    runs = {}
    for m in ("adam", "rmsprop", "sgd"):
        runs[m] = numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(3),
                                   method=m, options={"lr": 0.01, "maxiter": 200,
                                                      "history": 10, "gtol": 0})
    path = tmp_path / "curves.png"
    ax = numadam.plot(runs, filename=path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "rmsprop", "sgd"]
    assert ax.get_yscale() == "log"
    ax = numadam.plot(list(runs.values()), x="step", y="lr", smooth=0.5)
    assert len(ax.get_lines()) == 6  # raw + smoothed per result
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "rmsprop", "sgd"]


def test_plot_errors():
    res = numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(3),
                           options={"maxiter": 5})
    with pytest.raises(ValueError, match="has no history"):
        numadam.plot(res)
    with pytest.raises(ValueError, match="x must be one of"):
        numadam.plot(res, x="time")
    with pytest.raises(ValueError, match="labels has 2 entries for 1 results"):
        res.history = res  # any value: labels are checked first
        numadam.plot([res], labels=["a", "b"])


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(data=(np.ones(5), np.ones(4))), ValueError,
     "data arrays must share their first axis .*data\\[0\\] has 5, data\\[1\\] has 4"),
    (dict(data=np.ones(0)), ValueError, "data holds no samples"),
    (dict(data=np.float64(3.0)), ValueError, "data\\[0\\] must have a sample axis"),
    (dict(data=np.ones(5), options={"batch_size": 0}), ValueError, "'batch_size' must be >= 1"),
    (dict(data=np.ones(5), options={"batch_size": 2.5}), TypeError, "'batch_size' must be an int"),
    (dict(data=np.ones(5), options={"batch_size": 9, "drop_last": True}), ValueError,
     "leaves no batch"),
    (dict(options={"epochs": 2}), TypeError, "'epochs' needs per-sample data"),
    (dict(options={"batch_size": 2}), TypeError, "'batch_size' needs per-sample data"),
    (dict(data=np.ones(5), options={"epochs": 0}), ValueError, "'epochs' must be >= 1"),
    (dict(options={"history": -1}), ValueError, "'history' must be >= 0"),
    (dict(options={"patience": 0}), ValueError, "'patience' must be >= 1"),
    (dict(options={"ema": 1.0}), ValueError, r"'ema' must be finite and in \[0.0, 1.0\)"),
    (dict(options={"disp": 1}), TypeError, "'disp' must be True or False"),
    (dict(options={"clip_norm": -1.0}), ValueError, "'clip_norm' must be > 0"),
    (dict(options={"clip_value": 0}), ValueError, "'clip_value' must be > 0"),
    (dict(rng="seed"), TypeError, "rng must be None, an int seed >= 0 or a numpy.random.Generator"),
])
def test_bad_stochastic_input(kwargs, exc, match):
    kwargs = dict(kwargs)
    data = kwargs.pop("data", None)

    def f(w, *batch):
        return 0.0, np.zeros_like(w)

    with pytest.raises(exc, match=match):
        numadam.minimize(f, True, np.zeros(1), data=data, **kwargs)


def test_disp_plain_fallback_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)       # import tqdm fails
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(2),
                     options={"maxiter": 40, "gtol": 0, "disp": True})
    err = capsys.readouterr().err
    assert "[##############################] 100.0% 40/40 loss=" in err


def test_disp_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(2),
                     options={"maxiter": 40, "gtol": 0, "disp": True})
    err = capsys.readouterr().err
    assert "40/40" in err and "loss=" in err and "step" in err


def test_a_nan_minibatch_gradient_reports_the_evaluation_not_an_overflow():
    """The run stops at a minibatch whose gradient is NaN before any update:
    the message is status 3's own (the objective or gradient), not the
    overflow message of an update (found by review: the final evaluation on
    the whole data set reset the flag the message reads)."""
    X, y, _ = make_logistic_regression(203, 6, seed=0)
    X[:, 0] = np.nan
    r = numadam.minimize(logistic_loss, True, np.zeros(6), data=(X, y), rng=7,
                         options={"batch_size": 20, "maxiter": 5})
    assert r.status == 3 and r.nit == 0
    assert r.message == numadam.STATUS_MESSAGES[3]
    np.testing.assert_array_equal(r.x, np.zeros(6))
