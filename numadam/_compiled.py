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
        # the optimizer's kernels (low-precision state: its format's)
        self.kernel = opt._kernels.pick(n, guarded=False)
        self.extra = L.no_extra if opt._kernels.fmt is None else L.lowp_extra
        self.scalar_fn = L.scalar_fn(opt._scalar_fn)
        self.evaluate = L.eval_fused if src.fused else L.eval_split
        self.value = L.value_fused if src.fused else L.value_split
        self.fun = src.fun
        self.jac = src.fun if src.fused else src.jac
        self.view = src.view
        self.norms = (cpu.NORM.pick(n, guarded=False),
                      cpu.PROJECTED_NORM.pick(n, guarded=False),
                      cpu.PROJECT.pick(n, guarded=False))
        self.lb, self.ub = (src.flat[:0], src.flat[:0]) if src.box is None else src.box
        self.gsign = -1.0 if opt.options["maximize"] else 1.0
        self.clip_norm = opt._clip_norm if opt._clip_norm is not None else 0.0
        self.policy = L.POLICY[run.policy]
        # the gradient's norm is computed when a test reads it (1), else only
        # its finiteness (0), which a large run leaves to the step's guard (2:
        # see numadam._driver.Run.folds)
        self.need_norm = (1 if (run.loop["gtol"] > 0.0 or run.loop["history"]
                                or self.clip_norm > 0.0)
                          else 2 if run.folds() else 0)
        # numpy's out=: the gradient function gets the preallocated array last
        out = () if src.out is None else (src.out,)
        self.fargs = src.args + (out if src.fused else ())
        self.jargs = src.args + (() if src.fused else out)
        self.launch = (cpu.parallel_launch if n >= cpu.PARALLEL_THRESHOLD
                       else contextlib.nullcontext)
        self.agree = opt._agree
        self.features = (src.box is not None, opt._schedule is not None,
                         self.clip_norm > 0.0, run.loop["history"] > 0, self.policy,
                         self.need_norm, self.agree is not None)
        self.kernels, self.n, self.src = opt._kernels, n, src
        # the tiny loop reads the objective's x from the flat iterate's memory
        self.tiny = src.view.__array_interface__["data"][0] == src.flat.ctypes.data
        # the objective: a user's C pointer, else the njit functions compiled
        # into the loop (cached on disk when they are cache=True)
        self.cobj = getattr(src.fun, "_numadam_c", None)
        self.loop = None
        if self.cobj is not None:
            self._through_c()
            return
        from ._kernels.cached_loop import c_loop
        self.loop = c_loop(self.kernels, n, self.features, objective=(
            src.fun, src.jac, src.fused, len(self.fargs), len(self.jargs),
            src.out is not None), tiny=self.tiny)

    def _through_c(self):
        """The objective through a C pointer: the user's, or the njit
        functions wrapped into one (else the loop specialised to the
        dispatchers, when their args cannot be passed that way)."""
        from ._kernels import loop as L
        from ._kernels.cached_loop import c_loop
        src = self.src
        if self.cobj is None:
            from ._cabi import wrap_njit
            self.cobj = wrap_njit(src.fun, src.jac, src.fused, src.args,
                                  src.out is not None, src.x)
        self.loop = None
        if self.cobj is not None:
            self.fun, self.jac, self.evaluate, self.value = self.cobj.key(), 0, None, None
            self.fargs = (np.empty(self.n, src.dtype), np.empty(self.n, src.dtype),
                          self.cobj.err)
            self.jargs, self.view = (), src.flat
            # the loop compiled once per method variant, size class and
            # feature set, cached on disk
            self.loop = c_loop(self.kernels, self.n, self.features, tiny=self.tiny)
            if self.loop is None:
                self.evaluate, self.value = L.eval_c, L.value_c

    def call(self, **state):
        """The compiled loop on the run's ``state`` (``loop.run``'s other
        arguments, by name)."""
        from ._kernels import loop as L
        state.update(fun=self.fun, jac=self.jac, evaluate=self.evaluate,
                     value=self.value, fargs=self.fargs, jargs=self.jargs,
                     view=self.view, kernel=self.kernel, scalar_fn=self.scalar_fn,
                     extra=self.extra,
                     norm=self.norms[0], pnorm=self.norms[1], project=self.norms[2],
                     caution=self.agree is not None,
                     agree=self.kernel if self.agree is None else self.agree)
        if self.loop is not None and self.cobj is None:
            from numba.core.errors import NumbaError
            try:
                return self.loop.run(*[state[p] for p in self.loop.PARAMS])
            except NumbaError:
                # numba cannot compile the functions into the loop (or they
                # are wrong: the C wrapper's compilation says why)
                self._through_c()
                return self.call(**state)
        if self.loop is not None:
            return self.loop.run(*[state[p] for p in self.loop.PARAMS])
        code = L.run.py_func.__code__
        return L.run(*[state[p] for p in code.co_varnames[:code.co_argcount]])


