"""Per-step scalars of every method, as plain functions of constants and ``t``.

``fn(h, t, lr, gscale, host) -> (scalars, host)``: ``h`` is the method's
tuple of constant hyperparameters (built once by its registry entry), ``t``
the step count after incrementing, ``lr`` this step's learning rate,
``gscale`` the clip-by-global-norm factor and ``host`` the tuple of scalar
state carried between steps (NAdam's mu product; empty for the others).
``scalars`` are the kernel's arguments after its arrays.

These functions run as plain Python in the stateful optimizers and are
compiled by numba (``register_jitable``) into the compiled loops, from this
one source, so both paths compute the same bits.  To make that so, they use
only operations that numba and CPython evaluate identically: IEEE
arithmetic, ``math.sqrt``, and ``float ** float`` (libm's ``pow`` on both
sides; numba's float ** int is not).

The bias corrections' powers ``beta**t`` are running products carried in
``host`` (``p = p * beta`` each step, starting at 1): one multiplication
instead of a ``pow`` per step (which dominated a compiled iteration on small
problems), within ``t`` ulps of ``pow(beta, t)``.
"""
import math


def prologue(maximize, clip, wd, decoupled, lr, gscale):
    """(gmul, clip, coupled wd, decoupled factor) shared by every method."""
    gmul = -gscale if maximize else gscale
    if decoupled:
        return gmul, clip, 0.0, 1.0 - lr * wd
    return gmul, clip, wd, 1.0


def adam(h, t, lr, gscale, host):
    """Adam, AdamW, AMSGrad.  ``h = (maximize, clip, wd, decoupled, b1, b2, eps)``,
    ``host = (b1**(t-1), b2**(t-1))``."""
    maximize, clip, wd, decoupled, b1, b2, eps = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, decoupled, lr, gscale)
    p1 = host[0] * b1
    p2 = host[1] * b2
    bc1 = 1.0 - p1
    bc2 = 1.0 - p2
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, 1.0 - b2, lr / bc1,
             1.0 / math.sqrt(bc2), eps), (p1, p2))


def adamax(h, t, lr, gscale, host):
    """Adamax.  ``h = (maximize, clip, wd, b1, b2, eps)``, ``host = (b1**(t-1),)``."""
    maximize, clip, wd, b1, b2, eps = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, False, lr, gscale)
    p1 = host[0] * b1
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, lr / (1.0 - p1), eps), (p1,))


def nadam(h, t, lr, gscale, host):
    """NAdam.  ``h = (maximize, clip, wd, decoupled, b1, b2, eps, psi)``,
    ``host = (mu_product, b2**(t-1))``."""
    maximize, clip, wd, decoupled, b1, b2, eps, psi = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, decoupled, lr, gscale)
    tf = float(t)
    mu = b1 * (1.0 - 0.5 * 0.96 ** (tf * psi))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((tf + 1.0) * psi))
    mu_product = host[0] * mu
    p2 = host[1] * b2
    coef_g = lr * (1.0 - mu) / (1.0 - mu_product)
    coef_m = lr * mu_next / (1.0 - mu_product * mu_next)
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, 1.0 - b2,
             1.0 / (1.0 - p2), eps, coef_g, coef_m), (mu_product, p2))


def radam(h, t, lr, gscale, host):
    """RAdam.  ``h = (maximize, clip, wd, decoupled, b1, b2, eps)``,
    ``host = (b1**(t-1), b2**(t-1))``."""
    maximize, clip, wd, decoupled, b1, b2, eps = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, decoupled, lr, gscale)
    tf = float(t)
    p1 = host[0] * b1
    p2 = host[1] * b2
    bc1 = 1.0 - p1
    bc2 = 1.0 - p2
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * tf * p2 / bc2
    rectified = rho_t > 5.0
    rect = 0.0
    if rectified:
        r = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                      / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        rect = r * math.sqrt(bc2)
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, 1.0 - b2, lr / bc1,
             rectified, rect, eps), (p1, p2))


def sgd(h, t, lr, gscale, host):
    """SGD without momentum.  ``h = (maximize, clip, wd)``."""
    maximize, clip, wd = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return (gmul, clip, wdc, lr), host


def sgd_momentum(h, t, lr, gscale, host):
    """SGD with momentum.  ``h = (maximize, clip, wd, momentum, dampening, nesterov)``."""
    maximize, clip, wd, momentum, dampening, nesterov = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    if t == 1:  # torch: the buffer starts as a copy of the gradient
        mom_b, c_g = 0.0, 1.0
    else:
        mom_b, c_g = momentum, 1.0 - dampening
    return (gmul, clip, wdc, lr, mom_b, c_g, nesterov, momentum), host


def rmsprop(h, t, lr, gscale, host):
    """RMSprop.  ``h = (maximize, clip, wd, alpha, eps, centered, momentum)``."""
    maximize, clip, wd, alpha, eps, centered, momentum = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return ((gmul, clip, wdc, lr, alpha, 1.0 - alpha, eps, centered, momentum > 0.0,
             momentum), host)


def adagrad(h, t, lr, gscale, host):
    """Adagrad.  ``h = (maximize, clip, wd, lr_decay, eps)``."""
    maximize, clip, wd, lr_decay, eps = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    clr = lr / (1.0 + (float(t) - 1.0) * lr_decay)
    return (gmul, clip, wdc, clr, eps), host


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


ALL = (prologue, adam, adamax, nadam, radam, sgd, sgd_momentum, rmsprop, adagrad)
#: helpers shared by the compiled loops (CPU and CUDA) and the optimizers
HELPERS = (norm_value, clip_scale, lr_at, stop_status)
