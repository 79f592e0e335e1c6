"""The peers numadam is measured against, each optional but NumPy.

Every peer takes one step of the same method, with the same hyper-parameters
(torch.optim's defaults, which are numadam's), in place where the library
allows it:

* ``numpy``: a plain NumPy implementation written the way a careful user
  would, with in-place ufuncs and one scratch array (no per-step allocations);
* ``torch foreach`` and ``torch fused``: ``torch.optim`` with ``foreach=True``
  and ``fused=True`` (fused exists on the CPU for Adam, AdamW, SGD and
  Adagrad only); for Schedule-Free AdamW, Lion and ADOPT, which torch.optim
  lacks, ``torch foreach`` is their torch-based reference
  (``schedulefree.AdamWScheduleFree`` with ``foreach=True``,
  ``lion_pytorch.Lion``, and torch-adopt's ``ADOPT`` with ``foreach=True``);
  for the cautious rows, timm's ``AdamWLegacy`` and ``Lion`` with
  ``caution=True, foreach=True``;
* ``optax``: the optax transformation and ``optax.apply_updates`` in one
  ``jax.jit``-compiled function whose parameter and state buffers are donated,
  so XLA may update them in place.  optax's ``nadam``, ``radam`` and ``adagrad`` are their
  own formulations (no momentum-decay schedule; another rectification
  switch), so their parameters drift from torch's; the memory traffic, which
  is what the step costs, is the same.

:func:`available` says which peers this environment has, and why the others
are skipped, so the suite runs (and says so) without torch or JAX.
"""
import importlib
import math

import numpy as np

#: label -> (numadam method, options); the labels name the benchmark rows
RUNS = [("adam", "adam", {}), ("adamw", "adamw", {}), ("amsgrad", "amsgrad", {}),
        ("adamax", "adamax", {}), ("nadam", "nadam", {}), ("radam", "radam", {}),
        ("sgd", "sgd", {}), ("sgd+momentum", "sgd", {"momentum": 0.9}),
        ("rmsprop", "rmsprop", {}), ("adagrad", "adagrad", {}),
        ("schedule_free_adamw", "schedule_free_adamw", {}),
        ("adamw+cautious", "adamw", {"cautious": True}),
        ("lion+cautious", "lion", {"cautious": True}),
        ("adadelta", "adadelta", {}), ("rprop", "rprop", {}), ("asgd", "asgd", {}),
        ("lion", "lion", {}), ("adopt", "adopt", {}), ("ademamix", "ademamix", {}),
        ("adabelief", "adabelief", {}), ("yogi", "yogi", {}), ("adan", "adan", {}),
        ("lamb", "lamb", {}),
        # growth_rate 1: d settles after its first jump, so that thousands of steps
        # on one gradient stay finite (the arithmetic per step is the same)
        ("prodigy", "prodigy", {"growth_rate": 1.0})]
#: words moved per parameter by each step (reads + writes, x and g included):
#: x and each state array read and written, g read
WORDS = {"adam": 7, "adamw": 7, "amsgrad": 9, "adamax": 7, "nadam": 7, "radam": 7,
         "sgd": 3, "sgd+momentum": 5, "rmsprop": 5, "adagrad": 5,
         "schedule_free_adamw": 7, "adamw+cautious": 9, "lion+cautious": 7, "adadelta": 7, "rprop": 7, "asgd": 5, "lion": 5, "adopt": 7, "ademamix": 9, "adabelief": 7, "yogi": 7, "adan": 11,
         # two passes: LAMB reads x, g, m, v and writes m, v, then reads x, g, m, v and
         # writes x; Prodigy's first pass also reads p0 and reads and writes s
         "lamb": 11, "prodigy": 14}
PEERS = ("numpy", "torch foreach", "torch fused", "optax")
B1, B2 = 0.9, 0.999


