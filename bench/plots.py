"""Figures of a benchmark run (matplotlib's Agg canvas; no display needed).

Each function takes what the suite measured and writes one PNG; the suite
calls them all (into ``--plots``; the documentation embeds the copies in
docs/images/bench/, refreshed with ``--plots docs/images/bench``).
"""
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .peers import PEERS, WORDS

STYLE = {"numadam": dict(color="C0", lw=2.5, marker="o"),
         "ceiling": dict(color="k", lw=1, ls="--"),
         "numpy": dict(color="C2", marker="^"), "torch foreach": dict(color="C3", marker="v"),
         "torch fused": dict(color="C1", marker="s"), "optax": dict(color="C4", marker="D")}


def _save(fig, path):
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _dtype_panels(data, width, height):
    """``(fig, [(ax, dtype), ...])``: one panel per dtype in ``data``, or None."""
    dtypes = sorted({k[0] for k in data})
    if not dtypes:
        return None, []
    fig = Figure(figsize=(width * len(dtypes), height))
    return fig, [(fig.add_subplot(1, len(dtypes), i + 1), dt) for i, dt in enumerate(dtypes)]


def step_throughput(data, outdir, label="adam"):
    """GB/s against the number of parameters for one method (``label``, else
    the first measured), numadam and each peer."""
    measured = [lb for _, _, lb in data]
    if label not in measured and measured:
        label = measured[0]
    fig, panels = _dtype_panels(data, 5.2, 4)
    if fig is None:
        return None
    for ax, dt in panels:
        sizes = sorted(n for d, n, lb in data if d == dt and lb == label)
        isz = np.dtype(dt).itemsize
        for who in ("ceiling", "numadam") + PEERS:
            pts = [(n, WORDS[label] * isz * n / data[dt, n, label][0][who] / 1e9)
                   for n in sizes if who in data[dt, n, label][0]]
            if pts:
                ax.plot(*zip(*pts), label=who, **STYLE[who])
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("GB/s (useful traffic)")
        ax.set_title(f"{label} step, {dt}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, os.path.join(outdir, "step_throughput.png"))


def step_speedups(data, outdir):
    """numadam's speed-up over each peer, for every method, at the largest size <= 1e6."""
    fig, panels = _dtype_panels(data, 5.6, 4.2)
    if fig is None:
        return None
    for ax, dt in panels:
        sizes = sorted({n for d, n, _ in data if d == dt})
        n = max([s for s in sizes if s <= 1_000_000] or sizes)
        labels = [lb for d, s, lb in data if d == dt and s == n]
        peers = [p for p in PEERS if any(p in data[dt, n, lb][1] for lb in labels)]
        width = 0.8 / max(len(peers), 1)
        for j, p in enumerate(peers):
            vals = [data[dt, n, lb][1].get(p, np.nan) for lb in labels]
            ax.bar(np.arange(len(labels)) + j * width, vals, width, label=f"vs {p}",
                   color=STYLE[p]["color"])
        ax.axhline(1.0, color="k", lw=1)
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("speed-up of numadam (x)")
        ax.set_title(f"{dt}, n = {n:.0e}")
        ax.legend(fontsize=8)
    return _save(fig, os.path.join(outdir, "step_speedups.png"))


def overhead(times, outdir):
    """Microseconds per iteration of every loop on 2-D Rosenbrock."""
    if not times:
        return None
    names = list(times)
    fig = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    vals = [times[k] * 1e6 for k in names]
    colors = ["C0" if k.startswith("numadam") else "0.6" if k.startswith("hand") else "C3"
              for k in names]
    ax.barh(np.arange(len(names)), vals, color=colors)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("microseconds per iteration (log)")
    ax.set_title("2-D Rosenbrock, Adam: cost of one iteration")
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.3g}", va="center", fontsize=8)
    return _save(fig, os.path.join(outdir, "overhead.png"))


def convergence(data, outdir):
    """Suboptimality against wall-clock seconds, one panel per problem."""
    if not data:
        return None
    fig = Figure(figsize=(5.6 * len(data), 4.2))
    for i, (problem, curves) in enumerate(data.items()):
        ax = fig.add_subplot(1, len(data), i + 1)
        for label, (ts, gap) in curves.items():
            ref = label.startswith("scipy")
            ax.plot(ts, np.maximum(gap, 1e-16), label=label, lw=2.5 if ref else 1.5,
                    color="k" if ref else None, ls="--" if ref else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("wall-clock seconds")
        ax.set_ylabel("f(x) - f*")
        ax.set_title(problem)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, os.path.join(outdir, "convergence.png"))
