"""numadam.dask.minimize_many on a dask.distributed LocalCluster with 2 workers,
including a worker killed in the middle of the run."""
import os
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from numba import njit  # noqa: E402

import numadam  # noqa: E402
import numadam.dask  # noqa: E402
from numadam.problems import quadratic  # noqa: E402

# cache=True, as the guide advises: a worker loads the compiled loop from
# numba's cache instead of compiling it (about 10 s per worker process)
fg = njit(quadratic, cache=True)
OPTS = {"lr": 0.02, "maxiter": 3000, "gtol": 1e-6}


def problems(n, p=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, p)), 10.0 ** rng.uniform(0, 2, (n, p)),
            rng.standard_normal((n, p)))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_equals_the_single_process_solver_bitwise(client):
    X0, A, B = problems(2000)
    ref = numadam.minimize_many(fg, True, X0, data=(A, B), options=OPTS)
    res = numadam.dask.minimize_many(fg, True, X0, data=(A, B), options=OPTS,
                                     client=client)
    assert res.nchunks == 4                     # two per worker by default
    for k in ("x", "fun", "nit", "status"):
        np.testing.assert_array_equal(res[k], ref[k])
    assert res.summary == ref.summary


def test_dask_arrays_in_their_own_chunks(client):
    X0, A, B = problems(1000, seed=1)
    ref = numadam.minimize_many(fg, True, X0, data=(A, B), options=OPTS)
    res = numadam.dask.minimize_many(fg, True, da.from_array(X0, chunks=(300, 4)),
                                     data=(da.from_array(A, chunks=(250, 4)), B),
                                     options=OPTS, client=client)
    assert res.nchunks == 4                     # x0's row chunks: 300, 300, 300, 100
    np.testing.assert_array_equal(res.x, ref.x)


def test_a_killed_worker_does_not_lose_problems(client):
    X0, A, B = problems(4000, seed=2)
    opts = dict(OPTS, maxiter=20000, gtol=1e-12)   # long enough to kill a worker mid-run
    ref = numadam.minimize_many(fg, True, X0, data=(A, B), options=opts)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(numadam.dask.minimize_many, fg, True, X0, data=(A, B),
                          options=opts, client=client, chunk_size=250)
        # kill, hard, a busy worker that holds the only copy of some chunk's
        # inputs (Dask's memory manager leaves one copy of scattered data, so
        # such a worker appears; its chunks cannot be recomputed by Dask)
        deadline = time.time() + 60
        victim = None
        while victim is None and time.time() < deadline and not fut.done():
            busy = {w for w, tasks in client.processing().items() if tasks}
            sole = {holders[0] for key, holders in client.who_has().items()
                    if len(holders) == 1 and not str(key).startswith("_solve_chunk")}
            victim = min(busy & sole, default=None)
            time.sleep(0.05)
        assert victim is not None and not fut.done(), "no worker to kill mid-run"
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:   # noqa: BLE001 - the worker died answering
            pass
        res = fut.result(timeout=600)
    assert res.nchunks == 16
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.status, ref.status)
    assert len(res.x) == 4000


def _quadratic_loops_cached():
    """Whether each of this worker's many-problems loops of ``quadratic`` is
    cached on disk (numba's cache of its module's ``run``)."""
    import sys
    from numadam._cabi import _cacheable
    return [_cacheable(m.run) for name, m in list(sys.modules.items())
            if name.startswith("numadam_many_") and "quadratic" in (m.__doc__ or "")]


def test_a_cache_true_objective_is_cached_in_the_workers_too(client):
    # numba's pickling of a dispatcher drops cache=True: each worker compiled
    # the many-problems loop anew (about 10 s), in every new worker process
    X0, A, B = problems(200, seed=3)
    res = numadam.dask.minimize_many(fg, True, X0, data=(A, B), options=OPTS,
                                     client=client)
    ref = numadam.minimize_many(fg, True, X0, data=(A, B), options=OPTS)
    np.testing.assert_array_equal(res.x, ref.x)
    loops = client.run(_quadratic_loops_cached)
    assert len(loops) == 2 and all(v and all(v) for v in loops.values()), loops


