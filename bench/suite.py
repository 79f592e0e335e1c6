"""``python -m bench``: the CPU benchmark suite, one command, results and plots.

Sections (all by default; ``--sections`` picks some):

``step``
    every method's fused step, 1e3..3e7 parameters, float32 and float64,
    against the in-process streaming ceiling and each installed peer
    (:mod:`bench.step`, :mod:`bench.peers`);
``overhead``
    the per-iteration cost of ``minimize``'s loop on a free 2-parameter
    problem, the stateful step alone, and minibatching;
``loops``
    small-problem overhead of every path on 2-D Rosenbrock (compiled loop,
    ordinary loop, many-problems) and the peers' loops, and many-problems
    throughput (:mod:`bench.loops`);
``arrays``
    one Adam step over 1, 10, 100 and 1000 arrays totalling 1e5 and 1e7
    float32 elements, against torch's foreach and fused Adam over the same
    arrays (:mod:`bench.arrays`);
``matrix``
    one Muon and one Adafactor step on square float32 matrices against
    torch.optim's (:mod:`bench.matrix`);
``precision``
    Adam's step with float32, bfloat16 and int8 optimizer state at 1e5..3e7
    float32 parameters against the streaming ceiling, bytes of state per
    parameter, and the 8-bit code's encode speed and accuracy against
    bitsandbytes' dynamic maps (:mod:`bench.precision`);
``latency``
    ``import`` time and the first call's compile latency, cold and cached,
    in fresh processes (:mod:`bench.latency`);
``convergence``
    loss against wall-clock time on logistic regression and Rosenbrock,
    numadam's methods and SciPy's L-BFGS-B (:mod:`bench.convergence`);
``distributed``
    the MPI and Dask paths from 1 to 2 processes, and the sharded MPI
    variant's optimizer memory per process (:mod:`bench.distributed`;
    skipped, and said so, without mpi4py or Dask).

Writes ``bench/results/cpu-HOST-DATE.md`` (``--out``: tables, machine
description, the peers skipped and why, PASS/FAIL lines for the targets) and
PNG figures next to it, in ``cpu-HOST-DATE-figures/`` (``--plots DIR``
elsewhere; ``--plots docs/images/bench`` replaces the documentation's
figures, which nothing else writes).  Peers that are not installed are
skipped and named; ``--peers none`` runs numadam alone.
"""
import argparse
import datetime
import os
import platform
import sys


from . import plots
from .peers import PEERS, RUNS, available
from .step import SIZES, machine, minimize_large, minimize_overhead, step_section

HERE = os.path.dirname(os.path.abspath(__file__))
SECTIONS = ("step", "overhead", "loops", "arrays", "matrix", "precision", "latency",
            "convergence", "distributed")


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help="comma-separated sizes, e.g. 1e3,1e7")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--methods", default=None,
                    help="comma-separated rows of the step tables (default: every "
                         "method), e.g. lion,adan")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1e3 and 1e5, 3 rounds, smaller convergence runs")
    ap.add_argument("--smoke", action="store_true",
                    help="every section in its smallest form, in seconds: checks that the "
                         "suite runs (tests/test_bench.py), measures next to nothing; "
                         "no first-call latencies, no distributed runs")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--loops-only", action="store_true", help="same as --sections loops")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated subset of {','.join(PEERS)}, or 'none'")
    ap.add_argument("--out", default=None,
                    help="results file (default bench/results/cpu-HOST-DATE.md)")
    ap.add_argument("--plots", default=None,
                    help="directory for the PNG figures (default: next to the results "
                         "file, RESULTS-figures/; --plots docs/images/bench refreshes "
                         "the documentation's figures)")
    args = ap.parse_args(argv)
    if args.out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = os.path.join(HERE, "results", f"cpu-{platform.node() or 'host'}-{stamp}.md")
    if args.plots is None:
        args.plots = os.path.splitext(args.out)[0] + "-figures"
    args.sizes = (SIZES if args.sizes is None
                  else [int(float(s)) for s in args.sizes.split(",")])
    args.dtypes = args.dtypes.split(",")
    labels = [label for label, _, _ in RUNS]
    args.methods = labels if args.methods is None else args.methods.split(",")
    unknown = [m for m in args.methods if m not in labels]
    if unknown:
        ap.error(f"--methods: unknown {unknown}; expected some of {','.join(labels)}")
    if args.quick:
        args.sizes, args.rounds = [1_000, 100_000], 3
    if args.smoke:
        args.sizes, args.rounds = [1_000], 1
    args.sections = ["loops"] if args.loops_only else args.sections.split(",")
    for s in args.sections:
        if s not in SECTIONS:
            ap.error(f"--sections: unknown section {s!r}; expected some of {SECTIONS}")
    wanted = [] if args.peers == "none" else args.peers.split(",")
    try:
        args.peers, args.skipped = available(wanted)
    except ValueError as exc:
        ap.error(f"--peers: {exc}")
    for p in PEERS:
        if p not in wanted:
            args.skipped.setdefault(p, "not asked for (--peers)")
    return args


