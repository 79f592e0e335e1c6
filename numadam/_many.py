"""``numadam.minimize_many``: many independent problems, in parallel, compiled."""
import numbers

import numpy as np

from ._methods import get_method
from .schedules import check_lr

__all__ = ["minimize_many", "MANY_STATUS_MESSAGES"]

#: per-problem ``status`` -> meaning, for :func:`minimize_many`
MANY_STATUS_MESSAGES = {
    0: "the gradient norm fell below gtol",
    1: "maxiter steps were taken",
    3: "the objective or the gradient was NaN or infinite (or an update overflowed)",
}

_LOOP = ("maxiter", "gtol", "nan_policy")


def _as_problems(x0, index_offset=0):
    """x0 checked like minimize's, and of shape (n_problems, n_params) (a bad
    row named by its index plus ``index_offset``)."""
    from ._inputs import _as_x0
    try:
        X = _as_x0(x0)
    except ValueError as exc:
        if "NaN" not in str(exc):
            raise ValueError("x0 must have shape (n_problems, n_params), both > 0; "
                             f"got {exc}") from None
        X = np.array(x0, dtype=float)
        if X.ndim != 2:
            raise ValueError("x0 must have shape (n_problems, n_params), both > 0; got "
                             f"shape {X.shape}") from None
        bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
        raise ValueError(f"x0 contains NaN or infinity (problem "
                         f"{bad[0] + index_offset})") from None
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError("x0 must have shape (n_problems, n_params), both > 0; got "
                         f"shape {X.shape}")
    return X


#: minimize_many's own loop options (the rest of minimize's are refused)
_MANY_LOOP = ("maxiter", "gtol", "nan_policy")
#: names refused by name besides minimize's loop options
_MANY_REFUSED = ("data", "callback")


