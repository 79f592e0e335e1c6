"""Fused step throughput against the in-process ceiling and torch.optim.

Measures, in one process and interleaved round by round:

* the honest ceiling: an in-place streaming kernel with Adam's traffic (read
  x, g, m, v; write x, m, v) and trivial math, at the same size;
* every method's step through the public stateful API (``opt.step(g)``);
* ``torch.optim.Adam(fused=True)`` and torch's default (foreach) Adam, when
  torch is installed;
* the per-iteration overhead of ``numadam.minimize`` on a 2-parameter problem
  whose fun/jac cost nothing.

Prints a table and writes it, with the machine description, to
``bench/results/``.  Usage::

    python -m bench [--quick] [--sizes 1e3,1e6] [--rounds 7] [--out FILE]
"""
import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import numpy as np

import numadam
from numadam._kernels import load_cpu

# words moved per parameter by each method's step (reads + writes, x and g included)
WORDS = {"adam": 7, "adamw": 7, "amsgrad": 9, "adamax": 7, "nadam": 7, "radam": 7,
         "sgd": 3, "sgd+momentum": 5, "rmsprop": 5, "adagrad": 5}
RUNS = [("adam", "adam", {}), ("adamw", "adamw", {}), ("amsgrad", "amsgrad", {}),
        ("adamax", "adamax", {}), ("nadam", "nadam", {}), ("radam", "radam", {}),
        ("sgd", "sgd", {}), ("sgd+momentum", "sgd", {"momentum": 0.9}),
        ("rmsprop", "rmsprop", {}), ("adagrad", "adagrad", {})]
SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 30_000_000]


def machine():
    """A short description of this machine and of the numerical stack."""
    import numba
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load_cpu().STREAM_CEILING.parallel(*(np.zeros(4),) * 4, 0.0)
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(), "cpu": cpu, "logical cpus": os.cpu_count(),
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "numba threads": numba.config.NUMBA_NUM_THREADS,
        "threading layer": numba.threading_layer(), "numadam": numadam.__version__,
    }
    try:
        import torch
        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        info["torch"] = "not installed (torch comparisons skipped)"
    return info


