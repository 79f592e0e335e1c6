"""minimize's compiled loop: the iterations of a :class:`numadam._driver.Run` in
nopython mode, for ``numba.njit`` objectives.

:func:`run_compiled` hands the run's state (iterate, optimizer state, counts,
history) to :func:`numadam._kernels.loop.run` in chunks that last about
:data:`CHUNK_SECONDS` each (Python handles Ctrl-C between them), and turns
the codes it returns into the run's statuses and the ordinary loop's errors.
It gives bitwise the iterates of the ordinary loop: the same kernels, the same
scalar functions (compiled from one source), the same stopping tests.
"""
import contextlib
import math
import time

import numpy as np

from . import _kernels
from ._inputs import _lr_table
from .schedules import check_lr

__all__ = ["run_compiled", "CHUNK_SECONDS"]

#: the compiled loop runs in chunks of about this many seconds; Python handles
#: signals (Ctrl-C) between them
CHUNK_SECONDS = 0.05


class _Plan:
    """What every chunk passes to the compiled loop, chosen once per run."""

    def __init__(self, run):
        from ._kernels import loop as L
        cpu = _kernels.load_cpu()
        src, opt = run.src, run.opt
        n = src.flat.size
        self.kernel = opt._spec.kernel(opt._opts).pick(n, guarded=False)
        self.scalar_fn = L.scalar_fn(opt._scalar_fn)
        self.evaluate = L.eval_fused if src.fused else L.eval_split
        self.value = L.value_fused if src.fused else L.value_split
        self.jac = src.fun if src.fused else src.jac
        self.norms = (cpu.NORM.pick(n, guarded=False),
                      cpu.PROJECTED_NORM.pick(n, guarded=False),
                      cpu.PROJECT.pick(n, guarded=False))
        self.lb, self.ub = (src.flat[:0], src.flat[:0]) if src.box is None else src.box
        self.gsign = -1.0 if opt.options["maximize"] else 1.0
        self.clip_norm = opt._clip_norm if opt._clip_norm is not None else 0.0
        self.policy = L.POLICY[run.policy]
        # numpy's out=: the gradient function gets the preallocated array last
        out = () if src.out is None else (src.out,)
        self.fargs = src.args + (out if src.fused else ())
        self.jargs = src.args + (() if src.fused else out)
        self.launch = (cpu.parallel_launch if n >= cpu.PARALLEL_THRESHOLD
                       else contextlib.nullcontext)


def run_compiled(run, f, g, first_eval):
    """Run ``run``'s iterations compiled; returns ``(status, f or None, g)``."""
    from ._kernels import loop as L
    plan = _Plan(run)
    opt = run.opt
    f_c, have_f = (math.nan if f is None else f), f is not None
    remaining = run.budget
    # Chunks are sized to last about CHUNK_SECONDS: the first from the time of
    # the first evaluation (from Python: an overestimate), then from the
    # measured time per iteration.
    chunk_size = int(min(max(CHUNK_SECONDS / max(first_eval, 1e-7), 16), 1 << 20))
    while True:
        chunk = min(remaining, chunk_size)
        started = time.perf_counter()
        out, hist = _chunk(run, plan, chunk, chunk == remaining, f_c, g, have_f)
        (code, nit, nskip, t, host, f_c, have_f, g, nrec, nfev, njev) = out
        if nit > 0:
            per_it = (time.perf_counter() - started) / nit
            chunk_size = int(min(max(CHUNK_SECONDS / max(per_it, 1e-9), 1), 1 << 20))
        opt.t, opt._host = t, host
        _account(run, nit, nskip, nfev, njev, hist, nrec)
        remaining -= nit
        if code == L.NEED_LR:
            check_lr(opt._schedule, opt.t)  # raises what the ordinary loop raises
            continue
        _raise_for(run, code)
        if code != 1 or remaining <= 0:
            status = run.budget_status() if code == 1 else code
            return status, (f_c if have_f else None), g


def _chunk(run, plan, chunk, last, f_c, g, have_f):
    """One call of the compiled loop for ``chunk`` iterations."""
    from ._kernels import loop as L
    src, opt = run.src, run.opt
    if opt._schedule is not None:
        lr_table, lr_const = _lr_table(opt._schedule, opt.t, chunk + 1), 0.0
    else:
        lr_table, lr_const = np.empty(0), opt._lr
    every = run.loop["history"]
    cap = chunk // every + 2 if every else 0
    hist = (np.empty(cap, np.int64), np.empty(cap), np.empty(cap), np.empty(cap))
    try:
        with plan.launch():
            out = L.run(
                src.fun, plan.jac, plan.evaluate, plan.value, plan.fargs, plan.jargs,
                src.view,
                src.flat, opt._arrays, plan.kernel, plan.scalar_fn, opt._hyper,
                opt._host, opt.t, lr_const, lr_table, opt._schedule is not None,
                plan.clip_norm, chunk, run.loop["gtol"], *plan.norms,
                src.box is not None, plan.lb, plan.ub, plan.gsign, plan.policy, every,
                run.nit, last, *hist, f_c, g, have_f)
    except SystemError as exc:
        # a signal (Ctrl-C) that arrived inside compiled code
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    except Exception as exc:  # noqa: BLE001 - a typing error: say why
        _explain_failure(src, exc)
        raise
    return out, hist


def _account(run, nit, nskip, nfev, njev, hist, nrec):
    """Add a chunk's iterations, counts and history records to the run."""
    base = run.nit
    run.nit += nit
    run.nskip += nskip
    run.src.counts["nfev"] += nfev
    run.src.counts["njev"] += njev
    history = run.history
    if history is not None:
        for k in range(nrec):
            step = base + int(hist[0][k])
            if step == history.last:   # the chunk's first record repeats
                continue
            history.add(step, float(step), hist[1][k], hist[2][k], hist[3][k])


def _raise_for(run, code):
    """The ordinary loop's error for a code the compiled loop stopped with."""
    from ._kernels import loop as L
    src = run.src
    if code == L.BAD_SHAPE:
        src.check(src.evaluate(())[1])
        raise ValueError("the gradient changed shape during the run")
    if code == L.RAISE_NONFINITE_GRAD or code == L.RAISE_NONFINITE_FUN:
        raise run.nonfinite_error("gradient" if code == L.RAISE_NONFINITE_GRAD
                                  else "objective")
    if code == L.RAISE_OVERFLOW:
        raise FloatingPointError(
            f"iteration {run.nit}: step {run.opt.t}: an update was NaN or "
            "infinite (an overflow); those elements and their state kept "
            "their old values, the others were updated")


def _explain_failure(src, exc):
    """Turn a numba typing error of the compiled loop into the ordinary loop's
    TypeError: evaluate the objective once in Python and check it."""
    from numba.core.errors import NumbaError
    if not isinstance(exc, NumbaError):
        return
    src.objective(())            # fun's value (and fused gradient) checked
    if not src.fused:
        src.evaluate(())
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise TypeError(
        "the compiled loop could not be compiled for this fun/jac (numba: "
        f"{first[:200]}); fun must return a float (with jac=True a tuple "
        "(float, array of x0's shape and dtype)) and jac an array of x0's shape "
        "and dtype; or pass options={'compiled': False}") from None