def available(wanted=PEERS):
    """``(have, skipped)``: the peers that can run here and ``{peer: reason}``."""
    have, skipped = [], {}
    for peer in wanted:
        module = {"numpy": "numpy", "torch foreach": "torch", "torch fused": "torch",
                  "optax": "optax"}.get(peer)
        if module is None:
            raise ValueError(f"unknown peer {peer!r}; expected some of {PEERS}")
        try:
            importlib.import_module(module)
            if module == "optax":
                importlib.import_module("jax")
        except ImportError as exc:
            skipped[peer] = f"not installed ({exc.name}); pip install -e '.[bench]'"
            continue
        have.append(peer)
    return have, skipped


def versions():
    """Installed peer libraries and their versions."""
    out = {}
    for mod in ("torch", "jax", "optax"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        out[mod] = m.__version__
        if mod == "torch":
            out[mod] += f" ({m.get_num_threads()} threads)"
    return out


# ---------------------------------------------------------------- NumPy
def numpy_step(label, x, g):
    """``(step, params)``: one in-place NumPy step of ``label`` on ``x``, and the parameters."""
    dt = x.dtype.type
    lr = dt({"adamax": 2e-3, "nadam": 2e-3, "rmsprop": 1e-2, "adagrad": 1e-2, "lion": 1e-4,
             "lion+cautious": 1e-4,
             "yogi": 1e-2, "adadelta": 1.0, "rprop": 1e-2, "asgd": 1e-2,
             "schedule_free_adamw": 2.5e-3, "prodigy": 1.0}.get(label, 1e-3))
    eps = dt({"adagrad": 1e-10, "adabelief": 1e-16, "yogi": 1e-3, "adopt": 1e-6,
              "lamb": 1e-6}.get(label, 1e-8))
    m, v, vmax, tmp = (np.zeros_like(x) for _ in range(4))
    if label == "yogi":
        m[:] = v[:] = dt(1e-6)
    state = {"t": 0, "mu_prod": 1.0}
    b1, b2 = dt(B1), dt(B2)
    c1, c2 = dt(1 - B1), dt(1 - B2)

    def average(a, beta, c, square):
        """a = beta*a + c*g (or c*g*g), in place."""
        np.multiply(a, beta, out=a)
        if square:
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, c, out=tmp)
        else:
            np.multiply(g, c, out=tmp)
        np.add(a, tmp, out=a)

    def descend(src, scale):
        """x -= scale * src, in place (src may be tmp)."""
        np.multiply(src, scale, out=tmp)
        np.subtract(x, tmp, out=x)

    def descend_rms(num, scale):
        """x -= scale * num / (sqrt(v) + eps), in place."""
        np.sqrt(v, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(num, tmp, out=tmp)
        descend(tmp, scale)

    def moments():
        average(m, b1, c1, False)
        average(v, b2, c2, True)

    agree = np.zeros(x.shape, np.bool_)
    factor = np.zeros_like(x)

    def caution(d):
        """The cautious mask of an update with d's sign, rescaled, into factor."""
        np.multiply(d, g, out=factor)
        np.greater(factor, 0, out=agree)
        kept = np.count_nonzero(agree) / agree.size
        np.copyto(factor, agree)
        np.multiply(factor, dt(1 / max(kept, 1e-3)), out=factor)
        return factor

    def adam(amsgrad=False, decay=0.0, cautious=False):
        state["t"] += 1
        t = state["t"]
        if decay:
            np.multiply(x, dt(1 - float(lr) * decay), out=x)
        moments()
        src = v
        if amsgrad:
            np.maximum(vmax, v, out=vmax)
            src = vmax
        np.sqrt(src, out=tmp)
        np.multiply(tmp, dt(1 / math.sqrt(1 - B2 ** t)), out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        if cautious:
            np.multiply(tmp, caution(m), out=tmp)
        descend(tmp, dt(float(lr) / (1 - B1 ** t)))

    def adamax():
        state["t"] += 1
        average(m, b1, c1, False)
        np.abs(g, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.multiply(v, b2, out=v)
        np.maximum(v, tmp, out=v)
        np.divide(m, v, out=tmp)
        descend(tmp, dt(float(lr) / (1 - B1 ** state["t"])))

    def nadam():
        state["t"] += 1
        t = state["t"]
        mu = B1 * (1 - 0.5 * 0.96 ** (t * 4e-3))
        mu1 = B1 * (1 - 0.5 * 0.96 ** ((t + 1) * 4e-3))
        state["mu_prod"] *= mu
        prod = state["mu_prod"]
        moments()
        denom = vmax                                # vmax as a second scratch
        np.sqrt(v, out=denom)
        np.multiply(denom, dt(1 / math.sqrt(1 - B2 ** t)), out=denom)
        np.add(denom, eps, out=denom)
        np.divide(m, denom, out=tmp)
        np.multiply(tmp, dt(float(lr) * mu1 / (1 - prod * mu1)), out=tmp)
        np.subtract(x, tmp, out=x)
        np.divide(g, denom, out=tmp)
        descend(tmp, dt(float(lr) * (1 - mu) / (1 - prod)))

    def radam():
        state["t"] += 1
        t = state["t"]
        moments()
        rho_inf = 2 / (1 - B2) - 1
        rho = rho_inf - 2 * t * B2 ** t / (1 - B2 ** t)
        if rho > 5:
            rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho))
            descend_rms(m, dt(float(lr) / (1 - B1 ** t) * rect * math.sqrt(1 - B2 ** t)))
        else:
            descend(m, dt(float(lr) / (1 - B1 ** t)))

    def sgd():
        descend(g, lr)

    def sgd_momentum():
        state["t"] += 1
        if state["t"] == 1:
            m[:] = g
        else:
            np.multiply(m, dt(0.9), out=m)
            np.add(m, g, out=m)
        descend(m, lr)

    def rmsprop():
        average(v, dt(0.99), dt(0.01), True)
        descend_rms(g, lr)

    def adagrad():
        np.multiply(g, g, out=tmp)
        np.add(v, tmp, out=v)
        descend_rms(g, lr)

    def lion(cautious=False):
        np.multiply(m, b1, out=tmp)                 # c = b1*m + (1-b1)*g
        np.multiply(g, c1, out=vmax)                # vmax as a second scratch
        np.add(tmp, vmax, out=tmp)
        if cautious:
            caution(tmp)
        np.sign(tmp, out=tmp)
        if cautious:
            np.multiply(tmp, factor, out=tmp)
        descend(tmp, lr)
        np.multiply(m, dt(0.99), out=m)
        np.multiply(g, dt(0.01), out=tmp)
        np.add(m, tmp, out=m)

    z = x.copy()
    sf = {"lr_max": 0.0, "weight_sum": 0.0}

    def schedule_free_adamw():
        state["t"] += 1
        t = state["t"]
        sf["lr_max"] = max(sf["lr_max"], float(lr))
        weight = sf["lr_max"] ** 2
        sf["weight_sum"] += weight
        c = weight / sf["weight_sum"]
        average(v, b2, c2, True)
        np.multiply(v, dt(1 / (1 - B2 ** t)), out=tmp)     # gn = g / (sqrt(v/bc2) + eps)
        np.sqrt(tmp, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(g, tmp, out=tmp)
        np.subtract(z, x, out=vmax)                         # y = lerp(y, z, c)
        if c < 0.5:
            np.multiply(vmax, dt(c), out=vmax)
            np.add(x, vmax, out=x)
        else:
            np.multiply(vmax, dt(1 - c), out=vmax)
            np.subtract(z, vmax, out=x)
        np.multiply(tmp, dt(float(lr) * (B1 * (1 - c) - 1)), out=vmax)
        np.add(x, vmax, out=x)                              # y += lr*(b1*(1-c) - 1)*gn
        np.multiply(tmp, lr, out=tmp)                       # z -= lr*gn
        np.subtract(z, tmp, out=z)

    def adadelta():
        average(v, dt(0.9), dt(0.1), True)          # E[g^2]
        np.add(m, dt(1e-6), out=tmp)                # d = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g
        np.sqrt(tmp, out=tmp)
        np.add(v, dt(1e-6), out=vmax)
        np.sqrt(vmax, out=vmax)
        np.divide(tmp, vmax, out=tmp)
        np.multiply(tmp, g, out=tmp)
        np.multiply(m, dt(0.9), out=m)              # E[dx^2] = rho*E[dx^2] + (1-rho)*d*d
        np.multiply(tmp, tmp, out=vmax)
        np.multiply(vmax, dt(0.1), out=vmax)
        np.add(m, vmax, out=m)
        descend(tmp, lr)

    steps = np.full_like(x, lr)

    def rprop():
        # with s = sign(g * previous g) in {-1, 0, 1}, no comparison (each would
        # allocate a boolean array): the factor 1 + s*(0.35 - 0.15*s) is 1.2, 1
        # or 0.5, and 1 - s*(s-1)/2 keeps the gradient unless s = -1
        np.multiply(g, m, out=tmp)                  # m: the previous gradient
        np.sign(tmp, out=tmp)
        np.multiply(tmp, dt(-0.15), out=vmax)
        np.add(vmax, dt(0.35), out=vmax)
        np.multiply(vmax, tmp, out=vmax)
        np.add(vmax, dt(1.0), out=vmax)
        np.multiply(steps, vmax, out=steps)
        np.clip(steps, dt(1e-6), dt(50.0), out=steps)
        np.subtract(tmp, dt(1.0), out=m)
        np.multiply(m, tmp, out=m)
        np.multiply(m, dt(-0.5), out=m)
        np.add(m, dt(1.0), out=m)
        np.multiply(m, g, out=m)
        np.sign(m, out=tmp)
        np.multiply(tmp, steps, out=tmp)
        np.subtract(x, tmp, out=x)

    def asgd():
        state["t"] += 1
        t = state["t"]
        eta = float(lr) / (1 + 1e-4 * float(lr) * (t - 1)) ** 0.75
        np.multiply(x, dt(1 - 1e-4 * eta), out=x)
        descend(g, dt(eta))
        np.copyto(m, x)                             # the average: a copy until t0 = 1e6

    def adopt():
        state["t"] += 1
        t = state["t"]
        if t == 1:                                  # v = g*g, no parameter step
            np.multiply(g, g, out=v)
            return
        np.sqrt(v, out=tmp)                         # gh = clip(g / max(sqrt(v), eps))
        np.maximum(tmp, eps, out=tmp)
        np.divide(g, tmp, out=tmp)
        c = dt((t - 1) ** 0.25)
        np.clip(tmp, -c, c, out=tmp)
        np.subtract(tmp, m, out=tmp)                # m += (1-b1)*(gh - m)
        np.multiply(tmp, c1, out=tmp)
        np.add(m, tmp, out=m)
        descend(m, lr)
        average(v, dt(0.9999), dt(1 - 0.9999), True)

    slow, g_prev = np.zeros_like(x), np.zeros_like(x)

    def ademamix():
        state["t"] += 1
        t = state["t"]
        moments()
        average(slow, dt(0.9999), dt(1 - 0.9999), False)
        np.sqrt(v, out=tmp)                         # denominator
        np.multiply(tmp, dt(1 / math.sqrt(1 - B2 ** t)), out=tmp)
        np.add(tmp, eps, out=tmp)
        np.multiply(m, dt(1 / (1 - B1 ** t)), out=vmax)   # vmax: the numerator
        np.multiply(slow, dt(2.0), out=g_prev)            # g_prev: scratch here
        np.add(vmax, g_prev, out=vmax)
        np.divide(vmax, tmp, out=tmp)
        descend(tmp, lr)

    def bias_corrected_step(second, eps_root=0.0):
        """x -= lr/bc1 * m / (sqrt(second/bc2 + eps_root) + eps)."""
        t = state["t"]
        np.multiply(second, dt(1 / (1 - B2 ** t)), out=tmp)
        if eps_root:
            np.add(tmp, dt(eps_root), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        descend(tmp, dt(float(lr) / (1 - B1 ** t)))

    def adabelief():
        state["t"] += 1
        average(m, b1, c1, False)
        np.subtract(g, m, out=tmp)                  # s = b2*s + (1-b2)*(g-m)**2 + eps_root
        np.multiply(tmp, tmp, out=tmp)
        np.multiply(tmp, c2, out=tmp)
        np.multiply(v, b2, out=v)
        np.add(v, tmp, out=v)
        np.add(v, dt(1e-16), out=v)
        bias_corrected_step(v)

    def yogi():
        state["t"] += 1
        average(m, b1, c1, False)
        np.multiply(g, g, out=vmax)                 # g2 (vmax as a second scratch)
        np.subtract(v, vmax, out=tmp)               # v -= (1-b2)*sign(v - g2)*g2
        np.sign(tmp, out=tmp)
        np.multiply(tmp, vmax, out=tmp)
        np.multiply(tmp, c2, out=tmp)
        np.subtract(v, tmp, out=v)
        bias_corrected_step(v)

    n_avg = np.zeros_like(x)
    b3, bb2 = dt(0.99), dt(0.92)

    def adan():
        state["t"] += 1
        t = state["t"]
        if t == 1:
            vmax[:] = 0                             # d = g - g_prev, 0 on step 1
        else:
            np.subtract(g, g_prev, out=vmax)
        np.multiply(m, dt(0.98), out=m)             # m = b1*m + (1-b1)*g
        np.multiply(g, dt(0.02), out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, bb2, out=v)                  # v = b2*v + (1-b2)*d
        np.multiply(vmax, dt(0.08), out=vmax)
        np.add(v, vmax, out=v)
        np.add(g, vmax, out=tmp)                    # n = b3*n + (1-b3)*(g + (1-b2)*d)**2
        np.multiply(tmp, tmp, out=tmp)
        np.multiply(tmp, dt(0.01), out=tmp)
        np.multiply(n_avg, b3, out=n_avg)
        np.add(n_avg, tmp, out=n_avg)
        np.multiply(n_avg, dt(1 / (1 - 0.99 ** t)), out=tmp)
        np.add(tmp, dt(1e-8), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(tmp, eps, out=tmp)                   # tmp: the denominator
        np.multiply(v, dt(0.08 / (1 - 0.92 ** t)), out=vmax)
        np.multiply(m, dt(1 / (1 - 0.98 ** t)), out=g_prev)   # g_prev: scratch, reset below
        np.add(vmax, g_prev, out=vmax)
        np.divide(vmax, tmp, out=tmp)
        descend(tmp, lr)
        g_prev[:] = g

    def lamb():
        """optax.lamb: u = mhat/(sqrt(vhat) + eps); x -= lr * ||x||/||u|| * u."""
        state["t"] += 1
        t = state["t"]
        moments()
        np.multiply(v, dt(1 / (1 - B2 ** t)), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, dt(1 / (1 - B1 ** t)), out=tmp)
        xn, un = np.linalg.norm(x), np.linalg.norm(tmp)
        descend(tmp, dt(float(lr) * (xn / un if xn > 0 and un > 0 else 1.0)))

    s_p, p0 = np.zeros_like(x), x.copy()
    prod = {"d": 1e-6, "d_max": 1e-6, "num": 0.0}

    def prodigy():
        """prodigyopt.Prodigy's defaults: d from <g, x0 - x> / sum|s|."""
        d = prod["d"]
        dlr = d * float(lr)
        np.subtract(p0, x, out=tmp)
        prod["num"] = prod["num"] * math.sqrt(B2) + (d / 1e-6) * dlr * float(np.dot(g, tmp))
        np.multiply(m, b1, out=m)                   # m = b1*m + (1-b1)*d*g
        np.multiply(g, dt(d * (1 - B1)), out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, b2, out=v)                   # v = b2*v + (1-b2)*d*d*g*g
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, dt(d * d * (1 - B2)), out=tmp)
        np.add(v, tmp, out=v)
        np.multiply(s_p, dt(math.sqrt(B2)), out=s_p)   # s = b3*s + (d/d0)*dlr*g
        np.multiply(g, dt((d / 1e-6) * dlr), out=tmp)
        np.add(s_p, tmp, out=s_p)
        den = float(np.abs(s_p).sum())
        if den > 0:
            d_hat = prod["num"] / den
            if d == 1e-6:
                d = max(d, d_hat)
            prod["d_max"] = max(prod["d_max"], d_hat)
            prod["d"] = min(prod["d_max"], d * 1.0)     # growth_rate 1 (RUNS)
        np.sqrt(v, out=tmp)
        np.add(tmp, dt(prod["d"] * 1e-8), out=tmp)
        np.divide(m, tmp, out=tmp)
        descend(tmp, dt(dlr))

    step = {"adamw+cautious": lambda: adam(decay=1e-2, cautious=True),
            "lamb": lamb, "prodigy": prodigy,
            "lion+cautious": lambda: lion(cautious=True),
            "schedule_free_adamw": schedule_free_adamw, "adadelta": adadelta, "rprop": rprop, "asgd": asgd,
            "lion": lion, "adopt": adopt, "ademamix": ademamix, "adabelief": adabelief, "yogi": yogi, "adan": adan,
            "adam": adam, "adamw": lambda: adam(decay=1e-2),
            "amsgrad": lambda: adam(amsgrad=True), "adamax": adamax, "nadam": nadam,
            "radam": radam, "sgd": sgd, "sgd+momentum": sgd_momentum,
            "rmsprop": rmsprop, "adagrad": adagrad}[label]
    return step, lambda: x


# ---------------------------------------------------------------- torch
_TORCH = {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "amsgrad": ("Adam", {"amsgrad": True}),
          "adamax": ("Adamax", {}), "nadam": ("NAdam", {}), "radam": ("RAdam", {}),
          "sgd": ("SGD", {"lr": 1e-3}), "sgd+momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
          "rmsprop": ("RMSprop", {}), "adagrad": ("Adagrad", {}),
          "adadelta": ("Adadelta", {}), "rprop": ("Rprop", {}), "asgd": ("ASGD", {})}


def timm_class(module, cls):
    """One of timm's optimizer classes (the cautious optimizers' reference),
    imported without timm's package init, which imports torchvision: its
    optimizer modules need torch alone (``pip install --no-deps timm``).
    None when timm is not installed."""
    import importlib
    import importlib.util
    import os
    import sys
    import types
    if "timm" not in sys.modules:
        spec = importlib.util.find_spec("timm")
        if spec is None:
            return None
        root = os.path.dirname(spec.origin)
        for name, path in (("timm", root), ("timm.optim", os.path.join(root, "optim"))):
            stub = types.ModuleType(name)
            stub.__path__ = [path]
            sys.modules[name] = stub
    return getattr(importlib.import_module(f"timm.optim.{module}"), cls)


#: the cautious rows' torch peer: timm's optimizers with caution=True
_TIMM = {"adamw+cautious": ("adamw", "AdamWLegacy"), "lion+cautious": ("lion", "Lion")}


def torch_step(label, x, g, fused):
    """``(step, params)`` for ``torch.optim`` (or the torch-based reference of a
    method torch.optim lacks), or None where torch has no such path."""
    import torch
    p = torch.from_numpy(x.copy()).requires_grad_(True)
    p.grad = torch.from_numpy(g.copy())
    if label in ("lion", "adopt", "schedule_free_adamw", "prodigy"):   # torch-based references
        try:
            if label == "lion":
                from lion_pytorch import Lion as cls
                kw = {}
            elif label == "prodigy":
                from prodigyopt import Prodigy as cls
                kw = {"growth_rate": 1.0}
            elif label == "adopt":
                from adopt import ADOPT as cls
                kw = {"foreach": True}
            else:
                from schedulefree import AdamWScheduleFree as cls
                kw = {"foreach": True}
        except ImportError:
            return None
        if fused:
            return None
        opt = cls([p], **kw)
        if label == "schedule_free_adamw":
            opt.train()
        return opt.step, lambda: p.detach().numpy()
    if label in _TIMM:
        cls = None if fused else timm_class(*_TIMM[label])
        if cls is None:
            return None
        opt = cls([p], caution=True, foreach=True)
        return opt.step, lambda: p.detach().numpy()
    if label not in _TORCH:
        return None
    name, kw = _TORCH[label]
    try:
        opt = getattr(torch.optim, name)([p], **kw, **({"fused": True} if fused
                                                       else {"foreach": True}))
    except (TypeError, RuntimeError):  # this optimizer has no fused CPU implementation
        return None
    return opt.step, lambda: p.detach().numpy()


# ---------------------------------------------------------------- optax
_OPTAX = {"adam": ("adam", {"learning_rate": 1e-3}),
          "adamw": ("adamw", {"learning_rate": 1e-3, "weight_decay": 1e-2}),
          "amsgrad": ("amsgrad", {"learning_rate": 1e-3}),
          "adamax": ("adamax", {"learning_rate": 2e-3}),
          "nadam": ("nadam", {"learning_rate": 2e-3}),
          "radam": ("radam", {"learning_rate": 1e-3}),
          "sgd": ("sgd", {"learning_rate": 1e-3}),
          "sgd+momentum": ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}),
          "rmsprop": ("rmsprop", {"learning_rate": 1e-2, "decay": 0.99, "eps": 1e-8,
                                  "eps_in_sqrt": False}),
          "adagrad": ("adagrad", {"learning_rate": 1e-2, "eps": 1e-10,
                                  "initial_accumulator_value": 0.0}),
          "adadelta": ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6}),
          "rprop": ("rprop", {"learning_rate": 1e-2}),
          "lion": ("lion", {"learning_rate": 1e-4, "weight_decay": 0.0}),
          "adopt": ("contrib.adopt", {"learning_rate": 1e-3}),
          "schedule_free_adamw": ("contrib.schedule_free_adamw", {"learning_rate": 2.5e-3}),
          "ademamix": ("contrib.ademamix", {"learning_rate": 1e-3, "alpha": 2.0}),
          "adabelief": ("adabelief", {"learning_rate": 1e-3}),
          "yogi": ("yogi", {"learning_rate": 1e-2}),
          "adan": ("adan", {"learning_rate": 1e-3}),
          "lamb": ("lamb", {"learning_rate": 1e-3})}


