"""Data-parallel stochastic minimization over MPI (mpi4py).

Each process holds a shard of the data set (rows of the same arrays); every
step, the same global minibatch is drawn on every process from a shared seed,
each process evaluates ``fun``/``jac`` on the rows of that minibatch it
holds, the weighted gradients are summed with one ``Allreduce``, and every
process applies the identical fused update, so the replicas stay bitwise
equal.  The result equals :func:`numadam.minimize` on the whole data set with
the same ``rng`` seed, to rounding.

With ``sharded=True`` each process keeps the optimizer state of only its
``1/P`` slice of the parameters (ZeRO stage 1): it updates that slice, and
the slices are gathered with ``Allgatherv``; optimizer memory per process
falls as ``P`` grows.

Start it with ``mpiexec -n P python script.py``.  Importing numadam does not
import mpi4py; this module does, when it is imported.

See :func:`minimize` for an example.
"""
import numbers

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = ["minimize", "shard_range", "world"]

_LOOP = {"maxiter": None, "epochs": None, "batch_size": None, "shuffle": True,
         "drop_last": False, "gtol": 1e-5, "nan_policy": "stop", "checkpoint": None,
         "checkpoint_every": 1000, "resume": None}
_MESSAGES = {0: "Optimization terminated successfully: the gradient norm is below gtol.",
             1: "Maximum number of iterations has been exceeded.",
             2: "The requested number of epochs has been completed.",
             3: "Stopped: the objective or its gradient was NaN or infinite."}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("numadam.mpi needs mpi4py and an MPI library: "
                          "pip install 'numadam[mpi]' (mpi4py with the mpich wheel)"
                          ) from exc
    return MPI


def world():
    """``MPI.COMM_WORLD``, the communicator of every process of the job.

    Returns
    -------
    mpi4py.MPI.Comm

    Examples
    --------
    >>> import numadam.mpi
    >>> comm = numadam.mpi.world()
    >>> comm.Get_size() >= 1
    True
    """
    return _mpi().COMM_WORLD


def shard_range(n, comm=None):
    """``(lo, hi)``: the rows ``[lo, hi)`` of ``n`` that this process holds.

    The usual split, ``numpy.array_split``'s: the first ``n % P`` processes
    hold one row more than the others.  Any other split works with
    :func:`minimize` too: it learns every shard's size from the processes.

    Parameters
    ----------
    n : int
        Number of rows (samples) in the whole data set.
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.

    Returns
    -------
    (int, int)

    Examples
    --------
    >>> from numadam.mpi import shard_range
    >>> shard_range(10)          # one process holds everything
    (0, 10)
    """
    comm = world() if comm is None else comm
    return _split(int(n), comm.Get_size())[comm.Get_rank()]


def _split(n, parts):
    q, r = divmod(n, parts)
    out, lo = [], 0
    for p in range(parts):
        hi = lo + q + (1 if p < r else 0)
        out.append((lo, hi))
        lo = hi
    return out


def _fun_and_grad(fun, jac):
    """``fg(x, *a) -> (f, g)`` from SciPy's ``fun``/``jac`` conventions."""
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    if jac is True:
        def fg(x, *a):
            out = fun(x, *a)
            try:
                f, g = out
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g); got "
                                f"{type(out).__name__}") from None
            return f, g
        return fg
    if callable(jac):
        return lambda x, *a: (fun(x, *a), jac(x, *a))
    raise TypeError("jac must be a callable returning the gradient, or True when fun "
                    f"returns (f, g); got {jac!r}")


def _loop_options(options):
    loop = {k: options.pop(k, v) for k, v in _LOOP.items()}
    for key in ("history", "patience", "ema", "min_delta", "disp", "compiled"):
        if key in options:
            raise TypeError(f"option {key!r} is not supported by numadam.mpi.minimize; "
                            f"its loop options are {', '.join(_LOOP)}")
    if loop["batch_size"] is None:
        raise TypeError("option 'batch_size' is required: the global minibatch size")
    if loop["nan_policy"] not in ("stop", "raise"):
        raise ValueError("option 'nan_policy' must be 'stop' or 'raise' in "
                         f"numadam.mpi.minimize; got {loop['nan_policy']!r}")
    for key in ("maxiter", "epochs"):
        v = loop[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)
                              or v < 0):
            raise ValueError(f"option {key!r} must be an int >= 0 or None; got {v!r}")
    if loop["maxiter"] is None and loop["epochs"] is None:
        loop["maxiter"] = 10000
    return loop


