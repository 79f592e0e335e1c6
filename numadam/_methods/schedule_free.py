"""Schedule-Free AdamW: an average of the iterates instead of a schedule
(schedulefree.AdamWScheduleFree, the memory-efficient form)."""
import math

from .._numbers import as_int
from .._kernels._math import grad_in
from .._kernels._scalars import prologue
from ._declare import PARAMS, Host, Method, Modes, Rule, State, common, register
from ._options import _nonnegative, _real


def update(x, g, z, v, gmul, clip, wd, b2, c2, bc2, eps, dwd, w, w_c, w_high, coef_y, lr):
    """One element in train mode (``x`` holds y): ``v = b2*v + (1-b2)*g*g``;
    ``gn = g/(sqrt(v/bc2) + eps) + wd*y``; ``y = lerp(y, z, w)``;
    ``y += lr*(b1*(1-w) - 1)*gn``; ``z -= lr*gn`` (torch's lerp)."""
    g = grad_in(x, g, gmul, clip, wd)
    v = b2 * v + c2 * g * g
    gn = g / (math.sqrt(v / bc2) + eps)
    if dwd != dwd - dwd:
        gn = gn + dwd * x
    y = (x + w * (z - x)) if not w_high else (z - (z - x) * w_c)
    y = y + coef_y * gn
    z = z - lr * gn
    return y, z, v


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, b1, b2, eps, warmup_steps, r, weight_lr_power)``,
    ``host = (lr_max, weight_sum)``: the reference's per-step scalars with
    ``k = t - 1``."""
    maximize, clip, wd, b1, b2, eps, warmup, r, power = h
    gmul, clip, wdc, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    k = float(t - 1)
    sched = (k + 1.0) / warmup if k < warmup else 1.0
    lr_t = lr * sched
    lr_max = lr_t if lr_t > host[0] else host[0]
    weight = (k + 1.0) ** r * lr_max ** power
    weight_sum = host[1] + weight
    w = weight / weight_sum if weight_sum > 0.0 else 0.0
    return ((gmul, clip, wdc, b2, 1.0 - b2, 1.0 - b2 ** (k + 1.0), eps, wd, w, 1.0 - w,
             w >= 0.5, lr_t * (b1 * (1.0 - w) - 1.0), lr_t), (lr_max, weight_sum))


def _lerp(a, b, w):
    """torch.lerp(a, b, w) for a scalar weight, in a's dtype, into a."""
    dt = a.dtype.type
    if w < 0.5:
        a += dt(w) * (b - a)
    else:
        a[...] = b - (b - a) * dt(1.0 - w)


def to_eval(params, state, opts):
    """y -> x = lerp(y, z, 1 - 1/beta1) (the reference's ``eval()``)."""
    _lerp(params, state["z"], 1.0 - 1.0 / opts["betas"][0])


def to_train(params, state, opts):
    """x -> y = lerp(x, z, 1 - beta1) (the reference's ``train()``)."""
    _lerp(params, state["z"], 1.0 - opts["betas"][0])


def _warmup_steps(name, value):
    return as_int(f"option {name!r}", value, 0)


RULE = Rule(
    "schedule_free_adamw", update, scalars,
    hyper=lambda o: common(o) + (*o["betas"], o["eps"], float(o["warmup_steps"]),
                                 o["r"], o["weight_lr_power"]),
    states=(State("z", init=PARAMS), State("exp_avg_sq", nonnegative=True, moment=True)),
    host=(Host("lr_max", init=0.0, kind="sum"), Host("weight_sum", init=0.0, kind="sum")),
    bools=("w_high",),
    options={"warmup_steps": (_warmup_steps, "steps of the linear learning-rate warmup "
                                             "(0: none)"),
             "r": (_real, "power of the step count in the average's weights (0: a "
                          "uniform average after the warmup)"),
             "weight_lr_power": (_nonnegative, "power of the largest lr so far in the "
                                               "average's weights, >= 0"),
             "weight_decay": (_nonnegative, "decay added to the normalised gradient as "
                                            "wd * y (the reference's), >= 0")})

register(Method(
    "schedule_free_adamw", "Schedule-Free AdamW (an average of the iterates, no schedule)",
    RULE,
    dict(lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0,
         r=0.0, weight_lr_power=2.0, maximize=False),
    "Defazio et al. (2024), The Road Less Scheduled; schedulefree.AdamWScheduleFree",
    modes=Modes(to_eval, to_train)))
