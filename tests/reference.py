"""Plain NumPy float64 implementation of ../shared/ALGORITHMS.md.

Written from the update rules, independently of numadam's kernels and of its
per-step scalar algebra: the tests compare the fused kernels against this.
"""
import math

import numpy as np

DEFAULTS = {
    "adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, decoupled_weight_decay=False, cautious=False, maximize=False),
    "adamw": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                  amsgrad=False, decoupled_weight_decay=True, cautious=False, maximize=False),
    "amsgrad": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    amsgrad=True, decoupled_weight_decay=False, cautious=False, maximize=False),
    "adamax": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   maximize=False),
    "nadam": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                  momentum_decay=4e-3, decoupled_weight_decay=False,
                  cautious=False, maximize=False),
    "radam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                  decoupled_weight_decay=False, maximize=False),
    "sgd": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                nesterov=False, maximize=False),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                    momentum=0.0, centered=False, maximize=False),
    "adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                    initial_accumulator_value=0.0, eps=1e-10, maximize=False),
    "lion": dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
                 decoupled_weight_decay=False, cautious=False, maximize=False),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False),
    "rprop": dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), weight_decay=0.0,
                  maximize=False),
    "asgd": dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False),
    "schedule_free_adamw": dict(lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                warmup_steps=0, r=0.0, weight_lr_power=2.0,
                                maximize=False),
    "adopt": dict(lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, weight_decay=0.0,
                  decoupled_weight_decay=False, use_clipping=True, cautious=False, maximize=False),
    "ademamix": dict(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=2.0, alpha_warmup=None,
                     beta3_warmup=None, eps=1e-8, weight_decay=0.0, cautious=False, maximize=False),
    "adabelief": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-16, eps_root=1e-16,
                      weight_decay=0.0, maximize=False),
    "yogi": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-3, eps_root=0.0,
                 initial_accumulator_value=1e-6, weight_decay=0.0, maximize=False),
    "adan": dict(lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, eps_root=1e-8,
                 weight_decay=0.0, maximize=False),
    "lamb": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0, weight_decay=0.0,
                 maximize=False),
    "prodigy": dict(lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0,
                    decouple=True, use_bias_correction=False, safeguard_warmup=False,
                    d0=1e-6, d_coef=1.0, growth_rate=math.inf, maximize=False),
}

#: methods whose weight decay is part of their own rule (not the prologue's)
OWN_DECAY = ("lion", "adan", "adopt", "ademamix", "schedule_free_adamw", "lamb",
             "prodigy")