def main(argv=None):
    args = parse(argv)
    info = machine()
    lines = ["# numadam CPU benchmark", ""]

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    for k, v in info.items():
        emit(f"- {k}: {v}")
    emit(f"- peers measured: {', '.join(args.peers) or 'none'}")
    for p, why in args.skipped.items():
        emit(f"- peer skipped: {p}: {why}")
    emit("\nTimes are medians over interleaved rounds; ratios are paired per round "
         "(same round, same size) and then the median.  `of ceiling` = the in-place "
         "streaming ceiling's time per byte over numadam's (1.00 = the memory limit at "
         "this size); a peer's `(x)` is its time over numadam's (> 1: numadam is faster).")
    checks, figures = [], []
    os.makedirs(args.plots, exist_ok=True)
    if "step" in args.sections:
        emit("\n## Step throughput\n")
        data = step_section(emit, args.sizes, args.dtypes, args.rounds, args.peers, checks,
                            args.methods)
        figures += [plots.step_throughput(data, args.plots), plots.step_speedups(data, args.plots)]
    if "overhead" in args.sections:
        loops = (minimize_overhead(steps=1000, rounds=1) if args.smoke
                 else minimize_overhead(rounds=max(3, args.rounds // 2)))
        emit("\n## Loop overhead (2 parameters whose fun/jac cost nothing; and minibatches)\n")
        for label, t in loops.items():
            emit(f"- {label}: {t * 1e6:.2f} us per iteration")
        per_it = loops["minimize, plain"]
        checks.append(("minimize overhead < 5 us/iteration", per_it < 5e-6, per_it * 1e6))
        n_large = 100_000 if args.smoke else 10_000_000
        large, ratios = minimize_large(n_large, rounds=1 if args.smoke else 5,
                                       peers=args.peers)
        emit(f"\n## A minimize iteration at {n_large:.0e} float32 parameters (free "
             "objective)\n")
        emit("| loop | ms per iteration | torch fused / this (paired) |")
        emit("|---|---:|---:|")
        for label, t in large.items():
            r = ratios.get(label)
            emit(f"| {label} | {t * 1e3:.2f} | {'' if r is None else f'{r:.2f}'} |")
        if ratios:
            r = ratios["minimize, gtol=0 (one pass)"]
            checks.append(("minimize at 1e7 float32 >= 0.95x torch fused", r >= 0.95, r))
    if "loops" in args.sections:
        from . import loops
        times = loops.report(emit, checks, args.peers,
                             rounds=1 if args.smoke else 3 if args.quick else 5,
                             smoke=args.smoke)
        figures.append(plots.overhead(times, args.plots))
    if "arrays" in args.sections:
        from . import arrays
        arrays.report(emit, checks, args.peers, rounds=5 if args.quick else 9,
                      smoke=args.smoke)
    if "matrix" in args.sections:
        from . import matrix
        matrix.report(emit, checks, args.peers, rounds=3 if args.quick else 5,
                      smoke=args.smoke)
    if "precision" in args.sections:
        from . import precision
        precision.report(emit, checks, args.peers, rounds=5 if args.quick else 7,
                         smoke=args.smoke)
    if "latency" in args.sections:
        from . import latency
        latency.report(emit, checks, args.peers, smoke=args.smoke)
    if "convergence" in args.sections:
        from . import convergence
        figures.append(plots.convergence(convergence.report(emit, checks, args.quick,
                                                            args.smoke),
                                         args.plots))
    if "distributed" in args.sections:
        if args.smoke:
            emit("\n## Beyond one machine: MPI and Dask\n\n- skipped (--smoke)")
        else:
            from . import distributed
            distributed.report(emit, checks)
    emit("\n## Targets\n")
    for label, ok, value in checks:
        emit(f"- {'PASS' if ok else 'FAIL'}: {label} ({value:.2f})")
    figures = [f for f in figures if f]
    if figures:
        emit("\n## Figures\n")
        for f in figures:
            emit(f"- {os.path.relpath(f)}")
    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
