"""Prodigy: Adam whose step size d is learnt from the run (prodigyopt.Prodigy).

Two passes: the first updates the moments and ``s`` and sums, over every
array, the dot product ``<g, x0 - x>`` and ``sum |s|``; from them the host
grows the estimate ``d`` of the distance to the solution; the second pass
steps with the learning rate ``d * lr``.
"""
import math
import numbers

import numpy as np

from .._kernels._math import excess, grad_in
from .._kernels._scalars import prologue
from ._declare import PARAMS, Host, Method, Rule, State, common, register
from ._options import _flag, _positive, _real


def first(x, g, s, p0, m, v, gmul, clip, wd, b1, c1d, b2, c2dd, b3, sc, dwd, ndlr, deps, dn):
    """The moments (scaled by ``d``) and ``s``; the element's ``g * (x0 - x)``
    and ``|s|``."""
    g = grad_in(x, g, gmul, clip, wd)
    m = b1 * m + c1d * g
    v = b2 * v + c2dd * g * g
    s = b3 * s + sc * g
    return s, p0, m, v, g * (p0 - x), abs(s)


def update(x, g, s, p0, m, v, gmul, clip, wd, b1, c1d, b2, c2dd, b3, sc, dwd, ndlr, deps,
           dn):
    """``x += dwd*x`` (the decoupled decay, ``-wd*d*lr``), then ``x -= d*lr *
    m / (sqrt(v) + d*eps)`` (the new ``d`` in the denominator; with beta1 = 0,
    prodigyopt's ``d*g`` with the new ``d`` in place of ``m``)."""
    zero = b1 - b1
    gg = grad_in(x, g, gmul, clip, wd)
    x = x + dwd * x
    if b1 == zero:
        x = x + (ndlr * dn) * (gg / (math.sqrt(v) + deps))
    else:
        x = x + ndlr * (m / (math.sqrt(v) + deps))
    return x + excess(g), s, p0, m, v


def _dlr(h, t, lr, d):
    """``d * lr * bias_correction`` of step ``t``."""
    b1, b2, use_bc = h[4], h[5], h[11]
    bc = ((1.0 - b2 ** t) ** 0.5) / (1.0 - b1 ** t) if use_bc else 1.0
    return d * lr * bc


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, decouple, b1, b2, b3, eps, d0, d_coef,
    growth_rate, use_bias_correction, safeguard_warmup)``, ``host = (d, d_max,
    d_numerator, k)``: the first pass's scalars with this step's ``d``; the
    denominator's ``d*eps`` and the new ``d`` are :func:`between`'s.  ``k``
    counts the steps taken, which the bias correction counts (prodigyopt's
    ``k``): with lr 0 (a warmup from 0) prodigyopt changes no state and takes
    no step, so the first pass leaves every state as it is (``1*m + 0*g``)."""
    maximize, clip, wd, decouple, b1, b2, b3, eps, d0, d_coef, growth, use_bc, safe = h
    gmul, clip, _, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    d = host[0]
    wdc = 0.0 if decouple else wd
    if lr == 0.0:
        return ((gmul, clip, wdc, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, d * eps, d),
                host)
    dlr = _dlr(h, host[3] + 1.0, lr, d)
    sc = (d / d0) * d if safe else (d / d0) * dlr
    dwd = -wd * dlr if decouple else 0.0
    return ((gmul, clip, wdc, b1, d * (1.0 - b1), b2, d * d * (1.0 - b2), b3, sc, dwd, -dlr,
             d * eps, d), host)


def between(h, t, lr, sums, host, s):
    """prodigyopt's update of ``d`` from ``<g, x0 - x>`` and ``sum |s|``;
    with ``sum |s| = 0`` (no gradient yet) or lr 0, prodigyopt returns before
    the step: the parameters do not move and neither ``d``, its numerator nor
    the count of steps ``k`` changes."""
    dot, sabs = sums
    d, d_max, d_num, k = host
    if sabs == 0.0 or lr == 0.0:   # prodigyopt returns before the step
        return s[:9] + (0.0, 0.0, s[11], s[12]), host
    b3, eps, d0, d_coef, growth = h[6], h[7], h[8], h[9], h[10]
    k = k + 1.0
    d_num = d_num * b3 + ((d / d0) * _dlr(h, k, lr, d)) * dot
    d_hat = d_coef * d_num / sabs
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    d = min(d_max, d * growth)
    return s[:11] + (d * eps, d), (d, d_max, d_num, k)


def _beta3(name, value):
    if value is None:
        return None
    value = _real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"option {name!r} must be None (sqrt(beta2)) or in [0, 1); got "
                         f"{value}")
    return value


def _growth(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"option {name!r} must be a number >= 1 (inf: unbounded); got "
                        f"{value!r}")
    value = float(value)
    if not value >= 1.0:
        raise ValueError(f"option {name!r} must be >= 1 (inf: unbounded); got {value}")
    return value


def _hyper(o):
    b1, b2 = o["betas"]
    b3 = o["beta3"] if o["beta3"] is not None else math.sqrt(b2)
    return common(o)[:3] + (o["decouple"], b1, b2, b3, o["eps"], o["d0"], o["d_coef"],
                            o["growth_rate"], o["use_bias_correction"],
                            o["safeguard_warmup"])


RULE = Rule(
    "prodigy", update, scalars, hyper=_hyper,
    states=(State("s"), State("p0", init=PARAMS), State("exp_avg", moment=True),
            State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("d", init="d0", kind="positive"), Host("d_max", init="d0", kind="positive"),
          Host("d_numerator", init=0.0, kind="real"), Host("k", init=0.0, kind="count")),
    first=first, sums=("dot", "s_abs"), between=between,
    shared=("lr", "betas", "beta3", "d0", "d_coef", "growth_rate", "use_bias_correction",
            "safeguard_warmup", "decouple"),
    options={"beta3": (_beta3, "decay rate of s, in [0, 1); None: sqrt(beta2)"),
             "decouple": (_flag, "weight decay decoupled (AdamW's) rather than added to "
                                 "the gradient"),
             "use_bias_correction": (_flag, "Adam's bias correction in the step size"),
             "safeguard_warmup": (_flag, "leave lr out of s's update (for warmup "
                                         "schedules)"),
             "d0": (_positive, "initial estimate of d, > 0"),
             "d_coef": (_positive, "multiplier of the estimate of d, > 0"),
             "growth_rate": (_growth, "most d may grow per step, >= 1 (inf: unbounded)")})

register(Method("prodigy", "Prodigy (an adaptive, learning-rate-free Adam)", RULE,
                dict(lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0,
                     decouple=True, use_bias_correction=False, safeguard_warmup=False,
                     d0=1e-6, d_coef=1.0, growth_rate=math.inf, maximize=False),
                "Mishchenko & Defazio (2023), Prodigy: An Expeditiously Adaptive "
                "Parameter-Free Learner; prodigyopt.Prodigy"))