class Reference:
    """One method's state and step, in float64."""

    def __init__(self, method, x, **options):
        self.method = method
        self.o = dict(DEFAULTS[method])
        self.o.update(options)
        self.x = np.array(x, dtype=np.float64).ravel()
        self.t = 0
        z = np.zeros_like(self.x)
        self.m, self.v, self.vmax = z.copy(), z.copy(), z.copy()
        self.buf, self.gbar = z.copy(), z.copy()
        self.s = np.full_like(self.x, self.o.get("initial_accumulator_value", 0.0))
        self.mu_prod = 1.0
        if method == "yogi":
            self.m = np.full_like(self.x, self.o["initial_accumulator_value"])
            self.v = self.m.copy()
        self.n, self.g_prev = z.copy(), z.copy()
        if method == "schedule_free_adamw":    # z starts as a copy of x0
            self.buf = self.x.copy()
            self.lr_max, self.weight_sum = 0.0, 0.0
        if method == "rprop":
            self.s = np.full_like(self.x, self.o["lr"])      # the step sizes
        if method == "prodigy":
            self.s = z.copy()
            self.p0 = self.x.copy()
            self.d = self.d_max = self.o["d0"]
            self.d_num = 0.0

    def step(self, g):
        o, x = self.o, self.x
        g = np.array(g, dtype=np.float64).ravel()
        lr = o["lr"]
        wd = o["weight_decay"]
        if o["maximize"]:
            g = -g
        self.t += 1
        t = self.t
        decoupled = o.get("decoupled_weight_decay", False)
        if wd != 0 and self.method not in OWN_DECAY:
            if decoupled:
                x = x * (1 - lr * wd)
            else:
                g = g + wd * x
        getattr(self, "_" + self.method)(x, g, t)
        return self.x

    # Adam, AdamW, AMSGrad
    def _adam(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        v = self.v
        if o["amsgrad"]:
            self.vmax = np.maximum(self.vmax, self.v)
            v = self.vmax
        denom = np.sqrt(v) / math.sqrt(bc2) + o["eps"]
        self.x = x - (o["lr"] / bc1) * self.m / denom * self._caution(self.m, g)

    _adamw = _adam
    _amsgrad = _adam

    def _adamax(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = np.maximum(b2 * self.v, np.abs(g) + o["eps"])
        self.x = x - (o["lr"] / (1 - b1 ** t)) * self.m / self.v

    def _nadam(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        psi = o["momentum_decay"]
        lr = o["lr"]
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_t1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        self.mu_prod = self.mu_prod * mu_t
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        denom = np.sqrt(self.v / (1 - b2 ** t)) + o["eps"]
        cg = (1 - mu_t) / (1 - self.mu_prod)
        cm = mu_t1 / (1 - self.mu_prod * mu_t1)
        f = self._caution(cg * g + cm * self.m, g)
        self.x = x - lr * cg * g / denom * f - lr * cm * self.m / denom * f

    def _radam(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        mhat = self.m / bc1
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            self.x = x - o["lr"] * mhat * r * math.sqrt(bc2) / (np.sqrt(self.v) + o["eps"])
        else:
            self.x = x - o["lr"] * mhat

    def _sgd(self, x, g, t):
        o = self.o
        d = g
        if o["momentum"] != 0:
            if t == 1:
                self.buf = g.copy()
            else:
                self.buf = o["momentum"] * self.buf + (1 - o["dampening"]) * g
            d = g + o["momentum"] * self.buf if o["nesterov"] else self.buf
        self.x = x - o["lr"] * d

    def _rmsprop(self, x, g, t):
        o = self.o
        a = o["alpha"]
        self.v = a * self.v + (1 - a) * g * g
        vt = self.v
        if o["centered"]:
            self.gbar = a * self.gbar + (1 - a) * g
            vt = self.v - self.gbar * self.gbar
        denom = np.sqrt(vt) + o["eps"]
        if o["momentum"] > 0:
            self.buf = o["momentum"] * self.buf + g / denom
            self.x = x - o["lr"] * self.buf
        else:
            self.x = x - o["lr"] * g / denom

    def _adagrad(self, x, g, t):
        o = self.o
        clr = o["lr"] / (1 + (t - 1) * o["lr_decay"])
        self.s = self.s + g * g
        self.x = x - clr * g / (np.sqrt(self.s) + o["eps"])

    def _caution(self, d, g):
        """The Cautious Optimizers' mask (timm's caution) for an update whose
        sign is d's: 1/max(mean(mask), 1e-3) where d*g > 0, else 0; 1 when
        the option is off."""
        if not self.o.get("cautious"):
            return 1.0
        mask = (d * g > 0).astype(np.float64)
        return mask / max(mask.mean(), 1e-3)

    # torch.optim's Adadelta, Rprop and ASGD
    def _adadelta(self, x, g, t):
        o = self.o
        rho, eps = o["rho"], o["eps"]
        self.v = rho * self.v + (1 - rho) * g * g            # E[g^2]
        d = np.sqrt(self.buf + eps) / np.sqrt(self.v + eps) * g
        self.buf = rho * self.buf + (1 - rho) * d * d       # E[dx^2]
        self.x = x - o["lr"] * d

    def _rprop(self, x, g, t):
        o = self.o
        eta_minus, eta_plus = o["etas"]
        lo, hi = o["step_sizes"]
        s = g * self.g_prev
        factor = np.where(s > 0, eta_plus, np.where(s < 0, eta_minus, 1.0))
        self.s = np.clip(self.s * factor, lo, hi)
        g = np.where(s < 0, 0.0, g)
        self.x = x - np.sign(g) * self.s
        self.g_prev = g

    def _lamb(self, x, g, t):
        """optax.lamb: Adam's update plus the decay, scaled by ||x|| / ||u||."""
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        u = ((self.m / (1 - b1 ** t)) / (np.sqrt(self.v / (1 - b2 ** t) + o["eps_root"])
                                         + o["eps"]) + o["weight_decay"] * x)
        xn, un = np.linalg.norm(x), np.linalg.norm(u)
        ratio = 1.0 if xn == 0 or un == 0 else xn / un
        self.x = x - o["lr"] * ratio * u

    def _prodigy(self, x, g, t):
        """prodigyopt.Prodigy (one parameter group, slice_p 1)."""
        o = self.o
        b1, b2 = o["betas"]
        b3 = o["beta3"] if o["beta3"] is not None else math.sqrt(b2)
        d, d0, lr, wd = self.d, o["d0"], o["lr"], o["weight_decay"]
        if wd and not o["decouple"]:
            g = g + wd * x
        bc = math.sqrt(1 - b2 ** t) / (1 - b1 ** t) if o["use_bias_correction"] else 1.0
        dlr = d * lr * bc
        num = self.d_num * b3 + (d / d0) * dlr * np.dot(g, self.p0 - x)
        self.m = b1 * self.m + (1 - b1) * d * g
        self.v = b2 * self.v + (1 - b2) * d * d * g * g
        self.s = b3 * self.s + (d / d0) * (d if o["safeguard_warmup"] else dlr) * g
        den = np.abs(self.s).sum()
        if den == 0:
            self.x = x
            return
        d_hat = o["d_coef"] * num / den
        if d == d0:
            d = max(d, d_hat)
        self.d_max = max(self.d_max, d_hat)
        self.d = d = min(self.d_max, d * o["growth_rate"])
        self.d_num = num
        if wd and o["decouple"]:
            x = x * (1 - wd * dlr)
        step = self.m if b1 > 0 else d * g
        self.x = x - dlr * step / (np.sqrt(self.v) + d * o["eps"])

    def _asgd(self, x, g, t):
        o = self.o
        lr, lambd = o["lr"], o["lambd"]
        # torch's eta: computed at the end of the previous step with its lr
        eta = lr if t == 1 else self.eta_next
        self.eta_next = lr / (1 + lambd * lr * t) ** o["alpha"]
        mu = 1 / max(1, t - 1 - o["t0"])
        self.x = x * (1 - lambd * eta) - eta * g
        self.m = self.m + (self.x - self.m) * mu if mu != 1 else self.x.copy()   # ax

    def _schedule_free_adamw(self, y, g, t):
        """Train mode: the parameters are y, ``self.buf`` is z."""
        o = self.o
        b1, b2 = o["betas"]
        k = t - 1
        warmup = o["warmup_steps"]
        lr = o["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
        self.lr_max = max(self.lr_max, lr)
        weight = (k + 1) ** o["r"] * self.lr_max ** o["weight_lr_power"]
        self.weight_sum += weight
        c = weight / self.weight_sum
        self.v = b2 * self.v + (1 - b2) * g * g
        gh = g / (np.sqrt(self.v / (1 - b2 ** (k + 1))) + o["eps"]) + o["weight_decay"] * y
        y = (1 - c) * y + c * self.buf
        self.x = y + lr * (b1 * (1 - c) - 1) * gh
        self.buf = self.buf - lr * gh

    def eval_point(self):
        """Schedule-Free's x = (1 - w) y + w z with w = 1 - 1/beta1."""
        w = 1 - 1 / self.o["betas"][0]
        return (1 - w) * self.x + w * self.buf

    # the second family (ALGORITHMS.md, "The second family")
    def _lion(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        wd = o["weight_decay"]
        if o["decoupled_weight_decay"]:   # lion-pytorch: wd / (the lr it was made with)
            wd = wd / self.o.get("lr0", o["lr"])
        x = x * (1 - o["lr"] * wd)
        c = b1 * self.m + (1 - b1) * g
        self.x = x - o["lr"] * np.sign(c) * self._caution(c, g)
        self.m = b2 * self.m + (1 - b2) * g

    def _adopt(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        wd = o["weight_decay"]
        if wd and not o["decoupled_weight_decay"]:
            g = g + wd * x
        if t == 1:                                  # v = g*g and nothing else
            self.v = self.v + g * g
            self.x = x
            return
        if wd and o["decoupled_weight_decay"]:
            x = x * (1 - o["lr"] * wd)
        gh = g / np.maximum(np.sqrt(self.v), o["eps"])
        if o["use_clipping"]:
            c = (t - 1) ** 0.25
            gh = np.clip(gh, -c, c)
        self.m = b1 * self.m + (1 - b1) * gh
        self.x = x - o["lr"] * self.m * self._caution(self.m, g)
        self.v = b2 * self.v + (1 - b2) * g * g

    def _ademamix(self, x, g, t):
        o = self.o
        b1, b2, b3 = o["betas"]
        alpha = o["alpha"]
        if o["alpha_warmup"] and t < o["alpha_warmup"]:
            alpha = alpha * t / o["alpha_warmup"]
        if o["beta3_warmup"] and t < o["beta3_warmup"]:
            def f(b):
                return math.log(0.5) / math.log(b + 1e-8) - 1

            a = t / o["beta3_warmup"]
            b3 = 0.5 ** (1 / ((1 - a) * f(b1) + a * f(b3) + 1))
        self.m = b1 * self.m + (1 - b1) * g
        self.buf = b3 * self.buf + (1 - b3) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        denom = np.sqrt(self.v / (1 - b2 ** t)) + o["eps"]
        d = self.m / (1 - b1 ** t) + alpha * self.buf
        u = d / denom * self._caution(d, g)
        self.x = x - o["lr"] * (u + o["weight_decay"] * x)

    def _adabelief(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * (g - self.m) ** 2 + o["eps_root"]
        mhat = self.m / (1 - b1 ** t)
        shat = self.v / (1 - b2 ** t)
        self.x = x - o["lr"] * mhat / (np.sqrt(shat) + o["eps"])

    def _yogi(self, x, g, t):
        o = self.o
        b1, b2 = o["betas"]
        self.m = b1 * self.m + (1 - b1) * g
        self.v = self.v - (1 - b2) * np.sign(self.v - g * g) * g * g
        mhat = self.m / (1 - b1 ** t)
        vhat = self.v / (1 - b2 ** t)
        self.x = x - o["lr"] * mhat / (np.sqrt(vhat + o["eps_root"]) + o["eps"])

    def _adan(self, x, g, t):
        o = self.o
        b1, b2, b3 = o["betas"]
        d = np.zeros_like(g) if t == 1 else g - self.g_prev
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * d
        self.n = b3 * self.n + (1 - b3) * (g + (1 - b2) * d) ** 2
        u = ((self.m / (1 - b1 ** t) + (1 - b2) * self.v / (1 - b2 ** t))
             / (np.sqrt(self.n / (1 - b3 ** t) + o["eps_root"]) + o["eps"]))
        self.x = x - o["lr"] * (u + o["weight_decay"] * x)
        self.g_prev = g.copy()

    def state(self):
        """The reference state under torch's names, for the configured method."""
        o = self.o
        if self.method in ("adam", "adamw", "amsgrad"):
            st = {"exp_avg": self.m, "exp_avg_sq": self.v}
            if o["amsgrad"]:
                st["max_exp_avg_sq"] = self.vmax
            return st
        if self.method == "adamax":
            return {"exp_avg": self.m, "exp_inf": self.v}
        if self.method in ("nadam", "radam"):
            return {"exp_avg": self.m, "exp_avg_sq": self.v}
        if self.method == "sgd":
            return {"momentum_buffer": self.buf} if o["momentum"] > 0 else {}
        if self.method == "rmsprop":
            st = {"square_avg": self.v}
            if o["centered"]:
                st["grad_avg"] = self.gbar
            if o["momentum"] > 0:
                st["momentum_buffer"] = self.buf
            return st
        if self.method == "lion":
            return {"exp_avg": self.m}
        if self.method == "schedule_free_adamw":
            return {"z": self.buf, "exp_avg_sq": self.v}
        if self.method == "adadelta":
            return {"square_avg": self.v, "acc_delta": self.buf}
        if self.method == "rprop":
            return {"prev": self.g_prev, "step_size": self.s}
        if self.method == "asgd":
            return {"ax": self.m}
        if self.method == "adopt":
            return {"exp_avg": self.m, "exp_avg_sq": self.v}
        if self.method == "ademamix":
            return {"exp_avg_fast": self.m, "exp_avg_slow": self.buf, "exp_avg_sq": self.v}
        if self.method in ("adabelief",):
            return {"exp_avg": self.m, "exp_avg_var": self.v}
        if self.method == "prodigy":
            return {"s": self.s, "p0": self.p0, "exp_avg": self.m, "exp_avg_sq": self.v}
        if self.method in ("yogi", "lamb"):
            return {"exp_avg": self.m, "exp_avg_sq": self.v}
        if self.method == "adan":
            return {"exp_avg": self.m, "exp_avg_diff": self.v, "exp_avg_sq": self.n,
                    "prev_grad": self.g_prev}
        return {"sum": self.s}


def array_run(method, reference, shape, opts, steps, seed=1):
    """``(x0, numadam's x, the reference's x)`` after ``steps`` random
    gradients: ``reference(x0, grads, **opts)`` is a NumPy float64 function
    (the matrix methods, whose step is per array)."""
    import numadam
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    x = x0.copy()
    opt = numadam.Optimizer(x, method=method, **opts)
    for g in grads:
        assert opt.step(g) is True
    return x0, x, opt, reference(x0, grads, **opts)


def assert_matches_torch(mine, tensors, dtype):
    """Each of numadam's arrays (a dict) against the torch tensor of its name:
    1e-9 relative in float64, 2e-4 in float32, dtypes kept."""
    tol = 1e-9 if dtype == np.float64 else 2e-4
    for k, t in tensors.items():
        r = t.detach().numpy()
        assert mine[k].dtype == dtype
        assert np.max(np.abs(mine[k] - r)) / np.max(np.abs(r)) < tol, k
