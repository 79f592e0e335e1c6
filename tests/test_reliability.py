"""Non-finite values, checkpoints that resume bitwise, corrupted checkpoints, threads."""
import threading

import numpy as np
import pytest

import numadam
from numadam import schedules as S
from numadam.problems import logistic_loss, make_logistic_regression
from cases import CASES, case_id


# ---------------------------------------------------------------- non-finite
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_skip_leaves_parameters_and_state_bitwise_unchanged(case, bad):
    method, opts = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    opt = numadam.Optimizer(x, method=method, nan_policy="skip", **opts)
    for _ in range(3):
        assert opt.step(rng.standard_normal(50)) is True
    before = (x.copy(), {k: v.copy() for k, v in opt.state.items()}, opt.t, opt._host)
    g = rng.standard_normal(50)
    g[17] = bad
    assert opt.step(g) is False
    assert np.array_equal(x, before[0]) and opt.t == before[2] and opt._host == before[3]
    for k, v in opt.state.items():
        assert np.array_equal(v, before[1][k])
    assert opt.skipped == 1
    assert opt.step(rng.standard_normal(50)) is True and opt.t == 4


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_raise_names_the_step_and_keeps_bad_elements(case):
    method, opts = case
    x = np.linspace(-1, 1, 40)
    opt = numadam.Optimizer(x, method=method, **opts)
    opt.step(np.ones(40))
    x1 = x.copy()
    state1 = {k: v.copy() for k, v in opt.state.items()}
    g = np.ones(40)
    g[[3, 30]] = [np.nan, np.inf]
    with pytest.raises(FloatingPointError, match="step 2: the update of 2 of 40 elements"):
        opt.step(g)
    assert np.all(np.isfinite(x))
    assert x[3] == x1[3] and x[30] == x1[30]            # the bad elements kept theirs
    for v in opt.state.values():
        assert np.all(np.isfinite(v))
    for k in state1:
        assert opt.state[k][3] == state1[k][3]


@pytest.mark.parametrize("method", ["adam", "lion", "lamb", "prodigy"])
@pytest.mark.parametrize("state_dtype", [None, "bfloat16", "int8"])
def test_the_count_of_kept_elements_is_exact_in_parallel(method, state_dtype):
    """The serial loops count the elements the guard passes and return the
    others' count: exact through the parallel driver's chunks, the first pass
    of a two-pass rule and low-precision state."""
    n = 100_003
    x = np.linspace(-1, 1, n).astype(np.float32)
    opt = numadam.Optimizer(x, method=method, state_dtype=state_dtype)
    opt.step(np.ones(n, np.float32))
    g = np.ones(n, np.float32)
    bad = [0, 17, 16_384, 50_001, n - 1]
    g[bad] = [np.nan, np.inf, -np.inf, np.nan, np.nan]
    with pytest.raises(FloatingPointError, match=f"step 2: the update of 5 of {n} elements"):
        opt.step(g)
    assert np.isfinite(x).all()


def test_overflow_in_float32_is_caught():
    x = np.ones(4, np.float32)
    opt = numadam.Adam(x)
    with pytest.raises(FloatingPointError, match="update of 1 of 4"):
        opt.step(np.array([1e30, 1.0, 1.0, 1.0], np.float32))   # g*g overflows
    assert x[0] == 1.0 and np.all(np.isfinite(opt.state["exp_avg_sq"]))


def bad_at(xs_bad):
    """A gradient that is NaN while x[0] is below a threshold."""
    def fg(x):
        g = x - 3.0
        if x[0] >= xs_bad:
            g = g.copy()
            g[0] = np.nan
        return float(0.5 * np.sum((x - 3) ** 2)), g
    return fg


def test_minimize_nan_policy_stop():
    res = numadam.minimize(bad_at(0.5), True, np.zeros(2), method="sgd",
                           options={"lr": 0.1, "gtol": 0, "maxiter": 100})
    assert res.status == 3 and not res.success
    assert 0.5 <= res.x[0] < 0.5 + 0.4 and np.all(np.isfinite(res.x))
    assert res.nit == 2  # x0 = 0 -> 0.3 -> 0.57, where the gradient is NaN


def test_minimize_nan_policy_raise():
    with pytest.raises(FloatingPointError, match="iteration 2: the gradient is NaN"):
        numadam.minimize(bad_at(0.5), True, np.zeros(2), method="sgd",
                         options={"lr": 0.1, "gtol": 0, "maxiter": 100,
                                  "nan_policy": "raise"})


