"""``numadam.minimize``: scipy.optimize's front door to the fused optimizers."""
import contextlib
import inspect
import math
import numbers
import os
import sys
import time

import numpy as np

from . import _kernels
from ._kernels import _scalars
from ._methods import LOOP_OPTIONS, get_method
from ._optimizers import Optimizer
from .schedules import check_lr

__all__ = ["minimize", "scipy_method", "STATUS_MESSAGES"]

#: ``status`` -> ``message`` of :func:`minimize`'s result.
STATUS_MESSAGES = {
    0: "Optimization terminated successfully: the gradient norm fell below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    2: "The requested number of epochs has been completed.",
    3: "The objective or its gradient was NaN or infinite; x is the last "
       "iterate, where it was evaluated.",
    4: "Optimization terminated successfully: the smoothed loss stopped "
       "improving (patience).",
    99: "`callback` raised `StopIteration`.",
}
#: statuses that count as ``success``
_SUCCESS = (0, 4)

_UNLIMITED = sys.maxsize

#: the compiled loop runs in chunks of about this many seconds; Python handles
#: signals (Ctrl-C) between them
CHUNK_SECONDS = 0.05


def _lr_table(schedule, t0, size):
    """``schedule(t0 + k)`` for ``k < size``, stopping before the first step
    count whose learning rate is refused (the compiled loop then returns to
    Python, which raises the schedule's error where the ordinary loop does)."""
    table = np.empty(size)
    for k in range(size):
        try:
            table[k] = check_lr(schedule, t0 + k)
        except Exception:  # noqa: BLE001 - re-raised by the loop when reached
            return table[:k]
    return table


def _as_x0(x0, name="x0"):
    """x0 as a fresh C-contiguous float32/float64 array of its own shape (0-d
    included), in native byte order."""
    if isinstance(x0, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers; got "
                        f"{type(x0).__name__} {x0!r}")
    if _is_sparse(x0):
        raise TypeError(f"{name} must be a dense array; got a scipy.sparse "
                        f"{type(x0).__name__}")
    try:
        x = np.array(x0, copy=True)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{name} must be an array of real numbers; got "
                        f"{type(x0).__name__}") from exc
    if x.dtype.kind in "iub":
        x = x.astype(np.float64)
    elif x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))   # big-endian input: native order
    elif x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be real: float32, float64 or integer (taken as "
                        f"float64); got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return np.require(x, requirements="C")   # keeps a 0-d array 0-d


def _is_sparse(a):
    """Whether ``a`` is a scipy.sparse matrix or array (scipy imported only if
    it already is)."""
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(a)


def _int_option(options, name, default, low, allow_none=False):
    value = options.pop(name, default)
    if value is None and allow_none:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"option {name!r} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"option {name!r} must be >= {low}; got {value}")
    return int(value)


def _float_option(options, name, default, low, high=None):
    value = options.pop(name, default)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"option {name!r} must be a real number; got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= low and (high is None or value < high)):
        rng = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"option {name!r} must be finite and {rng}; got {value}")
    return value


def _bool_option(options, name, default):
    value = options.pop(name, default)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"option {name!r} must be True or False; got {value!r}")
    return bool(value)


_DATA_OPTIONS = ("epochs", "batch_size", "shuffle", "drop_last")


def _loop_options(options, has_data):
    """Pop minimize's own options (the rest belong to the method)."""
    if not has_data:
        given = [k for k in _DATA_OPTIONS if k in options]
        if given:
            raise TypeError(f"option {given[0]!r} needs per-sample data: pass "
                            "data=(X, y, ...) to minimize")
    D = {name: default for name, (default, _) in LOOP_OPTIONS.items()}
    epochs = _int_option(options, "epochs", D["epochs"], 1, allow_none=True)
    default_maxiter = D["maxiter"] if epochs is None else _UNLIMITED
    loop = {
        "maxiter": _int_option(options, "maxiter", default_maxiter, 0),
        "gtol": _float_option(options, "gtol", D["gtol"], 0.0),
        "epochs": epochs,
        "batch_size": options.pop("batch_size", D["batch_size"]),
        "shuffle": _bool_option(options, "shuffle", D["shuffle"]),
        "drop_last": _bool_option(options, "drop_last", D["drop_last"]),
        "history": _int_option(options, "history", D["history"], 0),
        "patience": _int_option(options, "patience", D["patience"], 1, allow_none=True),
        "ema": _float_option(options, "ema", D["ema"], 0.0, 1.0),
        "min_delta": _float_option(options, "min_delta", D["min_delta"], 0.0),
        "disp": _bool_option(options, "disp", D["disp"]),
        "nan_policy": options.pop("nan_policy", D["nan_policy"]),
        "checkpoint": options.pop("checkpoint", D["checkpoint"]),
        "checkpoint_every": _int_option(options, "checkpoint_every", D["checkpoint_every"], 1),
        "resume": options.pop("resume", D["resume"]),
        "compiled": options.pop("compiled", D["compiled"]),
    }
    if not (loop["compiled"] is True or loop["compiled"] is False
            or loop["compiled"] == "auto"):
        raise ValueError("option 'compiled' must be 'auto', True or False; got "
                         f"{loop['compiled']!r}")
    if loop["nan_policy"] not in ("stop", "raise", "skip"):
        raise ValueError("option 'nan_policy' must be 'stop', 'raise' or 'skip'; got "
                         f"{loop['nan_policy']!r}")
    for key in ("checkpoint", "resume"):
        value = loop[key]
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"option {key!r} must be a file path; got {value!r}")
    return loop


#: options that define the sample order or the recorded state: a resumed run
#: cannot change them
_FIXED_ON_RESUME = ("batch_size", "shuffle", "drop_last", "history", "patience", "ema",
                    "min_delta")


