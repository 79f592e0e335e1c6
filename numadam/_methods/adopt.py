"""ADOPT: Adam with the second moment of earlier steps and clipping (torch-adopt)."""
import math

from .._kernels._math import caution_factor, grad_in
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _flag


def update(x, g, m, v, gmul, clip, wd, decay, first, lr, c1, b2, c2, eps, limit, cscale,
           use_clipping, cautious_step):
    """Step 1 only sets ``v = g*g``; then ``gh = g / max(sqrt(v), eps)``
    (clipped to ``±(t-1)**0.25``), ``m += (1-b1)*(gh - m)``, ``x -= lr*m``,
    ``v = b2*v + (1-b2)*g*g`` -- the ``v`` of EARLIER steps divides."""
    g = grad_in(x, g, gmul, clip, wd)
    if first:
        return x, m, v + g * g
    x = x * decay
    d = math.sqrt(v)
    d = d if d > eps else eps
    gh = g / d
    if use_clipping:   # a select that keeps NaN (the guard must see it)
        gh = limit if gh > limit else (-limit if gh < -limit else gh)
    m = m + c1 * (gh - m)
    if cautious_step:
        x = x - lr * (m * caution_factor(m, g, cscale))
    else:
        x = x - lr * m
    v = b2 * v + c2 * g * g
    return x, m, v


def caution(x, g, m, v, gmul, clip, wd, first, c1, eps, limit, use_clipping):
    """The step's sign, that of the new ``m``, times the gradient's (0 on the
    first step, which takes none)."""
    g = grad_in(x, g, gmul, clip, wd)
    if first:
        return g - g
    d = math.sqrt(v)
    d = d if d > eps else eps
    gh = g / d
    if use_clipping:
        gh = limit if gh > limit else (-limit if gh < -limit else gh)
    return (m + c1 * (gh - m)) * g


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, decoupled, b1, b2, eps)``; the clip limit
    ``(t-1)**0.25`` (torch-adopt's default ``clip_lambda``)."""
    maximize, clip, wd, decoupled, b1, b2, eps = h
    first = t == 1
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, decoupled, lr, gscale)
    if first:   # torch-adopt: the decoupled decay starts with the first parameter step
        decay = 1.0
    limit = float(t - 1) ** 0.25
    return (gmul, clip, wdc, decay, first, lr, 1.0 - b1, b2, 1.0 - b2, eps, limit,
            1.0), host


RULE = Rule(
    "adopt", update, scalars,
    hyper=lambda o: common(o) + (o["decoupled_weight_decay"], *o["betas"], o["eps"]),
    states=(State("exp_avg", moment=True), State("exp_avg_sq", nonnegative=True, moment=True)),
    flags={"use_clipping": lambda o: o["use_clipping"],
           "cautious_step": lambda o: o["cautious"]}, caution=caution,
    bools=("first",),
    options={"use_clipping": (_flag, "clip the normalised gradient to [-(t-1)**0.25, "
                                     "(t-1)**0.25] (the reference's default clip_lambda; "
                                     "False: the unclipped ADOPT of the paper's first "
                                     "version)")})

register(Method("adopt", "ADOPT (Adam with the second moment of earlier steps)", RULE,
                dict(lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, weight_decay=0.0,
                     decoupled_weight_decay=False, use_clipping=True, cautious=False,
                     maximize=False),
                "Taniguchi et al. (2024), ADOPT: Modified Adam Can Converge with Any "
                "beta2 with the Optimal Rate; torch-adopt (iShohei220/adopt) = "
                "optax.contrib.adopt"))
