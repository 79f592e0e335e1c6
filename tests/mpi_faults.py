"""Fault scenarios of numadam.mpi, run by tests/test_mpi.py under ``mpiexec -n P``.

``mpiexec -n P python tests/mpi_faults.py OUT SCENARIO`` runs one scenario;
every rank writes ``OUT/SCENARIO-P-RANK.json``: for each call of
``numadam.mpi.minimize`` in the scenario, what it returned or raised on this
rank (exception type, message, notes) and how long it took.  Nothing here
synchronises the ranks besides numadam.mpi itself, so a scenario that hangs
is a job that never ends (the test's timeout turns it into a failure).

Scenarios:

* ``fun-raises``: the last rank's ``fun`` raises at its fifth call;
* ``jac-raises``: rank 0's separate ``jac`` raises at its third call (sharded);
* ``bad-shape``: rank 1's ``jac`` returns a gradient of the wrong shape;
* ``callback-raises``: rank 1's callback raises ``ZeroDivisionError``;
* ``final-raises``: the last rank's ``fun`` raises in the final evaluation on
  the whole data set;
* ``setup-error``: rank 1 passes data arrays of different lengths;
* ``mismatch``: calls whose method, options, x0, bounds or sharded differ on
  one rank (refused), and calls that may differ (accepted);
* ``callback-stop``: a callback that stops on one rank only, both forms
  (``StopIteration``; returning True does not stop, as in minimize), at the last iteration, and around a
  checkpoint (the resumed run equals the uninterrupted one).
"""
import json
import os
import sys
import time

import numpy as np


def outcome(call):
    """What ``call()`` returned or raised, JSON-ready."""
    t0 = time.perf_counter()
    try:
        res = call()
    except Exception as exc:  # noqa: BLE001 - recorded for the test
        return {"ok": False, "type": type(exc).__name__, "message": str(exc),
                "notes": list(getattr(exc, "__notes__", [])),
                "elapsed": time.perf_counter() - t0}
    return {"ok": True, "nit": int(res.nit), "status": res.status, "message": res.message,
            "x": res.x.astype(np.float64).ravel().tolist(), "xbytes": res.x.tobytes().hex(),
            "fun": float(res.fun), "elapsed": time.perf_counter() - t0}