def minimize_many(fun, jac, x0, data=(), args=(), method="adam", options=None,
                  bounds=None, device="cpu"):
    """Minimise many independent problems at once, in parallel, compiled.

    One model, many data sets: ``fun`` describes ONE problem and every row of
    ``x0`` is minimised independently, each with its own optimizer state,
    step count and stopping test, in a compiled loop over blocks of problems
    on numba's number of threads (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``), with no Python between iterations.  The state takes
    ``O(n_problems * n_params)`` memory; there are no per-problem Python
    objects.

    Parameters
    ----------
    fun : numba.njit function or C function pointer
        ``fun(x, *data_i, *args) -> float`` for one problem, or ``(f, g)``
        with ``jac=True``; ``x`` is a read-only 1-D row of ``n_params``.
        It is compiled into the loop (by itself, with its own njit options,
        and ``error_model="numpy"`` unless it sets one: a division by zero
        gives inf or NaN, not ``ZeroDivisionError``); with
        ``njit(cache=True)`` the loop is cached
        on disk too.  Or a C function ``double fg(intptr_t n, const double
        *x, double *grad, intptr_t i, void *user_data)`` (``float`` for
        float32) that returns problem ``i``'s objective and writes its
        gradient: a ``numba.cfunc``, a ``ctypes`` function with ``argtypes``
        and ``restype``, or a ``scipy.LowLevelCallable`` whose ``user_data``
        is passed on (the data then live behind ``user_data``: ``data`` and
        ``args`` must be empty, ``jac=True``); the loop is then compiled
        once per method variant and cached.
    jac : numba.njit function or True
        ``jac(x, *data_i, *args) -> array`` of ``n_params``, or True.
        NumPy's ``out=`` convention: when the function that returns the
        gradient has a parameter named ``out`` right after ``x``, the data
        rows and ``args`` (``fg(x, a, b, out)``), each problem's row of
        ``result.jac`` is passed there; the function writes the gradient
        into it and returns it (``(f, out)`` when fused): no allocation per
        step, 8x faster on 20,000 problems of 4 parameters
        (``bench/results/cpu-vm-20261206-issue15-loops.md``).
    x0 : array_like, shape (n_problems, n_params)
        Starting points, one row per problem; float32 stays float32.
    data : tuple of array_like, optional
        Per-problem data: numeric arrays whose axis 0 is the problem index;
        problem ``i`` receives ``a[i]`` of each (a scalar for a 1-D array).
        At most six arrays.
    args : tuple, optional
        Extra arguments passed whole to every call (NumPy arrays or numbers).
    method : str, default "adam"
        A method of :func:`minimize` whose step is one elementwise pass:
        every method except ``lamb`` and ``prodigy`` (two passes with a
        reduction between), ``muon`` and ``adafactor`` (matrix steps), which
        are refused with an error that says so.
    options : dict, optional
        The method's hyperparameters (``lr`` may be a schedule: every
        problem follows it with its own step count; ``clip_norm`` and
        ``clip_value`` per problem) and ``maxiter`` (default 10000), ``gtol``
        (default 1e-5, per problem, 0 disables it) and ``nan_policy``
        (``"stop"``, the default: a problem whose objective or gradient turns
        NaN or infinite stops with status 3 and the others go on; or
        ``"skip"``: the problem skips that step, counted in ``nskip``, and
        ends with status 3 if its last objective or gradient is still not
        finite).
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        The same box for every problem, one pair per parameter; every
        iterate is projected onto it.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"``: one GPU thread per problem, state in device memory.
        ``fun`` and ``jac`` are then CUDA device functions
        (``@cuda.jit(device=True)``) that write the gradient into an output
        row instead of returning it (device code cannot allocate):
        ``fun(x, g, *data_i) -> f`` with ``jac=True``, or
        ``fun(x, *data_i) -> f`` and ``jac(x, g, *data_i)``; ``args`` is not
        available there (close over constants instead).  Results come back
        as host arrays.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (n_problems, n_params), ``fun``, ``nit``, ``status``,
        ``success`` (status 0), ``nfev``, ``njev`` and ``nskip`` (arrays of
        n_problems), ``jac`` (n_problems, n_params), ``method``, ``summary``
        (dict status -> number of problems) and ``message``.  Statuses:
        0 gradient norm <= gtol, 1 maxiter reached, 3 non-finite.

    Raises
    ------
    Exception
        An exception that ``fun``/``jac`` raise for a problem propagates,
        with a note naming the problem's index (the first such problem: it
        is re-run alone to raise in full, since numba cannot carry an
        exception out of its parallel loop).
    TypeError
        For a ``fun`` whose value is not a real scalar, a gradient of the
        wrong dtype, data that is not numeric or is ``scipy.sparse``.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from numba import njit
    >>> @njit
    ... def fg(x, a, b):             # f = sum(a * (x - b)**2) for one problem
    ...     r = x - b
    ...     return np.sum(a * r * r), 2 * a * r
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.uniform(1, 5, (1000, 3)), rng.standard_normal((1000, 3))
    >>> res = numadam.minimize_many(fg, True, np.zeros((1000, 3)), data=(A, B),
    ...                             options={"lr": 0.05, "maxiter": 5000, "gtol": 1e-8})
    >>> res.summary, bool(np.allclose(res.x, B, atol=1e-6))
    ({0: 1000}, True)
    """
    return _minimize_many(fun, jac, x0, data, args, method, options, bounds, device)