def test_minimize_nan_policy_skip_with_stochastic_batches():
    # every 4th sample is corrupted: its batches (batch_size 1) are skipped
    n = 40
    y = np.linspace(0, 1, n)
    y[::4] = np.nan
    seen = []

    def fg(w, yb):
        r = w[0] - yb[0]
        return 0.5 * r * r, np.array([r])

    res = numadam.minimize(fg, True, [0.0], data=y, method="adam", rng=0,
                           callback=lambda xk: seen.append(xk[0]),
                           options={"batch_size": 1, "epochs": 3, "gtol": 0,
                                    "nan_policy": "skip", "lr": 0.05})
    assert res.nskip == 30 and res.nit == 3 * n and res.status == 2
    assert np.isfinite(res.x[0])
    # a skipped iteration leaves x bitwise as it was
    steps = np.diff(np.array([0.0] + seen))
    assert np.sum(steps == 0.0) >= 30


# ---------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("method", ["adam", "amsgrad", "nadam", "radam"])
def test_kill_and_resume_is_bitwise(method, tmp_path):
    X, y, _ = make_logistic_regression(1000, 6, seed=0)
    opts = {"lr": S.warmup(S.cosine(0.05, 300), 20), "batch_size": 32, "epochs": 10,
            "gtol": 0, "history": 7, "patience": 10000}
    full = numadam.minimize(logistic_loss, True, np.zeros(6), data=(X, y), rng=4,
                            method=method, options=opts)
    path = tmp_path / "run.npz"
    calls = []

    def kill(xk):
        calls.append(1)
        if len(calls) == 123:            # killed 23 steps after the checkpoint at 100
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        numadam.minimize(logistic_loss, True, np.zeros(6), data=(X, y), rng=4,
                         method=method, callback=kill,
                         options=dict(opts, checkpoint=path, checkpoint_every=50))
    res = numadam.minimize(logistic_loss, True, np.zeros(6), data=(X, y), rng=4,
                           method=method, options=dict(opts, resume=path))
    assert res.nit == full.nit == 320
    assert np.array_equal(res.x, full.x)
    assert res.fun == full.fun and res.nfev == full.nfev
    for k in full.history:
        assert np.array_equal(res.history[k], full.history[k])


def test_resume_a_deterministic_run_and_extend_it(tmp_path):
    from scipy.optimize import rosen, rosen_der
    full = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="nadam",
                            options={"maxiter": 500, "gtol": 0})
    path = tmp_path / "r.npz"
    numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="nadam",
                     options={"maxiter": 300, "gtol": 0, "checkpoint": path,
                              "checkpoint_every": 300})
    res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="nadam",
                           options={"maxiter": 500, "gtol": 0, "resume": path})
    assert res.nit == 500 and np.array_equal(res.x, full.x)


def test_optimizer_save_load_resumes_bitwise(tmp_path):
    g = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    x = np.zeros(8, np.float32)
    opt = numadam.NAdam(x, lr=S.one_cycle(0.01, 40), clip_norm=1.0)
    for gi in g[:15]:
        opt.step(gi)
    opt.save(tmp_path / "o.npz")
    y = x.copy()
    for gi in g[15:]:
        opt.step(gi)
    opt2 = numadam.NAdam(y)
    opt2.load(tmp_path / "o.npz")
    assert opt2.t == 15 and opt2.options["lr"] == S.one_cycle(0.01, 40)
    for gi in g[15:]:
        opt2.step(gi)
    assert np.array_equal(x, y)


@pytest.fixture
def saved(tmp_path):
    x = np.ones(6)
    opt = numadam.Adam(x)
    for _ in range(3):
        opt.step(np.arange(6.0))
    path = tmp_path / "adam.npz"
    opt.save(path)
    return path


@pytest.mark.parametrize("make, match", [
    (lambda: numadam.SGD(np.ones(6), momentum=0.9), "is for method 'adam', this optimizer runs 'sgd'"),
    (lambda: numadam.Adam(np.ones(7)), "is for 6 parameters, this optimizer has 7"),
    (lambda: numadam.Adam(np.ones(6, np.float32)), "has dtype float64, the parameters have float32"),
    (lambda: numadam.Adam(np.ones(6), amsgrad=True), None),
])
def test_mismatched_checkpoint_refused(saved, make, match):
    opt = make()
    before = {k: v.copy() for k, v in opt.state.items()}
    if match is None:   # the checkpoint's options replace amsgrad=True: loads fine
        opt.load(saved)
        assert opt.t == 3 and "max_exp_avg_sq" not in opt.state
        return
    with pytest.raises(ValueError, match=match):
        opt.load(saved)
    assert opt.t == 0 and all(np.array_equal(v, before[k]) for k, v in opt.state.items())


