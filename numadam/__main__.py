"""``python -m numadam demo``: solve two problems with every method, print a table.

Run ``python -m numadam --help`` for the options.
"""
import argparse
import sys
import time

import numpy as np

#: (method, options) for the demo's Rosenbrock run, lr chosen per method
ROSENBROCK_RUNS = [
    ("adam", {"lr": 1e-2}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.0}),
    ("amsgrad", {"lr": 1e-2}),
    ("adamax", {"lr": 2e-2}),
    ("nadam", {"lr": 1e-2}),
    ("radam", {"lr": 1e-3}),  # lr 1e-2: steps 1-5 (unrectified) diverge, as in torch
    ("sgd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", {"lr": 1e-3}),
    ("adagrad", {"lr": 0.5}),
    ("schedule_free_adamw", {"lr": 1e-2}),
    ("adadelta", {"lr": 1.0}),
    ("rprop", {"lr": 1e-2}),
    ("asgd", {"lr": 2e-3}),
    ("lion", {"lr": 1e-3}),
    ("adopt", {"lr": 0.1}),
    ("ademamix", {"lr": 1e-2}),
    ("adabelief", {"lr": 1e-2}),
    ("yogi", {"lr": 3e-2}),
    ("adan", {"lr": 1e-2}),
    ("lamb", {"lr": 1e-2}),   # a step of about lr*||x|| every step: it hovers
    ("prodigy", {"lr": 1.0}),
]
#: (method, options) for the logistic regression run
LOGISTIC_RUNS = [
    ("adam", {"lr": 0.05}),
    ("adamw", {"lr": 0.05, "weight_decay": 1e-4}),
    ("amsgrad", {"lr": 0.05}),
    ("adamax", {"lr": 0.05}),
    ("nadam", {"lr": 0.05}),
    ("radam", {"lr": 0.05}),
    ("sgd", {"lr": 0.5, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", {"lr": 0.01}),
    ("adagrad", {"lr": 0.5}),
    ("schedule_free_adamw", {"lr": 0.05}),
    ("adadelta", {"lr": 10.0}),
    ("rprop", {"lr": 1e-2}),
    ("asgd", {"lr": 1.0}),
    ("lion", {"lr": 3e-3}),
    ("adopt", {"lr": 0.05}),
    ("ademamix", {"lr": 0.05}),
    ("adabelief", {"lr": 0.05}),
    ("yogi", {"lr": 0.05}),
    ("adan", {"lr": 0.02}),
    ("lamb", {"lr": 0.05}),
    ("prodigy", {"lr": 1.0}),
]


def _table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("{:>%d}" % w for w in widths)
    print(f"\n{title}")
    print(line.format(*header))
    print(line.format(*["-" * w for w in widths]))
    for r in rows:
        print(line.format(*r))


def demo(maxiter_rosen=20000, maxiter_logistic=1000):
    """Run the demo and print its two tables; returns the results.

    Parameters
    ----------
    maxiter_rosen, maxiter_logistic : int
        Steps per method on each problem.

    Returns
    -------
    dict
        ``{"rosenbrock": {method: OptimizeResult}, "logistic": {...}}``.
    """
    import scipy.optimize

    import numadam
    from numadam.problems import logistic_loss, make_logistic_regression, rosenbrock

    print(f"numadam {numadam.__version__}: every method on two problems (but Muon and "
          "Adafactor, whose steps are for matrices) "
          "(first call of each method includes compilation, cached on disk)")
    out = {"rosenbrock": {}, "logistic": {}}
    rows = []
    for method, opts in ROSENBROCK_RUNS:
        t0 = time.perf_counter()
        res = numadam.minimize(rosenbrock, True, [-1.2, 1.0], method=method,
                               options=dict(opts, maxiter=maxiter_rosen, gtol=1e-8))
        dt = time.perf_counter() - t0
        out["rosenbrock"][method] = res
        rows.append((method, opts["lr"], f"{res.fun:.2e}",
                     f"{np.max(np.abs(res.x - 1)):.1e}", res.nit, f"{dt * 1e3:.0f}"))
    _table(f"Rosenbrock from (-1.2, 1), at most {maxiter_rosen} steps; optimum (1, 1)",
           ("method", "lr", "f(x)", "|x - x*|", "steps", "ms"), rows)

    X, y, w_true = make_logistic_regression(5000, 10, seed=0)
    ref = scipy.optimize.minimize(logistic_loss, np.zeros(10), args=(X, y), jac=True,
                                  method="L-BFGS-B")
    rows = [("L-BFGS-B", "-", f"{ref.fun:.6f}", "0", f"{np.max(np.abs(ref.x - w_true)):.3f}",
             ref.nit, "-")]
    for method, opts in LOGISTIC_RUNS:
        t0 = time.perf_counter()
        res = numadam.minimize(logistic_loss, True, np.zeros(10), args=(X, y), method=method,
                               options=dict(opts, maxiter=maxiter_logistic, gtol=1e-6))
        dt = time.perf_counter() - t0
        out["logistic"][method] = res
        rows.append((method, opts["lr"], f"{res.fun:.6f}", f"{np.max(np.abs(res.x - ref.x)):.1e}",
                     f"{np.max(np.abs(res.x - w_true)):.3f}", res.nit, f"{dt * 1e3:.0f}"))
    _table("Logistic regression, 5000 samples x 10 features, full batch; "
           "w* = L-BFGS-B's solution, w_true = the generating weights",
           ("method", "lr", "loss", "|w - w*|", "|w - w_true|", "steps", "ms"), rows)
    return out


def _positive_int(text):
    """An argparse ``type=``: an integer >= 1, else argparse's usage and error (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 (a number of steps); got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1 (a number of steps); got {value}")
    return value


def main(argv=None):
    """Command-line entry point: ``numadam demo`` / ``python -m numadam demo``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; default ``sys.argv[1:]``.  Every numeric argument is
        checked by argparse: a bad one (``--maxiter -5``, ``--maxiter 1.5``)
        prints the usage line and a one-line error, and exits with status 2.

    Returns
    -------
    int
        The exit status: 0, or 2 without a command.
    """
    parser = argparse.ArgumentParser(
        prog="numadam", description="numadam's command line: 'numadam demo' solves two "
        "problems with every method and prints a comparison table; 'numadam methods' "
        "lists every option of every method, and minimize's loop options, with defaults.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("demo", help="solve Rosenbrock and a logistic regression "
                                    "with every method and print a comparison")
    p.add_argument("--maxiter", type=_positive_int, default=20000, metavar="N",
                   help="steps per method on Rosenbrock, an integer >= 1 (default 20000)")
    sub.add_parser("methods", help="list the methods and their options")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(maxiter_rosen=args.maxiter)
    elif args.command == "methods":
        import numadam
        numadam.show_options()
    else:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