def _minimize_many(fun, jac, x0, data, args, method, options, bounds, device,
                   index_offset=0):
    """:func:`minimize_many`; ``index_offset`` is the global index of row 0 in
    messages (numadam.dask passes each chunk's first problem)."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    from ._cabi import is_pointer
    if is_pointer(fun):
        if device != "cpu":
            raise TypeError("fun: a C objective runs on the CPU only (device='cpu')")
        return _minimize_many_c(fun, jac, x0, data, args, method, options, bounds)
    if device == "cuda":
        return _minimize_many_cuda(fun, jac, x0, data, args, method, options, bounds)
    fused = _njit_objective(fun, jac)
    if not isinstance(args, tuple):
        args = (args,)
    P = _Problems(x0, data, method, options, bounds, _MAX_DATA, index_offset)
    name = _check_first_problem(fun, jac, fused, P.X, P.data, args, index_offset)
    out = _out_argument(fun if fused else jac, len(P.data), len(args))
    status = _Loop(P, fun, jac, fused, out, args).solve()
    _raise_for_codes(P, fun, jac, fused, out, args, status, name, index_offset)
    if P.to_eval_point():
        ends = _Loop(P, fun, jac, fused, out, args).solve()
        P.evaluated()
        _raise_for_codes(P, fun, jac, fused, out, args, ends, name, index_offset)
    return P.result(P.X, P.F, P.G, P.nits, status, nfev=P.nfev(fused), njev=P.njev(),
                    nskip=P.nskip)


#: at most this many per-problem data arrays
_MAX_DATA = 6


def _njit_objective(fun, jac):
    """Whether the gradient comes with ``fun`` (``jac=True``), after the
    checks that ``fun`` and ``jac`` are numba.njit functions."""
    from ._inputs import _is_dispatcher
    fused = jac is True
    if not _is_dispatcher(fun):
        raise TypeError("fun must be a numba.njit function (minimize_many runs the "
                        f"whole loop compiled); got {type(fun).__name__}. For Python "
                        "functions, call numadam.minimize on each problem")
    if not fused and not _is_dispatcher(jac):
        raise TypeError("jac must be a numba.njit function or True; got "
                        f"{type(jac).__name__}")
    return fused


def check_call(fun, jac, x0, data, args, method, options, bounds):
    """Every check of a CPU ``minimize_many`` call that needs no compilation,
    on the problems given (numadam.dask: its first rows, in the caller's
    process, so that a bad argument raises before anything reaches a
    worker): the objective's kind, the method, its options, the data's and
    the bounds' shapes."""
    from ._cabi import is_pointer
    if is_pointer(fun):
        _c_arguments(jac, data, args)
        data = ()
    else:
        _njit_objective(fun, jac)
    _Problems(x0, data, method, options, bounds, _MAX_DATA)


def _c_arguments(jac, data, args):
    """The checks of a C objective's ``jac``, ``data`` and ``args``."""
    if jac is not True:
        raise TypeError("jac must be True with a C objective: the function returns "
                        "the objective and writes the gradient")
    if (data not in ((), None)) or (args not in ((), None)):
        raise TypeError("data and args are not passed to a C objective: it finds "
                        "problem i's data through its user_data (a "
                        "scipy.LowLevelCallable's) and the index i it receives")


def _minimize_many_c(fun, jac, x0, data, args, method, options, bounds):
    """minimize_many with a C objective (see :data:`numadam._cabi.C_SIGNATURES_MANY`):
    the loop is compiled once per method variant and feature set, cached."""
    from ._cabi import from_pointer
    _c_arguments(jac, data, args)
    P = _Problems(x0, (), method, options, bounds, _MAX_DATA)
    cobj = from_pointer(fun, P.X.dtype, many=True)
    args = (np.int64(cobj.fg), np.int64(cobj.user_data))
    status = _Loop(P, None, None, True, False, args).solve()
    _raise_for_lr(P, status)
    if P.to_eval_point():
        _Loop(P, None, None, True, False, args).solve()
        P.evaluated()
    return P.result(P.X, P.F, P.G, P.nits, status, nfev=P.nfev(True), njev=P.njev(),
                    nskip=P.nskip)