def test_truncated_and_corrupted_checkpoints_refused(saved, tmp_path):
    data = saved.read_bytes()
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(data[: len(data) // 2])
    opt = numadam.Adam(np.ones(6))
    with pytest.raises(ValueError, match="is truncated or corrupted"):
        opt.load(truncated)
    # flip one byte of an array's data: the zip may still open; the checksum fails
    i = data.index(b"\x00\x00\x00\x00\x00\x00\xf0?") if b"\x00\x00\x00\x00\x00\x00\xf0?" in data else len(data) // 3
    flipped = bytearray(data)
    flipped[i + 7] ^= 0x01
    bad = tmp_path / "f.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted"):
        opt.load(bad)
    not_npz = tmp_path / "n.npz"
    np.savez(not_npz, a=np.ones(3))
    with pytest.raises(ValueError, match="not a numadam checkpoint"):
        opt.load(not_npz)
    with pytest.raises(FileNotFoundError):
        opt.load(tmp_path / "missing.npz")
    assert opt.t == 0


def test_checkpoint_kinds_and_runs_must_match(saved, tmp_path):
    with pytest.raises(ValueError, match="holds a 'optimizer' state, not a 'minimize' state"):
        numadam.minimize(lambda x: (0.0, x), True, np.ones(6), options={"resume": saved})
    X = np.ones((20, 6))
    path = tmp_path / "m.npz"
    numadam.minimize(lambda w, Xb: (0.0, w.copy()), True, np.ones(6), data=X,
                     options={"batch_size": 4, "epochs": 2, "gtol": 0,
                              "checkpoint": path, "checkpoint_every": 3})
    with pytest.raises(ValueError, match="it is a 'adam' run, this run uses 'sgd'"):
        numadam.minimize(lambda w, Xb: (0.0, w.copy()), True, np.ones(6), data=X,
                         method="sgd", options={"batch_size": 4, "resume": path})
    with pytest.raises(ValueError, match="taken with n=20, this run has n=21"):
        numadam.minimize(lambda w, Xb: (0.0, w.copy()), True, np.ones(6),
                         data=np.ones((21, 6)), options={"batch_size": 4, "resume": path})
    with pytest.raises(ValueError, match="its x is float64 of shape \\(6,\\), x0 is float64 of shape \\(5,\\)"):
        numadam.minimize(lambda w, Xb: (0.0, w.copy()), True, np.ones(5), data=X,
                         options={"batch_size": 4, "resume": path})


def test_a_plain_callable_lr_cannot_be_saved(tmp_path):
    opt = numadam.Adam(np.ones(2), lr=lambda k: 1e-3)
    with pytest.raises(ValueError, match="option 'lr' is a callable .* that a checkpoint cannot hold"):
        opt.save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_checkpoint_option_types():
    with pytest.raises(TypeError, match="option 'checkpoint' must be a file path"):
        numadam.minimize(lambda x: (0.0, x), True, np.ones(2), options={"checkpoint": 3})
    for value in (5, b"run.npz", ["run.npz"]):   # read before the loop's checks (review)
        with pytest.raises(TypeError, match=r"option 'resume' must be a file path; got"):
            numadam.minimize(lambda x: (0.0, x), True, np.ones(2), options={"resume": value})
    with pytest.raises(ValueError, match="'nan_policy' must be 'stop', 'raise' or 'skip'"):
        numadam.minimize(lambda x: (0.0, x), True, np.ones(2), options={"nan_policy": "ignore"})
    with pytest.raises(ValueError, match="'nan_policy' of a stateful optimizer must be 'raise' or 'skip'"):
        numadam.Adam(np.ones(2), nan_policy="stop")


# ---------------------------------------------------------------- threads
def test_two_threads_two_optimizers_equal_sequential_runs():
    n = 100_000          # above the parallel threshold: prange kernels
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((30, n)) for _ in range(2)]

    def run(k, out):
        x = np.zeros(n)
        opt = numadam.Optimizer(x, method=("adam", "rmsprop")[k], clip_norm=50.0)
        for g in grads[k]:
            opt.step(g)
        out[k] = x

    seq = {}
    run(0, seq)
    run(1, seq)
    par = {}
    threads = [threading.Thread(target=run, args=(k, par)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(seq[0], par[0]) and np.array_equal(seq[1], par[1])


@pytest.mark.parametrize("policy", [None, "stop", "skip"])
def test_resume_keeps_the_runs_nan_policy(policy, tmp_path):
    """``resume`` alone continues the saved run: its nan_policy too (the
    optimizer's own default, "raise", recorded beside the loop's, won before)."""
    def fg(x):
        r = x - 3.0
        g = r.copy()
        if x[0] > 1.0:   # the gradient is NaN from the ninth step on
            g[0] = np.nan
        return 0.5 * float(np.sum(r * r)), g
    opts = {"lr": 0.1} if policy is None else {"lr": 0.1, "nan_policy": policy}
    full = numadam.minimize(fg, True, np.zeros(2), options=dict(opts, maxiter=30))
    ck = tmp_path / "run.npz"
    numadam.minimize(fg, True, np.zeros(2),
                     options=dict(opts, maxiter=5, checkpoint=ck, checkpoint_every=5))
    res = numadam.minimize(fg, True, np.zeros(2), options={"resume": ck, "maxiter": 30})
    assert (res.status, res.nit) == (full.status, full.nit)
    np.testing.assert_array_equal(res.x, full.x)
    assert res.resumed["changed"] == {"maxiter": (5, 30)}
