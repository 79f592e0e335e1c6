"""Adan: adaptive Nesterov momentum from gradient differences (optax.adan)."""
import math

from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative, betas_n


def update(x, g, m, v, n, g_prev, gmul, clip, wd, dmul, b1, c1, b2, c2, b3, c3, bc1, bc2,
           bc3, eps_root, eps, lr, dwd):
    """``d = g - g_prev`` (0 on step 1); ``m = b1*m + (1-b1)*g``;
    ``v = b2*v + (1-b2)*d``; ``n = b3*n + (1-b3)*(g + (1-b2)*d)**2``;
    ``x -= lr*((m/bc1 + (1-b2)*v/bc2) / (sqrt(n/bc3 + eps_root) + eps) + wd*x)``
    (optax.adan, its decay ``wd*x`` added to the update)."""
    g = grad_in(x, g, gmul, clip, wd)
    d = dmul * (g - g_prev)
    m = b1 * m + c1 * g
    v = b2 * v + c2 * d
    q = g + c2 * d
    n = b3 * n + c3 * q * q
    # optax's order of operations (the divisions too: the update divides by a
    # root that can be as small as eps, which magnifies any difference)
    u = (m / bc1 + c2 * (v / bc2)) / (math.sqrt(n / bc3 + eps_root) + eps)
    x = x - lr * (u + dwd * x)
    return x, m, v, n, g


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, b1, b2, b3, eps, eps_root, wd)``,
    ``host = (b1**(t-1), b2**(t-1), b3**(t-1))``."""
    maximize, clip, _, b1, b2, b3, eps, eps_root, wd = h
    gmul, clip, wdc, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    p1, p2, p3 = host[0] * b1, host[1] * b2, host[2] * b3
    dmul = 0.0 if t == 1 else 1.0
    return ((gmul, clip, wdc, dmul, b1, 1.0 - b1, b2, 1.0 - b2, b3, 1.0 - b3,
             1.0 - p1, 1.0 - p2, 1.0 - p3, eps_root, eps,
             lr, wd), (p1, p2, p3))


RULE = Rule(
    "adan", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], o["eps"], o["eps_root"],
                                 o["weight_decay"]),
    states=(State("exp_avg", moment=True),
            State("exp_avg_diff", moment=True),
            State("exp_avg_sq", nonnegative=True, moment=True),
            State("prev_grad")),
    host=(Host("beta1_power"), Host("beta2_power"), Host("beta3_power")),
    options={"betas": (betas_n(3), "decay rates (beta1, beta2, beta3) of the gradient's, "
                                   "the gradient difference's and the squared term's "
                                   "averages, each in [0, 1)"),
             "eps_root": (_nonnegative, "added to the bias-corrected squared term under "
                                        "the square root, >= 0"),
             "weight_decay": (_nonnegative, "decay added to the update as wd * x "
                                            "(optax.adan's form), >= 0")})

register(Method("adan", "Adan (adaptive Nesterov momentum)", RULE,
                dict(lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, eps_root=1e-8,
                     weight_decay=0.0, maximize=False),
                "Xie et al. (2022), Adan: Adaptive Nesterov Momentum Algorithm for "
                "Faster Optimizing Deep Models; optax.adan"))