def main(out, scenario):
    import numadam.mpi
    from numadam import schedules
    from numadam.problems import logistic_loss, make_logistic_regression

    comm = numadam.mpi.world()
    rank, size = comm.Get_rank(), comm.Get_size()
    last = size - 1
    X, y, _ = make_logistic_regression(1003, 6, seed=0)
    lo, hi = numadam.mpi.shard_range(len(X), comm)
    shard = (X[lo:hi], y[lo:hi])
    opts = {"batch_size": 64, "maxiter": 12, "lr": 0.05, "gtol": 0}
    x0 = np.zeros(6)
    calls = {"n": 0}

    def counted(fn):
        def wrapped(*a):
            calls["n"] += 1
            return fn(*a)
        return wrapped

    def run(**kw):
        kw = dict({"fun": logistic_loss, "jac": True, "x0": x0, "data": shard,
                   "comm": comm, "rng": 7, "options": opts}, **kw)
        return outcome(lambda: numadam.mpi.minimize(**kw))

    report = {}
    if scenario == "fun-raises":
        def fun(x, Xb, yb):
            calls["n"] += 1
            if rank == last and calls["n"] == 5:
                raise ValueError(f"boom on rank {rank}")
            return logistic_loss(x, Xb, yb)
        report["fun"] = run(fun=fun)
    elif scenario == "jac-raises":
        def value(x, Xb, yb):
            return logistic_loss(x, Xb, yb)[0]

        def jac(x, Xb, yb):
            calls["n"] += 1
            if rank == 0 and calls["n"] == 3:
                raise KeyError("no such feature")
            return logistic_loss(x, Xb, yb)[1]
        report["jac"] = run(fun=value, jac=jac, sharded=True)
    elif scenario == "bad-shape":
        def value(x, Xb, yb):
            return logistic_loss(x, Xb, yb)[0]

        def jac(x, Xb, yb):
            calls["n"] += 1
            g = logistic_loss(x, Xb, yb)[1]
            return g[:-1] if rank == 1 and calls["n"] == 3 else g
        report["jac"] = run(fun=value, jac=jac)
    elif scenario == "callback-raises":
        def callback(intermediate_result):
            if rank == 1 and intermediate_result.nit == 3:
                raise ZeroDivisionError("callback failed")
        report["callback"] = run(callback=callback)
    elif scenario == "final-raises":
        def fun(x, Xb, yb):
            if rank == last and len(Xb) > opts["batch_size"]:
                raise OverflowError("the whole shard is too much")
            return logistic_loss(x, Xb, yb)
        report["final"] = run(fun=fun)
    elif scenario == "setup-error":
        data = (shard[0], shard[1][:-1]) if rank == 1 else shard
        report["setup"] = run(data=data)
    elif scenario == "mismatch":
        def on_last(a, b):
            return b if rank == last else a
        small = dict(opts, maxiter=5)
        cases = {
            "batch_size_64_200": {"options": dict(small, batch_size=on_last(64, 200))},
            "batch_size_64_65": {"options": dict(small, batch_size=on_last(64, 65))},
            "lr": {"options": dict(small, lr=on_last(1e-3, 2e-3))},
            "schedule": {"options": dict(small, lr=schedules.cosine(
                0.1, on_last(100, 200)))},
            "method": {"method": on_last("adam", "adamw")},
            "x0_values": {"x0": on_last(np.zeros(6), np.ones(6))},
            "x0_dtype": {"x0": on_last(np.zeros(6), np.zeros(6, np.float32))},
            "x0_shape": {"x0": on_last(np.zeros(6), np.zeros((2, 3)))},
            "bounds": {"bounds": on_last(None, [(-1, 1)] * 6)},
            "sharded": {"sharded": on_last(False, True)},
            "maxiter": {"options": {k: v for k, v in small.items()
                                    if k != "maxiter" or rank != last}},
            # accepted: the same values spelled differently, the shards, rng
            "ok_default_lr": {"options": {k: v for k, v in dict(small, lr=1e-3).items()
                                          if k != "lr" or rank != last}},
            "ok_rng": {"rng": on_last(7, 8)},
            "ok_sharded_x0": {"sharded": True, "x0": on_last(np.zeros(6), np.ones(6))},
        }
        for name, kw in cases.items():
            kw.setdefault("options", small)
            report[name] = run(**kw)
    elif scenario == "callback-stop":
        def stop_at(stopper, nit, form):
            def callback(intermediate_result):
                if rank == stopper and intermediate_result.nit == nit:
                    if form == "raise":
                        raise StopIteration
                    return True
                return None
            return callback
        report["reference5"] = run(options=dict(opts, maxiter=5))
        report["raise5"] = run(callback=stop_at(last, 5, "raise"))
        report["reference3"] = run(options=dict(opts, maxiter=3), sharded=True)
        report["raise3"] = run(callback=stop_at(0, 3, "raise"), sharded=True)
        # as in numadam.minimize, a callback's return value is ignored
        report["reference"] = run()
        report["returns_true"] = run(callback=stop_at(0, 3, "true"))
        report["at_end"] = run(callback=stop_at(1, opts["maxiter"], "raise"))
        # stopped runs leave a checkpoint that resumes into the uninterrupted run,
        # also at an epoch boundary (16 batches of 64 in 1003 rows)
        report["reference20"] = run(options=dict(opts, maxiter=20))
        for stop in (7, 16):
            ckpt = os.path.join(out, f"stop{stop}-{size}.ckpt")
            report[f"stop{stop}"] = run(callback=stop_at(last, stop, "raise"),
                                        options=dict(opts, maxiter=20, checkpoint=ckpt))
            report[f"resumed{stop}"] = run(options=dict(opts, maxiter=20, resume=ckpt))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    with open(os.path.join(out, f"{scenario}-{size}-{rank}.json"), "w") as fh:
        json.dump(report, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
