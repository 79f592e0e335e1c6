"""LAMB: Adam's direction scaled per array by a trust ratio (optax.lamb).

Two passes: the first updates the moments and sums, per array, the squares
of the parameters and of the update ``u``; the trust ratio ``||x|| / ||u||``
(1 when either is 0) then scales the second pass, ``x -= lr * ratio * u``.
"""
import math

from .._kernels._math import excess, grad_in, moments
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative


def first(x, g, m, v, gmul, clip, wd, lwd, b1, c1, b2, c2, bc1, bc2, eps, eps_root, step):
    """The moments, and the element's ``x*x`` and ``u*u`` (``u`` the update
    before the trust ratio: ``(m/bc1) / (sqrt(v/bc2 + eps_root) + eps) + lwd*x``)."""
    g = grad_in(x, g, gmul, clip, wd)
    m, v = moments(g, m, v, b1, c1, b2, c2)
    u = (m / bc1) / (math.sqrt(v / bc2 + eps_root) + eps) + lwd * x
    return m, v, x * x, u * u


def update(x, g, m, v, gmul, clip, wd, lwd, b1, c1, b2, c2, bc1, bc2, eps, eps_root, step):
    """``x -= step * u`` with the new moments (``step = lr * ratio``, this
    array's); a non-finite gradient element keeps its ``x`` (its moments
    kept their values in the first pass)."""
    u = (m / bc1) / (math.sqrt(v / bc2 + eps_root) + eps) + lwd * x
    return x - step * u + excess(g), m, v


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, lamb weight_decay, b1, b2, eps, eps_root)``,
    ``host = (b1**(t-1), b2**(t-1))``; the last scalar, the step, is filled
    in by :func:`between`."""
    maximize, clip, lwd, b1, b2, eps, eps_root = h
    gmul, clip, wdc, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    p1 = host[0] * b1
    p2 = host[1] * b2
    return ((gmul, clip, wdc, lwd, b1, 1.0 - b1, b2, 1.0 - b2, 1.0 - p1, 1.0 - p2, eps,
             eps_root, 1.0), (p1, p2))


def between(h, t, lr, sums, host, s):
    """The trust ratio ``||x|| / ||u||`` of an array (1 when either norm is 0):
    the step ``lr * ratio``."""
    xn, un = math.sqrt(sums[0]), math.sqrt(sums[1])
    ratio = 1.0 if xn == 0.0 or un == 0.0 else xn / un
    return s[:-1] + (lr * ratio,), host


RULE = Rule(
    "lamb", update, scalars,
    hyper=lambda o: common(o)[:2] + (o["weight_decay"], *o["betas"], o["eps"],
                                     o["eps_root"]),
    states=(State("exp_avg", moment=True), State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    first=first, sums=("param_sq", "update_sq"), between=between, per_array=True,
    options={"eps_root": (_nonnegative, "added to the bias-corrected second moment "
                                        "under the square root, >= 0")})

register(Method("lamb", "LAMB (layer-wise adaptive moments)", RULE,
                dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0,
                     weight_decay=0.0, maximize=False),
                "You et al. (2019), Large Batch Optimization for Deep Learning: Training "
                "BERT in 76 minutes; optax.lamb"))
