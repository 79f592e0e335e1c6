"""Hostile inputs and faults (reliability, round two): each test names its item.

Every test here failed before its fix.  The checkpoint-file cases are in
test_checkpoint_files.py, schedules/plot/CLI/Dask in test_hostile_small.py, MPI
in test_mpi.py.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit
from scipy.optimize import Bounds

import numadam
from numadam import _checkpoint
from numadam.problems import logistic_loss, make_logistic_regression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quad(x):
    return float(np.sum((x - 1.0) ** 2))


def quad_grad(x):
    return 2 * (x - 1.0)


@pytest.fixture(scope="module")
def logreg():
    X, y, _ = make_logistic_regression(n_samples=400, n_features=4, seed=3)
    return X, y


# ------------------------------------------------------------------ item 1
def _run(logreg, **options):
    X, y = logreg
    return numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y), rng=7,
                            options={"batch_size": 40, "lr": 0.05, **options})


def test_resume_applies_the_options_the_call_gives_and_says_so(logreg, tmp_path):
    p = tmp_path / "run.npz"
    _run(logreg, maxiter=20, checkpoint=p, checkpoint_every=20)
    res = _run(logreg, resume=p, maxiter=40, lr=0.5)
    assert res.resumed == {"path": str(p), "nit": 20,
                           "changed": {"maxiter": (20, 40), "lr": (0.05, 0.5)}}
    # equal to an uninterrupted run whose lr drops... rises at step 20
    ref = _run(logreg, maxiter=40, lr=lambda k: 0.05 if k < 20 else 0.5)
    np.testing.assert_array_equal(res.x, ref.x)
    assert not np.array_equal(res.x, _run(logreg, maxiter=40).x)


def test_resume_takes_options_not_given_from_the_checkpoint(logreg, tmp_path):
    p = tmp_path / "run.npz"
    _run(logreg, maxiter=60, gtol=0, clip_norm=0.5, checkpoint=p, checkpoint_every=25)
    full = _run(logreg, maxiter=60, gtol=0, clip_norm=0.5)
    # only resume: maxiter, gtol, clip_norm (and lr, batch_size) come from the file
    X, y = logreg
    res = numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y), rng=7,
                           options={"resume": p})
    assert res.nit == 60 and res.resumed["changed"] == {}
    np.testing.assert_array_equal(res.x, full.x)


def test_resume_refuses_what_cannot_change(logreg, tmp_path):
    p = tmp_path / "run.npz"
    _run(logreg, maxiter=20, checkpoint=p, checkpoint_every=20)
    X, y = logreg
    with pytest.raises(ValueError, match="its bounds differ from this call's bounds"):
        numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y), rng=7,
                         bounds=[(-1, 1)] * 4, options={"resume": p})
    with pytest.raises(ValueError, match="option 'batch_size' cannot change when "
                                         "resuming.*batch_size was 40, this call gives 50"):
        _run(logreg, resume=p, batch_size=50)
    with pytest.raises(ValueError, match="seeded with another rng"):
        numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y), rng=8,
                         options={"resume": p})
    with pytest.raises(ValueError, match="'amsgrad' would change the state arrays"):
        _run(logreg, resume=p, amsgrad=True)


def test_resume_with_bounds_recorded(tmp_path):
    p = tmp_path / "b.npz"
    box = [(0.0, 0.5)] * 3
    numadam.minimize(quad, quad_grad, np.zeros(3), bounds=box,
                     options={"maxiter": 10, "checkpoint": p, "checkpoint_every": 10})
    res = numadam.minimize(quad, quad_grad, np.zeros(3), bounds=box,
                           options={"resume": p, "maxiter": 30})
    full = numadam.minimize(quad, quad_grad, np.zeros(3), bounds=box,
                            options={"maxiter": 30})
    np.testing.assert_array_equal(res.x, full.x)
    with pytest.raises(ValueError, match="bounds differ"):
        numadam.minimize(quad, quad_grad, np.zeros(3), bounds=[(0.0, 0.6)] * 3,
                         options={"resume": p})
    with pytest.raises(ValueError, match="bounds differ"):
        numadam.minimize(quad, quad_grad, np.zeros(3), options={"resume": p})


# ------------------------------------------------------------------ item 2
def test_resume_refuses_other_data_of_the_same_size(logreg, tmp_path):
    p = tmp_path / "run.npz"
    _run(logreg, maxiter=20, checkpoint=p, checkpoint_every=20)
    X, y = logreg
    y2 = y.copy()
    y2[5] = 1 - y2[5]
    with pytest.raises(ValueError, match=r"other data: the bytes of data\[1\] differ"):
        numadam.minimize(logistic_loss, True, np.zeros(4), data=(X, y2), rng=7,
                         options={"resume": p})


# ------------------------------------------------------------------ item 3
def test_clip_norm_of_a_finite_float32_spike():
    x = np.zeros(3, np.float32)
    opt = numadam.SGD(x, lr=0.1, clip_norm=1.0)
    opt.step(np.array([2e19, 0, 0], np.float32))
    np.testing.assert_array_equal(x, np.array([-0.1, 0, 0], np.float32))
    x = np.zeros(3, np.float32)
    opt = numadam.SGD(x, lr=0.1, nan_policy="skip")
    assert opt.step(np.array([2e19, 0, 0], np.float32)) is True     # finite: not skipped


def test_norm_of_huge_finite_float64_gradients():
    from numadam._kernels import _scalars, cpu
    for n in (3, 100_000):
        g = np.zeros(n)
        g[:2] = 1e300
        s, r = cpu.NORM.pick(n)(g)
        assert np.isclose(s * r, 1e300 * np.sqrt(2), rtol=1e-15)
        assert np.isclose(_scalars.clip_scale(1.0, s, r), 1 / (1e300 * np.sqrt(2)),
                          rtol=1e-15)
        g[:] = 1.7e308                              # the true norm exceeds DBL_MAX
        s, r = cpu.NORM.pick(n)(g)
        assert _scalars.norm_value(s, r) == _scalars.DBL_MAX
        assert np.isclose(_scalars.clip_scale(1.0, s, r) * 1.7e308, 1 / np.sqrt(n))
        g[1] = np.inf
        assert not np.isfinite(cpu.NORM.pick(n)(g)[1])
    x = np.zeros(3)
    numadam.SGD(x, lr=0.1, clip_norm=1.0).step([1e300, 1e300, 0.0])
    np.testing.assert_allclose(x, [-0.1 / np.sqrt(2)] * 2 + [0.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minimize_steps_on_a_finite_spike_bounded_or_not(dtype):
    big = 2e19 if dtype == np.float32 else 1e300

    def g(x):
        out = 2 * (x - 1.0)
        out[0] = -big if x[0] < 0.5 else out[0]   # a spike toward the minimum
        return out.astype(dtype)

    runs = [numadam.minimize(quad, g, np.zeros(3, dtype), method="sgd", bounds=b,
                             options={"lr": 0.1, "clip_norm": 1.0, "maxiter": 50})
            for b in (None, [(-1e3, 1e3)] * 3)]
    for res in runs:
        assert res.status in (0, 1) and np.isfinite(res.x).all() and res.x[0] >= 0.5
    np.testing.assert_array_equal(runs[0].x, runs[1].x)


# ------------------------------------------------------------------ item 4
def test_an_infinite_gradient_is_not_clipped_to_the_bound():
    x = np.ones(3)
    opt = numadam.Adam(x, clip_value=1.0)
    with pytest.raises(FloatingPointError, match="update of 1 of 3 elements"):
        opt.step([np.inf, 1.0, 1.0])
    assert x[0] == 1.0 and opt.state["exp_avg"][0] == 0.0
    x = np.ones(3)
    opt = numadam.SGD(x, clip_value=1.0, lr=0.1)
    opt.step([5.0, -5.0, 0.5])                  # finite values clip as before
    np.testing.assert_array_equal(x, [0.9, 1.1, 0.95])


# ------------------------------------------------------------------ item 5
def test_zero_d_x0_stays_zero_d():
    shapes = []

    def g(x):
        shapes.append(x.shape)
        return 2 * (x - 1.0)

    res = numadam.minimize(quad, g, np.float64(3.0), options={"lr": 0.1})
    assert res.x.shape == () and res.jac.shape == () and set(shapes) == {()}
    assert abs(float(res.x) - 1.0) < 1e-4


# ------------------------------------------------------------------ item 6
@pytest.mark.parametrize("corrupt, match", [
    (lambda sd: sd["state"]["exp_avg"].__setitem__(1, np.nan), "exp_avg.*non-finite"),
    (lambda sd: sd["state"]["exp_avg_sq"].__setitem__(0, -1.0), "exp_avg_sq.*>= 0"),
    (lambda sd: sd["host"].__setitem__("beta1_power", np.nan), "beta1_power.*finite"),
    (lambda sd: sd["host"].__setitem__("beta2_power", 1.5), "beta2_power.*in \\[0, 1\\]"),
    (lambda sd: sd.update(t=0), "beta1_power.*1 before the first step"),
    (lambda sd: sd.__setitem__("t", -3), "'t'.*>= 0"),
])
def test_impossible_state_is_refused_before_anything_loads(corrupt, match, tmp_path):
    opt = numadam.Adam(np.zeros(3))
    opt.step(np.ones(3))
    sd = opt.state_dict()
    corrupt(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["t"] == before["t"] and all(
        np.array_equal(after["state"][k], before["state"][k]) for k in before["state"])
    # the same through a file whose checksum is valid (it is recomputable)
    if sd["t"] >= 0:
        meta, arrays = opt._checkpoint_parts()
        meta.update(t=sd["t"], host=sd["host"])
        arrays.update(sd["state"])
        _checkpoint.write(tmp_path / "c.npz", meta, arrays)
        with pytest.raises(ValueError, match=match):
            opt.load(tmp_path / "c.npz")


def test_nadam_mu_product_range():
    opt = numadam.NAdam(np.zeros(2))
    opt.step(np.ones(2))
    sd = opt.state_dict()
    sd["host"]["mu_product"] = 1.5
    with pytest.raises(ValueError, match="mu_product.*in \\(0, 1\\]"):
        opt.load_state_dict(sd)


# ------------------------------------------------------------------ item 7
def test_state_mapping_is_read_only_and_its_arrays_live():
    x = np.zeros(3)
    opt = numadam.Adam(x)
    with pytest.raises(TypeError, match="opt.state is read-only.*load_state_dict"):
        opt.state["exp_avg"] = np.zeros(3)
    with pytest.raises(TypeError, match="read-only"):
        del opt.state["exp_avg"]
    opt.state["exp_avg"][...] = 1.0         # in place: the kernel sees it
    opt.step(np.zeros(3))
    assert np.all(opt.state["exp_avg"] == 0.9) and np.all(x < 0)
    np.testing.assert_array_equal(opt.state_dict()["state"]["exp_avg"], [0.9] * 3)


# ------------------------------------------------------------------ item 9
def test_ctrl_c_interrupts_the_compiled_loop_quickly(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        import numpy as np
        from numba import njit
        import numadam

        @njit
        def fg(x):
            s = 0.0
            for k in range(20000):        # about 100 microseconds per call
                s += np.sin(x[0] + k)
            return (x[0] - 1.0) ** 2 + 1e-9 * s, 2 * (x - 1.0)

        numadam.minimize(fg, True, np.zeros(2), options={"maxiter": 10, "gtol": 0})   # compiled
        print("ready", flush=True)
        try:
            numadam.minimize(fg, True, np.zeros(2),
                             options={"maxiter": 10**9, "gtol": 0, "compiled": True})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    assert _interrupt_latency(script, tmp_path) < 1.5   # it was 12-14 s (one chunk)


def _interrupt_latency(script, tmp_path):
    """Run ``script`` (it prints "ready", then runs until Ctrl-C and prints
    "interrupted"), send SIGINT a second after "ready"; the seconds until
    "interrupted"."""
    path = tmp_path / "ctrlc.py"
    # Python's Ctrl-C handler, as in a terminal: a child inherits an ignored
    # SIGINT, and this test may run in a background job (a non-interactive
    # shell's `&` ignores SIGINT; then Python installs no handler)
    path.write_text("import signal\n"
                    "signal.signal(signal.SIGINT, signal.default_int_handler)\n" + script)
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = _readline(proc, 300)
        if line == "ready":
            time.sleep(1.0)
            sent = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            line = _readline(proc, 60)     # a lost signal fails here instead of hanging
            latency = time.perf_counter() - sent
    finally:
        proc.kill()
    err = proc.stderr.read()
    proc.wait()
    assert line == "interrupted", f"the script printed {line!r}; its stderr: {err}"
    return latency


def _readline(proc, seconds):
    """The next line of ``proc``'s stdout, or "" after ``seconds``."""
    import select
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline().strip() if ready else ""


