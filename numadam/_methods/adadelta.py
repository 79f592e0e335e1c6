"""Adadelta: unit-corrected RMS steps (torch.optim.Adadelta)."""
import math

from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _unit


def update(x, g, square_avg, acc_delta, gmul, clip, wd, lr, rho, c_rho, eps):
    """``E[g²] = rho*E[g²] + (1-rho)*g*g``; ``d = sqrt(E[dx²] + eps) /
    sqrt(E[g²] + eps) * g``; ``E[dx²] = rho*E[dx²] + (1-rho)*d*d``; ``x -= lr*d``."""
    g = grad_in(x, g, gmul, clip, wd)
    square_avg = rho * square_avg + c_rho * g * g
    d = math.sqrt(acc_delta + eps) / math.sqrt(square_avg + eps) * g
    acc_delta = rho * acc_delta + c_rho * d * d
    return x - lr * d, square_avg, acc_delta


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, rho, eps)``."""
    maximize, clip, wd, rho, eps = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return (gmul, clip, wdc, lr, rho, 1.0 - rho, eps), host


RULE = Rule(
    "adadelta", update, scalars,
    hyper=lambda o: common(o) + (o["rho"], o["eps"]),
    states=(State("square_avg", nonnegative=True, moment=True),
            State("acc_delta", nonnegative=True, moment=True)),
    options={"rho": (_unit, "decay rate of the running averages of g**2 and of the "
                            "squared steps, in [0, 1)")})

register(Method("adadelta", "Adadelta (unit-corrected RMS steps)", RULE,
                dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False),
                "Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method; "
                "torch.optim.Adadelta"))
