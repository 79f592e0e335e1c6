"""Rprop: per-element step sizes driven by the gradient's sign (torch.optim.Rprop)."""
from .._kernels._math import grad_in, signed
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _real


def update(x, g, prev, step_size, gmul, clip, wd, eta_minus, eta_plus, step_min, step_max,
           one):
    """The step size grows by ``eta_plus`` where the gradient kept its sign,
    shrinks by ``eta_minus`` where it flipped (and that element does not move
    this step, its remembered gradient set to 0); ``x -= step * sign(g)``."""
    g = grad_in(x, g, gmul, clip, wd)
    zero = one - one
    s = g * prev
    f = eta_plus if s > zero else (eta_minus if s < zero else (one if s == zero else s))
    step = step_size * f
    step = step_min if step < step_min else (step_max if step > step_max else step)
    g = zero if s < zero else g
    return x - signed(step, g), g, step


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, eta_minus, eta_plus, step_min, step_max)``."""
    maximize, clip, wd, eta_minus, eta_plus, step_min, step_max = h
    gmul, clip, wdc, _ = prologue(maximize, clip, wd, False, lr, gscale)
    return (gmul, clip, wdc, eta_minus, eta_plus, step_min, step_max, 1.0), host


def _pair(name, value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"option {name!r} must be a pair; got {value!r}")
    return tuple(_real(f"{name}[{k}]", v) for k, v in enumerate(value))


def _etas(name, value):
    lo, hi = _pair(name, value)
    if not 0.0 < lo < 1.0 < hi:
        raise ValueError(f"option {name!r} must be (etaminus, etaplus) with 0 < etaminus < "
                         f"1 < etaplus; got {value!r}")
    return lo, hi


def _step_sizes(name, value):
    lo, hi = _pair(name, value)
    if not 0.0 <= lo <= hi:
        raise ValueError(f"option {name!r} must be (min, max) with 0 <= min <= max; got "
                         f"{value!r}")
    return lo, hi


def _check(opts):
    if callable(opts["lr"]):
        raise TypeError("rprop's lr is the initial step size of every element, not a "
                        "learning rate that a schedule could scale; give a number")


RULE = Rule(
    "rprop", update, scalars,
    hyper=lambda o: common(o) + (*o["etas"], *o["step_sizes"]),
    states=(State("prev"), State("step_size", init="lr", nonnegative=True)),
    check=_check,
    options={"etas": (_etas, "(etaminus, etaplus): the step size's factors where the "
                             "gradient's sign flipped and where it held, "
                             "0 < etaminus < 1 < etaplus"),
             "step_sizes": (_step_sizes, "(min, max): the bounds of every element's step "
                                         "size, 0 <= min <= max")})

register(Method("rprop", "Rprop (resilient backpropagation)", RULE,
                dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), weight_decay=0.0,
                     maximize=False),
                "Riedmiller & Braun (1993), A Direct Adaptive Method for Faster "
                "Backpropagation Learning: The RPROP Algorithm; torch.optim.Rprop",
                full_batch=True))
