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

from . import _kernels
from ._numbers import as_int

__all__ = ["minimize", "shard_range", "world"]

_LOOP = {"maxiter": None, "epochs": None, "batch_size": None, "shuffle": True,
         "drop_last": False, "gtol": 1e-5, "nan_policy": "stop", "checkpoint": None,
         "checkpoint_every": 1000, "resume": None}

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


def _split(n, parts, block=1):
    """``parts`` contiguous ranges covering ``0..n`` as evenly as whole
    ``block`` s allow (int8 state: a shard holds whole blocks of the array's)."""
    nb = -(-n // block)
    q, r = divmod(nb, parts)
    out, lo = [], 0
    for p in range(parts):
        hi = lo + q + (1 if p < r else 0)
        out.append((min(lo * block, n), min(hi * block, n)))
        lo = hi
    return out


def _fun_and_grad(fun, jac, x):
    """``(fg, name)``: ``fg(x, *a) -> (f, g)`` from SciPy's ``fun``/``jac``
    conventions, and what the gradient is called in error messages.  A
    gradient function with a parameter named ``out`` gets a preallocated
    array of ``x``'s shape and dtype there (numpy's ``out=`` convention)."""
    from ._inputs import _out_position
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    if jac is not True and not callable(jac):
        raise TypeError("jac must be a callable returning the gradient, or True when "
                        f"fun returns (f, g); got {jac!r}")
    grad = fun if jac is True else jac
    kw = {} if _out_position(grad) is None else {"out": np.empty(x.shape, x.dtype)}
    if jac is True:
        def fg(x, *a):
            out = fun(x, *a, **kw)
            try:
                f, g = out
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g); got "
                                f"{type(out).__name__}") from None
            return f, g
        return fg, "fun's gradient"
    return (lambda x, *a: (fun(x, *a), jac(x, *a, **kw))), "jac"


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
    loop[key] = as_int(f"option {key!r}", v, low)


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
        _int_option(loop, key, 0, allow_none=True)
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
        ``x0``'s shape.  With a parameter named ``out`` (``fun``'s with
        ``jac=True``), one preallocated array is passed there, as in
        :func:`numadam.minimize`.
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
        Any method of :func:`numadam.minimize` (with ``sharded=True``, those
        whose step is one elementwise pass: not ``lamb``, ``prodigy``,
        ``muon`` or ``adafactor``).
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
        x0 and every iterate are projected onto the box (as in
        :func:`numadam.minimize`).  The same on every process.
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
        used, at the iterate before the step: the loss that came with its
        gradient), ``nit`` and ``epoch``.  It stops the run by raising
        ``StopIteration``, as in :func:`numadam.minimize` (its return value
        is ignored).  A stop on ANY process stops EVERY process after the same
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
        figure when sharded).  The statuses, messages and ``success`` are
        :func:`numadam.minimize`'s (the same run loop): 0 (``gtol``), 1
        (``maxiter``), 2 (``epochs``); 3: the global loss or gradient was
        NaN or infinite (``nan_policy="stop"``) or an update overflowed; 99:
        the callback stopped the run.  ``nfev`` and ``njev`` count this
        process's own calls.  A resumed run also has ``resumed``: ``{"path",
        "nit" (the checkpoint's), "changed"}``, ``changed`` the
        hyperparameters the call gives other values than the checkpoint's
        (``{name: (recorded, given)}``), as :func:`numadam.minimize`'s.

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
    able to read the file (a shared file system).  As in
    :func:`numadam.minimize`, a resumed run takes the call's hyperparameters
    (an ``lr`` changed from there on) and refuses one that would change the
    state arrays (``amsgrad``), a checkpoint of another method, ``x0`` of
    another shape, dtype or arrays (names and order), other bounds, or a file
    whose iterate is not finite; the checkpoint's path and the options a
    checkpoint must hold (no plain callable ``lr``) are checked before the
    first step.

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
    comm = world() if comm is None else comm
    run = _MPIRun(fun, jac, x0, data, comm, args, method, options, bounds, rng,
                  sharded, callback)
    return run.run()


class _Context:
    """What one process knows of the run once the processes agree (setup)."""


def _setup(fun, jac, x0, data, comm, args, method, options, bounds, rng, sharded,
           callback):
    """Every check this process can make alone, then ONE collective that
    carries any failure, what must agree, the shard sizes and the seed."""
    from ._inputs import _as_x0, _bounds
    from ._methods import get_method
    from ._structured import structure_of
    c = _Context()
    c.comm, c.rank, c.size = comm, comm.Get_rank(), comm.Get_size()
    c.st = None
    own, agree, n_local, seed = None, {}, 0, None
    try:
        c.st = structure_of(x0)
        if c.st is not None:   # several arrays: one flat run, see numadam._structured
            m = get_method(method)
            if sharded and (m.two_pass or (options or {}).get("cautious", False)):
                raise ValueError(
                    "sharded=True: x0 of several arrays with a method that works per array "
                    f"({m.name!r}{', cautious' if m.two_pass is False else ''}) runs "
                    "replicated (each process keeps every array); pass sharded=False")
            fmt = (options or {}).get("state_dtype")
            if sharded and isinstance(fmt, str) and fmt.lower() == "int8":
                raise ValueError(
                    "sharded=True: x0 of several arrays with state_dtype='int8' runs "
                    "replicated (int8 state's blocks and its full-precision fallback for "
                    "arrays under 4096 elements are per array, a shard is a piece of "
                    "their concatenation); pass sharded=False, or x0 as one array")
            x0, fused = c.st.start, jac is True
            bounds = None if bounds is None else c.st.bounds(bounds)
            fun = c.st.wrap(fun, True if fused else None, "fun's gradient")
            jac = jac if fused else c.st.wrap(jac, False, "jac")
            callback = c.st.wrap_callback(callback)
        c.spec = get_method(method)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict; got {type(options).__name__}")
        c.options = dict(options or {})
        c.loop = _loop_options(c.options)
        hyper = c.spec.resolve(c.options)          # checks every hyperparameter
        if rng is not None and (isinstance(rng, bool)
                                or not isinstance(rng, numbers.Integral)):
            raise TypeError("rng must be an int seed or None in numadam.mpi.minimize "
                            "(a Generator cannot be shared between processes); got "
                            f"{rng!r}")
        if c.rank == 0:
            seed = int(np.random.SeedSequence().entropy) if rng is None else int(rng)
        c.x = _as_x0(x0)
        c.box = None if bounds is None else _bounds(bounds, c.x)
        c.fg, c.gname = _fun_and_grad(fun, jac, c.x)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None; got "
                            f"{type(callback).__name__}")
        c.args = args if isinstance(args, tuple) else (args,)
        c.data, n_local = _local_data(data)
        agree = _agreement(c.spec, hyper, c.loop, c.x, c.box, sharded)
    except Exception as exc:  # noqa: BLE001 - told to every process, then re-raised
        own = (exc, "setup")
    entries = comm.allgather((None if own is None else (_describe(own[0]), "setup"),
                              agree, n_local, seed))
    if any(e[0] is not None for e in entries):
        _stop_everyone([e[0] for e in entries], c.rank, own)
    _refuse_disagreement([e[1] for e in entries])
    c.counts, c.seed, c.sharded, c.callback = [e[2] for e in entries], entries[0][3], \
        bool(sharded), callback
    return c