def _read_resume(path, spec):
    """The checkpoint of a ``minimize`` run and the options it recorded."""
    from . import _checkpoint
    meta, arrays = _checkpoint.read(path, "minimize")
    name = os.fspath(path)
    method = meta.get("optimizer", {}).get("method") if isinstance(
        meta.get("optimizer"), dict) else None
    if method != spec.name:
        raise ValueError(f"checkpoint {name!r} does not fit this run: it is a "
                         f"{method!r} run, this run uses {spec.name!r}")
    try:
        loop = dict(meta["loop"])
        if loop.get("maxiter", 0) is None:
            loop["maxiter"] = _UNLIMITED
        options = {**loop, **_checkpoint.decode_options(meta["optimizer"]["options"])}
        for key in ("data_sha", "bounded", "rng_seed"):
            meta[key]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"checkpoint {name!r} is not a valid minimize state (it lacks "
                         f"the options it was run with: {exc!r})") from None
    return {"meta": meta, "arrays": arrays, "options": options}


def _changed_options(recorded, given):
    """``{name: (recorded, given)}`` for the options a resumed call changes;
    refuses those that cannot change."""
    from . import _checkpoint
    changed = {}
    for key, value in given.items():
        if key in ("checkpoint", "disp", "compiled"):
            continue
        old = recorded.get(key)
        try:
            same = _checkpoint.encode_options({key: old}) == _checkpoint.encode_options(
                {key: value})
        except ValueError:   # a plain callable lr: not comparable, so a change
            same = old is value
        if not same:
            changed[key] = (old, value)
    fixed = [k for k in changed if k in _FIXED_ON_RESUME]
    if fixed:
        raise ValueError(
            f"option{'s' if len(fixed) > 1 else ''} {', '.join(map(repr, fixed))} "
            "cannot change when resuming (the checkpoint's sample order and recorded "
            "state depend on them): "
            + "; ".join(f"{k} was {changed[k][0]!r}, this call gives {changed[k][1]!r}"
                        for k in fixed))
    return changed


def _seed_of(root):
    """What identifies the run's seed: its SeedSequence's entropy and spawn key."""
    ss = root.bit_generator.seed_seq
    return [str(ss.entropy), [int(k) for k in ss.spawn_key]]


def _check_writable(path):
    """Refuse a checkpoint path that cannot be written, before the first step."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"option 'checkpoint' is a directory: {path!r}; give a file "
                         "path")
    if not os.path.isdir(folder):
        raise ValueError(f"option 'checkpoint': the directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"option 'checkpoint': the directory {folder!r} is not "
                         "writable")


def _is_dispatcher(fn):
    from numba.core.registry import CPUDispatcher
    return isinstance(fn, CPUDispatcher)


def _compiled_path(fun, jac, fused, loop, callback, data, takes_rng):
    """Whether minimize runs the whole loop in nopython mode (see its Notes)."""
    wanted = loop["compiled"]
    if wanted is False:
        return False
    reasons = []
    if not (_is_dispatcher(fun) and (fused or _is_dispatcher(jac))):
        reasons.append("fun and jac are not numba.njit functions")
    for name, on in (("callback", callback is not None), ("data", data is not None),
                     ("patience", loop["patience"] is not None), ("disp", loop["disp"]),
                     ("checkpoint", loop["checkpoint"] is not None),
                     ("resume", loop["resume"] is not None),
                     ("an rng parameter of fun/jac", takes_rng)):
        if on:
            reasons.append(name)
    if reasons and wanted is True:
        raise ValueError("option compiled=True needs numba.njit fun/jac and none of "
                         "callback, data, patience, disp, checkpoint, resume, or an "
                         f"rng parameter; here: {', '.join(reasons)}")
    return not reasons


def _takes_rng(fn):
    """Whether ``fn`` accepts an ``rng`` keyword (then numadam passes one)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("rng")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _bound_number(v):
    if isinstance(v, (str, bytes, bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"not a real number: {v!r}")
    return float(v)


def _bound_array(v, which):
    a = np.asarray(v)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"bounds must be real numbers; got a {which} bound of dtype "
                        f"{a.dtype} ({v!r})")
    return a.astype(np.float64)


def _bounds(bounds, x):
    """``(lb, ub)`` flat arrays of x's dtype, or None when unbounded."""
    from scipy.optimize import Bounds

    n = x.size
    if isinstance(bounds, Bounds):
        lb, ub = bounds.lb, bounds.ub
        try:
            lb, ub = (_bound_array(v, "low") for v in (lb, ub))
            # one bound per element of x0, of its shape (any shape) or flat
            lb, ub = (np.broadcast_to(v, x.shape).reshape(n) if v.ndim > 1
                      or v.shape == x.shape else np.broadcast_to(v, (n,))
                      for v in (lb, ub))
        except ValueError:
            raise ValueError(f"bounds must have one (low, high) per parameter: "
                             f"{n}; got Bounds of shapes {np.shape(bounds.lb)} "
                             f"and {np.shape(bounds.ub)}") from None
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError("bounds must be a scipy.optimize.Bounds or a "
                            "sequence of (low, high) pairs; got "
                            f"{type(bounds).__name__}") from None
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (low, high) pair per "
                             f"parameter: {n}; got {len(pairs)}")
        lb = np.empty(n)
        ub = np.empty(n)
        for i, pair in enumerate(pairs):
            try:
                lo, hi = pair
                lb[i] = -np.inf if lo is None else _bound_number(lo)
                ub[i] = np.inf if hi is None else _bound_number(hi)
            except (TypeError, ValueError):
                raise TypeError(f"bounds[{i}] must be a (low, high) pair of "
                                f"numbers or None; got {pair!r}") from None
    if np.isnan(lb).any() or np.isnan(ub).any():
        raise ValueError("bounds contain NaN")
    bad = np.flatnonzero(lb > ub)
    if bad.size:
        i = bad[0]
        raise ValueError(f"bounds[{i}] has low {lb[i]} > high {ub[i]}")
    if np.isneginf(lb).all() and np.isposinf(ub).all():
        return None
    return lb.astype(x.dtype), ub.astype(x.dtype)


