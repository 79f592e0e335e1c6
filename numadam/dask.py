"""Many independent problems over Dask (dask.distributed).

:func:`minimize_many` cuts the problems into chunks of rows, solves each chunk
with the compiled many-problems solver (:func:`numadam.minimize_many`) in a
Dask worker, and gathers the results into NumPy arrays.  With a
``distributed.Client``, NumPy inputs are scattered to the workers chunk by
chunk before each chunk's task is sent, so the task graph stays small.  A
worker that dies takes its tasks and the chunks it held with it: Dask re-runs
a task elsewhere when its inputs survive, and this module scatters a chunk
whose inputs were lost again and resubmits it (the client still holds every
chunk).  Since every problem's solution depends only on its own row, a
re-run chunk gives the same bits.

Importing numadam does not import Dask; this module does, when imported.

See :func:`minimize_many` for an example.
"""
import math

import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeResult

from ._numbers import as_int

__all__ = ["minimize_many"]

_FIELDS = ("x", "fun", "jac", "nit", "status", "nfev", "njev", "nskip")


def _cached(fn, cache):
    """``fn``, with numba's on-disk cache enabled again when it had it (``cache``
    True) in the caller's process.

    numba's pickling of a dispatcher drops ``cache=True``: without this every
    worker process compiled the many-problems loop anew (about 10 s per method
    variant); with it a worker loads the loop from numba's cache, written by
    the first process that compiled it (on this machine, or on a file system
    the workers share).  A worker that cannot find the function's source file
    runs it uncached.
    """
    from ._cabi import _cacheable
    if cache and hasattr(fn, "enable_caching") and not _cacheable(fn):
        try:
            fn.enable_caching()
        except RuntimeError:   # numba: no locator for the source file here
            pass
    return fn


def _solve_chunk(fun, jac, x0, data, args, method, options, bounds, first=0,
                 cache=(False, False)):
    """One chunk in a worker: the compiled many-problems solver, plain arrays back.

    ``first`` is the global index of the chunk's first problem: an exception
    raised for one problem names its index in the whole ``x0``.  ``cache``:
    whether ``fun`` and ``jac`` were ``cache=True`` in the caller's process.
    """
    from ._many import _minimize_many as solve
    fun, jac = _cached(fun, cache[0]), _cached(jac, cache[1])
    res = solve(fun, jac, np.asarray(x0), tuple(np.asarray(a) for a in data), args,
                method, options, bounds, "cpu", index_offset=first)
    return {k: np.asarray(res[k]) for k in _FIELDS}


def _scatter(client, pieces, attempts=20):
    """``client.scatter(pieces)``, again after a pause while it fails because it
    picked a worker that has just died (the scheduler has not yet removed it:
    the send fails, or the scheduler, recording where the data went, no
    longer knows the worker -- a KeyError naming its address, seen in CI)."""
    import time
    for attempt in range(attempts):
        try:
            return client.scatter(pieces, hash=False)
        except (OSError, KeyError):   # distributed's CommClosedError is an OSError
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def _solve_on_client(client, submit, nchunks, retries):
    """Every chunk's result, in order, from ``submit(k)`` (a future of chunk
    ``k``'s task, its NumPy inputs scattered afresh).

    A chunk's task is cancelled when the only worker holding its scattered
    inputs dies (scattered data has no task to recompute it from, and Dask's
    memory manager keeps one replica), before it ran or after it finished on
    that worker (its result lost before it was gathered): the chunk is
    scattered again and resubmitted, at most ``retries`` times.  An exception
    that the task raised (after Dask's own ``retries``) propagates.
    """
    from concurrent.futures import CancelledError

    import distributed

    futures = {submit(k): k for k in range(nchunks)}
    resent = [0] * nchunks
    results = [None] * nchunks
    pending = distributed.as_completed(list(futures))
    for fut in pending:
        k = futures.pop(fut)
        if fut.status != "cancelled":
            try:
                results[k] = fut.result()     # raises the task's exception
                continue
            except CancelledError:   # Dask's FutureCancelledError: the result was lost
                pass
        if resent[k] >= retries:
            raise RuntimeError(f"chunk {k} of numadam.dask.minimize_many lost its "
                               f"inputs with a worker {resent[k] + 1} times (retries="
                               f"{retries}); is the cluster losing workers?")
        resent[k] += 1
        again = submit(k)
        futures[again] = k
        pending.add(again)
    return results