def test_ctrl_c_interrupts_minimize_many_quickly(tmp_path):
    """minimize_many runs in chunks of about 0.05 s: Ctrl-C is handled between
    them (issue 15, item 5)."""
    script = textwrap.dedent("""
        import numpy as np
        from numba import njit
        import numadam

        @njit
        def fg(x, a):
            s = 0.0
            for k in range(200):          # about a microsecond per problem
                s += np.sin(x[0] + k)
            return ((x - a) ** 2).sum() + 1e-12 * s, 2 * (x - a)

        A = np.ones((2000, 3))
        numadam.minimize_many(fg, True, np.zeros((2000, 3)), data=(A,),
                              options={"maxiter": 3, "gtol": 0})   # compiled
        print("ready", flush=True)
        try:
            numadam.minimize_many(fg, True, np.zeros((2000, 3)), data=(A,),
                                  options={"maxiter": 10**9, "gtol": 0})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    # (before: one prange over every problem, minutes)
    assert _interrupt_latency(script, tmp_path) < 1.0


# ------------------------------------------------------------------ item 10
def test_checkpoint_problems_are_refused_before_the_first_step(tmp_path):
    calls = []

    def g(x):
        calls.append(1)
        return quad_grad(x)

    with pytest.raises(ValueError, match="option 'checkpoint': the directory .* does "
                                         "not exist"):
        numadam.minimize(quad, g, np.zeros(2),
                         options={"checkpoint": tmp_path / "no" / "such" / "c.npz"})
    with pytest.raises(ValueError, match="option 'lr' is a callable .* cannot hold"):
        numadam.minimize(quad, g, np.zeros(2),
                         options={"checkpoint": tmp_path / "c.npz", "lr": lambda k: 0.1})
    with pytest.raises(ValueError, match="option 'checkpoint' is a directory"):
        numadam.minimize(quad, g, np.zeros(2), options={"checkpoint": tmp_path})
    assert calls == []


# ------------------------------------------------------------------ item 12
@njit
def _array_fun(x):
    return x * x


@njit
def _tuple_fun(x):
    return (x * x).sum(), 2 * x


@njit
def _njit_grad(x):
    return 2 * x


def test_compiled_loop_reports_a_bad_objective_like_the_ordinary_loop():
    for fun, what in ((_array_fun, "ndarray"), (_tuple_fun, "tuple")):
        for compiled in (True, False):
            with pytest.raises(TypeError, match=f"fun must return a real scalar; got {what}"):
                numadam.minimize(fun, _njit_grad, np.ones(3), options={
                    "compiled": compiled, "maxiter": 5, "history": 1})


@njit
def _many_array_fun(x, a):
    return x - a


@njit
def _many_grad(x, a):
    return 2 * (x - a)


def test_minimize_many_reports_a_non_scalar_fun_and_object_data():
    with pytest.raises(TypeError, match="fun must return a real scalar; got ndarray"):
        numadam.minimize_many(_many_array_fun, _many_grad, np.zeros((4, 2)),
                              data=(np.ones((4, 2)),))
    with pytest.raises(TypeError, match=r"data\[0\] must hold numbers .* dtype object"):
        numadam.minimize_many(_many_array_fun, _many_grad, np.zeros((4, 2)),
                              data=(np.array([None] * 4, dtype=object),))


# ------------------------------------------------------------------ item 13
@pytest.mark.xdist_group("_many_fg")   # one worker: one compilation of _many_fg
def test_big_endian_input_is_accepted():
    x0 = np.array([3.0, -2.0], dtype=">f8")
    res = numadam.minimize(quad, quad_grad, x0, options={"lr": 0.1})
    assert res.x.dtype == np.float64 and res.x.dtype.isnative and res.status == 0
    x = np.zeros(2)
    numadam.SGD(x, lr=0.5).step(np.array([1.0, 2.0], dtype=">f8"))
    np.testing.assert_array_equal(x, [-0.5, -1.0])
    with pytest.raises(TypeError, match="params has non-native byte order"):
        numadam.Adam(np.zeros(2, dtype=">f8"))
    A = np.zeros((4, 3))
    A[:, 0] = np.arange(4.0)
    r = numadam.minimize_many(_many_fg, True, np.zeros((4, 2)), data=(A.astype(">f8"),),
                              options={"lr": 0.1})
    np.testing.assert_allclose(r.x, A[:, [0, 0]], atol=1e-5)


@njit
def _many_fg(x, a):
    """One problem of the minimize_many tests (one compilation for all of them):
    ``sum((x - a[0])**2)``; with ``a[1] == 1`` NaN beyond ``x[0] > a[2]``, with
    ``a[1] == 2`` a ValueError beyond ``x[0] > a[2]``."""
    d = x - a[0]
    if a[1] == 2.0 and x[0] > a[2]:
        raise ValueError("bad data row")
    if a[1] == 1.0 and x[0] > a[2]:
        return np.nan, 2 * d
    return (d * d).sum(), 2 * d



# ------------------------------------------------------------------ item 14
def test_legacy_random_state_is_refused_naming_rng():
    with pytest.raises(TypeError, match="rng must be .*RandomState.*default_rng"):
        numadam.minimize(quad, quad_grad, np.zeros(2), rng=np.random.RandomState(0))


# ------------------------------------------------------------------ item 15
@pytest.mark.parametrize("value, match", [
    ("1.5", "got str '1.5'"), (1.0 + 2j, "got complex"),
    (np.complex128(1.0), "got complex"), (np.array([1.0, 2.0]), "got ndarray"),
    (True, "got bool"),
])
def test_objective_values_that_are_not_real_scalars(value, match):
    with pytest.raises(TypeError, match="fun must return a real scalar; " + match):
        numadam.minimize(lambda x: value, quad_grad, np.zeros(2), options={"history": 1})


def test_betas_as_a_set_and_string_bounds_are_refused():
    with pytest.raises(TypeError, match="'betas' must be a pair .* got set"):
        numadam.Adam(np.zeros(2), betas={0.9, 0.99})
    with pytest.raises(TypeError, match=r"bounds\[0\] must be a \(low, high\) pair"):
        numadam.minimize(quad, quad_grad, np.zeros(2), bounds=[("0", "1"), (0, 1)])
    with pytest.raises(TypeError, match="bounds must be real numbers"):
        numadam.minimize(quad, quad_grad, np.zeros(2),
                         bounds=Bounds(np.array(["0", "0"]), np.array(["1", "1"])))


# ------------------------------------------------------------------ item 16
def test_bounds_of_x0s_shape():
    x0 = np.zeros((2, 3))
    lb = np.full((2, 3), -0.5)
    ub = np.array([[0.25] * 3, [2.0] * 3])
    res = numadam.minimize(quad, quad_grad, x0, bounds=Bounds(lb, ub),
                           options={"lr": 0.1, "maxiter": 500})
    np.testing.assert_allclose(res.x, [[0.25] * 3, [1.0] * 3], atol=1e-4)
    with pytest.raises(ValueError, match="one \\(low, high\\) per parameter"):
        numadam.minimize(quad, quad_grad, x0, bounds=Bounds(np.zeros((3, 2)), 1.0))


# ------------------------------------------------------------------ item 17
@pytest.mark.xdist_group("_many_fg")   # one worker: one compilation of _many_fg
def test_minimize_many_skip_reports_per_problem_skips_and_status_3():
    A = np.zeros((6, 3))
    A[:, 0] = 1.0
    A[4, 1:] = 1.0, 0.3          # problem 4 turns NaN beyond x[0] > 0.3
    X0 = np.zeros((6, 2))
    X0[4, 0] = 0.5
    res = numadam.minimize_many(_many_fg, True, X0, data=(A,),
                                options={"nan_policy": "skip", "maxiter": 200,
                                         "lr": 0.1})
    assert res.status[4] == 3 and not res.success[4] and res.nskip[4] == 200
    assert list(res.nskip[[0, 1, 2, 3, 5]]) == [0] * 5
    assert (res.status[[0, 1, 2, 3, 5]] != 3).all()


# ------------------------------------------------------------------ item 18
def test_array_made_read_only_after_building_is_not_written():
    x = np.zeros(3)
    opt = numadam.Adam(x)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="params became read-only"):
        opt.step(np.ones(3))
    assert np.all(x == 0) and opt.t == 0


# ------------------------------------------------------------------ item 19
def test_workqueue_layer_serialises_parallel_launches(tmp_path):
    script = textwrap.dedent("""
        import threading
        import numpy as np
        from numba import njit
        import numadam
        from numadam._kernels import cpu

        def work(seed):
            rng = np.random.default_rng(seed)
            x = rng.standard_normal(100_000)
            opt = numadam.AdamW(x, clip_norm=1.0)
            for _ in range(60):
                opt.step(rng.standard_normal(x.size))

        @njit
        def fg(x, a):
            d = x - a
            return (d * d).sum(), 2 * d

        def many():
            for _ in range(2):
                numadam.minimize_many(fg, True, np.zeros((2000, 3)),
                                      data=(np.ones((2000, 3)),), options={"maxiter": 50})

        def norms():        # the kernel that numba's workqueue aborted on most often
            g = np.ones(1_000_000)
            norm = cpu.NORM.pick(g.size)
            for _ in range(150):
                norm(g)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(2)]
        threads += [threading.Thread(target=norms) for _ in range(3)]
        threads.append(threading.Thread(target=many))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(cpu.threading_layer())
    """)
    path = tmp_path / "wq.py"
    path.write_text(script)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.strip().splitlines()[-1] == "workqueue"


# ------------------------------------------------------------------ item 20
@pytest.mark.xdist_group("_many_fg")   # one worker: one compilation of _many_fg
@pytest.mark.parametrize("threshold", [-1.0, 0.5])     # at the start, mid-run
def test_minimize_many_propagates_an_exception_naming_the_problem(threshold):
    A = np.zeros((100, 3))
    A[:, 0] = 1.0
    A[57, 1:] = 2.0, threshold
    with pytest.raises(ValueError, match="bad data row") as info:
        numadam.minimize_many(_many_fg, True, np.zeros((100, 2)), data=(A,),
                              options={"lr": 0.05})
    assert "problem 57 of minimize_many" in info.value.numadam_note


# ------------------------------------------------------------------ item 24
@pytest.mark.parametrize("compiled", [False, True])
def test_a_nan_objective_with_a_separate_jac_applies_nan_policy(compiled):
    f = njit(lambda x: np.nan if x[0] > 0.5 else ((x - 1.0) ** 2).sum())
    g = njit(lambda x: 2 * (x - 1.0))
    res = numadam.minimize(f, g, np.zeros(2), method="sgd",
                           options={"lr": 0.05, "history": 1, "maxiter": 100,
                                    "compiled": compiled})
    assert res.status == 3 and res.compiled == compiled
    assert res.nit == int(np.flatnonzero(np.isnan(res.history["loss"]))[0])
    assert np.isnan(res.history["loss"]).sum() == 1
    # without history the last objective is checked too
    res = numadam.minimize(f, g, np.zeros(2), method="sgd",
                           options={"lr": 0.05, "maxiter": 100, "compiled": compiled})
    assert res.status == 3
    with pytest.raises(FloatingPointError, match="objective"):
        numadam.minimize(f, g, np.zeros(2), method="sgd",
                         options={"lr": 0.05, "maxiter": 100, "history": 1,
                                  "nan_policy": "raise", "compiled": compiled})


# ------------------------------------------------------------------ item 25
class _BadLater:
    """An lr that is refused from step ``at`` on."""

    def __init__(self, at):
        self.at = at

    def __call__(self, k):
        return -1.0 if k >= self.at else 0.1


_fg_quad = njit(lambda x: (((x - 1.0) ** 2).sum(), 2 * (x - 1.0)))


@pytest.mark.parametrize("history", [0, 7])
def test_compiled_and_ordinary_loops_agree_on_schedule_errors(history):
    runs = [numadam.minimize(_fg_quad, True, np.zeros(2), method="sgd",
                             options={"lr": _BadLater(1000), "history": history,
                                      "compiled": c}) for c in (False, True)]
    assert [r.compiled for r in runs] == [False, True]
    assert runs[0].status == runs[1].status == 0 and runs[0].nit == runs[1].nit < 1000
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    errors = []
    bad = _BadLater(5)
    for c in (False, True):
        with pytest.raises(ValueError) as info:
            numadam.minimize(_fg_quad, True, np.zeros(2), method="sgd",
                             options={"lr": bad, "history": history,
                                      "compiled": c})
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "-1.0" in errors[0]


# ------------------------------------------------------------------ item 26
@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array, sp.coo_matrix])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sparse_data_in_the_ordinary_loop(logreg, kind, shuffle):
    X, y = logreg
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.5] = 0.0
    opts = {"batch_size": 32, "epochs": 2, "lr": 0.05, "shuffle": shuffle}
    dense = numadam.minimize(logistic_loss, True, np.zeros(4), data=(Xs, y), rng=0,
                             options=opts)
    res = numadam.minimize(logistic_loss, True, np.zeros(4), data=(kind(Xs), y), rng=0,
                           options=opts)
    assert res.status == dense.status == 2 and res.nit == dense.nit
    np.testing.assert_allclose(res.x, dense.x, rtol=1e-10, atol=1e-12)


def test_sparse_data_is_refused_where_it_cannot_go(logreg, tmp_path):
    X, y = logreg
    with pytest.raises(TypeError, match=r"data\[0\] is a scipy.sparse csr_matrix"):
        numadam.minimize_many(_many_fg, True, np.zeros((400, 4)),
                              data=(sp.csr_matrix(X),))
    with pytest.raises(TypeError, match="x0 must be a dense array"):
        numadam.minimize(quad, quad_grad, sp.csr_matrix(np.ones((1, 3))))
    # checkpoints fingerprint sparse data too
    p = tmp_path / "s.npz"
    opts = {"batch_size": 50, "maxiter": 10, "checkpoint": p, "checkpoint_every": 10}
    numadam.minimize(logistic_loss, True, np.zeros(4), data=(sp.csr_matrix(X), y),
                     rng=0, options=opts)
    X2 = X.copy()
    X2[0, 0] += 1.0
    with pytest.raises(ValueError, match=r"data\[0\] differ"):
        numadam.minimize(logistic_loss, True, np.zeros(4), data=(sp.csr_matrix(X2), y),
                         rng=0, options={"resume": p})


# ------------------------------------------------------------------ item 28
def test_data_given_as_a_list_of_numbers():
    with pytest.raises(TypeError, match="got a list of 3 numbers"):
        numadam.minimize(lambda w, b: (0.0, w), True, np.zeros(1), data=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="got a list of 3 numbers"):
        numadam.minimize_many(_many_fg, True, np.zeros((3, 1)), data=[1.0, 2.0, 3.0])


@njit
def _broadcast_fg(x, a):
    d = x - a
    return (d * d).sum(), 2 * d


def test_minimize_many_names_the_shapes_when_fun_fails_on_its_data():
    with pytest.raises(ValueError) as info:
        numadam.minimize_many(_broadcast_fg, True, np.zeros((5, 3)),
                              data=(np.ones((5, 4)),))
    assert "problem 0 of minimize_many, called with x of shape (3,) and data rows " \
           "of shapes [(4,)]" in info.value.numadam_note
