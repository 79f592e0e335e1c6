"""Time per step of numadam.mpi.minimize on a tiny problem, and of its collective.

``mpiexec -n 2 python tests/mpi_steptime.py [STEPS]`` prints, on rank 0, the
best of three runs of

* ``numadam.mpi.minimize`` (replicated and sharded) on an 8-parameter least
  squares problem with a batch of 16, per step;
* the bare collectives: one ``Allreduce`` of ``n + 1`` doubles (gradient and
  loss, as before the failure/stop flags), of ``n + 3`` (with the flags
  folded in, as now), and of ``n + 1`` followed by a separate ``Allreduce``
  of one flag (the alternative that was not chosen).

Not a test: a measurement, run by hand (this is how docs/guide/distributed.md
and the reliability notes got their numbers).
"""
import sys
import time

import numpy as np


def main(steps):
    import numadam.mpi
    from mpi4py import MPI

    comm = numadam.mpi.world()
    rank, size = comm.Get_rank(), comm.Get_size()
    n = 8
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, n))
    y = X @ np.arange(n, dtype=float)
    lo, hi = numadam.mpi.shard_range(len(X), comm)

    def loss(w, Xb, yb):
        r = Xb @ w - yb
        return 0.5 * float(r @ r) / len(yb), Xb.T @ r / len(yb)

    rows = []
    for sharded in (False, True):
        best = np.inf
        for _ in range(3):
            comm.Barrier()
            t0 = time.perf_counter()
            res = numadam.mpi.minimize(loss, True, np.zeros(n), (X[lo:hi], y[lo:hi]),
                                       comm=comm, rng=0, sharded=sharded,
                                       options={"batch_size": 16, "maxiter": steps,
                                                "gtol": 0, "lr": 1e-3})
            best = min(best, (time.perf_counter() - t0) / res.nit)
        rows.append((f"minimize, sharded={sharded}", best))

    def bare(label, fn):
        best = np.inf
        for _ in range(3):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            best = min(best, (time.perf_counter() - t0) / steps)
        rows.append((label, best))

    a1, b1 = np.zeros(n + 1), np.empty(n + 1)
    a3, b3 = np.zeros(n + 3), np.empty(n + 3)
    f1, g1 = np.zeros(1), np.empty(1)
    bare(f"Allreduce of n+1 = {n + 1} doubles",
         lambda: comm.Allreduce(a1, b1, op=MPI.SUM))
    bare(f"Allreduce of n+3 = {n + 3} doubles (flags folded in)",
         lambda: comm.Allreduce(a3, b3, op=MPI.SUM))
    bare(f"Allreduce of {n + 1} doubles + Allreduce of 1 flag",
         lambda: (comm.Allreduce(a1, b1, op=MPI.SUM), comm.Allreduce(f1, g1, op=MPI.SUM)))
    if rank == 0:
        print(f"{size} processes, {steps} steps, best of 3")
        for label, t in rows:
            print(f"  {label:<52} {t * 1e6:8.2f} us/step")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
