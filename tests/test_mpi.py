"""numadam.mpi under ``mpiexec -n 2`` and ``-n 3`` (uneven shards).

Each test starts a real MPI job running tests/mpi_check.py (rank 0 reports
what it measured) or tests/mpi_faults.py (every rank reports what its calls
returned or raised).  A job that does not end within ``TIMEOUT`` seconds is a
hang: it is killed and the test fails.  Skipped when mpi4py or mpiexec is
missing (python -m pip install -e ".[mpi]" provides both: mpi4py and the mpich wheel).
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "mpi_check.py"
FAULTS = ROOT / "tests" / "mpi_faults.py"
#: seconds an MPI job may take before it counts as hung (each takes a few)
TIMEOUT = 60


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    local = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpi4py/mpiexec not installed")


def launch(nprocs, script, *argv, timeout=TIMEOUT):
    """Run ``mpiexec -n nprocs python script *argv``; a hang fails the test.

    The job runs in its own session, so a hung one is killed whole (mpiexec,
    its proxies and every rank), leaving no rank spinning in a collective.
    """
    proc = subprocess.Popen([MPIEXEC, "-n", str(nprocs), sys.executable, str(script),
                             *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec -n {nprocs} {script.name} {' '.join(map(str, argv))} hung: "
                    f"killed after {timeout} s\n{out[-2000:]}{err[-4000:]}")
    assert proc.returncode == 0, out[-2000:] + err[-4000:]
    return out


def mpirun(nprocs, out, mode, *method):
    launch(nprocs, SCRIPT, out, mode, *method)
    return json.loads((out / f"{mode}-{nprocs}.json").read_text())


def faults(nprocs, out, scenario):
    """Every rank's report of ``scenario`` (see tests/mpi_faults.py)."""
    launch(nprocs, FAULTS, out, scenario)
    return [json.loads((out / f"{scenario}-{nprocs}-{r}.json").read_text())
            for r in range(nprocs)]


@pytest.mark.parametrize("nprocs", [2, 3])
def test_data_parallel_equals_single_process_run(nprocs, tmp_path):
    r = mpirun(nprocs, tmp_path, "compare")
    assert r["nprocs"] == nprocs
    assert r["nit"][0] == r["nit"][1] == r["nit"][2] == 48      # 3 epochs of 16 batches
    assert r["replicas_bitwise_equal"]
    # the same global minibatches and updates: equal to rounding
    assert r["err_replicated"] < 1e-12
    assert r["err_sharded"] < 1e-12
    assert r["sharded_vs_replicated"] < 1e-12
    assert abs(r["fun"][0] - r["fun"][2]) < 1e-12
    assert r["status"] == [2, 2]


@pytest.mark.parametrize("method", ["adan", "rprop", "schedule_free_adamw", "lion"])
def test_the_second_family_runs_data_parallel(method, tmp_path):
    # Adan: four state arrays, sharded; Rprop: per-element step sizes (a
    # full-batch method on minibatches: the rank-0 run warns, the others agree);
    # Schedule-Free: the result is the eval point of every shard
    r = mpirun(3, tmp_path, "compare", method)
    assert r["nit"] == [48, 48, 48] and r["replicas_bitwise_equal"]
    assert r["err_replicated"] < 1e-12 and r["err_sharded"] < 1e-12
    assert r["status"] == [2, 2]


@pytest.mark.parametrize("method", ["adamw", "lamb"])
def test_several_arrays_run_data_parallel(method, tmp_path):
    """x0 a dict of arrays, replicated over 2 processes: the single-process run's
    result (LAMB: its trust ratio per array, through the several-array
    optimizer)."""
    r = mpirun(2, tmp_path, "structured", method)
    assert r["keys"] == ["b", "w"] and r["nit"][0] == r["nit"][1] and r["status"] == 2
    assert r["err"] < 1e-12
    if method == "adamw":
        assert r["err_sharded"] < 1e-12


@pytest.mark.parametrize("fmt", ["bfloat16", "int8"])
def test_low_precision_state_replicated_and_sharded(fmt, tmp_path):
    """Adam with low-precision state on 4,500 parameters over 2 processes,
    replicated and sharded: the single-process run's iterates (sharded: the
    random bits by each element's index in x, int8's shards whole blocks of
    256 with their scales); a sharded checkpoint resumes on 3 processes."""
    r = mpirun(2, tmp_path, "lowp", fmt)
    assert r["nit"] == [48, 48, 48, 30] and r["replicas_bitwise_equal"]
    assert r["err"] < 1e-12 and r["err_sharded"] < 1e-12 and r["status"] == [2, 2]
    assert r["differs_from_full"] > 1e-6      # the state was stored in low precision
    # rank 0's state: all of it replicated, its shard's sharded (int8: 9 blocks of 18)
    assert r["state_bytes"] == {"bfloat16": [4 * 4500, 4 * 2250],
                                "int8": [2 * 4500 + 8 * 18, 2 * 2304 + 8 * 9]}[fmt]
    r = mpirun(3, tmp_path, "lowp_resume", fmt)
    assert r["nit"] == [48, 48] and r["status"] == 2 and r["err"] < 1e-12