def _time(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def contenders(n, dtype):
    """name -> (callable taking one step, words per parameter)."""
    rng = np.random.default_rng(0)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    out = {}
    cpu = load_cpu()
    cx, cg, cm, cv = (np.zeros(n, dtype) for _ in range(4))
    cg[:] = g
    ceil = cpu.STREAM_CEILING.pick(n)
    out["ceiling"] = (lambda: ceil(cx, cg, cm, cv, 1e-30), 7)
    for label, method, opts in RUNS:
        x = rng.standard_normal(n).astype(dtype)
        opt = numadam.Optimizer(x, method=method, **opts)
        out[label] = (lambda opt=opt: opt.step(g), WORDS[label])
    try:
        import torch
    except ImportError:
        return out
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    for label, kw in (("torch fused", {"fused": True}), ("torch foreach", {"foreach": True})):
        p = torch.zeros(n, dtype=tdt, requires_grad=True)
        p.grad = torch.from_numpy(g.copy())
        topt = torch.optim.Adam([p], lr=1e-3, **kw)
        out[label] = (lambda topt=topt: topt.step(), 7)
    return out


def measure(n, dtype, rounds, target_s=0.02):
    """Median seconds per step of every contender, plus paired ratios."""
    cs = contenders(n, dtype)
    reps = {}
    for name, (fn, _) in cs.items():  # warm up (compiles) and size the reps
        fn()
        one = _time(fn, 3)
        reps[name] = max(1, min(2000, int(target_s / max(one, 1e-7))))
    times = {name: [] for name in cs}
    for _ in range(rounds):  # interleaved: every contender once per round
        for name, (fn, _) in cs.items():
            times[name].append(_time(fn, reps[name]))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    ratio = {}
    for name in cs:  # paired per round, then the median
        ratio[name, "ceiling"] = statistics.median(
            c / t for c, t in zip(times["ceiling"], times[name]))
        if "torch fused" in cs:
            ratio[name, "torch fused"] = statistics.median(
                c / t for c, t in zip(times["torch fused"], times[name]))
    words = {name: w for name, (_, w) in cs.items()}
    return med, ratio, words


def minimize_overhead(steps=20000, rounds=5):
    """Per-iteration times of the loop's paths, interleaved round by round.

    Returns ``{label: median seconds per iteration}``: minimize on a
    2-parameter problem whose fun/jac cost nothing (plain, with history every
    1000 steps, with a cosine schedule and clip_norm), the stateful step alone,
    and a minibatch run (20000 x 10 logistic regression, batch 128) with and
    without shuffling (the difference is the cost of gathering a batch).
    """
    from numadam.problems import logistic_loss, make_logistic_regression

    g = np.array([1e-3, -1e-3])
    res = (0.0, g)

    def fg(x):
        return res

    X, y, _ = make_logistic_regression(20000, 10, seed=0)
    x = np.zeros(2)
    opt = numadam.Adam(x)
    sched = numadam.schedules.cosine(1e-3, steps)

    def run(**options):
        return lambda: numadam.minimize(fg, True, [0.0, 0.0],
                                        options=dict(options, maxiter=steps, gtol=0))

    def minibatch(shuffle):
        return lambda: numadam.minimize(
            logistic_loss, True, np.zeros(10), data=(X, y), rng=0,
            options={"batch_size": 128, "maxiter": 2000, "gtol": 0, "shuffle": shuffle})

    def step_loop():
        for _ in range(steps):
            opt.step(g)

    cases = {
        "minimize, plain": (run(), steps),
        "minimize, history every 1000 steps": (run(history=1000), steps),
        "minimize, cosine schedule + clip_norm": (run(lr=sched, clip_norm=1.0), steps),
        "Adam.step alone in a Python loop": (step_loop, steps),
        "minibatch logistic 20000x10, batch 128, shuffled": (minibatch(True), 2000),
        "minibatch logistic 20000x10, batch 128, in order": (minibatch(False), 2000),
    }
    for fn, _ in cases.values():
        fn()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for label, (fn, n) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[label].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help="comma-separated sizes, e.g. 1e3,1e7")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    ap.add_argument("--loops-only", action="store_true",
                    help="only the loop and many-problems tables")
    ap.add_argument("--out", default=None, help="results file (default bench/results/...)")
    args = ap.parse_args(argv)
    sizes = SIZES if args.sizes is None else [int(float(s)) for s in args.sizes.split(",")]
    rounds = args.rounds
    if args.quick:
        sizes, rounds = [1_000, 100_000], 3
    if args.loops_only:
        sizes = []
    info = machine()
    lines = ["# numadam step benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "Seconds per step are medians over interleaved rounds; ratios are "
              "paired per round (same round, same size) and then the median. "
              "`of ceiling` = the ceiling's time per byte over the method's "
              "(1.00 = the in-place streaming limit at this size); "
              "`vs torch fused` > 1 means numadam is faster.", ""]

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    for line in lines:
        print(line)
    checks = []
    for dt_name in args.dtypes.split(","):
        dtype = np.dtype(dt_name).type
        for n in sizes:
            med, ratio, words = measure(n, dtype, rounds)
            emit(f"\n## {dt_name}, n = {n:.0e}\n")
            emit("| step | us/step | GB/s | of ceiling | vs torch fused |")
            emit("|---|---:|---:|---:|---:|")
            for name, t in med.items():
                gbs = words[name] * np.dtype(dtype).itemsize * n / t / 1e9
                frac = ratio[name, "ceiling"] * words[name] / 7
                vs = ratio.get((name, "torch fused"))
                emit(f"| {name} | {t * 1e6:.2f} | {gbs:.1f} | {frac:.2f} | "
                     f"{'-' if vs is None else f'{vs:.2f}'} |")
            for name in ("adam", "adamw"):
                if n >= 10_000_000:
                    checks.append((f"{name} {dt_name} n={n:.0e}: >= 0.90 of ceiling",
                                   ratio[name, "ceiling"] >= 0.90, ratio[name, "ceiling"]))
                    if (name, "torch fused") in ratio:
                        checks.append((f"{name} {dt_name} n={n:.0e}: >= torch fused",
                                       ratio[name, "torch fused"] >= 1.0,
                                       ratio[name, "torch fused"]))
                if n == 1000:
                    checks.append((f"{name} {dt_name} n=1e3: <= 5 us/step",
                                   med[name] <= 5e-6, med[name] * 1e6))
    loops = minimize_overhead()
    emit("\n## loop overhead (2 parameters whose fun/jac cost nothing; and minibatches)\n")
    for label, t in loops.items():
        emit(f"- {label}: {t * 1e6:.2f} us per iteration")
    per_it = loops["minimize, plain"]
    checks.append(("minimize overhead < 5 us/iteration", per_it < 5e-6, per_it * 1e6))
    if not args.quick:
        from .loops import report
        report(emit, checks)
    emit("\n## targets\n")
    for label, ok, value in checks:
        emit(f"- {'PASS' if ok else 'FAIL'}: {label} ({value:.2f})")
    out = args.out
    if out is None:
        os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = os.path.join(os.path.dirname(__file__), "results",
                           f"step-{platform.node() or 'host'}-{stamp}.md")
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
