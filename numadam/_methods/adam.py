"""Adam, AdamW and AMSGrad: one rule, three named entries (torch.optim.Adam, AdamW)."""
import math

from .._kernels._math import caution_factor, grad_in, moments
from .._kernels._scalars import prologue
from ._declare import Host, Method, Rule, State, common, register


def update(x, g, m, v, vmax, gmul, clip, wd, decay, b1, c1, b2, c2, step_size, inv_sbc2,
           eps, cscale, amsgrad, cautious_step):
    """``x -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)``; AMSGrad uses the running
    maximum of the raw ``v`` (torch); cautious: masked where the step's sign
    and the gradient's differ (timm's ``caution``)."""
    g = grad_in(x, g, gmul, clip, wd)
    x = x * decay
    m, v = moments(g, m, v, b1, c1, b2, c2)
    if amsgrad:
        vmax = vmax if vmax > v else v  # a select, not max(): max() does not vectorise
        u = step_size * m / (math.sqrt(vmax) * inv_sbc2 + eps)
    else:
        u = step_size * m / (math.sqrt(v) * inv_sbc2 + eps)
    if cautious_step:   # timm's mask: m * g > 0
        u = u * caution_factor(m, g, cscale)
    return x - u, m, v, vmax


def caution(x, g, m, gmul, clip, wd, b1, c1):
    """The sign of the step times the gradient's: that of the new ``m`` times ``g``."""
    g = grad_in(x, g, gmul, clip, wd)
    return (b1 * m + c1 * g) * g


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, decoupled, b1, b2, eps)``,
    ``host = (b1**(t-1), b2**(t-1))``."""
    maximize, clip, wd, decoupled, b1, b2, eps = h
    gmul, clip, wdc, decay = prologue(maximize, clip, wd, decoupled, lr, gscale)
    p1 = host[0] * b1
    p2 = host[1] * b2
    bc1 = 1.0 - p1
    bc2 = 1.0 - p2
    return ((gmul, clip, wdc, decay, b1, 1.0 - b1, b2, 1.0 - b2, lr / bc1,
             1.0 / math.sqrt(bc2), eps, 1.0), (p1, p2))


RULE = Rule(
    "adam", update, scalars,
    hyper=lambda o: common(o) + (o["decoupled_weight_decay"], *o["betas"], o["eps"]),
    states=(State("exp_avg", moment=True), State("exp_avg_sq", nonnegative=True, moment=True),
            State("max_exp_avg_sq", when="amsgrad", nonnegative=True, moment=True)),
    host=(Host("beta1_power"), Host("beta2_power")),
    flags={"amsgrad": lambda o: o["amsgrad"],
           "cautious_step": lambda o: o["cautious"]},
    caution=caution)

_BETAS = (0.9, 0.999)
KINGMA_BA = "Kingma & Ba (2014), Adam: A Method for Stochastic Optimization"

register(
    Method("adam", "Adam", RULE,
           dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0, amsgrad=False,
                decoupled_weight_decay=False, cautious=False, maximize=False),
           KINGMA_BA + ", Algorithm 1; torch.optim.Adam"),
    Method("adamw", "AdamW (Adam with decoupled weight decay)", RULE,
           dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=1e-2, amsgrad=False,
                cautious=False, maximize=False),
           "Loshchilov & Hutter (2019), Decoupled Weight Decay Regularization; "
           "torch.optim.AdamW",
           fixed=dict(decoupled_weight_decay=True)),
    Method("amsgrad", "AMSGrad (Adam with the running maximum of v)", RULE,
           dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0,
                decoupled_weight_decay=False, cautious=False, maximize=False),
           "Reddi, Kale & Kumar (2018), On the Convergence of Adam and Beyond; "
           "torch.optim.Adam(amsgrad=True)",
           fixed=dict(amsgrad=True)))
