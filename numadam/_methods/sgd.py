"""SGD with optional (Nesterov) momentum (torch.optim.SGD)."""
from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register


def update(x, g, b, gmul, clip, wd, lr, mom_b, c_g, nesterov, momentum, use_momentum):
    """``x -= lr * g``, or with momentum ``b = mom_b*b + c_g*g`` (step 1 passes
    ``mom_b = 0, c_g = 1`` so that ``b = g``) and ``x -= lr * b`` (Nesterov:
    ``lr * (g + momentum*b)``)."""
    g = grad_in(x, g, gmul, clip, wd)
    if use_momentum:
        b = mom_b * b + c_g * g
        if nesterov:
            d = g + momentum * b
        else:
            d = b
        return x - lr * d, b
    return x - lr * g, b


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, momentum, dampening, nesterov)``."""
    maximize, clip, wd, momentum, dampening, nesterov = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    if t == 1:  # torch: the buffer starts as a copy of the gradient
        mom_b, c_g = 0.0, 1.0
    else:
        mom_b, c_g = momentum, 1.0 - dampening
    return (gmul, clip, wdc, lr, mom_b, c_g, nesterov, momentum), host


def check(opts):
    if opts["nesterov"] and (opts["momentum"] <= 0 or opts["dampening"] != 0):
        raise ValueError("option 'nesterov' requires momentum > 0 and "
                         f"dampening = 0; got momentum={opts['momentum']}, "
                         f"dampening={opts['dampening']}")


RULE = Rule(
    "sgd", update, scalars,
    hyper=lambda o: common(o) + (o["momentum"], o["dampening"], o["nesterov"]),
    states=(State("momentum_buffer", when="use_momentum", moment=True),),
    flags={"use_momentum": lambda o: o["momentum"] > 0},
    bools=("nesterov",), check=check)

register(Method("sgd", "SGD with optional (Nesterov) momentum", RULE,
                dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                     nesterov=False, maximize=False),
                "Robbins & Monro (1951); Sutskever et al. (2013) for Nesterov "
                "momentum; torch.optim.SGD"))