class _MPISource:
    """The gradient of the global minibatch, summed over the processes with one
    ``Allreduce``; the state of this process's slice of the parameters (all of
    them when replicated).  The interface of :mod:`numadam._driver`'s sources;
    a callback's stop and a failure on any process travel in the next
    ``Allreduce`` (see :func:`minimize`)."""

    #: a callback gets the global loss of the minibatch just used, at the x
    #: before the step (the one loss the gradient's Allreduce carries)
    callback_fun_before_step = True

    def __init__(self, c, opt, batches):
        from ._driver import HostSource
        self.c, self.opt, self.batches = c, opt, batches
        self.x, self.box, self.flat = c.x, c.box, c.flat
        self.shape, self.dtype = c.x.shape, c.x.dtype
        self.counts = {"nfev": 0, "njev": 0}
        self.exact = True
        self.run = None
        self.pending = {"error": None, "stop": False}
        self.stops = 0
        # the norms, the projection and what a callback receives, as minimize's
        host = HostSource(None, None, True, (), c.x, opt, None, {}, {})
        self._host = host
        #: None: each process projects its slice in step, before the gather
        self.project = None
        if c.box is not None:
            lb, ub = c.box
            self._project = lambda: np.clip(c.flat[c.p_lo:c.p_hi], lb[c.p_lo:c.p_hi],
                                            ub[c.p_lo:c.p_hi], out=c.flat[c.p_lo:c.p_hi])
            pnorm = _kernels.load_cpu().PROJECTED_NORM.pick(c.n)
            gsign = -1.0 if opt.options["maximize"] else 1.0
            from ._kernels import _scalars
            self.reduce = lambda g: (_scalars.norm_value(
                *pnorm(c.flat, g, lb, ub, gsign)), None)
        else:
            self._project = None
            self.reduce = host.reduce
        self.finite_gradient, self.intermediate_x = host.finite_gradient, host.intermediate_x
        self.jac_of = host.jac_of

    def global_fg(self, rows, weight_of, where, final=False):
        """Loss and gradient averaged over the global rows ``rows``, and the
        number of processes whose callback asked to stop.  A failure on any
        process raises on every process."""
        c, pending, buf, n = self.c, self.pending, self.c.buf, self.c.n
        buf.fill(0.0)
        if pending["error"] is None and (final or not pending["stop"]):
            try:
                self._local(rows, weight_of)
            except Exception as exc:  # noqa: BLE001 - told to every process
                pending["error"] = (exc, where)
        if pending["error"] is not None:
            buf[:n + 1] = 0.0
            buf[n + 1] = 1.0
        if pending["stop"]:
            buf[n + 2] = 1.0
        c.comm.Allreduce(buf, c.total, op=_mpi().SUM)
        if c.total[n + 1]:
            _exchange(c.comm, c.rank, pending["error"])
        return c.total[n], c.total[:n].astype(self.dtype), int(c.total[n + 2])

    def _local(self, rows, weight_of):
        from ._inputs import _scalar
        from ._inputs import flat_gradient
        c, n = self.c, self.c.n
        mine = rows[(rows >= c.row_lo) & (rows < c.row_hi)] - c.row_lo
        if mine.size:
            local = tuple(np.take(a, mine, axis=0) for a in c.data)
            self.counts["nfev"] += 1
            self.counts["njev"] += 1
            f, g = c.fg(c.view, *local, *c.args)
            f = _scalar(f)
            g = flat_gradient(g, self.shape, self.dtype, c.gname)
            w = weight_of(mine.size)
            np.multiply(g.astype(np.float64, copy=False), w, out=c.buf[:n])
            c.buf[n] = f * w

    def evaluate(self, batch):
        from ._driver import StopRun
        rows = batch[0]
        m = rows.size
        f, g, stops = self.global_fg(rows, lambda k: k / m, f"iteration {self.run.nit}")
        if stops:   # a callback stopped after the last step: this batch is not used
            self.batches.rewind()
            self.stops = stops
            raise StopRun
        return f, g

    def evaluate_both(self, rows_all):
        n_rows = self.c.n_rows
        f, g, stops = self.global_fg(
            rows_all[0], lambda k: k / n_rows,
            f"iteration {self.run.nit} (the final evaluation on the whole data set)",
            final=True)
        if stops and self.run.status != 99:   # stopped after the budget's last step
            self.run.status, self.stops = 99, stops
        return f, g

    def value(self, batch):
        raise AssertionError("unreachable: the global loss comes with every gradient")

    def step(self, g, norm):
        c = self.c
        if c.clip_norm is not None:
            gn = float(np.linalg.norm(g.astype(np.float64)))
            if gn > c.clip_norm:
                g = g * self.dtype.type(c.clip_norm / gn)
            norm = None
        try:
            self.opt._step_flat(np.ascontiguousarray(g[c.p_lo:c.p_hi]),
                                None if c.sharded else norm)
            ok = True
        except FloatingPointError:
            ok = False
        if self._project is not None:
            self._project()
        if c.sharded:
            MPI = _mpi()
            c.comm.Allgatherv(MPI.IN_PLACE, [c.flat, c.part_counts, c.part_displs,
                                             c.mpitype])
            ok = c.comm.allreduce(ok, op=MPI.LAND)
        if not ok:
            raise FloatingPointError(f"step {self.run.nit + 1}: the update of some "
                                     "elements was NaN or infinite")

    def to_eval_point(self):
        """Schedule-Free's eval point: each process moves its part of the
        parameters (its shard, or all of them), then the shards are gathered."""
        c = self.c
        self.opt.eval()
        if c.sharded:
            MPI = _mpi()
            c.comm.Allgatherv(MPI.IN_PLACE, [c.flat, c.part_counts, c.part_displs,
                                             c.mpitype])

    def stop_requested(self):
        """A callback's StopIteration: every process stops after the next
        ``Allreduce`` (which carries it); go on until then."""
        self.pending["stop"] = True
        return False

    def hold_error(self, exc, nit):
        """A callback's exception: told to every process in the next ``Allreduce``."""
        self.pending["error"] = (exc, f"iteration {nit} (in the callback)")
        return True

    def decorate(self, result):
        c = self.c
        if result.status == 99:
            result.message = (f"`callback` raised `StopIteration` (on {self.stops} of "
                              f"{c.size} processes); every process stopped after "
                              f"iteration {result.nit}.")
        result.nprocs, result.sharded = c.size, c.sharded
        result.state_bytes = self.opt._state_nbytes()
        return result


