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

A failure on one process (an exception in ``fun``, ``jac`` or the callback),
arguments that differ between processes, and a callback's stop on one
process each end the run on every process alike, instead of leaving the
others waiting in a collective: see :func:`minimize`.

Start it with ``mpiexec -n P python script.py``.  Importing numadam does not
import mpi4py; this module does, when it is imported.

See :func:`minimize` for an example.
"""
import hashlib
import numbers
import os

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
        from ._install import install_hint
        raise ImportError("numadam.mpi needs mpi4py and an MPI library (the mpi extra: "
                          f"mpi4py with the mpich wheel): {install_hint('mpi')}") from exc
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
    """``(fg, name)``: ``fg(x, *a) -> (f, g)`` from SciPy's ``fun``/``jac``
    conventions, and what the gradient is called in error messages."""
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
        return fg, "fun's gradient"
    if callable(jac):
        return (lambda x, *a: (fun(x, *a), jac(x, *a))), "jac"
    raise TypeError("jac must be a callable returning the gradient, or True when fun "
                    f"returns (f, g); got {jac!r}")


def _local_data(data):
    """``(arrays, rows)``: this process's shard, checked (dense arrays only)."""
    from scipy import sparse

    if isinstance(data, np.ndarray) or not isinstance(data, (tuple, list)):
        data = (data,)
    arrays = []
    for i, a in enumerate(data):
        if sparse.issparse(a):
            raise TypeError(f"data[{i}] is a scipy.sparse {type(a).__name__}: "
                            "numadam.mpi.minimize takes dense arrays only; sparse data "
                            "is supported only by numadam.minimize's ordinary loop")
        try:
            arrays.append(np.asarray(a))
        except Exception as exc:  # noqa: BLE001 - report what it was
            raise TypeError(f"data[{i}] must be an array; got {type(a).__name__}") from exc
    rows = len(arrays[0]) if arrays and arrays[0].ndim else 0
    for i, a in enumerate(arrays):
        if a.ndim == 0 or len(a) != rows:
            raise ValueError(f"data[{i}] must have a sample axis of {rows} rows, "
                             "like data[0]")
    return tuple(arrays), rows


def _int_option(loop, key, low, allow_none=False):
    v = loop[key]
    if v is None and allow_none:
        return
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"option {key!r} must be an int; got {v!r}")
    if v < low:
        raise ValueError(f"option {key!r} must be >= {low}; got {v}")
    loop[key] = int(v)


def _loop_options(options):
    """Pop and check the loop's options (the rest are the method's).

    Everything is checked here, on each process, before the processes compare
    their arguments: nothing that one process could refuse alone is left for
    later.
    """
    loop = {k: options.pop(k, v) for k, v in _LOOP.items()}
    for key in ("history", "patience", "ema", "min_delta", "disp", "compiled"):
        if key in options:
            raise TypeError(f"option {key!r} is not supported by numadam.mpi.minimize; "
                            f"its loop options are {', '.join(_LOOP)}")
    if loop["batch_size"] is None:
        raise TypeError("option 'batch_size' is required: the global minibatch size")
    _int_option(loop, "batch_size", 1)
    if loop["nan_policy"] not in ("stop", "raise"):
        raise ValueError("option 'nan_policy' must be 'stop' or 'raise' in "
                         f"numadam.mpi.minimize; got {loop['nan_policy']!r}")
    for key in ("maxiter", "epochs"):
        v = loop[key]
        if v is not None and (isinstance(v, (bool, np.bool_))
                              or not isinstance(v, numbers.Integral) or v < 0):
            raise ValueError(f"option {key!r} must be an int >= 0 or None; got {v!r}")
        loop[key] = None if v is None else int(v)
    for key in ("shuffle", "drop_last"):
        if not isinstance(loop[key], (bool, np.bool_)):
            raise TypeError(f"option {key!r} must be True or False; got {loop[key]!r}")
        loop[key] = bool(loop[key])
    gtol = loop["gtol"]
    if isinstance(gtol, (bool, np.bool_)) or not isinstance(gtol, numbers.Real):
        raise TypeError(f"option 'gtol' must be a real number; got {gtol!r}")
    if not (np.isfinite(gtol) and gtol >= 0):
        raise ValueError(f"option 'gtol' must be finite and >= 0; got {gtol}")
    loop["gtol"] = float(gtol)
    _int_option(loop, "checkpoint_every", 1)
    for key in ("checkpoint", "resume"):
        v = loop[key]
        if v is not None:
            if not isinstance(v, (str, os.PathLike)):
                raise TypeError(f"option {key!r} must be a file path; got {v!r}")
            loop[key] = os.fspath(v)
    if loop["maxiter"] is None and loop["epochs"] is None:
        loop["maxiter"] = 10000
    return loop