def _as_rng(rng):
    """The run's root generator from ``rng`` (None, an int seed, a Generator)."""
    if isinstance(rng, np.random.RandomState) or (
            isinstance(rng, (bool, np.bool_, float, str, bytes))):
        raise TypeError(
            "rng must be None, an int seed >= 0 or a numpy.random.Generator "
            f"(numadam spawns independent streams from it); got {rng!r}"
            + (": use np.random.default_rng(seed) instead of the legacy "
               "RandomState" if isinstance(rng, np.random.RandomState) else ""))
    try:
        root = np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise TypeError("rng must be None, an int seed >= 0 or a "
                        f"numpy.random.Generator; got {rng!r}: {exc}") from None
    if not isinstance(getattr(root.bit_generator, "seed_seq", None),
                      np.random.SeedSequence):
        raise TypeError("rng must be a numpy.random.Generator whose bit generator was "
                        "seeded with a SeedSequence (numadam spawns independent "
                        f"streams from it); got {rng!r}: use np.random.default_rng(seed)")
    return root


def _callback_style(callback):
    """'new' for callback(intermediate_result), 'legacy' for callback(xk)."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable or None; got "
                        f"{type(callback).__name__}")
    try:
        params = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        return "legacy"
    return "new" if params == ["intermediate_result"] else "legacy"


def minimize(fun, jac, x0, method="adam", args=(), options=None, callback=None,
             bounds=None, data=None, rng=None, device="cpu"):
    """Minimize a function with a first-order stochastic method.

    SciPy's calling conventions, torch.optim's methods and hyperparameters,
    one fused kernel call per step; optionally minibatches of per-sample
    data, learning-rate schedules, gradient clipping, a patience rule,
    history and a progress bar.

    Parameters
    ----------
    fun : callable
        The objective, ``fun(x, *batch, *args) -> float``; with ``jac=True``
        it returns ``(f, g)``.  ``x`` has ``x0``'s shape and dtype; it is a
        read-only view of the optimizer's iterate, which the next step
        changes in place: copy it if you keep it.  ``batch`` is present only
        with ``data``.  If ``fun`` has a parameter named ``rng`` it receives
        numadam's generator for the objective (see ``rng`` below).
    jac : callable or True
        The gradient, ``jac(x, *batch, *args) -> array`` of ``x0``'s shape,
        or True when ``fun`` returns the objective and the gradient together
        (one call per step).  The gradient is converted to ``x0``'s dtype.
        It may be stochastic: a parameter named ``rng`` receives numadam's
        generator, so runs repeat.
    x0 : array_like
        Starting point, any shape.  float32 stays float32 (the whole run is
        in float32), float64 stays float64, integers become float64.
    method : str, default "adam"
        One of ``adam``, ``adamw``, ``amsgrad``, ``adamax``, ``nadam``,
        ``radam``, ``sgd``, ``rmsprop``, ``adagrad`` (case-insensitive).
    args : tuple, optional
        Extra arguments passed whole to ``fun`` and ``jac`` after the batch.
    options : dict, optional
        The method's hyperparameters under torch.optim's keyword names (see
        :func:`show_options`; ``lr`` may be a schedule from
        :mod:`numadam.schedules` or any callable of the step count;
        ``clip_norm`` and ``clip_value`` clip the gradient) and the loop's:

        maxiter : int, default 10000 (unlimited when ``epochs`` is given)
            Maximum number of steps.
        gtol : float, default 1e-5
            Stop when the Euclidean norm of the gradient (before clipping;
            the minibatch gradient with ``data``) is ``<= gtol``, tested
            before each step; ``0`` disables the test.  With ``bounds``, the
            components that the box blocks are left out of the norm, as
            L-BFGS-B's ``pgtol`` does.
        epochs : int, optional
            With ``data``: stop after this many passes over the samples.
        batch_size : int, default 32
            With ``data``: samples per minibatch, >= 1; a larger one gives one
            batch of all the samples per epoch.  The last batch of an epoch
            holds the remaining ``n % batch_size`` samples ...
        drop_last : bool, default False
            ... unless this drops it (each epoch then has
            ``n // batch_size`` full batches; a ``batch_size`` larger than
            the number of samples is then a ``ValueError``).
        shuffle : bool, default True
            With ``data``: draw a new random order of the samples at the
            start of every epoch (else batches are consecutive samples).
        history : int, default 0
            Record ``step, epoch, loss, grad_norm, lr`` every ``history``
            steps (and at the last iterate) into ``result.history``; 0: off.
        patience : int, optional
            Stop (status 4, success) when the bias-corrected exponential
            moving average of the loss has not improved by more than
            ``min_delta`` for ``patience`` steps in a row.
        ema : float, default 0.99
            Smoothing factor of that moving average, in [0, 1).
        min_delta : float, default 0
            The improvement that counts, >= 0.
        disp : bool, default False
            Show a progress bar with the current loss on stderr (tqdm if it
            is installed, plain text otherwise) and print a summary at the
            end; nothing is printed when False.
        nan_policy : {"stop", "raise", "skip"}, default "stop"
            What a NaN or infinite gradient or objective does (the gradient
            is checked before every step, at no extra cost, the objective
            whenever it is evaluated, the final iterate included): end the
            run with status 3 (``x`` is the last iterate, finite), raise
            ``FloatingPointError`` naming the iteration, or skip the step and
            go on (counted in ``nit`` and in ``result.nskip``; a run without
            ``data`` that ends on a non-finite value has status 3).
        checkpoint : str or path-like, optional
            Write the whole state of the run to this ``.npz`` file every
            ``checkpoint_every`` iterations (atomically).
        checkpoint_every : int, default 1000
            Iterations between checkpoints.
        resume : str or path-like, optional
            Continue the run saved in this checkpoint.  Options not given
            here come from the checkpoint (so ``resume`` alone continues the
            saved run, and with the same ``fun``, ``jac``, ``data`` and
            ``rng`` the iterates are bitwise those of a run that never
            stopped); options given take effect from the resumed step on
            (``lr``, ``maxiter``, ...) and ``result.resumed["changed"]``
            lists them.  ``x0`` gives the shape and dtype, the iterate comes
            from the file.  Refused before anything is loaded: a corrupted
            file, another method, shape, dtype, data set (a fingerprint of
            its bytes is recorded) or batching, other ``bounds``, another
            ``rng`` seed, and changes of ``batch_size``, ``shuffle``,
            ``drop_last``, ``history``, ``patience``, ``ema``,
            ``min_delta`` or of options that shape the state (``amsgrad``).
            The ``checkpoint`` option is not inherited.

        An option the method does not take raises ``TypeError``; a value out
        of range raises ``ValueError``.
    callback : callable, optional
        Called after each step, as ``callback(intermediate_result)`` (an
        :class:`~scipy.optimize.OptimizeResult` with ``x``, ``fun``, ``nit``
        and, with ``data``, ``epoch``) if its only parameter is named
        ``intermediate_result``, else as ``callback(xk)`` with a copy of the
        iterate.  Without ``data``, ``fun`` is the objective at ``x`` (and
        ``jac`` its gradient); with ``data`` it is the loss of the minibatch
        just used.  Raising ``StopIteration`` ends the run with status 99.
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Box constraints, one pair per element of ``x0`` (``None`` for no
        bound).  ``x0`` is projected onto the box, and so is every iterate
        after its step (projected gradient method).
    data : array_like or tuple of array_like, optional
        Per-sample data, arrays sharing axis 0 (e.g. ``(X, y)``).  Each step
        passes one minibatch of them to ``fun``/``jac``, as
        ``fun(x, X_batch, y_batch, *args)``.  With shuffling, the batch
        arrays are buffers that the next step overwrites.  ``scipy.sparse``
        matrices and arrays are taken too (as CSR; a minibatch is a row
        slice, a new sparse matrix per step).
    rng : int, numpy.random.Generator or None, optional
        Seed of the run's randomness.  numadam spawns two independent
        generators from it: one shuffles the minibatches, the other is
        passed as ``rng=`` to ``fun``/``jac`` when they accept it (a
        stochastic gradient that draws its own noise).  The same ``rng``
        gives the same run, bit for bit, on any number of threads.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"`` runs the loop on an NVIDIA GPU: ``x0`` (a host array or
        any array with ``__cuda_array_interface__``) is copied to the device
        once, ``fun``/``jac`` receive the iterate as a numba device array and
        must return the gradient as a device array of its shape and dtype,
        and the optimizer's state stays on the device; per step the host
        reads the gradient norm (one float, for ``gtol`` and the non-finite
        test).  ``result.x`` is then a numba device array
        (``result.x.copy_to_host()``).  Available there: the method's
        options, ``maxiter``, ``gtol``, ``history``, ``nan_policy``,
        ``bounds``, ``callback`` (which receives the device iterate);
        ``data``, ``patience``, ``disp`` and checkpoints are CPU-only.
        Without a usable GPU, ``"cuda"`` raises ``RuntimeError``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (``x0``'s shape and dtype), ``fun`` and ``jac`` at ``x`` (on
        the whole data set, in one call, with ``data``), ``nit``
        (iterations: steps taken, plus steps skipped by
        ``nan_policy="skip"``, counted in ``nskip``), ``nfev``, ``njev``,
        ``status``, ``success``, ``message``, ``method``; ``epoch``
        (iterations / batches per epoch) with ``data``; ``resumed`` (``path``,
        ``nit`` and ``changed`` options) with ``resume``; ``history`` (arrays
        ``step, epoch, loss, grad_norm, lr``) when requested; with ``data``
        its last record holds the whole data set's loss.  Status codes (see :data:`STATUS_MESSAGES`):

        * 0 -- the gradient norm fell to ``gtol`` or below (success);
        * 1 -- ``maxiter`` steps were taken;
        * 2 -- ``epochs`` epochs were completed;
        * 3 -- the objective or the gradient was NaN or infinite at ``x``;
          no step was taken with it (or, rarely, an update overflowed: the
          elements concerned kept their values);
        * 4 -- the smoothed loss stopped improving (``patience``; success);
        * 99 -- the callback raised ``StopIteration``.

    See Also
    --------
    numadam.Adam : the stateful optimizer that runs each step.
    numadam.schedules : learning-rate schedules.
    numadam.plot : convergence curves from ``result.history``.
    show_options : every method's options and defaults.

    Notes
    -----
    **The compiled loop.**  When ``fun`` and ``jac`` (or ``fun`` with
    ``jac=True``) are ``numba.njit`` functions, the whole loop -- evaluation,
    stopping tests, schedule, clipping, the fused step, the projection onto
    ``bounds``, history, ``nan_policy`` -- runs in one nopython function with
    no Python between iterations, and gives bitwise the iterates of the
    ordinary loop (``result.compiled`` says which ran; the option
    ``compiled`` is ``"auto"`` (default), ``True`` to insist, ``False`` to
    force the ordinary loop).  It falls back to the ordinary loop, with the
    same results, when something needs Python between iterations: a
    ``callback``, ``data`` (minibatches), ``patience``, ``disp``,
    ``checkpoint``/``resume``, an ``rng`` parameter of ``fun``/``jac``, or
    a gradient whose dtype or layout differs from ``x0``'s (the ordinary loop
    converts it).  The first call for a given method and ``fun`` compiles the
    loop (about a second); a schedule is tabulated in Python in chunks of
    65536 steps, which costs about a microsecond per step.

    With a separate ``jac``, the methods do not need the objective to step:
    ``fun`` is evaluated only where its value is used (the final iterate, a
    new-style callback, history records, the patience rule, progress
    refreshes), so ``nfev`` stays small.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="adam",
    ...                        options={"lr": 1e-2, "maxiter": 20000})
    >>> bool(np.allclose(res.x, [1.0, 1.0], atol=1e-3))
    True

    Least squares on minibatches, with a schedule:

    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> def loss(w, Xb, yb):
    ...     r = Xb @ w - yb
    ...     return 0.5 * np.mean(r * r), Xb.T @ r / len(yb)
    >>> res = numadam.minimize(loss, True, np.zeros(3), data=(X, y), rng=1,
    ...     options={"lr": numadam.schedules.cosine(0.1, 3200), "epochs": 100,
    ...              "batch_size": 32, "gtol": 0})
    >>> res.status, bool(np.allclose(res.x, [1.0, -2.0, 0.5], atol=1e-3))
    (2, True)
    """
    from scipy.optimize import OptimizeResult

    cpu = _kernels.load_cpu()
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    if jac is True:
        fused = True
    elif callable(jac):
        fused = False
    else:
        raise TypeError("jac must be a callable returning the gradient, or True "
                        "when fun returns (f, g); numadam's methods need the "
                        f"gradient; got {jac!r}")
    if not isinstance(args, tuple):
        args = (args,)
    spec = get_method(method)
    if options is None:
        options = {}
    elif not isinstance(options, dict):
        raise TypeError(f"options must be a dict; got {type(options).__name__}")
    options = dict(options)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if device == "cuda":
        from ._device_minimize import _HOST_ONLY, minimize_device
        host_only = {k: options.pop(k) for k in list(options) if k in _HOST_ONLY}
        loop = _loop_options(options, data is not None)
        if host_only:
            options.update(host_only)  # reported by minimize_device
        return minimize_device(fun, jac, x0, spec, args, options, loop, callback,
                               bounds, data)
    given = {k: v for k, v in options.items() if k != "resume"}
    saved = None
    if options.get("resume") is not None:
        saved = _read_resume(options["resume"], spec)
        options = {**saved["options"], **options}   # the call's options win
    from ._methods import MINIMIZE_OPTIONS
    spec.check_known(options, loop=MINIMIZE_OPTIONS)
    loop = _loop_options(options, data is not None)
    x = _as_x0(x0)
    box = None if bounds is None else _bounds(bounds, x)
    style = _callback_style(callback)
    root = _as_rng(rng)
    shuffle_rng, user_rng = root.spawn(2)
    batches = None
    if data is not None:
        from ._data import Batches
        batches = Batches(data, loop["batch_size"], loop["shuffle"], loop["drop_last"],
                          shuffle_rng)

    opt = Optimizer(x, method=spec.name, **options)
    flat = opt._flat
    project = None
    if box is not None:
        project = cpu.PROJECT.pick(flat.size)
        project(flat, *box)
    view = x.view()
    view.flags.writeable = False
    shape, dtype = x.shape, x.dtype
    norm_k = cpu.NORM.pick(flat.size)
    if box is None:
        def gnorm(g):
            """(gtol's norm, the full norm's (s, r) pair for clipping)."""
            pair = norm_k(g)
            return (pair[1] if pair[0] == 1.0 else _scalars.norm_value(*pair)), pair
    else:
        pnorm_k = cpu.PROJECTED_NORM.pick(flat.size)
        gsign = -1.0 if opt.options["maximize"] else 1.0

        def gnorm(g):
            """The projected norm; clipping uses the full norm (the optimizer's)."""
            return _scalars.norm_value(*pnorm_k(flat, g, box[0], box[1], gsign)), None

    fkw = {"rng": user_rng} if _takes_rng(fun) else {}
    jkw = {"rng": user_rng} if not fused and _takes_rng(jac) else {}
    compiled = _compiled_path(fun, jac, fused, loop, callback, data, fkw or jkw)
    counts = {"nfev": 0, "njev": 0}

    def objective(batch):
        counts["nfev"] += 1
        f = fun(view, *batch, *args, **fkw)
        if fused:
            counts["njev"] += 1
            try:
                f, g = f
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g); got "
                                f"{type(f).__name__}") from None
            return _scalar(f), check(g)
        return _scalar(f)

    def evaluate(batch):
        """(f or None, flat g) at the current x: one call per step."""
        if fused:
            return objective(batch)
        counts["njev"] += 1
        return None, check(jac(view, *batch, *args, **jkw))

    def value(batch):
        """The objective at the current x on ``batch`` (when not yet known)."""
        return objective(batch)[0] if fused else objective(batch)

    def check(g):
        if (type(g) is np.ndarray and g.dtype == dtype and g.shape == shape
                and g.flags.c_contiguous):
            return g if g.ndim == 1 else g.reshape(-1)
        exact[0] = False  # converted: the compiled loop would not convert
        return opt._check_grad(g, name="jac" if not fused else "fun's gradient")

    exact = [True]

    maxiter, gtol, epochs = loop["maxiter"], loop["gtol"], loop["epochs"]
    policy = loop["nan_policy"]
    budget = maxiter
    if batches is not None and epochs is not None:
        budget = min(maxiter, epochs * batches.per_epoch)
    per_epoch = batches.per_epoch if batches is not None else None

    history = None
    if loop["history"]:
        from ._monitor import History
        history = History(loop["history"], budget if budget < _UNLIMITED else 1000)
    patience = None
    if loop["patience"] is not None:
        from ._monitor import Patience
        patience = Patience(loop["patience"], loop["ema"], loop["min_delta"])
    run = {"nit": 0, "nskip": 0}

    def epoch_of(nit):
        return nit / per_epoch if per_epoch else nit

    def budget_status():
        return 2 if epochs is not None and run["nit"] >= epochs * per_epoch else 1

    def save_checkpoint(path):
        from . import _checkpoint
        meta, arrays = opt._checkpoint_parts(prefix="state.")
        meta = {"kind": "minimize", "optimizer": meta, "shape": list(shape),
                "dtype": dtype.name, "nit": run["nit"], "nskip": run["nskip"],
                "counts": counts, "user_rng": user_rng.bit_generator.state,
                "loop": record_loop, "rng_seed": _seed_of(root),
                "data_sha": data_sha, "bounded": box is not None}
        arrays["x"] = x
        if box is not None:
            arrays["bounds.lb"], arrays["bounds.ub"] = box
        if batches is not None:
            meta["batches"], extra = batches.state()
            arrays.update({"batches." + k: v for k, v in extra.items()})
        if patience is not None:
            meta["patience"] = patience.state()
        if history is not None:
            meta["history"], extra = history.state()
            arrays.update({"history." + k: v for k, v in extra.items()})
        _checkpoint.write(path, meta, arrays)

    def resume(path):
        meta, arrays = saved["meta"], saved["arrays"]
        name = str(path)
        try:
            if meta["optimizer"]["method"] != spec.name:
                raise ValueError(f"it is a {meta['optimizer']['method']!r} run, this "
                                 f"run uses {spec.name!r}")
            if tuple(meta["shape"]) != shape or meta["dtype"] != dtype.name:
                raise ValueError(f"its x is {meta['dtype']} of shape "
                                 f"{tuple(meta['shape'])}, x0 is {dtype.name} of shape "
                                 f"{shape}")
            saved_x = np.asarray(arrays["x"])
            if saved_x.shape != shape or saved_x.dtype != dtype:
                raise ValueError("its x array does not match its header")
            if (batches is None) != ("batches" not in meta):
                raise ValueError("it was taken " + ("with" if batches is None else
                                 "without") + " data, this run is the opposite")
            if batches is not None:
                batches.check_state(meta["batches"], {k[8:]: v for k, v in arrays.items()
                                                      if k.startswith("batches.")})
            if meta["data_sha"] is not None and data_sha is not None \
                    and meta["data_sha"] != data_sha:
                bad = [i for i, (a, b) in enumerate(zip(meta["data_sha"], data_sha))
                       if a != b]
                raise ValueError("it was taken with other data: the bytes of "
                                 + ", ".join(f"data[{i}]" for i in bad)
                                 + " differ (a fingerprint of every data array is "
                                 "recorded)")
            if bool(meta["bounded"]) != (box is not None) or (box is not None and not (
                    np.array_equal(arrays["bounds.lb"], box[0])
                    and np.array_equal(arrays["bounds.ub"], box[1]))):
                raise ValueError("its bounds differ from this call's bounds (resume "
                                 "with the same bounds; they are part of the run)")
            if rng is not None and meta["rng_seed"] != _seed_of(root):
                raise ValueError("it was seeded with another rng (its random streams "
                                 "are restored from the file: pass the original seed, "
                                 "or rng=None)")
            if (patience is None) != ("patience" not in meta):
                raise ValueError("the patience option differs from the checkpointed run")
            if (history is None) != ("history" not in meta):
                raise ValueError("the history option differs from the checkpointed run")
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint {name!r} is not a valid minimize state: "
                             f"missing or malformed {exc}") from None
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        # everything checked: load (the optimizer checks its own part first),
        # then the options this call gives take effect from the resumed step on
        opt._load_checkpoint_parts(meta["optimizer"], arrays, name, prefix="state.")
        try:
            opt._replace_options(method_options)
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        x[...] = saved_x
        run["nit"], run["nskip"] = int(meta["nit"]), int(meta["nskip"])
        counts.update({k: int(v) for k, v in meta["counts"].items()})
        user_rng.bit_generator.state = meta["user_rng"]
        if batches is not None:
            batches.restore(meta["batches"], {k[8:]: v for k, v in arrays.items()
                                              if k.startswith("batches.")})
        if patience is not None:
            patience.restore(meta["patience"])
        if history is not None:
            history.restore(meta["history"], {k[8:]: v for k, v in arrays.items()
                                              if k.startswith("history.")})

    ckpt_path, ckpt_every = loop["checkpoint"], loop["checkpoint_every"]
    method_options = opt._user_options()
    record_loop = {k: (v if k != "maxiter" or v < _UNLIMITED else None)
                   for k, v in loop.items() if k not in ("resume", "compiled", "checkpoint")
                   and (batches is not None or k not in _DATA_OPTIONS)}
    data_sha = None
    if ckpt_path is not None or loop["resume"] is not None:
        data_sha = batches.fingerprint() if batches is not None else None
    if ckpt_path is not None:
        # everything a checkpoint needs is checked now, not at the first save
        from . import _checkpoint
        _checkpoint.encode_options(method_options)
        _check_writable(ckpt_path)
    changed = {}
    if saved is not None:
        changed = _changed_options(saved["options"], given)
        resume(loop["resume"])
    progress = None
    if loop["disp"]:
        from ._monitor import Progress
        progress = Progress(budget if budget < _UNLIMITED else None)
        progress.done = run["nit"]

    def nonfinite(what):
        """Apply the nan_policy to a NaN/inf ``what``; returns the status or None."""
        if policy == "raise":
            raise FloatingPointError(
                f"iteration {run['nit']}: the {what} is NaN or infinite (x, the "
                f"iterate after {opt.t} steps, is finite and unchanged)")
        return 3 if policy == "stop" else None

    def _run_compiled():
        """The loop in nopython mode; returns (status, f) and updates the run."""
        from ._kernels import loop as L
        nonlocal g
        pair = spec.kernel(opt._opts)
        kernel = pair.pick(flat.size, guarded=False)
        scalar_fn = L.scalar_fn(opt._scalar_fn)
        evaluate_c = L.eval_fused if fused else L.eval_split
        value_c = L.value_fused if fused else L.value_split
        jac_c = fun if fused else jac
        norm_c = cpu.NORM.pick(flat.size, guarded=False)
        pnorm_c = cpu.PROJECTED_NORM.pick(flat.size, guarded=False)
        project_c = cpu.PROJECT.pick(flat.size, guarded=False)
        if box is None:
            lb = ub = flat[:0]
        else:
            lb, ub = box
        gsign = -1.0 if opt.options["maximize"] else 1.0
        clip_norm = opt._clip_norm if opt._clip_norm is not None else 0.0
        policy_code = L.POLICY[policy]
        empty = np.empty(0)
        f_c = math.nan if f is None else f
        have_f = f is not None
        remaining = budget
        launch = (cpu.parallel_launch if flat.size >= cpu.PARALLEL_THRESHOLD
                  else contextlib.nullcontext)
        # Chunks are sized to last about CHUNK_SECONDS, so that Ctrl-C (handled
        # by Python between chunks) takes effect quickly: the first from the
        # time of the first evaluation (from Python: an overestimate), then
        # from the measured time per iteration.
        chunk_size = int(min(max(CHUNK_SECONDS / max(first_eval, 1e-7), 16), 1 << 20))
        while True:
            chunk = min(remaining, chunk_size)
            if opt._schedule is not None:
                lr_table = _lr_table(opt._schedule, opt.t, chunk + 1)
                lr_const = 0.0
            else:
                lr_table, lr_const = empty, opt._lr
            every = loop["history"]
            cap = chunk // every + 2 if every else 0
            hist = (np.empty(cap, np.int64), np.empty(cap), np.empty(cap), np.empty(cap))
            started = time.perf_counter()
            try:
                with launch():
                    out = L.run(
                        fun, jac_c, evaluate_c, value_c, args, view, flat, opt._arrays,
                        kernel, scalar_fn, opt._hyper, opt._host, opt.t, lr_const,
                        lr_table, opt._schedule is not None, clip_norm, chunk, gtol,
                        norm_c, pnorm_c, project_c, box is not None, lb, ub, gsign,
                        policy_code, every, run["nit"], chunk == remaining, *hist, f_c,
                        g, have_f)
                (code, nit, nskip, t, host, f_c, have_f, g, nrec, nfev, njev) = out
            except SystemError as exc:
                # a signal (Ctrl-C) that arrived inside compiled code
                if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                    raise KeyboardInterrupt from None
                raise
            except Exception as exc:  # noqa: BLE001 - a typing error: say why
                _explain_compiled_failure(exc)
                raise
            elapsed = time.perf_counter() - started
            if nit > 0:
                per_it = elapsed / nit
                chunk_size = int(min(max(CHUNK_SECONDS / max(per_it, 1e-9), 1), 1 << 20))
            opt.t, opt._host = t, host
            base = run["nit"]
            run["nit"] += nit
            run["nskip"] += nskip
            counts["nfev"] += nfev
            counts["njev"] += njev
            if history is not None:
                for k in range(nrec):
                    step = base + int(hist[0][k])
                    if step == history.last:   # the chunk's first record repeats
                        continue
                    history.add(step, float(step), hist[1][k], hist[2][k], hist[3][k])
            remaining -= nit
            if code == L.NEED_LR:
                check_lr(opt._schedule, opt.t)  # raises what the ordinary loop raises
                continue
            if code == L.BAD_SHAPE:
                opt._check_grad(jac_c(view, *args)[1] if fused else jac(view, *args),
                                name="jac" if not fused else "fun's gradient")
                raise ValueError("the gradient changed shape during the run")
            if code == L.RAISE_NONFINITE_GRAD or code == L.RAISE_NONFINITE_FUN:
                what = "gradient" if code == L.RAISE_NONFINITE_GRAD else "objective"
                raise FloatingPointError(
                    f"iteration {run['nit']}: the {what} is NaN or infinite (x, the "
                    f"iterate after {opt.t} steps, is finite and unchanged)")
            if code == L.RAISE_OVERFLOW:
                raise FloatingPointError(
                    f"iteration {run['nit']}: step {opt.t}: an update was NaN or "
                    "infinite (an overflow); those elements and their state kept "
                    "their old values, the others were updated")
            if code != 1 or remaining <= 0:
                status = budget_status() if code == 1 else code
                return status, (f_c if have_f else None)

    def _explain_compiled_failure(exc):
        """Turn a numba typing error of the compiled loop into the ordinary
        loop's TypeError: evaluate the objective once in Python and check it."""
        from numba.core.errors import NumbaError
        if not isinstance(exc, NumbaError):
            return
        objective(())            # fun's value (and fused gradient) checked
        if not fused:
            check(jac(view, *args))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TypeError(
            "the compiled loop could not be compiled for this fun/jac (numba: "
            f"{first[:200]}); fun must return a float (with jac=True a tuple "
            "(float, array of x0's shape and dtype)) and jac an array of x0's shape "
            "and dtype; or pass options={'compiled': False}") from None

    def value_checked():
        """The objective at x when it is first needed after the stopping test;
        applies nan_policy when it is not finite (returns the new status)."""
        nonlocal f, bad
        f = value(batch)
        if not math.isfinite(f) and not bad:
            bad = True
            return nonfinite("objective") or 3
        return None

    status = None
    bad = False
    batch = batches.next() if batches is not None else ()
    first_eval = time.perf_counter()
    f, g = evaluate(batch)
    first_eval = time.perf_counter() - first_eval
    if compiled and exact[0]:
        status, f = _run_compiled()
        g_pair = norm_k(g)
        bad = not math.isfinite(g_pair[1]) or (f is not None and not math.isfinite(f))
    while status is None:
        nit = run["nit"]
        if box is None:   # gnorm, inlined: this loop costs microseconds per iteration
            g_pair = norm_k(g)
            gn = g_pair[1] if g_pair[0] == 1.0 else _scalars.norm_value(*g_pair)
        else:
            gn, g_pair = gnorm(g)
        hist_due = history is not None and nit == history.next
        prog_due = progress is not None and progress.due()
        if (patience is not None or hist_due or prog_due) and f is None \
                and math.isfinite(gn):
            f = value(batch)
        bad_g = not math.isfinite(gn)
        bad = bad_g or (f is not None and not math.isfinite(f))
        if bad:
            status = nonfinite("gradient" if bad_g else "objective")
        elif patience is not None and patience.update(f):
            status = 4
        if status is None:
            if not bad and gtol > 0 and gn <= gtol:
                status = 0
            elif nit >= budget:
                status = budget_status()
        if history is not None and (hist_due or status is not None):
            if f is None and not bad:
                status = value_checked() or status
            history.add(nit, epoch_of(nit), f, gn, math.nan if bad else opt.lr)
        if progress is not None and (status is not None or prog_due):
            if f is None and not bad:
                status = value_checked() or status
            progress.show(nit, f)
        if status is not None:
            break
        if bad:  # nan_policy "skip": no step; parameters and state untouched
            run["nskip"] += 1
        else:
            try:
                opt._step_flat(g, g_pair)
            except FloatingPointError as exc:  # an overflow inside the update
                if policy == "raise":
                    raise FloatingPointError(f"iteration {nit}: {exc}") from None
                status = 3
                break
            if project is not None:
                project(flat, *box)
        run["nit"] = nit = nit + 1
        if ckpt_path is not None and nit % ckpt_every == 0:
            save_checkpoint(ckpt_path)
        if batches is not None:
            if style is not None:
                try:
                    if style == "new":
                        if f is None:
                            f = value(batch)
                        callback(OptimizeResult(x=x.copy(), fun=f, nit=nit,
                                                epoch=epoch_of(nit)))
                    else:
                        callback(x.copy())
                except StopIteration:
                    status = 99
                    break
            if nit >= budget:  # the budget is spent: draw no further batch
                status = budget_status()
                break
            batch = batches.next()
        f, g = evaluate(batch)
        if batches is None and style is not None:
            try:
                if style == "new":
                    if f is None:
                        f = value(batch)
                    callback(OptimizeResult(x=x.copy(), fun=f, nit=nit,
                                            jac=g.reshape(shape).copy()))
                else:
                    callback(x.copy())
            except StopIteration:
                status = 99
                break
    nit = run["nit"]
    if batches is not None:
        # report the objective and gradient on the whole data set
        full = batches.arrays
        if fused:
            f, g = objective(full)
        else:
            f = objective(full)
            counts["njev"] += 1
            g = check(jac(view, *full, *args, **jkw))
        bad = False
    elif f is None:
        f = value(batch)
    # Whenever the objective or gradient that numadam evaluated is not finite,
    # nan_policy applies (status 3), also at the end of the run: the last
    # iterate of a "skip" run, the whole data set's loss, a separate fun.  A
    # "skip" run over data keeps its status: it skipped the bad batches, and
    # the whole data set's loss holds them too.
    if status != 3 and not (policy == "skip" and batches is not None):
        end_bad_g = not math.isfinite(norm_k(g)[1])
        if bad or end_bad_g or not math.isfinite(f):
            if policy == "raise":
                what = "gradient" if end_bad_g else "objective"
                raise FloatingPointError(
                    f"iteration {nit}: the {what} at the final iterate is NaN or "
                    f"infinite (x, the iterate after {opt.t} steps, is finite)")
            status = 3
            bad = True
    if history is not None and history.last != nit and batches is not None:
        history.add(nit, epoch_of(nit), f, gnorm(g)[0], opt.lr)
    if progress is not None:
        progress.close(nit, f)
    message = STATUS_MESSAGES[status]
    if status == 3 and not bad:
        message = ("An update overflowed (NaN or infinite values); the elements "
                   "concerned kept their values, the others were updated.")
    result = OptimizeResult(
        x=x, fun=f, jac=np.array(g, copy=True).reshape(shape), nit=nit,
        nfev=counts["nfev"], njev=counts["njev"], status=status,
        success=status in _SUCCESS, message=message, method=spec.name,
        compiled=bool(compiled and exact[0]))
    if saved is not None:
        result.resumed = {"path": os.fspath(loop["resume"]), "nit": int(saved["meta"]["nit"]),
                          "changed": changed}
    if policy == "skip":
        result.nskip = run["nskip"]
    if batches is not None:
        result.epoch = epoch_of(nit)
    if history is not None:
        result.history = history.result()
    if loop["disp"]:
        print(f"{result.message}\n         Current function value: {f:.6g}\n"
              f"         Iterations: {nit}\n         Function evaluations: "
              f"{counts['nfev']}\n         Gradient evaluations: {counts['njev']}")
    return result


