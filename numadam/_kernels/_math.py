"""Per-element update rules, one small function per method.

Each function takes the old values of one parameter, its gradient and its
state, plus the step's scalars, and returns the new values.  They are
``@njit(inline="always")`` so that the CPU loops in :mod:`numadam._kernels.cpu`
and the CUDA kernels in :mod:`numadam._kernels.cuda` compile them into their
bodies with no call: each method's arithmetic is written once, here.

Conventions shared by every function:

* every scalar argument already has the parameter's dtype (the loops cast the
  host's float64 scalars once, outside the element loop), so float32 code
  stays float32: there is no float literal in this module;
* ``gmul`` is ``-1`` for ``maximize=True`` and ``+1`` otherwise, times the
  clip-by-global-norm factor; ``clip`` is the clip-by-value bound;
* ``wd`` is the coupled (L2) weight decay added to the gradient, ``0`` when
  the decay is decoupled or absent;
* ``decay`` is the decoupled factor ``1 - lr * weight_decay`` applied to the
  parameter first, ``1`` when the decay is coupled or absent.

The formulas follow torch.optim's semantics; each method's update rule is
written out on its page, ``docs/methods/*.md``, and in its class's docstring.
"""
import math

from numba import njit

_inline = njit(inline="always")


@_inline
def excess(a):
    """``0`` when ``a`` is finite, NaN when it is NaN or infinite.

    The loops add these up for an element's new values and compare the sum
    with zero: one comparison tells whether all of them are finite.
    """
    return a - a


@_inline
def grad_in(x, g, gmul, clip, wd):
    """The gradient a method sees.

    ``gmul`` carries maximize's sign and the clip-by-global-norm factor;
    ``clip`` is the clip-by-value bound (``inf`` when off); then the coupled
    L2 decay ``wd * x``.  Non-finite means non-finite before clipping: an
    infinite component clips to NaN (``clip + excess(g)``), not to the bound,
    so the loops' guard sees it; NaN stays NaN.
    """
    g = gmul * g
    g = clip + excess(g) if g > clip else (-clip + excess(g) if g < -clip else g)
    if wd == wd - wd:  # no coupled decay: g itself, as torch (and 0*x costs 2 operations)
        return g
    return g + wd * x


@_inline
def moments(g, m, v, b1, c1, b2, c2):
    """Adam's moment estimates: ``b1*m + (1-b1)*g`` and ``b2*v + (1-b2)*g*g``."""
    return b1 * m + c1 * g, b2 * v + c2 * g * g


@_inline
def adam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, step_size, inv_sbc2, eps):
    """Adam / AdamW: ``x -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)``."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    x = x - step_size * m / (math.sqrt(v) * inv_sbc2 + eps)
    return x, m, v


@_inline
def adam_amsgrad(x, g, m, v, vmax, gmul, clip, wd, decay, b1, c1, b2, c2, step_size,
                 inv_sbc2, eps):
    """AMSGrad: Adam with the running maximum of the raw ``v`` (torch)."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    vmax = vmax if vmax > v else v  # a select, not max(): max() does not vectorise
    x = x - step_size * m / (math.sqrt(vmax) * inv_sbc2 + eps)
    return x, m, v, vmax


