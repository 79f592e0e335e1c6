"""The whole optimisation loop in nopython mode, for compiled objectives.

When ``fun`` (and ``jac``) are numba dispatchers, :func:`numadam.minimize`
runs :func:`run` below: gradient evaluation, the stopping tests, the
per-step scalars, the fused step, the projection onto the bounds and the
history, with no Python between iterations.  It calls the same pieces as the
ordinary loop -- the kernels of :mod:`cpu`, the per-step scalar functions of
:mod:`_scalars` (compiled from the same source with ``register_jitable``),
the same order-stable gradient norm -- so both paths give the same bits.

This module imports numba and compiles on first use only.  :func:`run`
takes compiled functions as arguments, so it is not cached on disk (numba
would miss the cache in every new process); numba keeps its
specialisations for the life of the process.
"""
import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from . import _scalars
from ._pointers import call_fg


for _fn in _scalars.HELPERS:
    register_jitable(_fn)

_SCALAR_FNS = {}


def scalar_fn(fn):
    """A method's per-step scalar function, registered for numba (so that the
    CUDA many-problems kernel can call it) and as a dispatcher to pass to
    :func:`run`."""
    if fn not in _SCALAR_FNS:
        register_jitable(fn)
        _SCALAR_FNS[fn] = njit(fn)
    return _SCALAR_FNS[fn]

# return codes besides the statuses 0, 1, 3 of minimize
RAISE_NONFINITE_GRAD = -1
RAISE_NONFINITE_FUN = -2
RAISE_OVERFLOW = -3
BAD_SHAPE = -4
BAD_DTYPE = -5
#: the next learning rate lies beyond the tabulated schedule (Python looks it up)
NEED_LR = -6
#: minimize_many: the objective raised an exception for this problem
RAISED = -7

POLICY = {"stop": 0, "raise": 1, "skip": 2}


@njit(inline="always")
def _flat(gnd, view):
    """``(gnd as a flat C array, whether it has view's shape)``."""
    if gnd.shape != view.shape:
        return np.empty(view.size, gnd.dtype), False
    return np.ascontiguousarray(gnd).reshape(view.size), True


@njit
def eval_fused(fun, jac, view, fargs, jargs):
    """``fun`` returns ``(f, g)`` (``fargs`` ends with the out array when it
    takes one); ``(f, flat g, f known, g of view's shape)``."""
    fg = fun(view, *fargs)
    g, ok = _flat(fg[1], view)
    return float(fg[0]), g, True, ok


@njit
def eval_split(fun, jac, view, fargs, jargs):
    """Separate ``jac``; the objective is left unknown (NaN)."""
    g, ok = _flat(jac(view, *jargs), view)
    return math.nan, g, False, ok


@njit
def value_fused(fun, view, fargs):
    return float(fun(view, *fargs)[0])


@njit
def value_split(fun, view, fargs):
    return float(fun(view, *fargs))


# the objective through a C pointer (numadam._cabi): ``fun`` is ``(fg, f,
# user_data, fused)``, ``fargs`` ``(gradient buffer, scratch, error flag)``
@njit
def eval_c(fun, jac, view, fargs, jargs):
    """``fg`` writes the gradient buffer; the error flag of a wrapped njit
    objective makes it not ok (``BAD_SHAPE``: Python re-evaluates)."""
    fg, _, ud, fused = fun
    buf, _, err = fargs
    f = call_fg(fg, view.size, view, buf, ud)
    return float(f), buf, fused, err[0] == 0


@njit
def value_c(fun, view, fargs):
    """The objective alone: ``f`` (``fg`` into the scratch buffer when fused)."""
    return float(call_fg(fun[1], view.size, view, fargs[1], fun[2]))


@njit(inline="always", error_model="numpy")
def nonfinite(g):
    """0.0 when every element of ``g`` is finite, else NaN (the norm's
    finiteness without its square root).  It counts (an integer sum
    vectorises; a float sum waits on each addition: 3x slower).  ``g`` a 1-D
    array or a tuple (the tiny loop's)."""
    bad = 0
    for i in range(len(g)):
        bad += g[i] - g[i] != 0.0
    return 0.0 if bad == 0 else math.nan


@njit(inline="always")
def no_extra(t):
    """The kernels' arguments after the state arrays at step ``t``: none (full
    precision)."""
    return ()


@njit(inline="always")
def lowp_extra(t):
    """The arguments of the kernels of low-precision state after the state
    arrays at step ``t``: its random key and the offset of the first element
    (:meth:`numadam._kernels.generate.MethodKernels.extra`)."""
    return _scalars.step_key(t), np.int64(0)


@njit(inline="always")
def step_scalars(scalar_fn, hyper, host, t, lr, clipping, clip_norm, s, r):
    """The kernel's scalars of step ``t`` and the new host state: the clip
    factor of a gradient of norm ``s * r`` (the full norm), then the method's
    scalar function.  No array passes through here (that would cost the
    compiled loops reference counting per iteration)."""
    gscale = 1.0
    if clipping:
        gscale = _scalars.clip_scale(clip_norm, s, r)
    return scalar_fn(hyper, t, lr, gscale, host)