class _Loop:
    """minimize_many's CPU loop (:mod:`numadam._kernels.many_loop`) on the
    problems ``P``: the generated module, its state arrays, and the chunks."""

    def __init__(self, P, fun, jac, fused, out, args):
        from ._kernels.many_loop import block_size
        self.P, self.args = P, args
        X = P.X
        n_problems, n = X.shape
        self.B = B = block_size(n)
        nb = (n_problems + B - 1) // B
        n_host = max(len(P.host0), 1)
        self.status = np.zeros(n_problems, np.int64)
        self.own = np.zeros(n_problems, np.bool_)
        self.own_t = np.zeros(n_problems, np.int64)
        self.own_h = np.zeros((n_problems, n_host))
        self.bt = np.zeros(nb, np.int64)
        self.bh = np.zeros((nb, n_host))
        self.bh[:, :len(P.host0)] = P.host0
        self.bnit = np.full(nb, -1, np.int64)
        self.flags = np.zeros((nb, B * n), np.int8)
        # the problem each block is evaluating, one cache line per block (two
        # threads writing one line would pass it back and forth)
        self.cur = np.zeros((nb, 8), np.int64)
        spec, opts = P.spec, P.opts
        kernels = spec.kernel(opts, n)
        features = (P.box is not None, P.clip_norm > 0.0, P.policy == "skip",
                    P.gtol > 0.0, kernels.agree(1) is not None)
        self.module = None
        # numba's thread count (NUMBA_NUM_THREADS, numba.set_num_threads), no
        # more than there are blocks
        import numba
        self.threads = max(1, min(numba.get_num_threads(), nb))
        self._make = lambda inline: _module(kernels, features, fun, jac, fused, out,
                                            P.data, len(args), X.dtype,
                                            tuple(a.dtype for a in P.arrays), inline, n)

    def _rest(self, chunk):
        """The loop's arguments after the range of blocks."""
        P = self.P
        lb, ub = P.box if P.box is not None else (P.X[0, :0], P.X[0, :0])
        return (self.B, P.X, P.G, P.F, P.arrays, P.data, self.args, P.hyper, P.lr_const,
                P.lr_table, P.maxiter, P.gtol, P.clip_norm, lb, ub, P.gsign, self.status,
                P.nits, P.nskip, self.own, self.own_t, self.own_h, self.bt, self.bh,
                self.bnit, self.flags, self.cur, chunk)

    def _call(self, chunk):
        """``chunk`` iterations of every block, on numba's number of threads
        (each thread a contiguous share of the blocks: interleaved, two
        threads wrote the cache lines where their blocks meet every
        iteration, 1.6x slower); the number of problems still running."""
        rest = self._rest(chunk)
        T = self.threads
        nb = self.bnit.size
        if T == 1:
            self.module.run(0, nb, *rest)
        else:
            cuts = [nb * k // T for k in range(T + 1)]
            for f in [_pool(T).submit(self.module.run, cuts[k], cuts[k + 1], *rest)
                      for k in range(T)]:
                f.result()
        return int(np.count_nonzero(self.status == _ACTIVE))

    def _first(self, chunk):
        """The first call, which compiles: the user's functions inlined, else
        called (numba cannot inline every function)."""
        from numba.core.errors import NumbaError
        # compiled here, in this thread (a call on no block), so that a
        # compilation error is raised here
        try:
            self.module = self._make(True)
            self.module.run(0, 0, *self._rest(chunk))
        except NumbaError:
            try:
                self.module = self._make(False)
                self.module.run(0, 0, *self._rest(chunk))
            except NumbaError as exc:
                self._compile_error(exc)
        return self._call(chunk)

    def _compile_error(self, exc):
        """numba's typing error as a TypeError that says what fun must return."""
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        X = self.P.X
        raise TypeError(
            "minimize_many could not compile its loop for this fun/jac and data "
            f"(numba: {first[:200]}); fun must return a float for one problem "
            f"(with jac=True a tuple (float, array of {X.shape[1]} {X.dtype})) and "
            f"jac an array of {X.shape[1]} {X.dtype}") from None

    def solve(self):
        """Run every problem to its end, in chunks of about CHUNK_SECONDS
        (Python handles Ctrl-C between them); the statuses."""
        import time

        from ._compiled import CHUNK_SECONDS
        chunk = 4
        remaining = self.P.maxiter + 1
        first = True
        while True:
            chunk = min(chunk, remaining)
            started = time.perf_counter()
            left = self._first(chunk) if first else self._call(chunk)
            elapsed = time.perf_counter() - started
            remaining -= chunk
            if left == 0 or remaining <= 0 or self._stopped_with_error():
                return self.status
            if not first:
                chunk = int(min(max(chunk * CHUNK_SECONDS / max(elapsed, 1e-6), 1),
                                chunk * 4, 1 << 20))
            first = False

    def _stopped_with_error(self):
        from ._kernels import loop as L
        return bool(np.isin(self.status, (L.RAISED, L.BAD_SHAPE, L.NEED_LR)).any())


_ACTIVE = 99   # numadam._kernels.many_loop.ACTIVE (not imported: it imports numba)
_POOLS = {}


def _pool(threads):
    """A thread pool of ``threads`` workers, made once per process (the
    loop's calls release the GIL; a forked child makes its own: the parent's
    threads are not in it)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ._kernels.generate import _LOCK
    key = (os.getpid(), threads)
    with _LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="numadam-many")
        return _POOLS[key]


def _module(kernels, features, fun, jac, fused, out, data, n_args, dtype, state_dtypes,
            inline, n):
    """The generated loop, memoised in-process by the identity of the user's
    functions (kept alive by the entry) and what else shapes the module
    (problems of ``n`` parameters: up to ``many_loop.CONST_ROW``, ``n`` is a
    constant of the module)."""
    from ._kernels.generate import _LOCK
    from ._kernels.many_loop import CONST_ROW, many_module
    nrow = n if n <= CONST_ROW else 0
    key = ("many", tuple(features), id(fun), id(jac), fused, out,
           tuple((a.dtype.str, a.ndim) for a in data), n_args, np.dtype(dtype).str,
           tuple(np.dtype(d).str for d in state_dtypes), inline, nrow)
    with _LOCK:
        entry = kernels._loop.get(key)
        if entry is None:
            entry = kernels._loop[key] = (many_module(
                kernels, features, fun, jac, fused, out, data, n_args, dtype,
                state_dtypes, inline, nrow), (fun, jac))
    return entry[0]


def _out_argument(fn, n_data, n_args):
    """Whether the gradient function takes numpy's ``out=`` (then each problem's
    row of ``result.jac`` is passed as its last argument, after the data rows
    and ``args``)."""
    from ._inputs import _out_position
    at = _out_position(fn)
    if at is None:
        return False
    if at != 1 + n_data + n_args:
        raise TypeError(f"{getattr(fn, '__name__', 'the gradient function')}'s "
                        f"parameter 'out' must come right after x, the {n_data} data "
                        f"rows and the {n_args} args (position {1 + n_data + n_args}); "
                        f"it is at position {at}" if at >= 0 else
                        "the parameter 'out' must not be keyword-only: minimize_many "
                        "passes it positionally, after x, the data rows and args")
    return True


def _check_first_problem(fun, jac, fused, X, data, args, index_offset):
    """Call the user's functions on the first problem from Python, for clear
    errors; returns what the gradient is called in messages.  (A
    ``ZeroDivisionError`` -- Python's error model, which the loop does not
    use unless the function asks for it -- moves the check to the next
    problem: in the loop that problem gets inf or NaN, status 3.)"""
    from ._inputs import _scalar
    n = X.shape[1]
    extra = ((np.empty(n, X.dtype),)
             if _out_argument(fun if fused else jac, len(data), len(args)) else ())
    fargs, jargs = args + (extra if fused else ()), args + (() if fused else extra)
    name = "fun's gradient" if fused else "jac"
    python_model = any(getattr(f, "targetoptions", {}).get("error_model") == "python"
                       for f in (fun, jac) if f is not True)
    for i in range(X.shape[0]):
        d0 = tuple(a[i] for a in data)
        xr0 = X[i].copy()
        xr0.flags.writeable = False
        shapes = (f"x of shape {xr0.shape} and data rows of shapes "
                  f"{[np.shape(d) for d in d0]}")
        try:
            out0 = fun(xr0, *d0, *fargs)
            g0 = out0[1] if fused and isinstance(out0, tuple) else (
                None if fused else jac(xr0, *d0, *jargs))
            break
        except ZeroDivisionError as exc:
            if python_model:
                _note(exc, f"raised by fun/jac for problem {i + index_offset} of "
                           f"minimize_many, called with {shapes}")
                raise
        except Exception as exc:  # noqa: BLE001 - re-raised, with what it was given
            _note(exc, f"raised by fun/jac for problem {i + index_offset} of "
                       f"minimize_many, called with {shapes}")
            raise
    else:
        return name      # every problem divides by zero: each gets status 3
    if fused:
        if not (isinstance(out0, tuple) and len(out0) == 2):
            raise TypeError("with jac=True, fun must return (f, g) for one problem; "
                            f"got {type(out0).__name__}")
    value = out0[0] if fused else out0
    _scalar(value)
    if isinstance(value, np.ndarray):   # compiled into the loop as it is
        raise TypeError(f"fun must return a number as the objective of one problem; got "
                        f"a {value.dtype} array of shape {value.shape} (return its "
                        "element)")
    if not isinstance(g0, np.ndarray) or g0.shape != (n,):
        raise ValueError(f"{name} must return an array of shape ({n},) for one problem; "
                         f"got {type(g0).__name__} of shape {np.shape(g0)}")
    if g0.dtype != X.dtype:
        raise TypeError(f"{name} must return {X.dtype} for {X.dtype} x0; got {g0.dtype}")
    return name


def _raise_for_codes(P, fun, jac, fused, out, args, status, name, index_offset):
    """The errors of problems whose loop stopped with an error code."""
    from ._kernels import loop as L
    raised = np.flatnonzero(status == L.RAISED)
    if raised.size:
        # numba cannot carry the exception out of its parallel loop: the
        # function is called again from Python, at the x where it raised
        i = int(raised[0])
        fn = fun if fused else jac
        x = P.X[i].copy()
        x.flags.writeable = False
        extra = (np.empty_like(x),) if out else ()
        try:
            fn(x, *(a[i] for a in P.data), *args, *extra)
            if not fused:
                fun(x, *(a[i] for a in P.data), *args)
        except Exception as exc:  # noqa: BLE001 - re-raised, naming the problem
            _note(exc, f"raised by fun/jac for problem {i + index_offset} of "
                       f"minimize_many ({raised.size} problem(s) raised; the first "
                       "is reported)")
            raise
        raise RuntimeError(f"fun/jac raised an exception for problem "
                           f"{i + index_offset} inside the parallel loop, but not "
                           "when called again from Python at the same x (a function "
                           "with state?)")
    if (status == L.BAD_SHAPE).any():
        i = int(np.flatnonzero(status == L.BAD_SHAPE)[0])
        raise ValueError(f"{name} returned an array of the wrong shape for problem "
                         f"{i + index_offset}")
    _raise_for_lr(P, status)


def _raise_for_lr(P, status):
    """The schedule's own error where a problem needed a learning rate that
    the schedule refused (status NEED_LR), as minimize raises it."""
    from ._kernels import loop as L
    if (status == L.NEED_LR).any():
        check_lr(P.schedule, P.lr_table.size)   # raises the schedule's error
        raise AssertionError("unreachable: the schedule failed while tabulating")


def _note(exc, text):
    """Add ``text`` to an exception's report (a note, Python >= 3.11)."""
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    exc.numadam_note = text


