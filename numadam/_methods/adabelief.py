"""AdaBelief: Adam whose second moment is the belief in the gradient (optax)."""
import math

from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative


def update(x, g, m, s, gmul, clip, wd, b1, c1, b2, c2, eps_root, lr_bc1, inv_bc2, eps):
    """``m = b1*m + (1-b1)*g``; ``s = b2*s + (1-b2)*(g-m)**2 + eps_root``;
    ``x -= lr * (m/bc1) / (sqrt(s/bc2) + eps)`` (optax.scale_by_belief)."""
    g = grad_in(x, g, gmul, clip, wd)
    m = b1 * m + c1 * g
    e = g - m
    s = b2 * s + c2 * e * e + eps_root
    x = x - lr_bc1 * m / (math.sqrt(s * inv_bc2) + eps)
    return x, m, s


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, b1, b2, eps, eps_root)``,
    ``host = (b1**(t-1), b2**(t-1))``; Yogi's too (optax's two share their
    bias-corrected form)."""
    maximize, clip, wd, b1, b2, eps, eps_root = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    p1 = host[0] * b1
    p2 = host[1] * b2
    return ((gmul, clip, wdc, b1, 1.0 - b1, b2, 1.0 - b2, eps_root, lr / (1.0 - p1),
             1.0 / (1.0 - p2), eps), (p1, p2))


RULE = Rule(
    "adabelief", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], o["eps"], o["eps_root"]),
    states=(State("exp_avg", moment=True), State("exp_avg_var", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    options={"eps_root": (_nonnegative, "added to the second moment of the gradient's "
                                        "prediction error every step, >= 0")})

register(Method("adabelief", "AdaBelief (Adam adapted by the belief in the gradient)",
                RULE,
                dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-16, eps_root=1e-16,
                     weight_decay=0.0, maximize=False),
                "Zhuang et al. (2020), AdaBelief Optimizer: Adapting Stepsizes by the "
                "Belief in Observed Gradients; optax.adabelief"))