def enable_jax_x64():
    """float64 in JAX needs this before the first array is made."""
    import jax
    jax.config.update("jax_enable_x64", True)


def optax_step(label, x, g):
    """``(step, params)``: one jitted optax step (parameters and state donated)."""
    import warnings

    import jax
    import optax
    enable_jax_x64()
    name, kw = _OPTAX[label]
    tx = optax
    for part in name.split("."):    # optax.contrib.adopt, ...
        tx = getattr(tx, part)
    tx = tx(**kw)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jstep = jax.jit(step, donate_argnums=(0, 1))
    box = {"p": jax.numpy.asarray(x), "g": jax.numpy.asarray(g)}
    box["s"] = tx.init(box["p"])

    def run():
        box["p"], box["s"] = jstep(box["p"], box["s"], box["g"])
        box["p"].block_until_ready()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()  # compile
    box["p"], box["s"] = jax.numpy.asarray(x), tx.init(jax.numpy.asarray(x))
    return run, lambda: np.asarray(box["p"])


def peer_step(peer, label, x, g):
    """``(step, params)`` of one peer for ``label``, or None where the peer lacks it."""
    if peer == "numpy":
        return numpy_step(label, x.copy(), g)
    if peer in ("torch foreach", "torch fused"):
        return torch_step(label, x, g, fused=peer == "torch fused")
    if peer == "optax":
        return optax_step(label, x, g) if label in _OPTAX else None
    raise ValueError(peer)