def _minimize_many_cuda(fun, jac, x0, data, args, method, options, bounds):
    """minimize_many on the GPU: one thread per problem."""
    import numadam

    numadam.cuda._require("device='cuda'")
    from numba import cuda

    from ._kernels import cuda as K
    from ._kernels import loop

    if args not in ((), None):
        raise TypeError("args is not available with device='cuda': close over constants "
                        "in the device functions, or pass them as per-problem data")
    fused = jac is True
    if not fused and not callable(jac):
        raise TypeError("jac must be a CUDA device function or True")
    P = _Problems(x0, data, method, options, bounds, 6)
    X, spec, opts = P.X, P.spec, P.opts
    if P.schedule is not None and P.lr_table.size < P.maxiter + 1:
        check_lr(P.schedule, P.lr_table.size)   # the GPU reads the whole table
    n_problems = X.shape[0]
    n_scalars = len(P.scalar_fn(P.hyper, 1, 1e-3, 1.0, P.host0)[0])
    loop.scalar_fn(P.scalar_fn)   # registered for numba.cuda too
    kernels = spec.kernel(opts, X.shape[1])
    kernel = K.many_kernel(fun, jac, fused, kernels.at, P.scalar_fn, n_scalars,
                           spec.bools(), len(P.arrays), len(P.data), X.dtype,
                           kernels.agree_at, lowp=kernels.fmt is not None, row=kernels.row)
    Xd = cuda.to_device(X)
    Gd = cuda.to_device(np.zeros_like(X))
    arrays = tuple(cuda.to_device(a) for a in P.arrays) or (
        cuda.to_device(np.zeros((1, 0))),)
    Dd = tuple(cuda.to_device(a) for a in P.data) or (cuda.to_device(np.zeros(1)),)
    lb, ub = P.box if P.box is not None else (np.zeros(0, X.dtype), np.zeros(0, X.dtype))
    threads = 16 if K.config.ENABLE_CUDASIM else 128
    blocks = (n_problems + threads - 1) // threads

    def launch(Xd):
        """Run the kernel for P.maxiter steps: (f, nit, status, nskip) on the host."""
        out_f = cuda.to_device(np.zeros(n_problems))
        out_nit = cuda.to_device(np.zeros(n_problems, np.int64))
        out_status = cuda.to_device(np.zeros(n_problems, np.int64))
        out_nskip = cuda.to_device(np.zeros(n_problems, np.int64))
        with K.wrapping():
            kernel[blocks, threads](Xd, Gd, *arrays, *Dd, P.hyper, P.host0, P.lr_const,
                                    cuda.to_device(P.lr_table), P.clip_norm, P.maxiter,
                                    P.gtol, P.box is not None, cuda.to_device(lb),
                                    cuda.to_device(ub), P.gsign, P.policy == "skip", out_f,
                                    out_nit, out_status, out_nskip)
        cuda.synchronize()
        return (out_f.copy_to_host(), out_nit.copy_to_host(), out_status.copy_to_host(),
                out_nskip.copy_to_host())

    f, nit, status, nskip = launch(Xd)
    P.nits[:] = nit
    if P.spec.modes is not None:
        # Schedule-Free: every problem's eval point, evaluated there (maxiter 0)
        P.X = Xd.copy_to_host()
        P.arrays = tuple(a.copy_to_host() for a in arrays[:len(P.arrays)])
        P.to_eval_point()
        Xd = cuda.to_device(P.X)
        f = launch(Xd)[0]
        P.evaluated()
    # (the kernel evaluates fun with the gradient at every iterate, jac=True or not)
    return P.result(Xd.copy_to_host(), f, Gd.copy_to_host(), nit, status, device="cuda",
                    nfev=P.njev(), njev=P.njev(), nskip=nskip)



