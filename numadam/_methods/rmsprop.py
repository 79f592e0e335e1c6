"""RMSprop, optionally centered and with momentum (torch.optim.RMSprop)."""
import math

from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register


def update(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps, momentum, centered,
           use_momentum):
    """``v = alpha*v + (1-alpha)*g*g``; centered subtracts ``gbar**2`` under the
    root; with momentum ``buf = momentum*buf + g/denom`` and ``x -= lr*buf``."""
    g = grad_in(x, g, gmul, clip, wd)
    v = alpha * v + c_a * g * g
    if centered:
        gbar = alpha * gbar + c_a * g
        denom = math.sqrt(v - gbar * gbar) + eps
    else:
        denom = math.sqrt(v) + eps
    if use_momentum:
        buf = momentum * buf + g / denom
        x = x - lr * buf
    else:
        x = x - lr * g / denom
    return x, v, gbar, buf


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, alpha, eps, momentum)``."""
    maximize, clip, wd, alpha, eps, momentum = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return (gmul, clip, wdc, lr, alpha, 1.0 - alpha, eps, momentum), host


RULE = Rule(
    "rmsprop", update, scalars,
    hyper=lambda o: common(o) + (o["alpha"], o["eps"], o["momentum"]),
    states=(State("square_avg", nonnegative=True, moment=True),
            State("grad_avg", when="centered", moment=True),
            State("momentum_buffer", when="use_momentum", moment=True)),
    flags={"centered": lambda o: o["centered"],
           "use_momentum": lambda o: o["momentum"] > 0})

register(Method("rmsprop", "RMSprop, optionally centered", RULE,
                dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                     centered=False, maximize=False),
                "Tieleman & Hinton (2012), Lecture 6.5; Graves (2013) for the centered "
                "form; torch.optim.RMSprop"))
