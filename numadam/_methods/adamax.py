"""Adamax: Adam with the infinity norm (torch.optim.Adamax)."""
from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from .adam import KINGMA_BA


def update(x, g, m, u, gmul, clip, wd, decay, b1, c1, b2, step_size, eps):
    """Infinity-norm second moment ``u = max(b2*u, |g| + eps)``."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m = b1 * m + c1 * g
    u = b2 * u
    a = abs(g) + eps
    u = u if u > a else a  # NaN in g gives NaN (then the guard keeps the element)
    x = x - step_size * m / u
    return x, m, u


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, b1, b2, eps)``, ``host = (b1**(t-1),)``."""
    maximize, clip, wd, b1, b2, eps = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, False, lr, gscale)
    p1 = host[0] * b1
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, lr / (1.0 - p1), eps), (p1,))


RULE = Rule(
    "adamax", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], o["eps"]),
    states=(State("exp_avg", moment=True), State("exp_inf", nonnegative=True, moment=True)),
    host=(Host("beta1_power"),))

register(Method("adamax", "Adamax (Adam with the infinity norm)", RULE,
                dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     maximize=False),
                KINGMA_BA + ", Algorithm 2; torch.optim.Adamax"))
