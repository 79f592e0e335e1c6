"""Lion: the sign of an interpolated momentum (lion-pytorch, google/automl)."""
from .._kernels._math import caution_factor, grad_in, signed
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _flag


def update(x, g, m, gmul, clip, wd, decay, lr, b1, c1, b2, c2, cscale, cautious_step):
    """``c = b1*m + (1-b1)*g``; ``x -= lr*sign(c)``; ``m = b2*m + (1-b2)*g``
    (the decay ``x *= 1 - lr*wd`` first; cautious: masked where ``c*g <= 0``)."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    c = b1 * m + c1 * g
    if cautious_step:
        x = x - signed(lr, c) * caution_factor(c, g, cscale)
    else:
        x = x - signed(lr, c)
    m = b2 * m + c2 * g
    return x, m


def caution(x, g, m, gmul, clip, wd, b1, c1):
    """The step's sign, that of ``c``, times the gradient's."""
    g = grad_in(x, g, gmul, clip, wd)
    return (b1 * m + c1 * g) * g


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, b1, b2, lr0)``: the decay is ``lr*wd``, or
    ``(lr/lr0)*wd`` with lion-pytorch's ``decoupled_weight_decay`` (``lr0``
    the first step's lr; 0 when off)."""
    maximize, clip, wd, b1, b2, lr0 = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, True, lr, gscale)
    if lr0 > 0.0:
        decay = 1.0 - (lr / lr0) * wd
    return (gmul, clip, wdc, decay, lr, b1, 1.0 - b1, b2, 1.0 - b2, 1.0), host


def _lr0(o):
    """The first step's learning rate when the decay is lr-independent, else 0."""
    if not o["decoupled_weight_decay"]:
        return 0.0
    lr = o["lr"]
    lr0 = float(lr(0)) if callable(lr) else float(lr)
    if not lr0 > 0.0:
        given = f"the schedule gives lr(0) = {lr0}" if callable(lr) else f"got lr = {lr0}"
        raise ValueError("lion's decoupled_weight_decay divides the decay by the first "
                         f"step's learning rate, which must be > 0; {given}")
    return lr0


RULE = Rule(
    "lion", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], _lr0(o)),
    states=(State("exp_avg", moment=True),),
    flags={"cautious_step": lambda o: o["cautious"]}, caution=caution,
    options={"decoupled_weight_decay": (
        _flag, "lion-pytorch's: the decay is weight_decay * lr / lr0 (lr0 the first "
               "step's lr), independent of the lr's scale")})

register(Method("lion", "Lion (EvoLved Sign Momentum)", RULE,
                dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
                     decoupled_weight_decay=False, cautious=False, maximize=False),
                "Chen et al. (2023), Symbolic Discovery of Optimization Algorithms; "
                "lion-pytorch (= google/automl lion_pytorch.py)"))
