"""Adagrad (torch.optim.Adagrad)."""
import math

from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register


def update(x, g, s, gmul, clip, wd, clr, eps):
    """``S += g*g; x -= clr * g / (sqrt(S) + eps)``."""
    g = grad_in(x, g, gmul, clip, wd)
    s = s + g * g
    x = x - clr * g / (math.sqrt(s) + eps)
    return x, s


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, lr_decay, eps)``; ``clr`` is the decayed rate."""
    maximize, clip, wd, lr_decay, eps = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    clr = lr / (1.0 + (float(t) - 1.0) * lr_decay)
    return (gmul, clip, wdc, clr, eps), host


RULE = Rule(
    "adagrad", update, scalars,
    hyper=lambda o: common(o) + (o["lr_decay"], o["eps"]),
    states=(State("sum", init="initial_accumulator_value", nonnegative=True, moment=True),))

register(Method("adagrad", "Adagrad", RULE,
                dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                     initial_accumulator_value=0.0, eps=1e-10, maximize=False),
                "Duchi, Hazan & Singer (2011), Adaptive Subgradient Methods; "
                "torch.optim.Adagrad"))
