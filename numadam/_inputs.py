"""minimize's input checks: x0, bounds, options, rng, callbacks, values.

Shared by every entry point (``minimize``, ``minimize(device="cuda")``,
``minimize_many``, ``numadam.mpi.minimize``); each check names the argument
and says what was expected.
"""
import inspect
import math
import numbers
import os
import sys

import numpy as np

from ._methods import LOOP_OPTIONS
from ._numbers import as_int
from .schedules import check_lr

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
    if x0 is None:
        raise TypeError(f"{name} must be the starting point, an array of real numbers; "
                        "got None")
    if isinstance(x0, (list, tuple)) and any(isinstance(v, dict) for v in x0):
        raise TypeError(f"{name} holds dicts: parameter groups ({{'params': ...}}) are "
                        "the stateful optimizers' params; minimize takes x0 as an array, "
                        "a dict name -> array or a list of arrays, and one method for all")
    if _is_sparse(x0):
        raise TypeError(f"{name} must be a dense array; got a scipy.sparse "
                        f"{type(x0).__name__}")
    try:
        x = np.array(x0, copy=True)
    except Exception as exc:  # noqa: BLE001
        ragged = (isinstance(x0, (list, tuple)) and len(x0) > 1
                  and all(isinstance(v, (list, tuple)) for v in x0)
                  and len({len(v) for v in x0}) > 1)
        hint = ("; a list of lists is one array, and these have different lengths: give "
                "several arrays as a list of numpy arrays" if ragged else "")
        raise TypeError(f"{name} must be an array of real numbers; got "
                        f"{type(x0).__name__}{hint}") from exc
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
    return as_int(f"option {name!r}", value, low)


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
        check_path(key, loop[key])
    return loop


def check_path(key, value):
    """The check of the options ``checkpoint`` and ``resume``: None or a path."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"option {key!r} must be a file path; got {value!r}")


def _is_dispatcher(fn):
    from numba.core.registry import CPUDispatcher
    return isinstance(fn, CPUDispatcher)


def _out_position(fn):
    """The position of ``fn``'s parameter named ``out`` (numpy's ``out=``
    convention: numadam passes a preallocated gradient array there): None when
    it has none, -1 when it is keyword-only."""
    try:
        params = list(inspect.signature(getattr(fn, "py_func", fn)).parameters.values())
    except (TypeError, ValueError):
        return None
    for i, p in enumerate(params):
        if p.name == "out" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY,
                                          p.POSITIONAL_ONLY):
            return -1 if p.kind == p.KEYWORD_ONLY else i
    return None


def _compiled_path(fun, jac, fused, loop, callback, data, takes_rng, out_ok=True,
                   blocked=()):
    """Whether minimize runs the whole loop in nopython mode (see its Notes);
    ``blocked``: further reasons it cannot (a two-pass method, several arrays)."""
    wanted = loop["compiled"]
    if wanted is False:
        return False
    reasons = list(blocked)
    c_objective = getattr(fun, "_numadam_c", None) is not None
    if not (c_objective or _is_dispatcher(fun) and (fused or _is_dispatcher(jac))):
        reasons.append("fun and jac are not numba.njit functions or a C function")
    for name, on in (("callback", callback is not None), ("data", data is not None),
                     ("patience", loop["patience"] is not None), ("disp", loop["disp"]),
                     ("checkpoint", loop["checkpoint"] is not None),
                     ("resume", loop["resume"] is not None),
                     ("an rng parameter of fun/jac", takes_rng),
                     ("an out parameter that is not the one after args", not out_ok)):
        if on:
            reasons.append(name)
    if reasons and wanted is True:
        raise ValueError("option compiled=True needs numba.njit fun/jac (or a C "
                         "function), one array x0, a one-pass method and none of "
                         "callback, data, patience, disp, checkpoint, resume, an "
                         "rng parameter, or an out parameter that is not the one "
                         f"after args; here: {', '.join(reasons)}")
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


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def flat_gradient(grad, shape, dtype, name="grad"):
    """``grad`` as a flat C-contiguous array of ``dtype``: refused unless it
    holds real numbers and has the parameters' ``shape`` (no copy when it is
    already such an array)."""
    if (type(grad) is np.ndarray and grad.dtype == dtype and grad.shape == shape
            and grad.flags.c_contiguous):
        return grad if grad.ndim == 1 else grad.reshape(-1)
    if grad is None:
        raise TypeError(("jac returned None" if name == "jac" else f"{name} is None")
                        + ": it must be an array of the parameters' shape"
                        + (" (a function that writes into out= must return out too)"
                           if name in ("jac", "fun's gradient") else ""))
    try:
        arr = np.asarray(grad)
    except Exception as exc:  # noqa: BLE001 - report what it was
        raise TypeError(f"{name} must be an array of real numbers; got "
                        f"{type(grad).__name__}") from exc
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have the parameters' shape {shape}; got shape "
                         f"{arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype).reshape(-1)


def check_params(params, name="params"):
    """Refuse anything the optimizer could not update in place, visibly."""
    if not isinstance(params, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray that the optimizer updates in "
            f"place; got {type(params).__name__}. Make an array first "
            "(x = np.array(...)) and keep a reference to it")
    if params.dtype not in _FLOATS:
        if params.dtype.kind == "f" and not params.dtype.isnative:
            raise TypeError(
                f"{name} has non-native byte order (dtype {params.dtype.str}); the "
                "kernels update native float32/float64 in place: pass "
                f"x = x.astype(x.dtype.newbyteorder('=')) and optimise that array")
        raise TypeError(f"{name} must have dtype float32 or float64; got "
                        f"{params.dtype}")
    if params.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not params.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous; got a strided view of shape "
            f"{params.shape}. Updating a contiguous copy would leave your array "
            "unchanged: pass np.ascontiguousarray(...) and use that array")
    if not params.flags.writeable:
        raise ValueError(f"{name} is read-only; the optimizer updates it in "
                         "place")
    if not np.isfinite(params).all():
        raise ValueError(f"{name} contains NaN or infinity")
