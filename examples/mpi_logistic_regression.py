"""
Data-parallel logistic regression over MPI
==========================================

Each MPI process holds a shard of a 200,000-sample logistic regression;
``numadam.mpi.minimize`` draws the same global minibatches everywhere, sums the
shards' gradients with one ``Allreduce`` per step and applies the identical
fused AdamW update on every process.  With ``--sharded`` each process keeps the
optimizer state of only its slice of the parameters.  Run it with::

    mpiexec -n 2 python examples/mpi_logistic_regression.py [--sharded]

(From a checkout, ``python -m pip install -e ".[mpi]"`` brings mpi4py and an MPI
library, mpich.)  One process works too: ``python examples/mpi_logistic_regression.py``.
"""
import sys
import time

import numpy as np

import numadam
import numadam.mpi
from numadam.problems import logistic_loss, make_logistic_regression

comm = numadam.mpi.world()
rank, size = comm.Get_rank(), comm.Get_size()

# every process makes (or would load) only its own rows
X, y, w_true = make_logistic_regression(200_000, 50, seed=0)
lo, hi = numadam.mpi.shard_range(len(X), comm)
X_local, y_local = X[lo:hi].copy(), y[lo:hi].copy()
del X, y

t0 = time.perf_counter()
res = numadam.mpi.minimize(logistic_loss, True, np.zeros(50), (X_local, y_local),
                           comm=comm, method="adamw", rng=0, sharded="--sharded" in sys.argv,
                           options={"batch_size": 1024, "epochs": 3, "lr": 1e-2,
                                    "weight_decay": 0.0})
elapsed = time.perf_counter() - t0
if rank == 0:
    print(f"{size} process(es), sharded={res.sharded}: {res.nit} steps in {elapsed:.2f} s")
    print(f"full-data loss {res.fun:.4f}; |w - w_true| max {np.max(np.abs(res.x - w_true)):.3f}")
    assert res.status == 2 and np.max(np.abs(res.x - w_true)) < 0.5
