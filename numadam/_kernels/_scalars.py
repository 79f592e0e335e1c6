"""The per-step scalar helpers every method and loop shares.

Each method's own scalar function ``fn(h, t, lr, gscale, host) -> (scalars,
host)`` is in its declaration (``numadam/_methods/*.py``): ``h`` is the
method's tuple of constant hyperparameters, ``t`` the step count after
incrementing, ``lr`` this step's learning rate, ``gscale`` the
clip-by-global-norm factor and ``host`` the tuple of scalar state carried
between steps (the products ``beta**t``, NAdam's mu product).  ``scalars``
are the kernel's arguments after its arrays.

These helpers and the methods' scalar functions run as plain Python in the
stateful optimizers and are compiled by numba (``register_jitable``) into
the compiled loops, from one source, so both paths compute the same bits.  To make that so, they use
only operations that numba and CPython evaluate identically: IEEE
arithmetic, ``math.sqrt``, and ``float ** float`` (libm's ``pow`` on both
sides; numba's float ** int is not).

The bias corrections' powers ``beta**t`` are running products carried in
``host`` (``p = p * beta`` each step, starting at 1): one multiplication
instead of a ``pow`` per step (which dominated a compiled iteration on small
problems), within ``t`` ulps of ``pow(beta, t)``.
"""
import math

import numpy as np


def prologue(maximize, clip, wd, decoupled, lr, gscale):
    """(gmul, clip, coupled wd, decoupled factor) shared by every method."""
    gmul = -gscale if maximize else gscale
    if decoupled:
        return gmul, clip, 0.0, 1.0 - lr * wd
    return gmul, clip, wd, 1.0


#: the largest float64: the norm reported for a finite gradient whose true
#: norm exceeds it (its clip factor is still exact, see :func:`clip_scale`)
DBL_MAX = 1.7976931348623157e308


def norm_value(s, r):
    """The gradient norm ``s * r`` from the norm kernels' ``(s, r)``.

    NaN or infinite exactly when an element of the gradient is: a finite
    gradient whose norm exceeds the largest double reports that double.
    """
    gn = s * r
    if gn == math.inf and r < math.inf:
        return DBL_MAX
    return gn


def clip_scale(clip_norm, s, r):
    """The clip-by-global-norm factor of a gradient of norm ``s * r``.

    ``clip_norm / r`` when ``s`` is 1 (always, unless the float64 sum of
    squares overflowed) and ``0 < clip_norm < r < inf``; ``(clip_norm / s) / r``
    for the rescaled norm of a huge finite gradient; else 1: no clipping
    configured (``clip_norm = 0``), nothing to clip, or a NaN or infinite
    norm, which scaling must not hide.
    """
    if 0.0 < clip_norm and r < math.inf:
        if s == 1.0:
            if clip_norm < r:
                return clip_norm / r
        elif clip_norm < s * r:
            return (clip_norm / s) / r
    return 1.0


def lr_at(lr_const, lr_table, k):
    """The learning rate of the step after ``k`` steps: a constant, or a table."""
    return lr_const if lr_table.size == 0 else lr_table[k]


def stop_status(gn, f_ok, skip, gtol, nit, maxiter):
    """One problem's stopping test before a step: ``(status, bad)``.

    ``bad`` when the gradient norm or the objective is not finite; status 3
    for that (unless the step is to be skipped), 0 when ``gn <= gtol``, 1
    when ``maxiter`` steps are taken, 99 to go on.
    """
    bad = not (math.isfinite(gn) and f_ok)
    if bad and not skip:
        return 3, bad
    if not bad and gtol > 0.0 and gn <= gtol:
        return 0, bad
    if nit >= maxiter:
        return 1, bad
    return 99, bad


def with_caution(scalars, count, n):
    """The kernel's scalars with the cautious step's scale, ``1 / max(mean(mask),
    1e-3)`` (the last scalar; ``count`` of the ``n`` elements agree)."""
    return scalars[:-1] + (1.0 / max(count / n, 1e-3),)


def step_key(t):
    """The uint32 key of step ``t``'s random bits (low-precision state): the
    compiled loops' twin of :func:`numadam._lowp.step_key` (splitmix64 of
    ``t``; in Python, numadam._lowp's computes it with exact integers)."""
    z = np.uint64(t) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.uint32((z ^ (z >> np.uint64(31))) & np.uint64(0xFFFFFFFF))


def counts(x, g, lb, ub, gsign, bounded, k):
    """Whether element ``k`` of ``g`` counts in the norm: always, unless
    ``bounded`` and the box ``[lb, ub]`` blocks it at ``x`` (the projected
    gradient of the gtol test)."""
    d = np.float64(g[k]) * gsign
    return not (bounded and ((x[k] <= lb[k] and 0.0 < d < math.inf)
                             or (x[k] >= ub[k] and -math.inf < d < 0.0)))


def vector_norm(x, g, lb, ub, gsign, bounded):
    """``(s, r)`` with ``||g|| = s * r`` of one vector (the GPU's one-thread
    problems), over the elements that :func:`counts`: the float64 sum of
    squares in element order, and, where it overflowed for finite elements,
    the sum of squares of ``g / max|g|`` -- the CPU norm kernels' rule
    (:func:`numadam._kernels.cpu._rescaled`), so a huge finite gradient is
    clipped and tested as there, not taken for a non-finite one."""
    total = 0.0
    for k in range(g.size):
        if counts(x, g, lb, ub, gsign, bounded, k):
            d = np.float64(g[k])
            total += d * d
    if total < math.inf:
        return 1.0, math.sqrt(total)
    s = 0.0
    for k in range(g.size):
        a = abs(np.float64(g[k]))
        if not a < math.inf:
            return 1.0, math.sqrt(total)
        if a > s and counts(x, g, lb, ub, gsign, bounded, k):
            s = a
    acc = 0.0
    for k in range(g.size):
        if counts(x, g, lb, ub, gsign, bounded, k):
            q = np.float64(g[k]) / s
            acc += q * q
    return s, math.sqrt(acc)


#: helpers shared by the compiled loops (CPU and CUDA), the optimizers and the
#: methods' scalar functions
HELPERS = (prologue, norm_value, clip_scale, lr_at, stop_status, with_caution, step_key,
           counts, vector_norm)