class _Rewindable:
    """The global minibatches (row indices), able to undo the last ``next()``
    (a callback's stop arrives with the next minibatch's gradient)."""

    def __init__(self, batches):
        self.b = batches
        self._point = None

    def __getattr__(self, name):
        return getattr(self.b, name)

    def next(self):
        b = self.b
        if b.pos == 0 and b.shuffle:    # it reshuffles: keep the order
            self._point = b.state()
        else:
            self._point = (None, (b.pos, b.epoch))
        return b.next()

    def rewind(self):
        scalars, arrays = self._point
        if scalars is None:
            self.b.pos, self.b.epoch = arrays
        else:
            self.b.restore(scalars, arrays)


class _MPICheckpoint:
    """The run's checkpoint, written by rank 0 with the full parameters and
    state (gathered when sharded): it resumes on any number of processes."""

    def __init__(self, c, run):
        self.c, self.run = c, run
        #: after :meth:`resume`: ``result.resumed`` (as minimize's)
        self.resumed = None

    def save(self, path):
        from . import _checkpoint
        c, run = self.c, self.run
        where = f"iteration {run.nit} (writing the checkpoint)"
        meta, local = run.opt._checkpoint_parts(prefix="state.")
        arrays = {}
        for name, a in local.items():
            a = np.ascontiguousarray(a)
            parts = _state_parts(c, name, a) if c.sharded else None
            if parts is not None:   # a state array of one element per parameter (or
                # per int8 block): each shard's part, gathered
                counts, displs, total = parts
                full = np.empty(total, a.dtype) if c.rank == 0 else None
                c.comm.Gatherv(a, [full, counts, displs, _mpi()._typedict[a.dtype.char]],
                               root=0)
                a = full
            arrays[name] = a
        failed = None
        if c.rank == 0:
            try:
                bmeta, barrays = run.batches.state()
                arrays.update({"batches." + k: v for k, v in barrays.items()})
                arrays["x"] = c.flat
                if c.box is not None:
                    arrays["bounds.lb"], arrays["bounds.ub"] = c.box
                if c.clip_norm is not None:   # sharded: the source's clipping, recorded
                    meta = dict(meta, options={**meta["options"],
                                               "clip_norm": c.clip_norm})
                _checkpoint.write(path, {"kind": "mpi-minimize",
                                         "optimizer": dict(meta, size=c.n), "n": c.n,
                                         "dtype": c.x.dtype.name, "nit": run.nit,
                                         "batches": bmeta, **_identity(c)}, arrays)
            except Exception as exc:  # noqa: BLE001
                failed = (exc, where)
        _exchange(c.comm, c.rank, failed)      # also: nobody goes on before it is written

    def resume(self, path):
        from . import _checkpoint
        c, run = self.c, self.run
        meta, arrays = _checkpoint.read(path, "mpi-minimize")
        name = str(path)
        try:
            _check_identity(c, meta, arrays)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"checkpoint {name!r} is not a valid numadam.mpi.minimize "
                             f"state: missing or malformed {exc}") from None
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        batches = {k[8:]: v for k, v in arrays.items() if k.startswith("batches.")}
        run.batches.check_state(meta["batches"], batches)
        state = {k: (v[c.p_lo:c.p_hi] if v.shape == (c.n,) else
                     v[_block_range(c.p_lo, c.p_hi)] if c.sharded and _blockwise(k, v, c.n)
                     else v)
                 for k, v in arrays.items() if k.startswith("state.")}
        mine = run.opt._user_options()   # the call's hyperparameters, as minimize's
        run.opt._load_checkpoint_parts(dict(meta["optimizer"], size=c.p_hi - c.p_lo),
                                       state, name, prefix="state.")
        from ._resume import _changed_options
        recorded = _checkpoint.decode_options(meta["optimizer"]["options"])
        # (sharded: the clipping is the source's, not the optimizer's option)
        call = mine if c.clip_norm is None else dict(mine, clip_norm=c.clip_norm)
        changed = _changed_options(recorded, {k: v for k, v in call.items()
                                              if k in recorded})
        try:
            run.opt._replace_options(mine)
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        c.flat[:] = arrays["x"]
        run.nit = int(meta["nit"])
        self.resumed = {"path": os.fspath(path), "nit": run.nit, "changed": changed}
        run.batches.restore(meta["batches"], batches)


