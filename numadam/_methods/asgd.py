"""ASGD: SGD with Polyak-Ruppert averaging (torch.optim.ASGD)."""
from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register
from ._options import _nonnegative, _real


def update(x, g, ax, gmul, clip, wd, shrink, eta, mu, average):
    """``x = x*(1 - lambd*eta) - eta*g``; ``ax += mu*(x - ax)`` (a copy of x
    while ``mu`` is 1)."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * shrink
    x = x - eta * g
    ax = ax + (x - ax) * mu if average else x
    return x, ax


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, lambd, alpha, t0)``: torch's eta and mu of
    step ``t``, ``lr / (1 + lambd*lr*(t-1))**alpha`` and
    ``1 / max(1, t-1-t0)`` (in float64)."""
    maximize, clip, wd, lambd, alpha, t0 = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    s = float(t - 1)
    # torch computes the next step's eta at the end of a step, with that
    # step's lr: a changed lr (a schedule, a group's lr set by hand) enters
    # eta one step later; ``host[0]`` is that eta (the first step's is lr)
    eta = lr if t == 1 else host[0]
    mu = 1.0 / max(1.0, s - t0)
    return ((gmul, clip, wdc, 1.0 - lambd * eta, eta, mu, mu != 1.0),
            (lr / (1.0 + lambd * lr * float(t)) ** alpha,))


RULE = Rule(
    "asgd", update, scalars,
    hyper=lambda o: common(o) + (o["lambd"], o["alpha"], o["t0"]),
    states=(State("ax"),),
    host=(Host("eta", init=0.0, kind="sum"),),
    bools=("average",),
    options={"lambd": (_nonnegative, "decay term of the step size eta, >= 0"),
             "alpha": (_nonnegative, "power of the step size's decay, >= 0"),
             "t0": (_real, "the step from which the average starts")})

register(Method("asgd", "ASGD (averaged stochastic gradient descent)", RULE,
                dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                     maximize=False),
                "Polyak & Juditsky (1992), Acceleration of Stochastic Approximation by "
                "Averaging; torch.optim.ASGD"))
