"""RAdam: rectified Adam (torch.optim.RAdam)."""
import math

from .._kernels._math import grad_in, moments
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register


def update(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, lr_bc1, rectified,
           rect_sbc2, eps):
    """torch's form; ``rect_sbc2 = r * sqrt(bc2)`` when rectified."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    if rectified:
        x = x - lr_bc1 * m * rect_sbc2 / (math.sqrt(v) + eps)
    else:
        x = x - lr_bc1 * m
    return x, m, v


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, decoupled, b1, b2, eps)``,
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


RULE = Rule(
    "radam", update, scalars,
    hyper=lambda o: common(o) + (o["decoupled_weight_decay"], *o["betas"], o["eps"]),
    states=(State("exp_avg", moment=True), State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    bools=("rectified",))

register(Method("radam", "RAdam (rectified Adam)", RULE,
                dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     decoupled_weight_decay=False, maximize=False),
                "Liu et al. (2020), On the Variance of the Adaptive Learning Rate and "
                "Beyond; torch.optim.RAdam"))