def _identity(c):
    """What a checkpoint records to refuse a resume into another run: x0's
    shape and arrays (names and shapes), and whether it is bounded."""
    return {"shape": list(c.x.shape) if c.st is None else None,
            "structure": None if c.st is None else [
                [name, list(shape)] for name, shape in zip(c.st.names, c.st.shapes)],
            "bounded": c.box is not None}


def _check_identity(c, meta, arrays):
    """Refuse (ValueError saying why) a checkpoint of another run: another
    method, x0 of another size, dtype, shape or arrays, other bounds, or an
    iterate that is not finite.  (A file of an older numadam records no
    shape, arrays or bounds: those go unchecked.)"""
    from ._resume import _arrays_text
    method = meta["optimizer"]["method"]
    if method != c.spec.name or meta["n"] != c.n or meta["dtype"] != c.x.dtype.name:
        raise ValueError(f"it is a {method!r} run of {meta['n']!r} {meta['dtype']} "
                         f"parameters, this run uses {c.spec.name!r} with {c.n} "
                         f"{c.x.dtype.name} parameters")
    mine = _identity(c)
    if "structure" in meta and meta["structure"] != mine["structure"]:
        raise ValueError(f"it was taken with {_arrays_text(meta['structure'])}, this "
                         f"call gives {_arrays_text(mine['structure'])} (the iterate is "
                         "saved as one flat array: give x0's arrays as the "
                         "checkpointed run did, a dict in the same key order)")
    if "shape" in meta and meta["shape"] != mine["shape"]:
        raise ValueError(f"its x has shape {tuple(meta['shape'])}, x0 has shape "
                         f"{tuple(c.x.shape)}")
    from ._resume import _count
    _count(meta, "nit", "its nit")
    x = np.asarray(arrays["x"])
    if x.shape != (c.n,) or x.dtype != c.x.dtype:
        raise ValueError("its x array does not match its header")
    if not np.isfinite(x).all():
        raise ValueError("its x holds NaN or infinity (a crafted or corrupted file)")
    if "bounded" in meta and (bool(meta["bounded"]) != (c.box is not None) or (
            c.box is not None and not (np.array_equal(arrays["bounds.lb"], c.box[0])
                                       and np.array_equal(arrays["bounds.ub"], c.box[1])))):
        raise ValueError("its bounds differ from this call's bounds (resume with the "
                         "same bounds; they are part of the run)")