def test_checkpoint_of_two_processes_resumes_on_three(tmp_path):
    w = mpirun(2, tmp_path, "write")
    assert w["nit"] == 30 and w["status"] == 1
    assert (tmp_path / "run.ckpt").exists()
    r = mpirun(3, tmp_path, "resume")
    assert r["nit"] == [48, 48] and r["status"] == 2
    assert r["err"] < 1e-12


def test_int8_shards_are_whole_blocks():
    """Sharded int8 state: each process gets whole blocks of 256 parameters (the
    last one the rest), as evenly as blocks allow; full precision splits by
    elements (numpy.array_split's)."""
    from numadam.mpi import _split
    assert _split(4500, 2, 256) == [(0, 2304), (2304, 4500)]
    assert _split(4500, 3, 256) == [(0, 1536), (1536, 3072), (3072, 4500)]
    assert _split(4097, 17, 256)[-1] == (4096, 4097)
    assert _split(10, 3) == [(0, 4), (4, 7), (7, 10)]


def test_single_process_errors_are_clear():
    import numpy as np

    import numadam.mpi
    from numadam.problems import logistic_loss
    X, y = np.ones((4, 2)), np.ones(4)
    with pytest.raises(TypeError, match="batch_size"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y))
    with pytest.raises(TypeError, match="Generator cannot be shared"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             rng=np.random.default_rng(0), options={"batch_size": 2})
    with pytest.raises(TypeError, match="'history' is not supported"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "history": 1})
    with pytest.raises(ValueError, match="nan_policy"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "nan_policy": "skip"})
    with pytest.raises(ValueError, match=r"data\[1\] must have a sample axis of 4"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y[:3]),
                             options={"batch_size": 2})
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        numadam.mpi.minimize(lambda x, a, b: (np.nan, x), True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "nan_policy": "raise"})


@pytest.mark.parametrize("flags", [[], ["--sharded"]])
def test_mpi_example_runs_on_two_processes(flags):
    out = launch(2, ROOT / "examples" / "mpi_logistic_regression.py", *flags)
    assert "2 process(es), sharded=" + str(bool(flags)) in out


# -- reliability: a failure, a disagreement or a stop on one rank ends every rank --

def _raised(report, exc_type, message=None):
    assert not report["ok"], report
    assert report["type"] == exc_type, report
    if message is not None:
        assert report["message"] == message, report
    assert report["elapsed"] < 30, report      # seconds, not a hang
    return report


def _stopped_everyone(reports, key, failing, exc_type, message, where):
    """``failing`` re-raised its own exception; every other rank stopped with
    a RuntimeError naming it."""
    for r, rep in enumerate(reports):
        if r == failing:
            got = _raised(rep[key], exc_type, message)
            assert any(f"raised on rank {failing} of {len(reports)} during {where}" in n
                       for n in got["notes"]), got
        else:
            _raised(rep[key], "RuntimeError",
                    f"numadam.mpi.minimize: rank {failing} raised {exc_type}: {message} "
                    f"during {where}; every rank stopped")


@pytest.mark.parametrize("nprocs", [2, 3])
def test_an_exception_in_fun_on_one_rank_stops_every_rank(nprocs, tmp_path):
    last = nprocs - 1
    reports = faults(nprocs, tmp_path, "fun-raises")
    _stopped_everyone(reports, "fun", last, "ValueError", f"boom on rank {last}",
                      "iteration 4")


def test_an_exception_in_jac_on_one_rank_stops_every_rank_sharded(tmp_path):
    reports = faults(2, tmp_path, "jac-raises")
    _stopped_everyone(reports, "jac", 0, "KeyError", "'no such feature'", "iteration 2")


def test_a_gradient_of_the_wrong_shape_on_one_rank_stops_every_rank(tmp_path):
    reports = faults(2, tmp_path, "bad-shape")
    _stopped_everyone(reports, "jac", 1, "ValueError",
                      "jac must have the parameters' shape (6,); got shape (5,)",
                      "iteration 2")