@_inline
def adamax(x, g, m, u, gmul, clip, wd, decay, b1, c1, b2, step_size, eps):
    """Adamax: infinity-norm second moment ``u = max(b2*u, |g| + eps)``."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m = b1 * m + c1 * g
    u = b2 * u
    a = abs(g) + eps
    u = u if u > a else a  # NaN in g gives NaN (then the guard keeps the element)
    x = x - step_size * m / u
    return x, m, u


@_inline
def nadam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, inv_bc2, eps, coef_g,
          coef_m):
    """NAdam (torch's form): ``coef_g`` and ``coef_m`` carry the mu products."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    denom = math.sqrt(v * inv_bc2) + eps
    x = x - coef_g * g / denom
    x = x - coef_m * m / denom
    return x, m, v


@_inline
def radam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, lr_bc1, rectified,
          rect_sbc2, eps):
    """RAdam (torch's form); ``rect_sbc2 = r * sqrt(bc2)`` when rectified."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    if rectified:
        x = x - lr_bc1 * m * rect_sbc2 / (math.sqrt(v) + eps)
    else:
        x = x - lr_bc1 * m
    return x, m, v


@_inline
def sgd(x, g, gmul, clip, wd, lr):
    """Plain SGD (no momentum buffer)."""
    g = grad_in(x, g, gmul, clip, wd)
    return x - lr * g


@_inline
def sgd_momentum(x, g, b, gmul, clip, wd, lr, mom_b, c_g, nesterov, momentum):
    """SGD with momentum; step 1 passes ``mom_b = 0, c_g = 1`` so ``b = g``."""
    g = grad_in(x, g, gmul, clip, wd)
    b = mom_b * b + c_g * g
    if nesterov:
        d = g + momentum * b
    else:
        d = b
    return x - lr * d, b


@_inline
def rmsprop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps, centered,
            use_momentum, momentum):
    """RMSprop, optionally centered and with momentum.

    ``gbar`` is only read and written when ``centered``, ``buf`` only when
    ``use_momentum``; the loops pass the parameter's own value otherwise.
    """
    g = grad_in(x, g, gmul, clip, wd)
    v = alpha * v + c_a * g * g
    if centered:
        gbar = alpha * gbar + c_a * g
        denom = math.sqrt(v - gbar * gbar) + eps
    else:
        denom = math.sqrt(v) + eps
    if use_momentum:
        buf = momentum * buf + g / denom
        x = x - lr * buf
    else:
        x = x - lr * g / denom
    return x, v, gbar, buf


@_inline
def adagrad(x, g, s, gmul, clip, wd, clr, eps):
    """Adagrad: ``S += g*g; x -= clr * g / (sqrt(S) + eps)``."""
    g = grad_in(x, g, gmul, clip, wd)
    s = s + g * g
    x = x - clr * g / (math.sqrt(s) + eps)
    return x, s


# ---------------------------------------------------------------------------
# One element's guarded update, shared by the CPU loops and the CUDA kernels:
# read the element, apply the method, store the new values only if they are
# all finite (else keep the old ones), return 1 if the element was kept.
# ---------------------------------------------------------------------------
@_inline
def keep(ok, new, old):
    """``new`` if the element's new values are all finite, else ``old``."""
    return new if ok else old


@_inline
def adam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, step_size, inv_sbc2,
            eps, zero):
    xo, mo, vo = x[i], m[i], v[i]
    xn, mn, vn = adam(xo, g[i], mo, vo, gmul, clip, wd, decay, b1, c1, b2, c2,
                      step_size, inv_sbc2, eps)
    ok = excess(xn) + excess(mn) + excess(vn) == zero
    x[i] = keep(ok, xn, xo)
    m[i] = keep(ok, mn, mo)
    v[i] = keep(ok, vn, vo)
    return 0 if ok else 1


@_inline
def adam_amsgrad_at(i, x, g, m, v, vmax, gmul, clip, wd, decay, b1, c1, b2, c2,
                    step_size, inv_sbc2, eps, zero):
    xo, mo, vo, wo = x[i], m[i], v[i], vmax[i]
    xn, mn, vn, wn = adam_amsgrad(xo, g[i], mo, vo, wo, gmul, clip, wd, decay, b1, c1,
                                  b2, c2, step_size, inv_sbc2, eps)
    ok = excess(xn) + excess(mn) + excess(vn) + excess(wn) == zero
    x[i] = keep(ok, xn, xo)
    m[i] = keep(ok, mn, mo)
    v[i] = keep(ok, vn, vo)
    vmax[i] = keep(ok, wn, wo)
    return 0 if ok else 1


