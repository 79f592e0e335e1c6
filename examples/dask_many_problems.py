"""
Many independent fits on a Dask cluster
=======================================

``numadam.dask.minimize_many`` cuts 200,000 small convex problems into chunks,
solves each chunk with numadam's compiled many-problems solver in a Dask worker,
and gathers the results.  Here the cluster is a ``LocalCluster`` of two worker
processes; pass any ``distributed.Client`` to run on a real cluster.  Run it::

    python examples/dask_many_problems.py [n_problems]

(From a checkout: ``python -m pip install -e ".[dask]"``.)
"""
import sys
import time

import numpy as np
from numba import njit

import numadam
import numadam.dask
from numadam.problems import quadratic

fg = njit(quadratic, cache=True)   # ONE problem: sum(a * (x - b)**2); cached: see below


def main(n):
    from distributed import Client, LocalCluster
    rng = np.random.default_rng(0)
    A = 10.0 ** rng.uniform(0, 2, (n, 4))
    B = rng.standard_normal((n, 4))
    X0 = np.zeros((n, 4))
    opts = {"lr": 0.02, "maxiter": 3000, "gtol": 1e-6}
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        numadam.dask.minimize_many(fg, True, X0[:8], data=(A[:8], B[:8]), options=opts,
                                   client=client, chunk_size=4)   # compile in the workers
        t0 = time.perf_counter()
        res = numadam.dask.minimize_many(fg, True, X0, data=(A, B), options=opts,
                                         client=client)
        elapsed = time.perf_counter() - t0
    print(res.message)
    print(f"{n} problems in {elapsed:.2f} s ({n / elapsed:,.0f} problems/s); "
          f"max |x - b| = {np.max(np.abs(res.x - B)):.1e}")
    assert res.summary == {0: n}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