def test_an_exception_in_the_callback_on_one_rank_stops_every_rank(tmp_path):
    reports = faults(2, tmp_path, "callback-raises")
    _stopped_everyone(reports, "callback", 1, "ZeroDivisionError", "callback failed",
                      "iteration 3 (in the callback)")


def test_an_exception_in_the_final_evaluation_stops_every_rank(tmp_path):
    reports = faults(2, tmp_path, "final-raises")
    _stopped_everyone(reports, "final", 1, "OverflowError", "the whole shard is too much",
                      "iteration 12 (the final evaluation on the whole data set)")


def test_a_bad_argument_on_one_rank_stops_every_rank(tmp_path):
    reports = faults(2, tmp_path, "setup-error")
    _stopped_everyone(reports, "setup", 1, "ValueError",   # rank 1 holds 501 rows
                      "data[1] must have a sample axis of 501 rows, like data[0]",
                      "setup")


def test_options_that_differ_between_ranks_are_refused_on_every_rank(tmp_path):
    reports = faults(3, tmp_path, "mismatch")
    refused = {
        "batch_size_64_200": "options['batch_size'] (ranks 0-1: 64; rank 2: 200)",
        "batch_size_64_65": "options['batch_size'] (ranks 0-1: 64; rank 2: 65)",
        "lr": "options['lr'] (ranks 0-1: 0.001; rank 2: 0.002)",
        "schedule": "options['lr'] (ranks 0-1: numadam.schedules.cosine(lr=0.1, "
                    "decay_steps=100, end_lr=0.0); rank 2: numadam.schedules.cosine("
                    "lr=0.1, decay_steps=200, end_lr=0.0))",
        "method": "method (ranks 0-1: 'adam'; rank 2: 'adamw')",
        "x0_values": "x0 (ranks 0-1: values ",
        "x0_dtype": "x0.dtype (ranks 0-1: 'float64'; rank 2: 'float32')",
        "x0_shape": "x0.shape (ranks 0-1: (6,); rank 2: (2, 3))",
        "bounds": "bounds (ranks 0-1: None; rank 2: ",
        "sharded": "sharded (ranks 0-1: False; rank 2: True)",
        "maxiter": "options['maxiter'] (ranks 0-1: 5; rank 2: 10000)",
    }
    for case, part in refused.items():
        messages = {rep[case]["message"] for rep in reports}
        assert len(messages) == 1, (case, messages)        # the same on every rank
        for rep in reports:
            got = _raised(rep[case], "ValueError")
            assert got["message"].startswith("numadam.mpi.minimize: the processes "
                                             "disagree on "), got
            assert part in got["message"], (case, got["message"])
    # only what differs is named
    assert "options['lr']" not in reports[0]["batch_size_64_200"]["message"]
    assert "x0.shape" not in reports[0]["x0_dtype"]["message"]
    assert "x0 (" not in reports[0]["x0_dtype"]["message"]       # implied by the dtype
    assert "x0 (" not in reports[0]["sharded"]["message"]
    # what may differ: a default spelled out, rng (rank 0's), x0 when sharded
    # (rank 0's), and the shards themselves (1003 rows: 335, 334, 334)
    for case in ("ok_default_lr", "ok_rng", "ok_sharded_x0"):
        assert all(rep[case]["ok"] for rep in reports), (case, reports[0][case])
        assert len({rep[case]["xbytes"] for rep in reports}) == 1, case


@pytest.mark.parametrize("nprocs", [2, 3])
def test_a_callback_that_stops_on_one_rank_stops_every_rank(nprocs, tmp_path):
    reports = faults(nprocs, tmp_path, "callback-stop")
    for rep in reports:
        for case, ref, nit in (("raise5", "reference5", 5), ("raise3", "reference3", 3),
                               ("at_end", None, 12), ("stop7", None, 7),
                               ("stop16", None, 16)):
            got = rep[case]
            assert got["ok"], (case, got)
            assert (got["nit"], got["status"]) == (nit, 99), (case, got)
            assert "callback" in got["message"]
            if ref is not None:     # stopped after the same step as a shorter run
                assert got["xbytes"] == rep[ref]["xbytes"], case
        for stop in (7, 16):        # the stopped run's checkpoint resumes exactly
            got = rep[f"resumed{stop}"]
            assert got["ok"] and (got["nit"], got["status"]) == (20, 1), got
            assert got["xbytes"] == rep["reference20"]["xbytes"], stop
        # a callback returning True does not stop the run (minimize's convention)
        got, ref = rep["returns_true"], rep["reference"]
        assert got["ok"] and (got["nit"], got["status"]) == (ref["nit"], 1), got
        assert got["xbytes"] == ref["xbytes"]
    for case in ("raise5", "raise3", "at_end", "stop7", "stop16"):   # the same everywhere
        assert len({(rep[case]["xbytes"], rep[case]["message"]) for rep in reports}) == 1