def minimize(fun, jac, x0, data, comm=None, args=(), method="adam", options=None,
             bounds=None, rng=None, sharded=False, callback=None):
    """Minimise a sum over a data set sharded across MPI processes.

    Every process calls this function with its own shard of the data and the
    same other arguments.

    Parameters
    ----------
    fun : callable
        ``fun(x, *batch, *args) -> float``: the MEAN loss over a minibatch
        (or ``(f, g)`` with ``jac=True``), as for :func:`numadam.minimize`
        with ``data``.
    jac : callable or True
        ``jac(x, *batch, *args) -> array``, the gradient of that mean.
    x0 : array_like
        Starting point, the same on every process (rank 0's is used).
    data : array or tuple of arrays
        THIS process's rows of the data set (arrays sharing axis 0, possibly
        with no rows); the shards, in rank order, form the global data set.
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.
    args : tuple, optional
        Extra arguments of ``fun`` and ``jac``.
    method : str, default "adam"
        Any method of :func:`numadam.minimize`.
    options : dict, optional
        The method's hyperparameters and the loop options ``batch_size``
        (required: the GLOBAL minibatch size), ``epochs``, ``maxiter``
        (default 10000 when neither is given), ``shuffle``, ``drop_last``,
        ``gtol`` (on the global minibatch gradient; 0 disables it),
        ``nan_policy`` (``"stop"`` or ``"raise"``), ``checkpoint``,
        ``checkpoint_every`` and ``resume``.
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Every iterate is projected onto the box.
    rng : int or None
        The seed of the minibatch order, shared by every process (rank 0's
        is used; None draws one).  The same seed gives the same sequence of
        global minibatches as ``numadam.minimize(..., rng=seed)`` on the
        whole data set.
    sharded : bool, default False
        Keep the optimizer state of only this process's slice of the
        parameters (optimizer memory ``~1/P`` per process) and gather the
        updated slices every step.
    callback : callable, optional
        ``callback(intermediate_result)`` on every process after every step;
        returning True stops the run.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun`` and ``jac`` (on the whole data set), ``nit``,
        ``status``, ``message``, ``success``, ``epoch``, ``nprocs`` and
        ``sharded``, the same on every process, and ``state_bytes``: the
        optimizer state this process held (about ``1/P`` of the replicated
        figure when sharded).

    Raises
    ------
    TypeError, ValueError
        For bad arguments, on every process alike.
    FloatingPointError
        With ``nan_policy="raise"``, when the global gradient or loss is not
        finite.

    Notes
    -----
    Checkpoints are written by rank 0 and hold the full parameters and
    optimizer state, whatever ``P`` and ``sharded`` were: a run written by
    2 processes resumes on 3, replicated or sharded.  Every process must be
    able to read the file (a shared file system).

    Examples
    --------
    >>> import numpy as np
    >>> import numadam.mpi
    >>> from numadam.problems import logistic_loss, make_logistic_regression
    >>> X, y, _ = make_logistic_regression(500, 4)
    >>> lo, hi = numadam.mpi.shard_range(len(X))
    >>> res = numadam.mpi.minimize(logistic_loss, True, np.zeros(4), (X[lo:hi], y[lo:hi]),
    ...                            rng=1, sharded=True,
    ...                            options={"batch_size": 50, "maxiter": 30, "lr": 0.05})
    >>> res.nit, res.sharded
    (30, True)
    """
    from . import _checkpoint
    from ._data import Batches
    from ._methods import get_method
    from ._minimize import _as_x0, _bounds
    from ._optimizers import Optimizer

    MPI = _mpi()
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()
    spec = get_method(method)
    options = dict(options or {})
    loop = _loop_options(options)
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, numbers.Integral)):
        raise TypeError("rng must be an int seed or None in numadam.mpi.minimize (a "
                        f"Generator cannot be shared between processes); got {rng!r}")
    seed = comm.bcast(int(np.random.SeedSequence().entropy) if rng is None and rank == 0
                      else rng, root=0)
    x = _as_x0(comm.bcast(np.asarray(x0) if rank == 0 else None, root=0))
    shape, dtype = x.shape, x.dtype
    flat = x.reshape(-1)
    n = flat.size
    box = None if bounds is None else _bounds(bounds, x)
    fg = _fun_and_grad(fun, jac)
    if not isinstance(args, tuple):
        args = (args,)

    # the global data set: every shard's row count, in rank order
    if isinstance(data, np.ndarray) or not isinstance(data, (tuple, list)):
        data = (data,)
    data = tuple(np.asarray(a) for a in data)
    n_local = len(data[0]) if data and data[0].ndim else 0
    for i, a in enumerate(data):
        if a.ndim == 0 or len(a) != n_local:
            raise ValueError(f"data[{i}] must have a sample axis of {n_local} rows, "
                             "like data[0]")
    counts = comm.allgather(n_local)
    row_lo = sum(counts[:rank])
    row_hi = row_lo + n_local
    n_rows = sum(counts)
    if n_rows == 0:
        raise ValueError("data holds no samples on any process")

    root = np.random.default_rng(seed)
    shuffle_rng, _ = root.spawn(2)        # as numadam.minimize: same batch order
    batches = Batches((np.arange(n_rows),), loop["batch_size"], loop["shuffle"],
                      loop["drop_last"], shuffle_rng)
    per_epoch = batches.per_epoch
    budget = min(loop["maxiter"] if loop["maxiter"] is not None else np.iinfo(np.int64).max,
                 loop["epochs"] * per_epoch if loop["epochs"] is not None
                 else np.iinfo(np.int64).max)

    # the parameter slice this process updates (all of it when replicated)
    slices = _split(n, size) if sharded else [(0, n)] * size
    p_lo, p_hi = slices[rank]
    clip_norm = options.pop("clip_norm", None) if sharded else None
    opt = Optimizer(flat[p_lo:p_hi], method=spec.name, nan_policy="skip", **options)
    if clip_norm is not None:   # validated like the optimizer's own option
        Optimizer(np.zeros(1, dtype), method=spec.name, clip_norm=clip_norm)
    part_counts = [hi - lo for lo, hi in slices]
    part_displs = [lo for lo, _ in slices]
    mpitype = MPI.DOUBLE if dtype == np.float64 else MPI.FLOAT

    buf = np.zeros(n + 1)              # [weighted gradient..., weighted loss]
    total = np.empty(n + 1)
    run = {"nit": 0}

    def global_fg(rows, weight_of):
        """Loss and gradient averaged over the global rows ``rows``."""
        buf[:] = 0.0
        mine = rows[(rows >= row_lo) & (rows < row_hi)] - row_lo
        if mine.size:
            local = tuple(np.take(a, mine, axis=0) for a in data)
            f, g = fg(x, *local, *args)
            w = weight_of(mine.size)
            buf[:n] = np.asarray(g, dtype=np.float64).reshape(-1) * w
            buf[n] = float(f) * w
        comm.Allreduce(buf, total, op=MPI.SUM)
        return total[n], total[:n].astype(dtype)

    def save(path):
        arrays, meta = {}, opt._checkpoint_parts(prefix="state.")[0]
        _, local = opt._checkpoint_parts(prefix="state.")
        for name, a in local.items():
            a = np.ascontiguousarray(a)
            if sharded and a.shape == (p_hi - p_lo,):
                full = np.empty(n, a.dtype) if rank == 0 else None
                comm.Gatherv(a, [full, part_counts, part_displs,
                                 MPI.DOUBLE if a.dtype == np.float64 else MPI.FLOAT],
                             root=0)
                a = full
            arrays[name] = a
        if rank == 0:
            meta = dict(meta, size=n)
            bmeta, barrays = batches.state()
            arrays.update({"batches." + k: v for k, v in barrays.items()})
            arrays["x"] = flat
            _checkpoint.write(path, {"kind": "mpi-minimize", "optimizer": meta,
                                     "n": n, "dtype": dtype.name, "nit": run["nit"],
                                     "batches": bmeta}, arrays)
        comm.Barrier()

    def resume(path):
        meta, arrays = _checkpoint.read(path, "mpi-minimize")
        name = str(path)
        if meta["optimizer"]["method"] != spec.name or meta["n"] != n or \
                meta["dtype"] != dtype.name:
            raise ValueError(f"checkpoint {name!r} does not fit this run: it is a "
                             f"{meta['optimizer']['method']!r} run of {meta['n']} "
                             f"{meta['dtype']} parameters")
        batches.check_state(meta["batches"], {k[8:]: v for k, v in arrays.items()
                                              if k.startswith("batches.")})
        state = {}
        for k, v in arrays.items():
            if k.startswith("state."):
                state[k] = v[p_lo:p_hi] if v.shape == (n,) else v
        omete = dict(meta["optimizer"], size=p_hi - p_lo)
        opt._load_checkpoint_parts(omete, state, name, prefix="state.")
        flat[:] = arrays["x"]
        run["nit"] = int(meta["nit"])
        batches.restore(meta["batches"], {k[8:]: v for k, v in arrays.items()
                                          if k.startswith("batches.")})

    if loop["resume"] is not None:
        resume(loop["resume"])
    status = None
    while status is None:
        if run["nit"] >= budget:
            status = 2 if loop["epochs"] is not None and \
                run["nit"] >= loop["epochs"] * per_epoch else 1
            break
        rows = batches.next()[0]
        m = rows.size
        f, g = global_fg(rows, lambda k: k / m)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            if loop["nan_policy"] == "raise":
                raise FloatingPointError(f"step {run['nit'] + 1}: the global minibatch "
                                         "loss or gradient is NaN or infinite")
            status = 3
            break
        if loop["gtol"] > 0:
            d = g if box is None else flat - np.clip(flat - g, *box)
            if np.linalg.norm(d) <= loop["gtol"]:
                status = 0
                break
        if clip_norm is not None:
            norm = float(np.linalg.norm(g.astype(np.float64)))
            if norm > clip_norm:
                g = g * dtype.type(clip_norm / norm)
        ok = opt.step(g[p_lo:p_hi])
        if box is not None:
            np.clip(flat[p_lo:p_hi], box[0][p_lo:p_hi], box[1][p_lo:p_hi],
                    out=flat[p_lo:p_hi])
        if sharded:
            comm.Allgatherv(MPI.IN_PLACE, [flat, part_counts, part_displs, mpitype])
            ok = comm.allreduce(bool(ok), op=MPI.LAND)
        run["nit"] += 1
        if not ok:   # the kernel's guard: an update overflowed
            if loop["nan_policy"] == "raise":
                raise FloatingPointError(f"step {run['nit']}: the update of some "
                                         "elements was NaN or infinite")
            status = 3
            break
        if loop["checkpoint"] is not None and run["nit"] % loop["checkpoint_every"] == 0:
            save(loop["checkpoint"])
        if callback is not None and callback(OptimizeResult(x=x, fun=f, nit=run["nit"])):
            status = 99
    if loop["checkpoint"] is not None:
        save(loop["checkpoint"])
    everything = np.arange(n_rows)
    f, g = global_fg(everything, lambda k: k / n_rows)
    message = _MESSAGES.get(status, "Stopped by the callback.")
    return OptimizeResult(x=x, fun=float(f), jac=g.reshape(shape), nit=run["nit"],
                          status=status, success=status in (0, 1, 2), message=message,
                          epoch=run["nit"] / per_epoch, nprocs=size, sharded=bool(sharded),
                          state_bytes=sum(a.nbytes for a in opt.state.values()))
