"""Scaling of the MPI and Dask paths from 1 to 2 processes, and sharded memory.

Every process runs one thread (numba, OpenMP and BLAS: :data:`ONE_THREAD`),
so P processes use P cores.

* MPI: ``mpiexec -n P`` (P = 1, 2) runs 2 epochs of data-parallel AdamW on a
  multinomial logistic regression (100,000 samples, 200 features, 50 classes:
  10,000 parameters; global batch 1024), replicated and sharded: seconds per
  step, and the optimizer state each process holds.
* Dask: ``numadam.dask.minimize_many`` on 100,000 convex quadratics on a
  LocalCluster of 1 and of 2 single-threaded worker processes: problems per
  second (compilation in the workers excluded by a warm-up).

This machine has 2 cores: 2 processes is as far as it scales here.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


#: one thread per process (numba, OpenMP, BLAS): P processes on P cores, the usual
#: MPI/Dask setting; with several threads per process 2 processes oversubscribe 2 cores
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def _mpi_worker(out):
    import numadam.mpi
    from numadam.problems import make_multinomial, softmax_loss
    comm = numadam.mpi.world()
    X, y, _ = make_multinomial(100_000, 200, 50, seed=0)
    lo, hi = numadam.mpi.shard_range(len(X), comm)
    shard = (X[lo:hi].copy(), y[lo:hi].copy())
    del X, y
    w0 = np.zeros((200, 50))
    report = {}
    for sharded in (False, True):
        opts = {"batch_size": 1024, "epochs": 2, "lr": 1e-2, "gtol": 0}
        numadam.mpi.minimize(softmax_loss, True, w0, shard, comm=comm, rng=0,
                             method="adamw", sharded=sharded, options=dict(opts, epochs=None,
                                                                           maxiter=3))
        comm.Barrier()
        t0 = time.perf_counter()
        res = numadam.mpi.minimize(softmax_loss, True, w0, shard, comm=comm, rng=0,
                                   method="adamw", sharded=sharded, options=opts)
        elapsed = comm.allreduce(time.perf_counter() - t0, op=__import__("mpi4py").MPI.MAX)
        report["sharded" if sharded else "replicated"] = {
            "s_per_step": elapsed / res.nit, "steps": res.nit, "fun": res.fun,
            "state_bytes": comm.allgather(res.state_bytes)}
    if comm.Get_rank() == 0:
        with open(out, "w") as fh:
            json.dump(report, fh)


def mpi_scaling(nprocs=(1, 2)):
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        exe = "mpiexec"
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in nprocs:
            path = os.path.join(tmp, f"{p}.json")
            subprocess.run([exe, "-n", str(p), sys.executable, "-m", "bench.distributed",
                            "--mpi-worker", path], check=True, env=dict(os.environ, **ONE_THREAD),
                           cwd=os.path.join(os.path.dirname(__file__), os.pardir))
            with open(path) as fh:
                out[p] = json.load(fh)
    return out


def dask_scaling(workers=(1, 2), n=100_000):
    """Problems/s on LocalClusters of ``workers`` one-thread worker processes."""
    from distributed import Client, LocalCluster
    from numba import njit

    import numadam.dask
    from numadam.problems import quadratic
    fg = njit(quadratic)
    rng = np.random.default_rng(0)
    A, B = 10.0 ** rng.uniform(0, 2, (n, 4)), rng.standard_normal((n, 4))
    X0 = np.zeros((n, 4))
    opts = {"lr": 0.02, "maxiter": 3000, "gtol": 1e-6}
    out = {}
    for w in workers:
        with LocalCluster(n_workers=w, threads_per_worker=1, dashboard_address=":0",
                          silence_logs=40, env=ONE_THREAD) as cluster, \
                Client(cluster) as client:
            numadam.dask.minimize_many(fg, True, X0[:4 * w], data=(A[:4 * w], B[:4 * w]),
                                       options=opts, client=client, chunk_size=4)
            t0 = time.perf_counter()
            res = numadam.dask.minimize_many(fg, True, X0, data=(A, B), options=opts,
                                             client=client)
            out[w] = {"seconds": time.perf_counter() - t0, "chunks": res.nchunks,
                      "problems_per_s": n / (time.perf_counter() - t0)}
    return out


def report(emit, checks):
    """The distributed section (skipped, and said so, without mpi4py or Dask)."""
    emit("\n## Beyond one machine: MPI and Dask, 1 to 2 processes (this machine has 2 cores)\n")
    try:
        import mpi4py  # noqa: F401
        mpi = mpi_scaling()
    except ImportError:
        emit("- MPI skipped: mpi4py not installed (pip install -e '.[mpi]')")
        mpi = None
    if mpi:
        emit("One thread per process.  Data-parallel AdamW, multinomial logistic regression 100,000 x 200, 50 classes "
             "(10,000 parameters), global batch 1024, 2 epochs:\n")
        emit("| processes | variant | ms/step | speed-up vs 1 process | optimizer state "
             "per process (bytes) |")
        emit("|---:|---|---:|---:|---|")
        for p, r in mpi.items():
            for variant in ("replicated", "sharded"):
                v = r[variant]
                base = mpi[1][variant]["s_per_step"]
                emit(f"| {p} | {variant} | {v['s_per_step'] * 1e3:.2f} | "
                     f"{base / v['s_per_step']:.2f}x | "
                     f"{', '.join(str(b) for b in v['state_bytes'])} |")
        two = mpi.get(2)
        if two:
            rep, sh = two["replicated"]["state_bytes"][0], max(two["sharded"]["state_bytes"])
            checks.append(("sharded MPI state per process ~1/2 of replicated at P=2",
                           sh <= 0.51 * rep, sh / rep))
    try:
        import distributed  # noqa: F401
        dk = dask_scaling()
    except ImportError:
        emit("- Dask skipped: dask.distributed not installed (pip install -e '.[dask]')")
        dk = None
    if dk:
        emit("\nnumadam.dask.minimize_many, 100,000 convex quadratics (4 parameters), "
             "LocalCluster of worker processes with one thread each:\n")
        emit("| workers | chunks | seconds | problems/s | speed-up vs 1 worker |")
        emit("|---:|---:|---:|---:|---:|")
        for w, r in dk.items():
            emit(f"| {w} | {r['chunks']} | {r['seconds']:.2f} | {r['problems_per_s']:,.0f} | "
                 f"{dk[1]['seconds'] / r['seconds']:.2f}x |")
    return mpi, dk


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--mpi-worker":
        _mpi_worker(sys.argv[2])
    else:
        report(print, [])