def test_single_process_failures_keep_their_type():
    import numpy as np
    import scipy.sparse

    import numadam.mpi
    from numadam.problems import logistic_loss
    X, y = np.ones((4, 2)), np.ones(4)

    def fails(x, Xb, yb):
        raise ValueError("bad batch")
    with pytest.raises(ValueError, match="bad batch") as info:
        numadam.mpi.minimize(fails, True, np.zeros(2), (X, y), options={"batch_size": 2})
    assert any("raised on rank 0 of 1 during iteration 0" in n
               for n in info.value.__notes__)

    def interrupted(x, Xb, yb):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as info:   # not caught, not annotated
        numadam.mpi.minimize(interrupted, True, np.zeros(2), (X, y),
                             options={"batch_size": 2})
    assert not getattr(info.value, "__notes__", None)

    with pytest.raises(ValueError, match=re.escape(
            "fun's gradient must have the parameters' shape (2,); got shape (3,)")):
        numadam.mpi.minimize(lambda x, a, b: (0.0, np.zeros(3)), True, np.zeros(2),
                             (X, y), options={"batch_size": 2})

    for i, data in ((0, (scipy.sparse.csr_matrix(X), y)),
                    (1, (X, scipy.sparse.csr_array(y[:, None])))):
        with pytest.raises(TypeError, match=re.escape(f"data[{i}] is a scipy.sparse")
                           + ".*supported only by numadam.minimize's ordinary loop"):
            numadam.mpi.minimize(logistic_loss, True, np.zeros(2), data,
                                 options={"batch_size": 2})

    # StopIteration stops the run with minimize's status 99; a return value of
    # True does not (minimize's convention, see the migration note)
    def stop(intermediate_result):
        if intermediate_result.nit == 2:
            raise StopIteration
    for cb, status, nit in ((lambda intermediate_result: True, 1, 9), (stop, 99, 2)):
        res = numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                                   callback=cb, options={"batch_size": 2, "maxiter": 9})
        assert (res.status, res.nit, res.success) == (status, nit, False)
        assert res.message == (numadam.STATUS_MESSAGES[1] if status == 1 else
                               "`callback` raised `StopIteration` (on 1 of 1 processes); "
                               "every process stopped after iteration 2.")


def test_x0_outside_the_bounds_is_projected_as_in_minimize():
    import numpy as np

    import numadam.mpi
    from numadam.problems import logistic_loss, make_logistic_regression
    X, y, _ = make_logistic_regression(200, 3, seed=4)
    x0 = np.array([5.0, -5.0, 0.2])            # outside [-1, 1] in two coordinates
    bounds = [(-1.0, 1.0)] * 3
    opts = {"batch_size": 20, "maxiter": 25, "lr": 0.05, "gtol": 0}
    ref = numadam.minimize(logistic_loss, True, x0, data=(X, y), rng=5, bounds=bounds,
                           options=opts)
    for sharded in (False, True):
        res = numadam.mpi.minimize(logistic_loss, True, x0, (X, y), rng=5, bounds=bounds,
                                   options=opts, sharded=sharded)
        assert np.all(np.abs(res.x) <= 1.0)
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)


# -- resume and checkpoints in one process (found by review) -----------------------------

def _logistic():
    import numpy as np

    from numadam.problems import logistic_loss, make_logistic_regression
    X, y, _ = make_logistic_regression(203, 6, seed=0)
    return np, logistic_loss, X, y, {"batch_size": 20, "lr": 0.05, "gtol": 0}


def test_a_resume_takes_the_calls_hyperparameters_as_minimize_does(tmp_path):
    import numadam
    import numadam.mpi
    np, loss, X, y, base = _logistic()
    ck, ckm = tmp_path / "mpi.ck", tmp_path / "min.ck"
    numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7,
                         options={**base, "maxiter": 12, "checkpoint": ck})
    numadam.minimize(loss, True, np.zeros(6), data=(X, y), rng=7,
                     options={**base, "maxiter": 12, "checkpoint": ckm,
                              "checkpoint_every": 12})
    new = {**base, "lr": 0.5, "maxiter": 30}
    got = numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7,
                               options={**new, "resume": ck})
    want = numadam.minimize(loss, True, np.zeros(6), data=(X, y), rng=7,
                            options={**new, "resume": ckm})
    np.testing.assert_array_equal(got.x, want.x)        # one process: minimize's run
    assert got.resumed == {"path": str(ck), "nit": 12, "changed": {"lr": (0.05, 0.5)}}
    assert want.resumed["changed"]["lr"] == got.resumed["changed"]["lr"]
    with pytest.raises(ValueError, match="does not fit this run: option 'amsgrad' would "
                                         "change the state arrays"):
        numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7,
                             options={**new, "amsgrad": True, "resume": ck})


