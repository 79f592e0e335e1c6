"""``numadam.minimize``: scipy.optimize's front door to the fused optimizers."""
import inspect
import math
import numbers

import numpy as np

from . import _kernels
from ._methods import get_method
from ._optimizers import Optimizer

__all__ = ["minimize", "scipy_method", "STATUS_MESSAGES"]

#: ``status`` -> ``message`` of :func:`minimize`'s result.
STATUS_MESSAGES = {
    0: "Optimization terminated successfully: the gradient norm fell below gtol.",
    1: "Maximum number of iterations has been exceeded.",
    3: "The objective or its gradient was NaN or infinite; x is the last "
       "iterate, where it was evaluated.",
    99: "`callback` raised `StopIteration`.",
}

_LOOP_OPTIONS = {"maxiter": 10000, "gtol": 1e-5}


def _as_x0(x0):
    try:
        x = np.array(x0, copy=True)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"x0 must be an array of real numbers; got "
                        f"{type(x0).__name__}") from exc
    if x.dtype.kind in "iub":
        x = x.astype(np.float64)
    elif x.dtype not in (np.float32, np.float64):
        raise TypeError("x0 must be real: float32, float64 or integer (taken as "
                        f"float64); got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError("x0 must not be empty")
    if not np.isfinite(x).all():
        raise ValueError("x0 contains NaN or infinity")
    return np.ascontiguousarray(x)


def _loop_options(options):
    maxiter = options.pop("maxiter", _LOOP_OPTIONS["maxiter"])
    if isinstance(maxiter, float) and maxiter.is_integer():
        maxiter = int(maxiter)
    if isinstance(maxiter, (bool, np.bool_)) or not isinstance(maxiter, numbers.Integral):
        raise TypeError(f"option 'maxiter' must be an int; got {maxiter!r}")
    if maxiter < 0:
        raise ValueError(f"option 'maxiter' must be >= 0; got {maxiter}")
    gtol = options.pop("gtol", _LOOP_OPTIONS["gtol"])
    if isinstance(gtol, (bool, np.bool_)) or not isinstance(gtol, numbers.Real):
        raise TypeError(f"option 'gtol' must be a real number; got {gtol!r}")
    gtol = float(gtol)
    if not gtol >= 0 or math.isinf(gtol):
        raise ValueError(f"option 'gtol' must be finite and >= 0; got {gtol}")
    return int(maxiter), gtol


def _bounds(bounds, x):
    """``(lb, ub)`` flat arrays of x's dtype, or None when unbounded."""
    from scipy.optimize import Bounds

    n = x.size
    if isinstance(bounds, Bounds):
        lb, ub = bounds.lb, bounds.ub
        try:
            lb = np.broadcast_to(np.asarray(lb, dtype=np.float64), (n,))
            ub = np.broadcast_to(np.asarray(ub, dtype=np.float64), (n,))
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
                lb[i] = -np.inf if lo is None else float(lo)
                ub[i] = np.inf if hi is None else float(hi)
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
             bounds=None):
    """Minimize a function with a first-order stochastic method.

    SciPy's calling conventions, torch.optim's methods and hyperparameters,
    one fused kernel call per step.

    Parameters
    ----------
    fun : callable
        The objective, ``fun(x, *args) -> float``; with ``jac=True`` it
        returns ``(f, g)``.  ``x`` has ``x0``'s shape and dtype; it is a
        read-only view of the optimizer's iterate, which the next step
        changes in place: copy it if you keep it.
    jac : callable or True
        The gradient, ``jac(x, *args) -> array`` of ``x0``'s shape, or True
        when ``fun`` returns the objective and the gradient together (one
        call per step).  The gradient is converted to ``x0``'s dtype.
    x0 : array_like
        Starting point, any shape.  float32 stays float32 (the whole run is
        in float32), float64 stays float64, integers become float64.
    method : str, default "adam"
        One of ``adam``, ``adamw``, ``amsgrad``, ``adamax``, ``nadam``,
        ``radam``, ``sgd``, ``rmsprop``, ``adagrad`` (case-insensitive).
    args : tuple, optional
        Extra arguments passed to ``fun`` and ``jac``.
    options : dict, optional
        The method's hyperparameters under torch.optim's keyword names (see
        :func:`show_options`) and:

        maxiter : int, default 10000
            Maximum number of steps.
        gtol : float, default 1e-5
            Stop when the Euclidean norm of the gradient is ``<= gtol``,
            tested before each step; ``0`` disables the test, so exactly
            ``maxiter`` steps run.  With ``bounds``, the components that
            the box blocks (at a bound, pointing out) are left out of the
            norm, as L-BFGS-B's ``pgtol`` does.

        An option the method does not take raises ``TypeError``; a value out
        of range raises ``ValueError``.
    callback : callable, optional
        Called after each step, as ``callback(intermediate_result)`` (an
        :class:`~scipy.optimize.OptimizeResult` with ``x``, ``fun``, ``jac``
        and ``nit``) if its only parameter is named ``intermediate_result``,
        else as ``callback(xk)`` with a copy of the iterate.  Raising
        ``StopIteration`` ends the run with ``status = 99``.
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Box constraints, one pair per element of ``x0`` (``None`` for no
        bound).  ``x0`` is projected onto the box, and so is every iterate
        after its step (projected gradient method).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (``x0``'s shape and dtype), ``fun`` and ``jac`` at ``x``,
        ``nit`` (steps taken), ``nfev``, ``njev``, ``status``, ``success``
        and ``message``; ``method``.  Status codes (see
        :data:`STATUS_MESSAGES`):

        * 0 -- the gradient norm fell to ``gtol`` or below (success);
        * 1 -- ``maxiter`` steps were taken;
        * 3 -- the objective or the gradient was NaN or infinite at ``x``;
          no step was taken with it;
        * 99 -- the callback raised ``StopIteration``.

    See Also
    --------
    numadam.Adam : the stateful optimizer that runs each step.
    show_options : every method's options and defaults.

    Notes
    -----
    With a separate ``jac``, Adam-type methods do not need the objective to
    step: ``fun`` is evaluated only where its value is reported (the final
    iterate, and each step for a new-style callback), so ``nfev`` is small.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="adam",
    ...                        options={"lr": 1e-2, "maxiter": 20000})
    >>> bool(np.allclose(res.x, [1.0, 1.0], atol=1e-3))
    True
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
    maxiter, gtol = _loop_options(options)
    x = _as_x0(x0)
    box = None if bounds is None else _bounds(bounds, x)
    style = _callback_style(callback)

    opt = Optimizer(x, method=spec.name, **options)
    flat = opt._flat
    project = None
    if box is not None:
        project = cpu.PROJECT.pick(flat.size)
        project(flat, *box)
    view = x.view()
    view.flags.writeable = False
    shape, dtype = x.shape, x.dtype
    if box is None:
        sumsq = cpu.SUMSQ.pick(flat.size)
    else:
        psumsq = cpu.PROJECTED_SUMSQ.pick(flat.size)
        gsign = -1.0 if opt.options["maximize"] else 1.0

        def sumsq(g):
            return psumsq(flat, g, box[0], box[1], gsign)
    counts = {"nfev": 0, "njev": 0}

    def objective():
        counts["nfev"] += 1
        f = fun(view, *args)
        if fused:
            counts["njev"] += 1
            try:
                f, g = f
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g); got "
                                f"{type(f).__name__}") from None
            return _scalar(f), g
        return _scalar(f)

    def gradient():
        counts["njev"] += 1
        return jac(view, *args)

    def check(g):
        if (type(g) is np.ndarray and g.dtype == dtype and g.shape == shape
                and g.flags.c_contiguous):
            return g if g.ndim == 1 else g.reshape(-1)
        return opt._check_grad(g, name="jac" if not fused else "fun's gradient")

    if fused:
        f, g = objective()
    else:
        f, g = None, gradient()
    g = check(g)
    nit = 0
    while True:
        gn2 = sumsq(g)
        if not math.isfinite(gn2) or (f is not None and not math.isfinite(f)):
            status = 3
            break
        if gtol > 0 and math.sqrt(gn2) <= gtol:
            status = 0
            break
        if nit >= maxiter:
            status = 1
            break
        opt._step_flat(g)
        if project is not None:
            project(flat, *box)
        nit += 1
        if fused:
            f, g = objective()
        else:
            f, g = None, gradient()
        g = check(g)
        if style is not None:
            try:
                if style == "new":
                    if f is None:
                        f = objective()
                    callback(OptimizeResult(x=x.copy(), fun=f, nit=nit,
                                            jac=g.reshape(shape).copy()))
                else:
                    callback(x.copy())
            except StopIteration:
                status = 99
                break
    if f is None:
        f = objective()
    return OptimizeResult(
        x=x, fun=f, jac=np.array(g, copy=True).reshape(shape), nit=nit,
        nfev=counts["nfev"], njev=counts["njev"], status=status,
        success=status == 0, message=STATUS_MESSAGES[status],
        method=spec.name)


def _scalar(f):
    try:
        return float(f)
    except (TypeError, ValueError):
        raise TypeError("fun must return a real scalar; got "
                        f"{type(f).__name__} {np.shape(f)}") from None


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
        tol = options.pop("tol", None)
        if tol is not None:
            options.setdefault("gtol", tol)
        return minimize(fun, jac, x0, method=name, args=args, options=options,
                        callback=callback, bounds=bounds)

    custom.__name__ = custom.__qualname__ = f"numadam_{name}"
    custom.__doc__ = f"numadam's {name!r} in scipy.optimize.minimize's custom-method form."
    return custom