# -- what every process must agree on ----------------------------------------

def _canonical(value):
    """``value`` as plain data that is the same in every process that has it."""
    from .schedules import Schedule

    if isinstance(value, Schedule):      # by name and parameters, as checkpoints
        return ("schedule", type(value).__name__,
                tuple((k, _canonical(v)) for k, v in sorted(value.params.items())))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (tuple, list)):
        return tuple(_canonical(v) for v in value)
    if callable(value):                  # a plain callable: by name (not by address)
        return ("callable", getattr(value, "__module__", None),
                getattr(value, "__qualname__", type(value).__qualname__))
    return value


def _digest(*parts):
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p)
    return h.hexdigest()


def _item(value):
    """``(digest, shown)`` of a value: what is compared and what is reported."""
    from .schedules import Schedule

    canon = _canonical(value)
    if isinstance(value, Schedule):
        shown = repr(value)
    elif isinstance(canon, tuple) and canon[:1] == ("callable",):
        shown = f"<callable {canon[1]}.{canon[2]}>"
    else:
        shown = repr(canon)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return _digest(repr(canon).encode()), shown


def _agreement(spec, hyper, loop, x, box, sharded):
    """Per name, the ``(digest, shown)`` that every process must share."""
    items = {"method": _item(spec.name), "sharded": _item(bool(sharded)),
             "x0.shape": _item(tuple(x.shape)), "x0.dtype": _item(x.dtype.name)}
    if not sharded:         # sharded: rank 0's values are broadcast
        d = _digest(x.tobytes())
        items["x0"] = (d, f"values {d[:12]}")
    if box is None:
        items["bounds"] = _item(None)
    else:
        d = _digest(box[0].tobytes(), box[1].tobytes())
        items["bounds"] = (d, f"{box[0].size} (low, high) pairs {d[:12]}")
    for k, v in hyper.items():
        if k not in loop:   # the optimizer's nan_policy is not the loop's
            items[f"options[{k!r}]"] = _item(v)
    for k, v in loop.items():
        items[f"options[{k!r}]"] = _item(v)
    return items


def _ranks(ranks):
    """``"rank 2"``, ``"ranks 0-1, 3"``."""
    parts, i = [], 0
    while i < len(ranks):
        j = i
        while j + 1 < len(ranks) and ranks[j + 1] == ranks[j] + 1:
            j += 1
        parts.append(str(ranks[i]) if i == j else f"{ranks[i]}-{ranks[j]}")
        i = j + 1
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(parts)