def test_a_sharded_checkpoint_records_its_clip_norm(tmp_path):
    import numadam.mpi
    from numadam import _checkpoint
    np, loss, X, y, base = _logistic()
    opts = {**base, "clip_norm": 0.05}
    full = numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7, method="sgd",
                                options={**opts, "maxiter": 30})
    ck = tmp_path / "s.ck"
    numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7, method="sgd",
                         sharded=True, options={**opts, "maxiter": 12, "checkpoint": ck})
    meta, _ = _checkpoint.read(ck, "mpi-minimize")
    assert meta["optimizer"]["options"]["clip_norm"] == 0.05
    r = numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7, method="sgd",
                             options={**opts, "maxiter": 30, "resume": ck})
    np.testing.assert_allclose(r.x, full.x, rtol=0, atol=1e-15)   # clipped all along


def test_a_resume_into_another_run_is_refused(tmp_path):
    import numadam.mpi
    np, loss, X, y, base = _logistic()

    def fgd(p, X, y):
        f, g = loss(np.concatenate([p["w"], p["b"]]), X, y)
        return f, {"w": g[:4], "b": g[4:]}

    ck = tmp_path / "d.ck"
    numadam.mpi.minimize(fgd, True, {"w": np.zeros(4), "b": np.zeros(2)}, (X, y), rng=7,
                         options={**base, "maxiter": 12, "checkpoint": ck})
    with pytest.raises(ValueError, match=r"does not fit this run: it was taken with x0's "
                                         r"arrays in the order \['w' \(4,\), 'b' \(2,\)\]"):
        numadam.mpi.minimize(fgd, True, {"b": np.zeros(2), "w": np.zeros(4)}, (X, y),
                             rng=7, options={**base, "maxiter": 30, "resume": ck})
    ck2 = tmp_path / "b.ck"
    numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7, bounds=[(-1, 1)] * 6,
                         options={**base, "maxiter": 12, "checkpoint": ck2})
    with pytest.raises(ValueError, match="its bounds differ from this call's bounds"):
        numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7,
                             options={**base, "maxiter": 30, "resume": ck2})
    with pytest.raises(ValueError, match=r"its x has shape \(6,\), x0 has shape \(2, 3\)"):
        numadam.mpi.minimize(lambda x, a, b: (loss(x.ravel(), a, b)[0],
                                              loss(x.ravel(), a, b)[1].reshape(2, 3)),
                             True, np.zeros((2, 3)), (X, y), rng=7, bounds=[(-1, 1)] * 6,
                             options={**base, "maxiter": 30, "resume": ck2})


def test_a_checkpoint_that_cannot_be_written_is_refused_before_the_first_step(tmp_path):
    import numadam.mpi
    np, loss, X, y, base = _logistic()
    steps = []
    for ck, lr, match in ((tmp_path / "no" / "run.ck", 0.05, "does not exist"),
                          (tmp_path / "run.ck", lambda t: 0.05, "a checkpoint cannot hold")):
        with pytest.raises(ValueError, match=match):
            numadam.mpi.minimize(loss, True, np.zeros(6), (X, y), rng=7,
                                 callback=lambda intermediate_result: steps.append(1),
                                 options={**base, "lr": lr, "maxiter": 2000,
                                          "checkpoint": ck})
    assert steps == []


@pytest.mark.parametrize("method", ["adafactor", "muon"])
def test_a_matrix_x0_keeps_its_shape_for_the_matrix_methods(method):
    import numpy as np

    import numadam
    import numadam.mpi
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 8))
    Y = A @ rng.standard_normal((8, 4))

    def fg(w, a, yy):
        r = a @ w - yy
        return 0.5 * np.mean(np.sum(r * r, 1)), a.T @ r / len(a)

    opts = {"batch_size": 10, "maxiter": 20, "gtol": 0}
    got = numadam.mpi.minimize(fg, True, np.zeros((8, 4)), (A, Y), rng=1, method=method,
                               options=opts)
    want = numadam.minimize(fg, True, np.zeros((8, 4)), data=(A, Y), rng=1, method=method,
                            options=opts)
    assert got.x.shape == (8, 4)
    np.testing.assert_array_equal(got.x, want.x)