class _Finished:
    """A finished chunk future whose result, held by a worker that then died,
    is lost (``result()`` raises Dask's FutureCancelledError, though the
    future reported "finished" when as_completed yielded it)."""

    status = "finished"

    def __init__(self, k, lost):
        self.k, self.lost = k, lost

    def result(self):
        if self.lost:
            raise distributed.client.FutureCancelledError(
                key=f"_solve_chunk-{self.k}", reason="unknown")
        return self.k


class _InOrder:
    """distributed.as_completed's interface (iterate, ``add``), in order."""

    def __init__(self, futures):
        self.futures = list(futures)

    def add(self, fut):
        self.futures.append(fut)

    def __iter__(self):
        while self.futures:
            yield self.futures.pop(0)


def test_a_result_lost_after_its_chunk_finished_is_computed_again(monkeypatch):
    # the race behind a rare failure of the killed-worker test: a chunk finishes
    # on the worker that is then killed, its future is yielded as finished and
    # cancelled before its result is gathered
    monkeypatch.setattr(distributed, "as_completed", _InOrder)
    sent = []

    def submit(k):
        sent.append(k)
        return _Finished(k, lost=sent.count(k) <= (2 if k == 1 else 0))

    assert numadam.dask._solve_on_client(None, submit, 3, retries=3) == [0, 1, 2]
    assert sent == [0, 1, 2, 1, 1]
    with pytest.raises(RuntimeError, match=r"^chunk 1 of numadam\.dask\.minimize_many lost "
                                           r"its inputs with a worker 2 times \(retries=1\)"):
        sent.clear()
        numadam.dask._solve_on_client(None, submit, 3, retries=1)


def test_errors_name_the_argument():
    X0, A, B = problems(10)
    with pytest.raises(ValueError, match=r"data\[1\] has 9 problems"):
        numadam.dask.minimize_many(fg, True, X0, data=(A, B[:9]), scheduler="threads")
    with pytest.raises(ValueError, match="chunk_size must be >= 1; got 0"):
        numadam.dask.minimize_many(fg, True, X0, data=(A, B), chunk_size=0,
                                   scheduler="threads")
    with pytest.raises(ValueError, match="x0 must have shape"):
        numadam.dask.minimize_many(fg, True, X0[0], data=(A, B), scheduler="threads")


def test_dask_example_runs(capsys):
    import runpy
    import pathlib
    mod = runpy.run_path(str(pathlib.Path(__file__).resolve().parents[1] / "examples" /
                             "dask_many_problems.py"))
    mod["main"](2000)
    assert "2000 problems in" in capsys.readouterr().out


def test_unknown_chunk_sizes_are_refused_naming_the_array():
    X0, A, B = problems(10)
    keep = da.from_array(np.arange(10) % 2 == 0, chunks=5)
    unknown = da.from_array(X0, chunks=(5, 4))[keep]       # boolean mask: nan chunks
    assert np.isnan(unknown.shape[0])
    with pytest.raises(ValueError, match=r"^x0 is a Dask array with unknown chunk sizes; "
                                         r"call x0\.compute_chunk_sizes\(\) first$"):
        numadam.dask.minimize_many(fg, True, unknown, data=(A[:5], B[:5]),
                                   scheduler="synchronous")
    with pytest.raises(ValueError, match=r"^data\[1\] is a Dask array with unknown chunk "
                                         r"sizes; call data\[1\]\.compute_chunk_sizes"):
        numadam.dask.minimize_many(fg, True, X0[::2], data=(A[::2], unknown),
                                   scheduler="synchronous")
    # after compute_chunk_sizes() the same arrays run, and match the plain solver
    known = unknown.compute_chunk_sizes()
    ref = numadam.minimize_many(fg, True, X0[::2], data=(A[::2], B[::2]), options=OPTS)
    res = numadam.dask.minimize_many(fg, True, known, data=(A[::2], B[::2]), options=OPTS,
                                     scheduler="synchronous")
    assert res.nchunks == 2
    np.testing.assert_array_equal(res.x, ref.x)