@_inline
def adamax_at(i, x, g, m, u, gmul, clip, wd, decay, b1, c1, b2, step_size, eps, zero):
    xo, mo, uo = x[i], m[i], u[i]
    xn, mn, un = adamax(xo, g[i], mo, uo, gmul, clip, wd, decay, b1, c1, b2, step_size,
                        eps)
    ok = excess(xn) + excess(mn) + excess(un) == zero
    x[i] = keep(ok, xn, xo)
    m[i] = keep(ok, mn, mo)
    u[i] = keep(ok, un, uo)
    return 0 if ok else 1


@_inline
def nadam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, inv_bc2, eps, coef_g,
             coef_m, zero):
    xo, mo, vo = x[i], m[i], v[i]
    xn, mn, vn = nadam(xo, g[i], mo, vo, gmul, clip, wd, decay, b1, c1, b2, c2, inv_bc2,
                       eps, coef_g, coef_m)
    ok = excess(xn) + excess(mn) + excess(vn) == zero
    x[i] = keep(ok, xn, xo)
    m[i] = keep(ok, mn, mo)
    v[i] = keep(ok, vn, vo)
    return 0 if ok else 1


@_inline
def radam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, lr_bc1, rectified,
             rect_sbc2, eps, zero):
    xo, mo, vo = x[i], m[i], v[i]
    xn, mn, vn = radam(xo, g[i], mo, vo, gmul, clip, wd, decay, b1, c1, b2, c2, lr_bc1,
                       rectified, rect_sbc2, eps)
    ok = excess(xn) + excess(mn) + excess(vn) == zero
    x[i] = keep(ok, xn, xo)
    m[i] = keep(ok, mn, mo)
    v[i] = keep(ok, vn, vo)
    return 0 if ok else 1


@_inline
def sgd_at(i, x, g, gmul, clip, wd, lr, zero):
    xo = x[i]
    xn = sgd(xo, g[i], gmul, clip, wd, lr)
    ok = excess(xn) == zero
    x[i] = keep(ok, xn, xo)
    return 0 if ok else 1


@_inline
def sgd_momentum_at(i, x, g, b, gmul, clip, wd, lr, mom_b, c_g, nesterov, momentum,
                    zero):
    xo, bo = x[i], b[i]
    xn, bn = sgd_momentum(xo, g[i], bo, gmul, clip, wd, lr, mom_b, c_g, nesterov,
                          momentum)
    ok = excess(xn) + excess(bn) == zero
    x[i] = keep(ok, xn, xo)
    b[i] = keep(ok, bn, bo)
    return 0 if ok else 1


@_inline
def rmsprop_at(i, x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps, centered,
               use_momentum, momentum, zero):
    # ``gbar`` / ``buf`` may be empty placeholders when their flag is off:
    # they are then neither read nor written.
    xo, vo = x[i], v[i]
    go = gbar[i] if centered else zero
    bo = buf[i] if use_momentum else zero
    xn, vn, gn, bn = rmsprop(xo, g[i], vo, go, bo, gmul, clip, wd, lr, alpha, c_a, eps,
                             centered, use_momentum, momentum)
    ok = excess(xn) + excess(vn) + excess(gn) + excess(bn) == zero
    x[i] = keep(ok, xn, xo)
    v[i] = keep(ok, vn, vo)
    if centered:
        gbar[i] = keep(ok, gn, go)
    if use_momentum:
        buf[i] = keep(ok, bn, bo)
    return 0 if ok else 1


@_inline
def adagrad_at(i, x, g, s, gmul, clip, wd, clr, eps, zero):
    xo, so = x[i], s[i]
    xn, sn = adagrad(xo, g[i], so, gmul, clip, wd, clr, eps)
    ok = excess(xn) + excess(sn) == zero
    x[i] = keep(ok, xn, xo)
    s[i] = keep(ok, sn, so)
    return 0 if ok else 1