def _refuse_disagreement(checks):
    """ValueError (on every process alike) unless ``checks`` agree."""
    absent = (None, "not given")
    differ = {}
    for name in dict.fromkeys(k for c in checks for k in c):
        groups = {}
        for r, c in enumerate(checks):
            groups.setdefault(c.get(name, absent)[0], []).append(r)
        if len(groups) > 1:
            differ[name] = f"{name} (" + "; ".join(
                f"{_ranks(rs)}: {checks[rs[0]].get(name, absent)[1]}"
                for rs in groups.values()) + ")"
    # x0's values (and the bounds, in x0's dtype) differ whenever its shape,
    # dtype or the sharded flag does: name the cause only
    if differ.keys() & {"x0.shape", "x0.dtype", "sharded"}:
        differ.pop("x0", None)
        if differ.keys() & {"x0.shape", "x0.dtype"}:
            differ.pop("bounds", None)
    wrong = list(differ.values())
    if wrong:
        if len(wrong) > 12:
            wrong[12:] = [f"and {len(wrong) - 12} more"]
        raise ValueError(
            "numadam.mpi.minimize: the processes disagree on " + ", ".join(wrong) +
            ". Every process must pass the same method, options, x0 shape and dtype "
            "(and x0 values, unless sharded=True: then rank 0's are used), bounds and "
            "sharded; only data (each process's own shard) and rng (rank 0's is used) "
            "may differ")


# -- a failure on one process ends every process -------------------------------

def _describe(exc):
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = "<unprintable>"
    if len(text) > 1000:
        text = text[:997] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stop_everyone(infos, rank, own):
    """Raise on this process, once ``infos`` (per rank: None, or
    ``(description, where)``) say that some process failed.  A process that
    failed re-raises its own exception (``own``: ``(exc, where)``), with a
    note; the others raise RuntimeError naming the first that failed."""
    failed = [r for r, info in enumerate(infos) if info is not None]
    if own is not None:
        exc, where = own
        exc.add_note(f"numadam.mpi.minimize: raised on rank {rank} of {len(infos)} "
                     f"during {where}; every rank stopped")
        raise exc
    text, where = infos[failed[0]]
    also = "" if len(failed) == 1 else f" ({_ranks(failed[1:])} raised too)"
    raise RuntimeError(f"numadam.mpi.minimize: rank {failed[0]} raised {text} during "
                       f"{where}{also}; every rank stopped")


def _exchange(comm, rank, own):
    """One small collective: if any process failed (``own`` is its
    ``(exc, where)``), every process raises."""
    infos = comm.allgather(None if own is None else (_describe(own[0]), own[1]))
    if any(info is not None for info in infos):
        _stop_everyone(infos, rank, own)


