"""The matrix methods: one Muon and one Adafactor step on square float32 matrices.

numadam's stateful optimizer against torch.optim's (Muon with its default
bfloat16 Newton-Schulz iteration, and with the parameters' dtype as
numadam's; Adafactor) on the same matrix and gradient.  Interleaved rounds,
medians; a peer's ratio is its time over numadam's in the same round (> 1:
numadam is faster).
"""
import statistics

import numpy as np

import numadam

SIZES = (256, 1024, 2048)


def float_newton_schulz(torch):
    """torch.optim.Muon's Newton-Schulz iteration in the parameters' dtype (it
    casts to bfloat16): what numadam runs, for like-for-like comparisons (here
    and in tests/test_muon.py)."""
    def ns(grad, coef, steps, eps):
        a, b, c = coef
        X = grad.T if grad.size(0) > grad.size(1) else grad
        X = X / X.norm().clamp(min=eps)
        for _ in range(steps):
            G = X @ X.T
            X = torch.addmm(X, torch.addmm(G, G, G, beta=b, alpha=c), X, beta=a)
        return X.T if grad.size(0) > grad.size(1) else X
    return ns


def measure(n, method, rounds, with_torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype(np.float32)
    g = (rng.standard_normal((n, n)) * 1e-2).astype(np.float32)
    opt = numadam.Optimizer(x.copy(), method=method)
    cases = {"numadam": lambda: opt.step(g)}
    restore = None
    if with_torch:
        import torch
        cls = {"muon": torch.optim.Muon, "adafactor": torch.optim.Adafactor}[method]
        p = torch.from_numpy(x.copy()).requires_grad_()
        p.grad = torch.from_numpy(g.copy())
        topt = cls([p])
        cases["torch"] = topt.step
        if method == "muon":
            from torch.optim import _muon as mod
            ns = float_newton_schulz(torch)
            bf16 = mod._zeropower_via_newtonschulz

            def float_step():
                mod._zeropower_via_newtonschulz = ns
                try:
                    topt.step()
                finally:
                    mod._zeropower_via_newtonschulz = bf16
            cases["torch, float32 iteration"] = float_step
            restore = (mod, bf16)
    from .loops import interleaved
    reps = max(1, int(2e8 // (n * n * 50)))
    times = interleaved({k: (lambda fn=fn: [fn() for _ in range(reps)])
                         for k, fn in cases.items()}, rounds, per=reps)
    if restore:
        restore[0]._zeropower_via_newtonschulz = restore[1]
    return times


def report(emit, checks, peers=(), rounds=5, smoke=False):
    """The "matrix methods" section; returns ``{(method, n): {label: seconds}}``."""
    with_torch = any(p.startswith("torch") for p in peers)
    sizes, rounds = ((64,), 1) if smoke else (SIZES, rounds)
    emit("\n## Matrix methods: one Muon and one Adafactor step on an n x n float32 matrix\n"
         "\nms per step; each peer's time over numadam's, paired per round.  torch's Muon "
         "runs its Newton-Schulz iteration in bfloat16 by default; the float32 columns run "
         "torch's algorithm in the parameters' dtype, as numadam does.\n\n"
         "| method | n | numadam ms | torch ms | torch / numadam | torch float32 "
         "iteration ms | / numadam |\n|---|---:|---:|---:|---:|---:|---:|")
    out = {}
    for method in ("muon", "adafactor"):
        for n in sizes:
            t = measure(n, method, rounds, with_torch)
            med = {k: statistics.median(v) for k, v in t.items()}
            ratio = {k: statistics.median(a / b for a, b in zip(t[k], t["numadam"]))
                     for k in t if k != "numadam"}
            out[(method, n)] = med
            cells = [method, str(n), f"{med['numadam'] * 1e3:.3f}"]
            for k in ("torch", "torch, float32 iteration"):
                cells += ([f"{med[k] * 1e3:.3f}", f"{ratio[k]:.2f}"] if k in med
                          else ["-", "-"])
            emit("| " + " | ".join(cells) + " |")
    return out