def _blockwise(name, a, n):
    """Whether state array ``name`` holds one value per int8 block of ``n``
    parameters (its blocks' absmax)."""
    from . import _lowp
    return name.endswith("_absmax") and a.shape == (_lowp.blocks(n),)


def _block_range(lo, hi):
    """The int8 blocks of parameters ``lo..hi`` (``lo`` a block's first)."""
    from . import _lowp
    return slice(lo // _lowp.BLOCK, _lowp.blocks(hi))


def _state_parts(c, name, a):
    """``(counts, displs, total)`` of a sharded state array over the processes:
    one element per parameter or per int8 block (None for another array)."""
    if a.shape == (c.p_hi - c.p_lo,) and not name.endswith("_absmax"):
        return c.part_counts, c.part_displs, c.n
    if name.endswith("_absmax"):
        ranges = [_block_range(lo, lo + k) for lo, k in zip(c.part_displs, c.part_counts)]
        return ([r.stop - r.start for r in ranges], [r.start for r in ranges],
                ranges[-1].stop)
    return None


def _prepare(c):
    """The parameters' slices, the optimizer, the minibatches and the buffers
    (what could fail now depends only on what the processes agreed on; the
    rest is told to every process in one collective)."""
    from ._data import Batches
    from ._optimizers import Optimizer
    MPI = _mpi()
    c.flat, c.n = c.x.reshape(-1), c.x.size
    c.mpitype = MPI.DOUBLE if c.x.dtype == np.float64 else MPI.FLOAT
    if c.sharded:     # rank 0's x0 (only its shape and dtype had to agree)
        c.comm.Bcast([c.flat, c.mpitype], root=0)
    if c.box is not None:   # x0 projected onto the bounds, as numadam.minimize does
        np.clip(c.flat, c.box[0], c.box[1], out=c.flat)
    c.view = c.x.view()
    c.view.flags.writeable = False
    c.row_lo = sum(c.counts[:c.rank])
    c.row_hi = c.row_lo + c.counts[c.rank]
    c.n_rows = sum(c.counts)
    if c.n_rows == 0:
        raise ValueError("data holds no samples on any process")
    from . import _lowp
    # int8 state: the shards hold whole blocks of 256 (the blocks and their
    # scales are the single-process run's)
    fmt = c.options.get("state_dtype")   # (checked with the options, below)
    block = (_lowp.BLOCK if c.sharded and isinstance(fmt, str)
             and _lowp.storage(fmt.lower(), c.n) == "int8" else 1)
    if c.sharded:
        c.spec.refuse_two_pass("numadam.mpi.minimize with sharded=True")
    if c.sharded and -(-c.n // block) < c.size:
        raise ValueError(
            f"sharded=True needs at least one parameter per process: x0 has {c.n} "
            f"elements for {c.size} processes" if block == 1 else
            f"sharded=True with state_dtype='int8' gives each process whole blocks of "
            f"{block} parameters: x0 has {c.n} elements ({-(-c.n // block)} blocks) "
            f"for {c.size} processes; use fewer processes or sharded=False")
    own, opt, batches = None, None, None
    try:
        shuffle_rng, _ = np.random.default_rng(c.seed).spawn(2)  # as minimize's order
        batches = _Rewindable(Batches((np.arange(c.n_rows),), c.loop["batch_size"],
                                      c.loop["shuffle"], c.loop["drop_last"],
                                      shuffle_rng))
        slices = _split(c.n, c.size, block) if c.sharded else [(0, c.n)] * c.size
        c.p_lo, c.p_hi = slices[c.rank]
        c.clip_norm = c.options.pop("clip_norm", None) if c.sharded else None
        if c.sharded:   # an elementwise method: the same steps on a flat slice
            opt = Optimizer(c.flat[c.p_lo:c.p_hi], method=c.spec.name, **c.options)
        elif c.st is None:   # x0's shape: matrix rules (Adafactor, Muon) as minimize's
            opt = Optimizer(c.x, method=c.spec.name, **c.options)
        else:   # per-array semantics (cautious, LAMB) over views of the flat iterate
            opt = Optimizer(c.st.views(c.flat), method=c.spec.name, **c.options)
            opt._use_flat(c.flat)
        if c.sharded:   # a cautious step's mask is averaged over every shard
            opt._shards = lambda count: (c.comm.allreduce(int(count)), c.n)
            # low-precision state as the whole array's: int8 by its size, the
            # random bits by each element's index in it
            opt._use_shard(c.p_lo, c.n)
        c.part_counts = [hi - lo for lo, hi in slices]
        c.part_displs = [lo for lo, _ in slices]
        c.buf = np.zeros(c.n + 3)   # [weighted gradient..., loss, failures, stops]
        c.total = np.empty(c.n + 3)
    except Exception as exc:  # noqa: BLE001
        own = (exc, "setup")
    _exchange(c.comm, c.rank, own)
    return opt, batches


class _MPIRun:
    """numadam.mpi.minimize: the setup, then minimize's run loop over
    :class:`_MPISource`."""

    def __init__(self, fun, jac, x0, data, comm, args, method, options, bounds, rng,
                 sharded, callback):
        from ._driver import Run
        from ._inputs import _UNLIMITED
        c = _setup(fun, jac, x0, data, comm, args, method, options, bounds, rng,
                   sharded, callback)
        opt, batches = _prepare(c)
        src = _MPISource(c, opt, batches)
        loop = dict(c.loop, history=0, disp=False,
                    maxiter=_UNLIMITED if c.loop["maxiter"] is None else c.loop["maxiter"])
        self.run_ = Run(src, loop, c.spec.name, c.callback,
                        "new" if c.callback is not None else None, batches)
        src.run = self.run_
        ckpt = _MPICheckpoint(c, self.run_)
        if c.loop["checkpoint"] is not None:
            self.run_.checkpoint = ckpt
            own = None
            try:   # what the first save needs, checked now, not after checkpoint_every steps
                from . import _checkpoint
                from ._resume import _check_writable
                _checkpoint.encode_options(opt._user_options())
                if c.rank == 0:     # (rank 0 writes)
                    _check_writable(c.loop["checkpoint"])
            except Exception as exc:  # noqa: BLE001
                own = (exc, "setup (checking the checkpoint option)")
            _exchange(c.comm, c.rank, own)
        if c.loop["resume"] is not None:
            own = None
            try:
                ckpt.resume(c.loop["resume"])
            except Exception as exc:  # noqa: BLE001
                own = (exc, "setup (reading the checkpoint)")
            _exchange(c.comm, c.rank, own)
        self.src, self.ckpt = src, ckpt

    def run(self):
        result = self.src.decorate(self.run_.run())
        if self.ckpt.resumed is not None:
            result.resumed = self.ckpt.resumed
        st = self.src.c.st
        if st is not None:
            result.x = st.copies(result.x)
            if result.get("jac") is not None:
                result.jac = st.copies(result.jac)
        return result