class _Problems:
    """What both minimize_many paths prepare: options, problems, data, state, box."""

    def __init__(self, x0, data, method, options, bounds, max_data, index_offset=0):
        from ._inputs import _bounds, _float_option, _int_option
        from ._optimizers import Optimizer

        self.spec = spec = get_method(method)
        spec.refuse_two_pass("minimize_many")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict; got {type(options).__name__}")
        options = {} if options is None else dict(options)
        from ._methods import MINIMIZE_OPTIONS
        # minimize's loop options that this loop does not take: said so by name
        for key in options:
            if key in _MANY_REFUSED or key in MINIMIZE_OPTIONS and key not in _MANY_LOOP:
                raise TypeError(f"option {key!r} is not available in minimize_many (its "
                                f"loop takes {', '.join(_MANY_LOOP)})")
        spec.check_known(options, loop=_MANY_LOOP)
        self.maxiter = _int_option(options, "maxiter", 10000, 0)
        self.gtol = _float_option(options, "gtol", 1e-5, 0.0)
        self.policy = options.pop("nan_policy", "stop")
        if self.policy not in ("stop", "skip"):
            raise ValueError("option 'nan_policy' of minimize_many must be 'stop' or "
                             "'skip' (each problem gets its own status); got "
                             f"{self.policy!r}")
        self.X = X = _as_problems(x0, index_offset)
        n_problems = X.shape[0]
        self.data = _data_arrays(data, n_problems, max_data)
        # the per-problem state, from the stateful optimizer's own definition
        self.opts = opts = Optimizer(X[0].copy(), method=spec.name, **options)._opts
        names = spec.state_names(opts, X.shape[1])   # (int8: by one problem's size)
        init = spec.init_state(opts, X[0])
        self._names = names
        self.box = None if bounds is None else _bounds(bounds, X[0])
        if self.box is not None:
            X[...] = np.clip(X, self.box[0], self.box[1])
        from ._methods import PARAMS
        starts = {s.name: s.init is PARAMS for s in spec.rule.present(opts)}
        # each problem's own copy of its start where the state begins as one
        # (Schedule-Free's z), else the state's initial value repeated
        self.arrays = tuple(X.copy() if starts.get(k) else
                            np.repeat(init[k][None, :], n_problems, axis=0)
                            for k in names)
        schedule = opts["lr"] if callable(opts["lr"]) else None
        if schedule is not None:
            if self.maxiter > 1 << 24:
                raise ValueError("with a schedule, minimize_many tabulates lr for every "
                                 "step: use maxiter <= 16777216")
            from ._inputs import _lr_table
            # tabulated up to the first refused step count: a problem that
            # needs it raises the schedule's error (as minimize would)
            self.lr_table = _lr_table(schedule, 0, self.maxiter + 1)
            self.lr_const = 0.0
            if self.maxiter > 0 and self.lr_table.size == 0:
                # refused at step 0: an empty table would read as no schedule
                # (lr_const): the schedule's own error, now
                check_lr(schedule, 0)
        else:
            self.lr_table, self.lr_const = np.empty(0), opts["lr"]
        self.schedule = schedule
        # the outputs: each problem's last objective and gradient, its
        # iterations and skipped steps
        self.F = np.full(n_problems, np.nan)
        self.G = np.zeros_like(X)
        self.nits = np.zeros(n_problems, np.int64)
        self.nskip = np.zeros(n_problems, np.int64)
        self.extra_evals = 0
        self.scalar_fn = spec.scalar_fn(opts)
        self.hyper, self.host0 = spec.hyper(opts), spec.init_host(opts)
        self.gsign = -1.0 if opts["maximize"] else 1.0
        self.clip_norm = opts["clip_norm"] or 0.0

    def nfev(self, fused):
        """Objective evaluations per problem: one per iteration and the first
        with ``jac=True``, else one at the end (and one more at Schedule-Free's
        eval point)."""
        return (self.nits + 1 if fused else np.ones_like(self.nits)) + self.extra_evals

    def njev(self):
        """Gradient evaluations per problem."""
        return self.nits + 1 + self.extra_evals

    def to_eval_point(self):
        """For a method with train and eval points (Schedule-Free): move every
        problem's parameters to its eval point and set up one evaluation there
        (a pass of the loop with ``maxiter = 0``: each problem's ``F`` and
        ``G`` at the point returned).  False for the other methods."""
        modes = self.spec.modes
        if modes is None:
            return False
        state = {name: a.reshape(-1) for name, a in zip(self._names, self.arrays)}
        modes.to_eval(self.X.reshape(-1), state, self.opts)
        self._kept = (self.nits.copy(), self.nskip.copy(), self.maxiter)
        self.maxiter = 0
        return True

    def evaluated(self):
        """After the evaluation pass: the run's own counts back."""
        nits, nskip, self.maxiter = self._kept
        self.nits[:], self.nskip[:] = nits, nskip
        self.extra_evals = 1

    def result(self, x, f, g, nit, status, **extra):
        from scipy.optimize import OptimizeResult
        counts = {int(s): int(c) for s, c in zip(*np.unique(status, return_counts=True))}
        parts = [f"{c} with status {s} ({MANY_STATUS_MESSAGES[s]})"
                 for s, c in sorted(counts.items())]
        return OptimizeResult(
            x=x, fun=f, jac=g, nit=nit, status=status, success=status == 0,
            method=self.spec.name, summary=counts,
            message=f"{len(status)} problems: " + "; ".join(parts) + ".", **extra)