def minimize(fun, jac, x0, data, comm=None, args=(), method="adam", options=None,
             bounds=None, rng=None, sharded=False, callback=None):
    """Minimise a sum over a data set sharded across MPI processes.

    Every process calls this function with its own shard of the data and the
    same other arguments (checked: see ``Raises``).

    Parameters
    ----------
    fun : callable
        ``fun(x, *batch, *args) -> float``: the MEAN loss over a minibatch
        (or ``(f, g)`` with ``jac=True``), as for :func:`numadam.minimize`
        with ``data``.  ``x`` is a read-only view of the iterate.
    jac : callable or True
        ``jac(x, *batch, *args) -> array``, the gradient of that mean, of
        ``x0``'s shape.
    x0 : array_like
        Starting point: the same shape and dtype on every process and, unless
        ``sharded``, the same values (checked); with ``sharded=True`` rank
        0's values are used.
    data : array or tuple of arrays
        THIS process's rows of the data set (dense arrays sharing axis 0,
        possibly with no rows; ``scipy.sparse`` matrices are refused); the
        shards, in rank order, form the global data set.  Shards may differ
        in length; they are not compared.
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
        ``checkpoint_every`` and ``resume``.  The same on every process
        (checked, defaults filled in: ``lr=1e-3`` and no ``lr`` agree for
        Adam; schedules by name and parameters).
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Every iterate is projected onto the box.  The same on every process.
    rng : int or None
        The seed of the minibatch order, shared by every process (rank 0's
        is used; None draws one).  The same seed gives the same sequence of
        global minibatches as ``numadam.minimize(..., rng=seed)`` on the
        whole data set.
    sharded : bool, default False
        Keep the optimizer state of only this process's slice of the
        parameters (optimizer memory ``~1/P`` per process) and gather the
        updated slices every step.  The same on every process; needs at
        least one parameter per process.
    callback : callable, optional
        ``callback(intermediate_result)`` on every process after every step,
        with an :class:`~scipy.optimize.OptimizeResult` holding ``x`` (a copy
        of the iterate), ``fun`` (the loss of the global minibatch just
        used), ``nit`` and ``epoch``.  It stops the run by raising
        ``StopIteration`` (as in :func:`numadam.minimize`) or by returning
        True.  A stop on ANY process stops EVERY process after the same
        iteration, with status 99 and the same ``x``: the decision travels in
        the next step's ``Allreduce`` (or in the final evaluation's), so the
        other processes evaluate ``fun`` once more on the next minibatch, a
        value that is discarded (no step is taken and the minibatch is not
        consumed: a checkpoint of the stopped run resumes exactly).  Any
        other exception in the callback is a failure (see ``Raises``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun`` and ``jac`` (on the whole data set), ``nit``,
        ``status``, ``message``, ``success``, ``epoch``, ``nprocs`` and
        ``sharded``, the same on every process, and ``state_bytes``: the
        optimizer state this process held (about ``1/P`` of the replicated
        figure when sharded).  Status 0 (``gtol``), 1 (``maxiter``), 2
        (``epochs``) are successes; 3: the global loss or gradient was NaN
        or infinite (``nan_policy="stop"``) or an update overflowed; 99:
        the callback stopped the run.

    Raises
    ------
    TypeError, ValueError
        For bad arguments.  Every process checks its own, then the processes
        compare, in one collective, their method, options (all of them),
        ``x0`` shape and dtype (and values unless ``sharded``), ``bounds``
        and ``sharded``: if they differ, every process raises the same
        ValueError naming what differs and on which ranks.
    FloatingPointError
        With ``nan_policy="raise"``, when the global gradient or loss is not
        finite (on every process alike).
    Exception
        Raised on ONE process -- by ``fun``, ``jac``, the callback, the check
        of the gradient's shape, the checks of its arguments, reading or
        writing a checkpoint -- it ends the run on every process within the
        step: a flag travels with the gradient in the step's ``Allreduce``
        (no extra message per step).  The failing process re-raises its
        exception (its type unchanged, with a note naming its rank); every
        other process raises ``RuntimeError("numadam.mpi.minimize: rank K
        raised ExcType: message during iteration N; every rank stopped")``.
        ``KeyboardInterrupt`` and other ``BaseException`` are not caught.

    Notes
    -----
    Checkpoints are written by rank 0 and hold the full parameters and
    optimizer state, whatever ``P`` and ``sharded`` were: a run written by
    2 processes resumes on 3, replicated or sharded.  Every process must be
    able to read the file (a shared file system).

    Collectives: one ``allgather`` at the start (the comparison, shard sizes
    and seed) and one when everything is set up; per step one ``Allreduce``
    of ``n + 3`` doubles (gradient, loss, failure and stop flags), plus, when
    sharded, one ``Allgatherv`` of the parameters and one small
    ``allreduce``.

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

    A callback that stops the run (on every process) after 10 steps:

    >>> def stop(intermediate_result):
    ...     if intermediate_result.nit == 10:
    ...         raise StopIteration
    >>> res = numadam.mpi.minimize(logistic_loss, True, np.zeros(4), (X[lo:hi], y[lo:hi]),
    ...                            rng=1, callback=stop,
    ...                            options={"batch_size": 50, "maxiter": 30, "lr": 0.05})
    >>> res.nit, res.status
    (10, 99)
    """
    from . import _checkpoint
    from ._data import Batches
    from ._methods import get_method
    from ._minimize import _as_x0, _bounds, _scalar
    from ._optimizers import Optimizer, flat_gradient

    MPI = _mpi()
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()

    # -- setup: every check this process can make alone, then ONE collective
    # that carries any failure, what must agree, the shard sizes and the seed
    own, agree, n_local, seed = None, {}, 0, None
    try:
        spec = get_method(method)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict; got {type(options).__name__}")
        options = dict(options or {})
        loop = _loop_options(options)
        hyper = spec.resolve(options)          # checks every hyperparameter
        if rng is not None and (isinstance(rng, bool)
                                or not isinstance(rng, numbers.Integral)):
            raise TypeError("rng must be an int seed or None in numadam.mpi.minimize "
                            "(a Generator cannot be shared between processes); got "
                            f"{rng!r}")
        if rank == 0:
            seed = int(np.random.SeedSequence().entropy) if rng is None else int(rng)
        x = _as_x0(x0)
        box = None if bounds is None else _bounds(bounds, x)
        fg, gname = _fun_and_grad(fun, jac)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got "
                            f"{type(callback).__name__}")
        if not isinstance(args, tuple):
            args = (args,)
        data, n_local = _local_data(data)
        agree = _agreement(spec, hyper, loop, x, box, sharded)
    except Exception as exc:  # noqa: BLE001 - told to every process, then re-raised
        own = (exc, "setup")
    entries = comm.allgather((None if own is None else (_describe(own[0]), "setup"),
                              agree, n_local, seed))
    if any(e[0] is not None for e in entries):
        _stop_everyone([e[0] for e in entries], rank, own)
    _refuse_disagreement([e[1] for e in entries])
    counts = [e[2] for e in entries]
    seed = entries[0][3]

    shape, dtype = x.shape, x.dtype
    flat = x.reshape(-1)
    n = flat.size
    mpitype = MPI.DOUBLE if dtype == np.float64 else MPI.FLOAT
    if sharded:     # rank 0's x0 (only its shape and dtype had to agree)
        comm.Bcast([flat, mpitype], root=0)
    view = x.view()
    view.flags.writeable = False
    row_lo = sum(counts[:rank])
    row_hi = row_lo + n_local
    n_rows = sum(counts)
    # from here on, what could fail depends only on what the processes agreed
    # on; the rest (memory, the checkpoint file) is told to all in one collective
    if n_rows == 0:
        raise ValueError("data holds no samples on any process")
    if sharded and n < size:
        raise ValueError(f"sharded=True needs at least one parameter per process: x0 "
                         f"has {n} elements for {size} processes")
    run = {"nit": 0}
    try:
        root = np.random.default_rng(seed)
        shuffle_rng, _ = root.spawn(2)        # as numadam.minimize: same batch order
        batches = Batches((np.arange(n_rows),), loop["batch_size"], loop["shuffle"],
                          loop["drop_last"], shuffle_rng)
        per_epoch = batches.per_epoch
        budget = min(loop["maxiter"] if loop["maxiter"] is not None
                     else np.iinfo(np.int64).max,
                     loop["epochs"] * per_epoch if loop["epochs"] is not None
                     else np.iinfo(np.int64).max)

        # the parameter slice this process updates (all of it when replicated)
        slices = _split(n, size) if sharded else [(0, n)] * size
        p_lo, p_hi = slices[rank]
        clip_norm = options.pop("clip_norm", None) if sharded else None
        opt = Optimizer(flat[p_lo:p_hi], method=spec.name, nan_policy="skip", **options)
        part_counts = [hi - lo for lo, hi in slices]
        part_displs = [lo for lo, _ in slices]

        # [weighted gradient..., weighted loss, failures, stops]
        buf = np.zeros(n + 3)
        total = np.empty(n + 3)
    except Exception as exc:  # noqa: BLE001
        own = (exc, "setup")
    _exchange(comm, rank, own)
    ERR, STOP = n + 1, n + 2
    pending = {"error": None, "stop": False}

    def global_fg(rows, weight_of, where, final=False):
        """Loss and gradient averaged over the global rows ``rows``, and the
        number of processes whose callback asked to stop.  A failure on any
        process raises on every process."""
        buf.fill(0.0)
        if pending["error"] is None and (final or not pending["stop"]):
            try:
                mine = rows[(rows >= row_lo) & (rows < row_hi)] - row_lo
                if mine.size:
                    local = tuple(np.take(a, mine, axis=0) for a in data)
                    f, g = fg(view, *local, *args)
                    f = _scalar(f)
                    g = flat_gradient(g, shape, view.dtype, gname)
                    w = weight_of(mine.size)
                    np.multiply(g.astype(np.float64, copy=False), w, out=buf[:n])
                    buf[n] = f * w
            except Exception as exc:  # noqa: BLE001 - told to every process
                pending["error"] = (exc, where)
        if pending["error"] is not None:
            buf[:n + 1] = 0.0
            buf[ERR] = 1.0
        if pending["stop"]:
            buf[STOP] = 1.0
        comm.Allreduce(buf, total, op=MPI.SUM)
        if total[ERR]:
            _exchange(comm, rank, pending["error"])
        return total[n], total[:n].astype(dtype), int(total[STOP])

    def save(path):
        where = f"iteration {run['nit']} (writing the checkpoint)"
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
        failed = None
        if rank == 0:
            try:
                meta = dict(meta, size=n)
                bmeta, barrays = batches.state()
                arrays.update({"batches." + k: v for k, v in barrays.items()})
                arrays["x"] = flat
                _checkpoint.write(path, {"kind": "mpi-minimize", "optimizer": meta,
                                         "n": n, "dtype": dtype.name, "nit": run["nit"],
                                         "batches": bmeta}, arrays)
            except Exception as exc:  # noqa: BLE001
                failed = (exc, where)
        _exchange(comm, rank, failed)      # also: nobody goes on before it is written

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

    def rewind_point():
        """What ``rewind`` needs to undo the next ``batches.next()``."""
        if batches.pos == 0 and batches.shuffle:    # it reshuffles: keep the order
            return batches.state()
        return None, (batches.pos, batches.epoch)

    def rewind(point):
        scalars, arrays = point
        if scalars is None:
            batches.pos, batches.epoch = arrays
        else:
            batches.restore(scalars, arrays)

    if loop["resume"] is not None:
        try:
            resume(loop["resume"])
        except Exception as exc:  # noqa: BLE001
            own = (exc, "setup (reading the checkpoint)")
        _exchange(comm, rank, own)
    status, stops = None, 0
    while status is None:
        if run["nit"] >= budget:
            status = 2 if loop["epochs"] is not None and \
                run["nit"] >= loop["epochs"] * per_epoch else 1
            break
        point = rewind_point() if callback is not None else None
        rows = batches.next()[0]
        m = rows.size
        f, g, stops = global_fg(rows, lambda k: k / m, f"iteration {run['nit']}")
        if stops:   # a callback stopped after the last step: this batch is not used
            rewind(point)
            status = 99
            break
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
        if callback is not None:
            nit = run["nit"]
            try:
                if callback(OptimizeResult(x=x.copy(), fun=float(f), nit=nit,
                                           epoch=nit / per_epoch)):
                    pending["stop"] = True
            except StopIteration:
                pending["stop"] = True
            except Exception as exc:  # noqa: BLE001 - told to every process
                pending["error"] = (exc, f"iteration {nit} (in the callback)")
    if loop["checkpoint"] is not None:
        save(loop["checkpoint"])
    everything = np.arange(n_rows)
    f, g, last_stops = global_fg(
        everything, lambda k: k / n_rows,
        f"iteration {run['nit']} (the final evaluation on the whole data set)", final=True)
    if last_stops:  # a callback stopped after the last step of the budget
        status, stops = 99, last_stops
    message = _MESSAGES.get(status)
    if status == 99:
        message = (f"`callback` raised `StopIteration` or returned True (on {stops} of "
                   f"{size} processes); every process stopped after iteration "
                   f"{run['nit']}.")
    return OptimizeResult(x=x, fun=float(f), jac=g.reshape(shape), nit=run["nit"],
                          status=status, success=status in (0, 1, 2), message=message,
                          epoch=run["nit"] / per_epoch, nprocs=size, sharded=bool(sharded),
                          state_bytes=sum(a.nbytes for a in opt.state.values()))