def test_sparse_data_and_x0_are_refused_naming_the_argument():
    sparse = pytest.importorskip("scipy.sparse")
    X0, A, B = problems(10)
    with pytest.raises(TypeError, match=r"^data\[0\] is a scipy\.sparse csr_matrix: sparse "
                                        r"data is supported only by numadam\.minimize's "
                                        r"ordinary loop"):
        numadam.dask.minimize_many(fg, True, X0, data=(sparse.csr_matrix(A), B),
                                   scheduler="synchronous")
    with pytest.raises(TypeError, match=r"^data\[1\] is a scipy\.sparse csr_array"):
        numadam.dask.minimize_many(fg, True, X0, data=(A, sparse.csr_array(B)),
                                   scheduler="synchronous")
    with pytest.raises(TypeError, match=r"^data\[1\] is a Dask array of scipy\.sparse chunks"):
        numadam.dask.minimize_many(fg, True, X0, data=(A, da.from_array(sparse.csr_matrix(B))),
                                   scheduler="synchronous")
    with pytest.raises(TypeError, match=r"^x0 is a scipy\.sparse coo_matrix; expected a dense "
                                        r"array of starting points"):
        numadam.dask.minimize_many(fg, True, sparse.coo_matrix(X0), data=(A, B),
                                   scheduler="synchronous")


@njit
def _raises_for_row(x, a):
    if a[0] < 0:
        raise ValueError("bad data row")
    d = x - a
    return (d * d).sum(), 2 * d


@pytest.mark.parametrize("where", ["sync", "cluster"])
def test_an_exception_for_one_problem_names_its_global_index(where, request):
    A = np.ones((100, 3))
    A[57, 0] = -1.0
    kw = ({"client": request.getfixturevalue("client")} if where == "cluster"
          else {"scheduler": "sync"})
    with pytest.raises(ValueError, match="bad data row") as info:
        numadam.dask.minimize_many(_raises_for_row, True, np.zeros((100, 3)), data=(A,),
                                   chunk_size=10, **kw)
    assert "problem 57 of minimize_many" in info.value.numadam_note


@pytest.mark.parametrize("as_dask", [False, True])
def test_a_bad_x0_row_is_named_by_its_index_in_the_whole_x0(as_dask):
    X0, A, B = problems(20)
    X0[13, 1] = np.nan
    x0 = da.from_array(X0, chunks=(5, 4)) if as_dask else X0
    with pytest.raises(ValueError, match=r"x0 contains NaN or infinity \(problem 13\)"):
        numadam.dask.minimize_many(fg, True, x0, data=(A, B), chunk_size=5,
                                   scheduler="threads", options={"maxiter": 5})


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(options={"lr": -1.0}), ValueError, "option 'lr' must be >= 0"),
    (dict(options={"lrr": 0.1}), TypeError, "did you mean 'lr'"),
    (dict(method="adamm"), ValueError, "adamm"),
    (dict(options={"history": 5}), TypeError, "not available in minimize_many"),
    (dict(bounds=[(0, 1)] * 3), ValueError, "bounds"),
    (dict(fun=quadratic), TypeError, "fun must be a numba.njit function"),
])
def test_bad_arguments_raise_before_any_task(monkeypatch, kwargs, exc, match):
    """Checked in the caller's process, as the docstring says: no chunk is
    solved (a worker would raise it once per chunk and retry)."""
    solved = []
    monkeypatch.setattr(numadam.dask, "_solve_chunk", lambda *a, **k: solved.append(1))
    X0, A, B = problems(20)
    call = dict(fun=fg, method="adam", options={"maxiter": 5})
    call.update(kwargs)
    with pytest.raises(exc, match=match):
        numadam.dask.minimize_many(call.pop("fun"), True, X0, data=(A, B), chunk_size=5,
                                   scheduler="threads", **call)
    assert solved == []