def _scalar(f, name="fun"):
    """The objective's value as a float; strings, complex numbers, arrays of
    more than one element and booleans are refused."""
    tf = type(f)
    if tf is float or tf is np.float64 or tf is int or tf is np.float32:
        return float(f)
    if isinstance(f, (float, int)) and not isinstance(f, bool):
        return float(f)
    if isinstance(f, (np.floating, np.integer)) or (
            isinstance(f, np.ndarray) and f.size == 1 and f.dtype.kind in "iuf"):
        return float(f.item() if isinstance(f, np.ndarray) else f)
    if isinstance(f, numbers.Real) and not isinstance(f, (bool, np.bool_)):
        return float(f)
    what = (f"complex {f!r} (a real objective is needed; take .real or abs() "
            "yourself)" if isinstance(f, (complex, np.complexfloating))
            or (isinstance(f, np.ndarray) and f.dtype.kind == "c")
            else f"{type(f).__name__} {np.shape(f)}" if isinstance(f, np.ndarray)
            else f"{type(f).__name__} {f!r}"[:120])
    raise TypeError(f"{name} must return a real scalar; got {what}")


def scipy_method(method="adam"):
    """A numadam method for ``scipy.optimize.minimize(method=...)``.

    SciPy accepts a callable as its ``method``; this returns one that runs
    :func:`minimize` with the named numadam method, so existing SciPy code can
    switch to Adam by changing one argument.

    Parameters
    ----------
    method : str, default "adam"
        A numadam method name (see :func:`show_options`).

    Returns
    -------
    callable
        ``custom(fun, x0, args=(), jac=None, hess=None, hessp=None,
        bounds=None, constraints=(), callback=None, **options)``, the
        signature SciPy calls.  ``options`` are numadam's (``lr``,
        ``maxiter``, ...); SciPy's ``tol`` becomes ``gtol`` unless ``gtol``
        is given.  A gradient is required (``jac`` callable or True);
        constraints and Hessians are refused.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import minimize, rosen, rosen_der
    >>> res = minimize(rosen, [-1.2, 1.0], jac=rosen_der,
    ...                method=numadam.scipy_method("adam"),
    ...                options={"lr": 1e-2, "maxiter": 20000})
    >>> bool(np.allclose(res.x, 1.0, atol=1e-3))
    True
    """
    name = get_method(method).name

    def custom(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
               constraints=(), callback=None, **options):
        if constraints not in (None, (), []):
            raise ValueError(f"numadam's {name!r} does not take constraints; "
                             "use bounds, or a constrained SciPy method")
        if hess is not None or hessp is not None:
            raise TypeError(f"numadam's {name!r} is a first-order method; it "
                            "takes no hess or hessp")
        if jac is None or isinstance(jac, str):
            raise TypeError(
                f"numadam's {name!r} needs the gradient: pass jac=callable (the "
                "gradient) or jac=True (fun returns (f, g)); SciPy's finite-difference "
                f"jac ('2-point', '3-point', 'cs' or None) is not supported; got {jac!r}")
        tol = options.pop("tol", None)
        if tol is not None:
            options.setdefault("gtol", tol)
        return minimize(fun, jac, x0, method=name, args=args, options=options,
                        callback=callback, bounds=bounds)

    custom.__name__ = custom.__qualname__ = f"numadam_{name}"
    custom.__doc__ = f"numadam's {name!r} in scipy.optimize.minimize's custom-method form."
    return custom
