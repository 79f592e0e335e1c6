"""A method declared for the test suite only: sign descent with momentum.

``m = beta*m + (1-beta)*g; x -= lr * sign(m)`` (signSGD with momentum,
"Signum": Bernstein et al. 2018).  This file is everything the method is:
the generator (:mod:`numadam._kernels.generate`) turns its one ``update``
function into the serial, parallel, compiled-loop, many-problems and CUDA
kernels.  Tests register it with :func:`register` and remove it with
:func:`unregister`, so that the package's own method list stays the nine.
"""
import math

from numadam._kernels._math import grad_in
from numadam._kernels._scalars import prologue
from numadam._methods import Method, Rule, State, common
from numadam._methods import register as _register
from numadam._methods import unregister as _unregister
from numadam._methods._options import _unit

NAME = "sign_descent"


def update(x, g, m, gmul, clip, wd, lr, beta, c_beta):
    """``m = beta*m + (1-beta)*g; x -= lr * sign(m)`` (``sign(0) = 0``)."""
    g = grad_in(x, g, gmul, clip, wd)
    m = beta * m + c_beta * g
    step = math.copysign(lr, m) if m != 0 else m
    return x - step, m


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, beta)``."""
    maximize, clip, wd, beta = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return (gmul, clip, wdc, lr, beta, 1.0 - beta), host


RULE = Rule(NAME, update, scalars,
            hyper=lambda o: common(o) + (o["beta"],),
            states=(State("exp_avg"),),
            options={"beta": (_unit, "momentum coefficient of the sign's average, "
                                     "in [0, 1)")})

METHOD = Method(NAME, "Sign descent with momentum (signum), a test-suite toy", RULE,
                dict(lr=1e-2, beta=0.9, weight_decay=0.0, maximize=False),
                "Bernstein et al. (2018), signSGD; numadam's test suite")


def register():
    """Add the toy to numadam.METHODS (idempotent)."""
    import numadam
    if NAME not in numadam.METHODS:
        _register(METHOD)


def unregister():
    import numadam
    if NAME in numadam.METHODS:
        _unregister(NAME)
