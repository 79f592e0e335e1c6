"""AdEMAMix: Adam with a second, slow momentum mixed in (apple/ml-ademamix)."""
import math

from .._kernels._math import caution_factor, grad_in
from .._numbers import as_int
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative, betas_n


def update(x, g, m1, m2, v, gmul, clip, wd, b1, c1, b3, c3, b2, c2, inv_bc1, alpha,
           inv_sbc2, eps, lr, dwd, cscale, cautious_step):
    """``m1``, ``m2`` (slow, ``b3``) and ``v`` averages;
    ``x -= lr*((m1/bc1 + alpha*m2) / (sqrt(v)/sqrt(bc2) + eps) + wd*x)``
    (cautious: the first term masked where its sign differs from g's)."""
    g = grad_in(x, g, gmul, clip, wd)
    m1 = b1 * m1 + c1 * g
    m2 = b3 * m2 + c3 * g
    v = b2 * v + c2 * g * g
    d = m1 * inv_bc1 + alpha * m2
    u = d / (math.sqrt(v) * inv_sbc2 + eps)
    if cautious_step:
        u = u * caution_factor(d, g, cscale)
    x = x - lr * (u + dwd * x)
    return x, m1, m2, v


def caution(x, g, m1, m2, gmul, clip, wd, b1, c1, b3, c3, inv_bc1, alpha):
    """The update's numerator (its sign) times the gradient."""
    g = grad_in(x, g, gmul, clip, wd)
    return ((b1 * m1 + c1 * g) * inv_bc1 + alpha * (b3 * m2 + c3 * g)) * g


def half_life(b):
    """The reference's ``f``: the half-life (in steps, less one) of a decay rate."""
    return math.log(0.5) / math.log(b + 1e-8) - 1.0


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, b1, b2, b3, alpha, alpha_warmup, beta3_warmup,
    f(b1), f(b3), eps)`` (warmups 0 when off), ``host = (b1**(t-1), b2**(t-1))``.
    The warmups are the reference's: ``alpha*t/T`` and the beta3 whose
    half-life moves linearly from beta1's to beta3's, exactly alpha and
    beta3 from step T on."""
    maximize, clip, wd, b1, b2, b3, alpha, t_alpha, t_beta3, f1, f3, eps = h
    gmul, clip, wdc, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    p1 = host[0] * b1
    p2 = host[1] * b2
    if t < t_alpha:
        alpha = (float(t) / t_alpha) * alpha
    if t < t_beta3:
        a = float(t) / t_beta3
        b3 = 0.5 ** (1.0 / ((1.0 - a) * f1 + a * f3 + 1.0))
    return ((gmul, clip, wdc, b1, 1.0 - b1, b3, 1.0 - b3, b2, 1.0 - b2, 1.0 / (1.0 - p1),
             alpha, 1.0 / math.sqrt(1.0 - p2), eps, lr, wd, 1.0), (p1, p2))


def _warmup(name, value):
    """None, or a number of steps >= 1."""
    if value is None:
        return None
    try:
        return as_int(f"option {name!r}", value, 1)
    except TypeError:
        raise TypeError(f"option {name!r} must be None or a whole number of steps; "
                        f"got {value!r}") from None
    except ValueError:
        raise ValueError(f"option {name!r} must be >= 1 (or None: no warmup); "
                         f"got {value}") from None


def _hyper(o):
    b1, b2, b3 = o["betas"]
    return common(o) + (b1, b2, b3, o["alpha"], float(o["alpha_warmup"] or 0),
                        float(o["beta3_warmup"] or 0), half_life(b1), half_life(b3),
                        o["eps"])


RULE = Rule(
    "ademamix", update, scalars, hyper=_hyper,
    states=(State("exp_avg_fast", moment=True), State("exp_avg_slow", moment=True),
            State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    flags={"cautious_step": lambda o: o["cautious"]}, caution=caution,
    options={"betas": (betas_n(3), "decay rates (beta1, beta2, beta3) of the fast "
                                   "momentum, the second moment and the slow momentum, "
                                   "each in [0, 1)"),
             "alpha": (_nonnegative, "weight of the slow momentum in the update, >= 0"),
             "alpha_warmup": (_warmup, "steps over which alpha grows linearly from 0 "
                                       "(None: no warmup)"),
             "beta3_warmup": (_warmup, "steps over which beta3 grows from beta1, its "
                                       "half-life linearly (None: no warmup)"),
             "weight_decay": (_nonnegative, "decay added to the update as wd * x "
                                            "(AdamW-like, the reference's form), >= 0")})

register(Method("ademamix", "AdEMAMix (Adam with a mixture of a fast and a slow momentum)",
                RULE,
                dict(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=2.0, alpha_warmup=None,
                     beta3_warmup=None, eps=1e-8, weight_decay=0.0, cautious=False,
                     maximize=False),
                "Pagliardini, Ablin & Grangier (2024), The AdEMAMix Optimizer: Better, "
                "Faster, Older; apple/ml-ademamix pytorch/ademamix.py"))
