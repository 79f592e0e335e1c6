"""NAdam: Adam with Nesterov momentum (torch.optim.NAdam)."""
import math

from .._kernels._math import caution_factor, grad_in, moments
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register


def update(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, inv_bc2, eps, coef_g,
           coef_m, cscale, cautious_step):
    """torch's form: ``coef_g`` and ``coef_m`` carry the mu products; cautious:
    both terms masked where their sum's sign differs from the gradient's."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    denom = math.sqrt(v * inv_bc2) + eps
    if cautious_step:
        f = caution_factor(coef_g * g + coef_m * m, g, cscale)
        x = x - coef_g * g / denom * f
        x = x - coef_m * m / denom * f
    else:
        x = x - coef_g * g / denom
        x = x - coef_m * m / denom
    return x, m, v


def caution(x, g, m, gmul, clip, wd, b1, c1, coef_g, coef_m):
    """The update's sign (its two terms share the denominator) times the gradient's."""
    g = grad_in(x, g, gmul, clip, wd)
    return (coef_g * g + coef_m * (b1 * m + c1 * g)) * g


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, decoupled, b1, b2, eps, psi)``,
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
             1.0 / (1.0 - p2), eps, coef_g, coef_m, 1.0), (mu_product, p2))


RULE = Rule(
    "nadam", update, scalars,
    hyper=lambda o: common(o) + (o["decoupled_weight_decay"], *o["betas"], o["eps"],
                                 o["momentum_decay"]),
    states=(State("exp_avg", moment=True), State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("mu_product", kind="product"), Host("beta2_power")),
    flags={"cautious_step": lambda o: o["cautious"]}, caution=caution)

register(Method("nadam", "NAdam (Adam with Nesterov momentum)", RULE,
                dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     momentum_decay=4e-3, decoupled_weight_decay=False, cautious=False,
                     maximize=False),
                "Dozat (2016), Incorporating Nesterov Momentum into Adam; "
                "torch.optim.NAdam"))