def run_compiled(run, f, g, first_eval):
    """Run ``run``'s iterations compiled; returns ``(status, f or None, g)``."""
    from ._kernels import loop as L
    try:
        plan = _Plan(run)
    except Exception as exc:  # noqa: BLE001 - a typing error of the wrapper: say why
        _explain_failure(run.src, exc)
        raise
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
        if plan.need_norm == 2 and code in (3, L.RAISE_OVERFLOW):
            run.folded_bad = not run.src.finite_gradient(g)
        _raise_for(run, plan, code)
        if code != 1 or remaining <= 0:
            status = run.budget_status() if code == 1 else code
            return status, (f_c if have_f else None), g


def _chunk(run, plan, chunk, last, f_c, g, have_f):
    """One call of the compiled loop for ``chunk`` iterations."""
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
            out = plan.call(
                flat=src.flat, arrays=opt._arrays, hyper=opt._hyper, host=opt._host,
                t=opt.t, lr_const=lr_const, lr_table=lr_table,
                use_table=opt._schedule is not None, clipping=plan.clip_norm > 0.0,
                clip_norm=plan.clip_norm, maxiter=chunk, gtol=run.loop["gtol"],
                need_norm=plan.need_norm,
                has_box=src.box is not None, lb=plan.lb, ub=plan.ub, gsign=plan.gsign,
                policy=plan.policy, hist=every > 0, hist_every=every, hist_base=run.nit,
                last_chunk=last, h_step=hist[0], h_loss=hist[1], h_gn=hist[2],
                h_lr=hist[3], f=f_c, g=g, have_f=have_f)
    except SystemError as exc:
        # a signal (Ctrl-C) that arrived inside compiled code
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    except Exception as exc:  # noqa: BLE001 - a typing error of the loop: say why
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


def _raise_for(run, plan, code):
    """The ordinary loop's error for a code the compiled loop stopped with."""
    from ._cabi import error_flag
    from ._kernels import loop as L
    src = run.src
    flag = error_flag(plan.cobj)
    if flag:
        # the wrapped njit objective raised or returned a wrong shape:
        # evaluated in Python, it raises the same (the check names the shape)
        src.check(src.evaluate(())[1])
        if src.fused is False:
            src.objective(())
        raise RuntimeError(
            f"iteration {run.nit}: fun/jac raised an exception in the compiled loop "
            "but not when called from Python at the same x; run with "
            "options={'compiled': False} to see it")
    if code == L.BAD_SHAPE:
        src.check(src.evaluate(())[1])
        raise ValueError("the gradient changed shape during the run")
    if code == L.RAISE_NONFINITE_GRAD or code == L.RAISE_NONFINITE_FUN:
        raise run.nonfinite_error("gradient" if code == L.RAISE_NONFINITE_GRAD
                                  else "objective")
    if code == L.RAISE_OVERFLOW:
        what = ("a non-finite gradient, found by the step itself" if run.folded_bad
                else "an overflow")
        raise FloatingPointError(
            f"iteration {run.nit}: step {run.opt.t}: an update was NaN or "
            f"infinite ({what}); those elements and their state kept "
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
