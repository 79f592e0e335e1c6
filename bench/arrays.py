"""Many arrays per optimizer: one Adam step over 1, 10, 100 and 1000 arrays.

The same float32 arrays (equal sizes, totalling 1e5 and 1e7 elements) and
gradients for numadam's optimizer over a list of arrays (one fused pass per
group and dtype) and torch.optim.Adam with ``foreach=True`` and
``fused=True`` (torch's answers to a kernel launch per tensor).  Interleaved
rounds, each the median of several steps; a peer's ratio is its time over
numadam's in the same round (> 1: numadam is faster), the median over rounds.
Targets: numadam >= 1.0x torch fused at every point, and 100 arrays of 1e3
elements within 2x of one array of 1e5.
"""
import statistics

import numpy as np

import numadam

COUNTS = (1, 10, 100, 1000)
TOTALS = (100_000, 10_000_000)


def measure(total, count, rounds, peers, dtype=np.float32):
    """``{label: [seconds per step of each round]}`` for ``count`` arrays of
    ``total // count`` elements."""
    rng = np.random.default_rng(0)
    n = total // count
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(count)]
    grads = [rng.standard_normal(n).astype(dtype) * 1e-3 for _ in range(count)]
    opt = numadam.Adam(arrays, lr=1e-3)
    cases = {"numadam": lambda: opt.step(grads)}
    if any(p.startswith("torch") for p in peers):
        import torch
        for kind in ("foreach", "fused"):
            if f"torch {kind}" not in peers:
                continue
            params = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
            for p, g in zip(params, grads):
                p.grad = torch.from_numpy(g)
            cases[f"torch {kind}"] = torch.optim.Adam(params, lr=1e-3, **{kind: True}).step
    from .loops import interleaved
    reps = max(3, int(2e7 // max(total, 1) // 10))
    return interleaved({k: (lambda fn=fn: [fn() for _ in range(reps)])
                        for k, fn in cases.items()}, rounds, per=reps)


def report(emit, checks, peers=(), rounds=9, smoke=False):
    """The "many arrays" section; returns ``{(total, count): {label: seconds}}``."""
    totals = (100_000,) if smoke else TOTALS
    rounds = 1 if smoke else rounds
    emit("\n## Many arrays: one Adam step over 1 to 1000 float32 arrays\n")
    emit("numadam's optimizer over a list of arrays (one fused pass) and torch.optim.Adam "
         "over the same arrays; ms per step, and each peer's time over numadam's "
         "(paired per round).\n")
    peer_names = [p for p in ("torch foreach", "torch fused") if p in peers]
    emit("| elements | arrays | numadam ms | " + " | ".join(
        f"{p} ms | {p} / numadam" for p in peer_names) + " |")
    emit("|---:|---:|---:|" + "---:|---:|" * len(peer_names))
    out = {}
    for total in totals:
        for count in COUNTS:
            times = measure(total, count, rounds, peers)
            med = {k: statistics.median(v) for k, v in times.items()}
            ratios = {p: statistics.median(t / c for t, c in zip(times[p], times["numadam"]))
                      for p in peer_names}
            out[(total, count)] = med
            emit(f"| {total:.0e} | {count} | {med['numadam'] * 1e3:.3f} | " + " | ".join(
                f"{med[p] * 1e3:.3f} | {ratios[p]:.2f}" for p in peer_names) + " |")
            if "torch fused" in ratios:
                r = ratios["torch fused"]
                checks.append((f"{count} arrays of {total // count} float32: >= 1.0x torch "
                               "fused", r >= 1.0, r))
    if (100_000, 100) in out:
        r = out[(100_000, 100)]["numadam"] / out[(100_000, 1)]["numadam"]
        emit(f"\n- 100 arrays of 1e3 elements / one array of 1e5: {r:.2f}x")
        checks.append(("100 arrays of 1e3 within 2x of one array of 1e5", r <= 2.0, r))
    return out