def _rows(a, name):
    """``a`` as an array with a problem axis: a Dask array as it is, else NumPy."""
    dask_of_sparse = sparse.issparse(getattr(a, "_meta", None))
    if sparse.issparse(a) or dask_of_sparse:
        what = "a Dask array of scipy.sparse chunks" if dask_of_sparse else \
            f"a scipy.sparse {type(a).__name__}"
        if name == "x0":
            raise TypeError(f"x0 is {what}; expected a dense array of starting points, "
                            "shape (n_problems, n_params)")
        raise TypeError(f"{name} is {what}: sparse data is supported only by "
                        "numadam.minimize's ordinary loop; numadam.dask.minimize_many "
                        "needs dense per-problem arrays")
    if hasattr(a, "chunks") and hasattr(a, "compute"):   # a dask array
        if any(math.isnan(c) for dim in a.chunks for c in dim):
            raise ValueError(f"{name} is a Dask array with unknown chunk sizes; "
                             f"call {name}.compute_chunk_sizes() first")
        return a
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a problem axis (axis 0); got a 0-d array")
    return a


def minimize_many(fun, jac, x0, data=(), args=(), method="adam", options=None,
                  bounds=None, client=None, chunk_size=None, retries=3, scheduler=None):
    """Minimise many independent problems, chunk by chunk, on a Dask cluster.

    Parameters
    ----------
    fun, jac, args, method, options, bounds
        As for :func:`numadam.minimize_many`: ``fun`` is a ``numba.njit``
        function of ONE problem (it is sent to the workers by pickle, so
        define it in an importable module or let cloudpickle carry it).
        With ``njit(cache=True)`` each worker loads the compiled loop from
        numba's cache instead of compiling it (about 10 s per new worker
        process), where it can read the function's source file.
    x0 : numpy.ndarray or dask.array.Array, shape (n_problems, n_params)
        Starting points, dense.  A Dask array's row chunks are the chunks
        solved (unless ``chunk_size`` is given); its chunk sizes must be
        known.
    data : tuple of numpy.ndarray or dask.array.Array, optional
        Per-problem data, axis 0 the problem index: dense arrays (not
        ``scipy.sparse``), Dask arrays of known chunk sizes.
    client : distributed.Client, optional
        The cluster to run on; default the current client (``Client()``
        made earlier), else ``scheduler``.
    chunk_size : int, optional
        Problems per chunk; default: the Dask array's chunks, else enough
        chunks for two per worker.
    retries : int, default 3
        How many times Dask may re-run a chunk whose task failed, and how
        many times a chunk whose scattered inputs were lost with a worker is
        scattered again and resubmitted (a chunk whose worker died while its
        inputs survive elsewhere is re-run regardless).
    scheduler : str, optional
        Without a distributed client: a local Dask scheduler
        (``"threads"``, ``"processes"``, ``"synchronous"``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        NumPy arrays ``x``, ``fun``, ``jac``, ``nit``, ``status``,
        ``success``, ``nfev``, ``njev`` for every problem in order, plus
        ``summary`` (status -> count), ``message``, ``method`` and
        ``nchunks``.

    Raises
    ------
    ImportError
        When Dask is not installed (``python -m pip install -e ".[dask]"`` in
        a checkout).
    TypeError
        For ``scipy.sparse`` ``x0`` or ``data`` (sparse data is supported only
        by :func:`numadam.minimize`'s ordinary loop), and other bad arguments.
    ValueError
        For a Dask ``x0`` or ``data`` array of unknown chunk sizes (say, after
        boolean indexing: call its ``compute_chunk_sizes()`` first), mismatched
        problem counts and other bad arguments.  All are checked before
        anything is sent to the cluster (the method, options, bounds and
        objective on the first problem; a NumPy ``x0`` whole), except a NaN
        in a Dask ``x0``, which the worker that solves its chunk finds and
        names by its index in the whole ``x0``.

    Examples
    --------
    >>> import numpy as np
    >>> import numadam.dask
    >>> from numba import njit
    >>> from numadam.problems import quadratic
    >>> A, B = np.full((6, 2), 2.0), np.arange(12.0).reshape(6, 2)
    >>> res = numadam.dask.minimize_many(njit(quadratic), True, np.zeros((6, 2)),
    ...                                  data=(A, B), chunk_size=4, scheduler="threads",
    ...                                  options={"lr": 0.5, "maxiter": 20000})
    >>> res.nchunks, bool(np.allclose(res.x, B, atol=1e-4))
    (2, True)
    """
    try:
        import dask
    except ImportError as exc:
        from ._install import install_hint
        raise ImportError(f"numadam.dask needs Dask: {install_hint('dask')}") from exc
    if data is None:   # (minimize's default)
        data = ()
    if not isinstance(data, (tuple, list)):
        data = (data,)
    if not isinstance(args, tuple):
        args = (args,)
    x0 = _rows(x0, "x0")
    if len(x0.shape) != 2:
        raise ValueError(f"x0 must have shape (n_problems, n_params); got {x0.shape}")
    n = x0.shape[0]
    data = tuple(_rows(a, f"data[{i}]") for i, a in enumerate(data))
    for i, a in enumerate(data):
        if a.shape[0] != n:
            raise ValueError(f"data[{i}] has {a.shape[0]} problems along axis 0, x0 has {n}")
    if n == 0:
        raise ValueError("x0 holds no problems")
    options = dict(options or {})
    # every check that needs no compilation, here, before anything is sent:
    # the call on the first problem, and a NumPy x0's every row
    from . import _many
    _many.check_call(fun, jac, np.asarray(x0[:1]), tuple(np.asarray(a[:1]) for a in data),
                     args, method, options, bounds)
    if not hasattr(x0, "chunks"):
        _many._as_problems(x0)

    if client is None and scheduler is None:
        try:
            from distributed import get_client
            client = get_client()
        except (ImportError, ValueError):
            scheduler = "threads"
    if chunk_size is not None:
        chunk_size = as_int("chunk_size", chunk_size, 1)
        bounds_rows = [(lo, min(lo + chunk_size, n)) for lo in range(0, n, chunk_size)]
    elif hasattr(x0, "chunks"):
        edges = np.cumsum((0,) + tuple(x0.chunks[0]))
        bounds_rows = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    else:
        workers = len(client.scheduler_info()["workers"]) if client is not None else 2
        per = max(1, math.ceil(n / max(2 * workers, 1)))
        bounds_rows = [(lo, min(lo + per, n)) for lo in range(0, n, per)]

    from ._cabi import _cacheable
    cache = (_cacheable(fun), _cacheable(jac))
    xs = [x0[lo:hi] for lo, hi in bounds_rows]
    ds = [tuple(a[lo:hi] for a in data) for lo, hi in bounds_rows]
    if client is not None and not any(hasattr(a, "chunks") for a in (x0, *data)):
        def submit(k):   # chunk k's inputs scattered (not in the graph), then its task
            x, *d = _scatter(client, [xs[k], *ds[k]])
            return client.submit(_solve_chunk, fun, jac, x, tuple(d), args, method,
                                 options, bounds, bounds_rows[k][0], cache,
                                 retries=retries, pure=False)
        parts = _solve_on_client(client, submit, len(bounds_rows), retries)
    else:
        solve = dask.delayed(_solve_chunk, pure=True)
        tasks = [solve(fun, jac, x, d, args, method, options, bounds, lo, cache)
                 for x, d, (lo, _) in zip(xs, ds, bounds_rows)]
        if client is not None:     # Dask arrays: their chunks are tasks, recomputable
            parts = client.gather(client.compute(tasks, retries=retries))
        else:
            parts = dask.compute(*tasks, scheduler=scheduler)
    out = {k: np.concatenate([p[k] for p in parts]) for k in _FIELDS}
    status = out["status"]
    values, counts = np.unique(status, return_counts=True)
    summary = {int(v): int(c) for v, c in zip(values, counts)}
    names = {0: "converged (gradient norm <= gtol)", 1: "maxiter reached",
             3: "NaN or infinite objective/gradient"}
    message = f"{n} problems in {len(parts)} chunks: " + "; ".join(
        f"{c} {names.get(s, f'status {s}')}" for s, c in summary.items()) + "."
    return OptimizeResult(success=status == 0, summary=summary, message=message,
                          method=method, nchunks=len(parts), **out)
