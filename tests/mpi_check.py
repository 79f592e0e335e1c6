"""Checks of numadam.mpi, run by tests/test_mpi.py under ``mpiexec -n P``.

``mpiexec -n P python tests/mpi_check.py OUT MODE [METHOD]`` (METHOD
default adamw) with MODE one of

* ``compare``: replicated and sharded runs on a logistic regression whose
  1003 samples are split unevenly; rank 0 compares both with single-process
  ``numadam.minimize`` on the whole data set (same seed) and with each other;
* ``write``: a run stopped after 30 steps that leaves a checkpoint in OUT;
* ``resume``: resumes OUT's checkpoint (sharded) to the end and compares with
  the uninterrupted single-process run;
* ``structured``: x0 a dict of two arrays, replicated, against single-process
  ``numadam.minimize`` with the same dict;
* ``lowp``: METHOD is a ``state_dtype``: Adam with that state on 4,500
  parameters (int8 blocks: the shards hold whole blocks), replicated and
  sharded, against single-process ``numadam.minimize``; a sharded checkpoint
  at iteration 30; ``lowp_resume``: that checkpoint resumed sharded (on
  another number of processes) to the end.

Rank 0 writes ``OUT/MODE-P.json`` with what it measured.
"""
import json
import os
import sys

import numpy as np


def main(out, mode, method="adamw"):
    # "lion" runs cautious: its mask's mean is over every shard
    import numadam
    import numadam.mpi
    from numadam.problems import logistic_loss, make_logistic_regression

    comm = numadam.mpi.world()
    rank, size = comm.Get_rank(), comm.Get_size()
    lowp = mode.startswith("lowp")
    X, y, _ = make_logistic_regression(1003, 4500 if lowp else 6, seed=0)
    lo, hi = numadam.mpi.shard_range(len(X), comm)
    shard = (X[lo:hi], y[lo:hi])
    opts = {"batch_size": 64, "epochs": 3, "lr": 0.05, "gtol": 0, "clip_norm": 1.0}
    if method == "lion":
        opts.update(lr=0.01, cautious=True)
    if lowp:
        opts["state_dtype"], method = method, "adam"
    x0 = np.zeros(X.shape[1])
    ckpt = os.path.join(out, "run.ckpt")
    report = {"nprocs": size}
    ref = numadam.minimize(logistic_loss, True, x0, data=(X, y), rng=7, method=method,
                           options=opts)
    if mode == "compare":
        rep = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                   method=method, options=opts)
        sh = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                  method=method, options=opts, sharded=True)
        same = comm.allgather(rep.x.tobytes())
        report.update(nit=[rep.nit, sh.nit, ref.nit],
                      replicas_bitwise_equal=len(set(same)) == 1,
                      err_replicated=float(np.max(np.abs(rep.x - ref.x))),
                      err_sharded=float(np.max(np.abs(sh.x - ref.x))),
                      sharded_vs_replicated=float(np.max(np.abs(sh.x - rep.x))),
                      fun=[rep.fun, sh.fun, ref.fun], status=[rep.status, sh.status])
    elif mode == "structured":
        def fg(p, Xb, yb):
            f, g = logistic_loss(np.concatenate([p["w"], p["b"]]), Xb, yb)
            return f, {"w": g[:4], "b": g[4:]}
        s0 = {"w": np.zeros(4), "b": np.zeros(2)}
        one = numadam.minimize(fg, True, s0, data=(X, y), rng=7, method=method,
                               options=opts)
        rep = numadam.mpi.minimize(fg, True, s0, shard, comm=comm, rng=7, method=method,
                                   options=opts)
        report.update(nit=[rep.nit, one.nit], keys=sorted(rep.x),
                      err=float(max(np.max(np.abs(rep.x[k] - one.x[k])) for k in s0)),
                      status=rep.status)
        if method == "adamw":   # an elementwise method runs sharded too
            sh = numadam.mpi.minimize(fg, True, s0, shard, comm=comm, rng=7,
                                      method=method, options=opts, sharded=True)
            report.update(err_sharded=float(max(np.max(np.abs(sh.x[k] - one.x[k]))
                                                for k in s0)))
    elif mode == "lowp":
        rep = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                   method=method, options=opts)
        sh = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                  method=method, options=opts, sharded=True)
        part = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                    method=method, sharded=True,
                                    options=dict(opts, maxiter=30, checkpoint=ckpt))
        full = numadam.minimize(logistic_loss, True, x0, data=(X, y), rng=7,
                                method=method, options=dict(opts, state_dtype=None))
        same = comm.allgather(rep.x.tobytes())
        report.update(nit=[rep.nit, sh.nit, ref.nit, part.nit],
                      replicas_bitwise_equal=len(set(same)) == 1,
                      err=float(np.max(np.abs(rep.x - ref.x))),
                      err_sharded=float(np.max(np.abs(sh.x - ref.x))),
                      state_bytes=[rep.state_bytes, sh.state_bytes],
                      differs_from_full=float(np.max(np.abs(ref.x - full.x))),
                      status=[rep.status, sh.status])
    elif mode == "write":
        res = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                   method=method, options=dict(opts, maxiter=30,
                                                                checkpoint=ckpt))
        report.update(nit=res.nit, status=res.status)
    elif mode in ("resume", "lowp_resume"):
        res = numadam.mpi.minimize(logistic_loss, True, x0, shard, comm=comm, rng=7,
                                   method=method, sharded=True,
                                   options=dict(opts, resume=ckpt))
        report.update(nit=[res.nit, ref.nit], status=res.status,
                      err=float(np.max(np.abs(res.x - ref.x))))
    if rank == 0:
        with open(os.path.join(out, f"{mode}-{size}.json"), "w") as fh:
            json.dump(report, fh)


if __name__ == "__main__":
    main(*sys.argv[1:])