@njit(inline="always")
def fill_scalars(scalar_fn, tab, htab, hyper, host, t, t0, lr_const, lr_table):
    """The tiny loop's per-step scalars ahead of time (no clipping: they depend
    on the step count alone): those of steps ``t + 1``, ``t + 2``, ... into
    ``tab`` and the host state after each into ``htab``, as many as they hold
    and the schedule's table has rates for; returns how many.  A burst of
    them costs less than one per iteration beside the step, whose square
    root and division wait on the same divider."""
    k = 0
    while k < len(tab):
        if lr_table.size > 0 and t - t0 + k >= lr_table.size:
            break
        sc, host = step_scalars(scalar_fn, hyper, host, t + 1 + k,
                                _scalars.lr_at(lr_const, lr_table, t - t0 + k),
                                False, 0.0, 1.0, 0.0)
        tab[k] = sc
        htab[k] = host
        k += 1
    return k


@njit
def run(fun, jac, evaluate, value, fargs, jargs, view, flat, arrays, kernel, scalar_fn, extra,
        hyper, host, t, lr_const, lr_table, use_table, clipping, clip_norm, maxiter, gtol,
        need_norm, norm, pnorm, project, has_box, lb, ub, gsign, policy, hist, hist_every,
        hist_base, last_chunk, h_step, h_loss, h_gn, h_lr, f, g, have_f, caution, agree):
    """Run up to ``maxiter`` iterations from the evaluated point ``(f, g)``.

    The same iteration as minimize's ordinary loop: the gradient norm, the
    objective where a history record needs it (before the non-finite test,
    so that a NaN objective applies ``nan_policy``), the stopping tests, the
    record, the step.  History is recorded when ``hist_base + nit`` is a
    multiple of ``hist_every``, and at the end of the run unless it merely
    ends a chunk (``last_chunk`` False and the budget spent).  With
    ``use_table`` the learning rates come from ``lr_table`` (index: steps
    since ``t``); one beyond it returns ``NEED_LR`` before the iteration
    does anything.  Returns ``(code, nit, nskip, t, host, f, have_f, g, nrec,
    nfev, njev)``; ``code`` is minimize's status (0, 1, 3) or a negative code
    for the caller.  With ``caution`` (a cautious method) ``agree``, the
    method's count pass, runs before every step.  ``extra(t)``: the kernels'
    arguments after the state arrays at step ``t`` (low-precision state's
    random key and offset; ``()`` for full precision).
    """
    nit = nskip = nrec = nfev = njev = 0
    t0, s, r = t, 1.0, 0.0
    while True:
        if has_box:
            s, r = pnorm(flat, g, lb, ub, gsign)
            gn = _scalars.norm_value(s, r)
        elif need_norm == 1:
            s, r = norm(g)
            gn = _scalars.norm_value(s, r)
        elif need_norm == 2:   # folded: the step's guard tests the finiteness
            gn = 0.0
        else:   # no test reads the norm: finiteness alone, no square root
            gn = nonfinite(g)
        hist_due = hist and (hist_base + nit) % hist_every == 0
        if hist_due and not have_f and math.isfinite(gn):
            f = value(fun, view, fargs)
            nfev += 1
            have_f = True
        code, bad = 99, False
        if not math.isfinite(gn):
            bad = True
            code = RAISE_NONFINITE_GRAD if policy == 1 else (3 if policy == 0 else 99)
        elif have_f and not math.isfinite(f):
            bad = True
            code = RAISE_NONFINITE_FUN if policy == 1 else (3 if policy == 0 else 99)
        if code == 99:
            if not bad and gtol > 0.0 and gn <= gtol:
                code = 0
            elif nit >= maxiter:
                code = 1
        record = hist and (hist_due or (code != 99 and (code != 1 or last_chunk)))
        # a record or a step needs the next learning rate: beyond the table?
        if not bad and use_table and t - t0 >= lr_table.size and (record or code == 99):
            code = NEED_LR
            break
        if record:
            if not have_f and not bad:
                f = value(fun, view, fargs)
                nfev += 1
                have_f = True
                if not math.isfinite(f):
                    bad = True
                    code = RAISE_NONFINITE_FUN if policy == 1 else 3
            h_step[nrec] = nit
            h_loss[nrec] = f if have_f else math.nan
            h_gn[nrec] = gn
            if bad:
                h_lr[nrec] = math.nan
            else:
                h_lr[nrec] = _scalars.lr_at(lr_const, lr_table, t - t0)
            nrec += 1
        if code != 99:
            break
        if bad:
            nskip += 1
        else:
            if has_box and clipping:
                s, r = norm(g)        # clipping is by the full norm
            scalars, host = step_scalars(scalar_fn, hyper, host, t + 1,
                                         _scalars.lr_at(lr_const, lr_table, t - t0),
                                         clipping, clip_norm, s, r)
            t += 1
            ex = extra(t)
            if caution:   # the cautious step: its count pass first
                scalars = _scalars.with_caution(
                    scalars, agree(flat, g, *arrays, *ex, *scalars), g.size)
            nbad = kernel(flat, g, *arrays, *ex, *scalars)
            if nbad > 0:
                code = RAISE_OVERFLOW if policy == 1 else 3
                break
            if has_box:
                project(flat, lb, ub)
        nit += 1
        f, g, have_f, ok = evaluate(fun, jac, view, fargs, jargs)
        nfev += 1 if have_f else 0
        njev += 1
        if not ok:
            code = BAD_SHAPE
            break
    return code, nit, nskip, t, host, f, have_f, g, nrec, nfev, njev
