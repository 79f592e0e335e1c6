"""Yogi: Adam with an additive, sign-controlled second moment (optax)."""
import math

from .._kernels._math import grad_in, signed
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative
from .adabelief import scalars  # the same scalars (b2 unused here)


def update(x, g, m, v, gmul, clip, wd, b1, c1, b2, c2, eps_root, lr_bc1, inv_bc2, eps):
    """``m = b1*m + (1-b1)*g``; ``v -= (1-b2)*sign(v - g*g)*g*g``;
    ``x -= lr * (m/bc1) / (sqrt(v/bc2 + eps_root) + eps)`` (optax.scale_by_yogi)."""
    g = grad_in(x, g, gmul, clip, wd)
    m = b1 * m + c1 * g
    g2 = g * g
    v = v - c2 * signed(g2, v - g2)
    x = x - lr_bc1 * m / (math.sqrt(v * inv_bc2 + eps_root) + eps)
    return x, m, v


RULE = Rule(
    "yogi", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], o["eps"], o["eps_root"]),
    states=(State("exp_avg", init="initial_accumulator_value", moment=True),
            State("exp_avg_sq", init="initial_accumulator_value", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    options={"eps_root": (_nonnegative, "added to the bias-corrected second moment "
                                        "under the square root, >= 0"),
             "initial_accumulator_value": (
                 _nonnegative, "starting value of BOTH moment estimates, >= 0 (optax)")})

register(Method("yogi", "Yogi (Adam with an additive second moment)", RULE,
                dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-3, eps_root=0.0,
                     initial_accumulator_value=1e-6, weight_decay=0.0, maximize=False),
                "Zaheer et al. (2018), Adaptive Methods for Nonconvex Optimization; "
                "optax.scale_by_yogi"))