def _data_arrays(data, n_problems, max_data):
    """The per-problem data arrays, checked: one entry per problem along axis 0."""
    if isinstance(data, list) and data and all(
            isinstance(v, numbers.Number) for v in data):
        raise TypeError("data must be a tuple of arrays, one per data argument of "
                        f"fun; got a list of {len(data)} numbers. For one array of "
                        "per-problem values pass data=(np.array([...]),)")
    if data is None:   # (minimize's default)
        data = ()
    if not isinstance(data, tuple):
        data = (data,) if isinstance(data, np.ndarray) else tuple(data)
    if len(data) > max_data:
        raise ValueError(f"data may hold at most {max_data} arrays; got {len(data)}")
    arrays = tuple(_as_data(a, k) for k, a in enumerate(data))
    for k, a in enumerate(arrays):
        if a.ndim == 0 or len(a) != n_problems:
            raise ValueError(f"data[{k}] must have one entry per problem along axis "
                             f"0 ({n_problems}); got shape {a.shape}")
    return arrays


def _as_data(a, k):
    """Per-problem data array ``k`` as a native-order contiguous numeric array."""
    from ._inputs import _is_sparse
    if _is_sparse(a):
        raise TypeError(f"data[{k}] is a scipy.sparse {type(a).__name__}: sparse data "
                        "is supported only by numadam.minimize's ordinary loop; "
                        "minimize_many needs dense per-problem arrays")
    try:
        arr = np.asarray(a)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"data[{k}] must be an array; got {type(a).__name__}") from exc
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "f" and arr.dtype.itemsize not in (4, 8):
        raise TypeError(f"data[{k}] must hold numbers (bool, int, float32 or float64) for "
                        f"the compiled loop; got dtype {arr.dtype}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.require(arr, requirements="C")   # (a 0-d array stays 0-d: refused by shape)

