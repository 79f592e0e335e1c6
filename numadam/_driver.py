"""The run loop of ``minimize``, written once.

:class:`Run` owns everything a run does between its first evaluation and its
result: the stopping tests and their statuses and messages, ``nan_policy``,
the history, the patience rule, the progress bar, both styles of callback
(``StopIteration`` stops the run), checkpoints, the final evaluation and the
:class:`~scipy.optimize.OptimizeResult`.  What differs between the places a
run happens is a *source* -- where the gradient comes from and where the state
lives -- with a small interface:

``evaluate(batch) -> (f or None, g)``
    The objective (when the call gives it) and the flat gradient at the
    current iterate; ``value(batch) -> f`` when only the objective is needed.
``reduce(g) -> (gn, norm)``
    The norm ``gtol`` tests (the projected one with bounds) and what the
    step's clipping needs (the optimizer's ``(s, r)`` norm pair, or None).
``step(g, norm)``, ``project``
    The fused update of the optimizer, and the projection onto the bounds (a
    callable, or None when there is nothing to project).
``intermediate_x()``, ``jac_of(g)``, ``finite_gradient(g)``
    What a callback and the result receive.

:class:`HostSource` is ``minimize``'s (Python callables, host arrays; the
compiled loop of :mod:`numadam._compiled` runs its iterations in nopython
mode first when it can); ``numadam._device_minimize.DeviceSource`` is
``device="cuda"``'s.  The pieces that own state -- the optimizer, the
batches, the history, the patience rule, the random generators -- save and
restore their own parts of a checkpoint (:mod:`numadam._resume`).
"""
import math

import numpy as np

from . import _kernels
from ._inputs import _SUCCESS, _UNLIMITED, STATUS_MESSAGES, _scalar
from ._kernels import _scalars

__all__ = ["Run", "HostSource", "StopRun"]


class StopRun(Exception):
    """Raised by a source's ``evaluate`` when the run is to stop there (status
    99): MPI's callback stop, which arrives with the next ``Allreduce``."""


class OneProcess:
    """What a callback's stop or exception does in one process (the sources
    of :func:`numadam.minimize` on the CPU and the GPU; MPI's holds them for
    every process)."""

    def stop_requested(self):
        """A callback raised StopIteration: stop now (True)."""
        return True

    def hold_error(self, exc, nit):
        """A callback raised ``exc``: not held, the run re-raises it (False)."""
        return False


class HostSource(OneProcess):
    """minimize's gradients from Python callables, its state in host memory."""

    #: a callback with data gets the minibatch's loss at the new x (evaluated
    #: for it), not the one before the step that a fused objective gave
    callback_fun_before_step = False

    def __init__(self, fun, jac, fused, args, x, opt, box, fkw, jkw):
        cpu = _kernels.load_cpu()
        self.fun, self.jac, self.fused, self.args = fun, jac, fused, args
        self.fkw, self.jkw = fkw, jkw
        self.x, self.opt, self.box = x, opt, box
        self.flat = flat = opt._flat
        self.view = x.view()
        self.view.flags.writeable = False
        self.shape, self.dtype = x.shape, x.dtype
        self.counts = {"nfev": 0, "njev": 0}
        #: the preallocated gradient of numpy's out= convention (None: not used)
        self.out = None
        #: False once a gradient was converted (the compiled loop would not)
        self.exact = True
        #: the step's guard may stand in for the gradient's finiteness test
        self.folds = True
        self.norm_k = norm_k = cpu.NORM.pick(flat.size)
        norm_value = _scalars.norm_value
        # the loop's per-iteration calls, bound once (the ordinary loop costs
        # microseconds per iteration: every call level counts)
        self.step = opt._step_flat
        if fused:
            self.evaluate = self.objective
        #: the projection onto the bounds (None without bounds)
        self.project = None
        if box is None:
            def reduce(g):
                """(gtol's norm, the full norm's (s, r) pair for clipping)."""
                pair = norm_k(g)
                return (pair[1] if pair[0] == 1.0 else norm_value(*pair)), pair
        else:
            project_k = cpu.PROJECT.pick(flat.size)
            project_k(flat, *box)
            pnorm_k = cpu.PROJECTED_NORM.pick(flat.size)
            gsign = -1.0 if opt.options["maximize"] else 1.0
            lb, ub = box

            def reduce(g):
                """The projected norm; clipping uses the full norm (the optimizer's)."""
                return norm_value(*pnorm_k(flat, g, lb, ub, gsign)), None

            self.project = lambda: project_k(flat, lb, ub)
        self.reduce = reduce

    def objective(self, batch):
        self.counts["nfev"] += 1
        f = self.fun(self.view, *batch, *self.args, **self.fkw)
        if self.fused:
            self.counts["njev"] += 1
            try:
                f, g = f
            except (TypeError, ValueError):
                what = (f"a {type(f).__name__} of {len(f)}" if isinstance(f, (tuple, list))
                        else type(f).__name__)
                raise TypeError(f"with jac=True, fun must return (f, g); got {what}") from None
            return self._value(f), self.check(g)
        return self._value(f)

    def _value(self, f):
        """The objective's value as a float; one that needs converting (a
        1-element array) keeps the run out of the compiled loop, as a gradient
        that needs converting does."""
        value = _scalar(f)
        if isinstance(f, np.ndarray) and self.exact:
            self.exact = False
            self.inexact = (f"fun returned a {f.dtype} array of shape {f.shape} as the "
                            "objective, not a number")
        return value

    def evaluate(self, batch):
        """(f or None, flat g) at the current x: one call per step."""
        if self.fused:
            return self.objective(batch)
        self.counts["njev"] += 1
        return None, self.check(self.jac(self.view, *batch, *self.args, **self.jkw))

    def evaluate_both(self, batch):
        """(f, g): the objective and the gradient (the final evaluation)."""
        if self.fused:
            return self.objective(batch)
        f = self.objective(batch)
        return f, self.evaluate(batch)[1]

    def value(self, batch):
        """The objective at the current x on ``batch`` (when not yet known)."""
        return self.objective(batch)[0] if self.fused else self.objective(batch)

    def check(self, g):
        if (type(g) is np.ndarray and g.dtype == self.dtype and g.shape == self.shape
                and g.flags.c_contiguous):
            return g if g.ndim == 1 else g.reshape(-1)
        if self.exact:
            what = (f"a {g.dtype} array of shape {g.shape}"
                    + ("" if g.flags.c_contiguous else ", not C-contiguous")
                    if isinstance(g, np.ndarray) else f"a {type(g).__name__}")
            self.inexact = (f"{'jac' if not self.fused else 'fun'} returned {what} as the "
                            f"gradient of x0, a {self.dtype} array of shape {self.shape}")
        self.exact = False
        return self.opt._check_grad(g, name="jac" if not self.fused else "fun's gradient")

    def finite_gradient(self, g):
        return math.isfinite(self.norm_k(g)[1])

    def intermediate_x(self):
        return self.x.copy()

    def jac_of(self, g):
        return np.array(g, copy=True).reshape(self.shape)


class Run:
    """One run of the loop over a source (see the module docstring).

    Parameters
    ----------
    src : HostSource or DeviceSource
    loop : dict
        minimize's parsed loop options.
    method : str
        The method's name (for the result).
    callback, style : callable, str or None
        The callback and its style (``"new"`` or ``"legacy"``).
    batches : numadam._data.Batches, optional
        The minibatches (with ``data``).

    The history, the patience rule and the progress bar are made from the
    loop options; :attr:`checkpoint` (a :class:`numadam._resume.RunCheckpoint`)
    is set by the caller when the run saves checkpoints.
    """

    def __init__(self, src, loop, method, callback=None, style=None, batches=None):
        self.src, self.opt, self.loop, self.method = src, src.opt, loop, method
        self.callback, self.style, self.batches = callback, style, batches
        #: saves the run every checkpoint_every steps (None: no checkpoints)
        self.checkpoint = None
        self.policy = loop["nan_policy"]
        self.nit = self.nskip = 0
        self.status = None
        self.bad = False
        #: a folded step (see :meth:`folds`) found a non-finite gradient
        self.folded_bad = False
        epochs = loop["epochs"]
        self.budget = loop["maxiter"]
        self.per_epoch = batches.per_epoch if batches is not None else None
        if batches is not None and epochs is not None:
            self.budget = min(self.budget, epochs * batches.per_epoch)
        self.compiled = False
        #: the iteration of the last checkpoint written (None: none yet)
        self.saved_at = None
        self.history = self.patience = self.progress = None
        if loop["history"]:
            from ._monitor import History
            self.history = History(loop["history"], self.expected_records())
        if loop.get("patience") is not None:
            from ._monitor import Patience
            self.patience = Patience(loop["patience"], loop["ema"], loop["min_delta"])

    # -- small shared pieces ---------------------------------------------
    def epoch_of(self, nit):
        return nit / self.per_epoch if self.per_epoch else nit

    def budget_status(self):
        epochs = self.loop["epochs"]
        return 2 if epochs is not None and self.nit >= epochs * self.per_epoch else 1

    def nonfinite_error(self, what):
        return FloatingPointError(
            f"iteration {self.nit}: the {what} is NaN or infinite (x, the "
            f"iterate after {self.opt.t} steps, is finite and unchanged)")

    def nonfinite(self, what):
        """Apply the nan_policy to a NaN/inf ``what``; returns the status or None."""
        if self.policy == "raise":
            raise self.nonfinite_error(what)
        return 3 if self.policy == "stop" else None

    def folds(self):
        """Whether the gradient's finiteness is left to the step (no separate
        pass over it, issue 15 item 4): only when nothing else reads its norm
        (gtol=0, no clip_norm, history, progress or patience), the step stops
        the run on a non-finite gradient anyway (nan_policy "stop" or
        "raise"), and the array is large enough for the pass to matter.  A
        non-finite gradient then ends the run as an overflow does: the
        elements with a finite gradient took the step, the others and their
        state kept their values.  The compiled loop folds by the same rule."""
        cpu = _kernels.load_cpu()
        return (getattr(self.src, "folds", False) and self.loop["gtol"] == 0
                and self.policy != "skip" and self.opt._clip_norm is None
                and self.history is None and self.progress is None
                and self.patience is None
                and self.opt._flat.size >= cpu.PARALLEL_THRESHOLD)

    def overflow(self, exc):
        """An update overflowed: raise, or status 3."""
        if self.policy == "raise":
            raise FloatingPointError(f"iteration {self.nit}: {exc}") from None
        return 3

    def expected_records(self):
        return self.budget if self.budget < _UNLIMITED else 1000

    # -- the loop ----------------------------------------------------------
    def run(self, compiled=None):
        """Run to a status; returns the OptimizeResult.

        ``compiled``, when given, is a function ``compiled(run, f, g,
        first_eval) -> (status, f, g)`` that runs the iterations in nopython mode
        first (:func:`numadam._compiled.run_compiled`).
        """
        import time
        if self.loop.get("disp"):
            from ._monitor import Progress
            self.progress = Progress(self.expected_records() if self.budget < _UNLIMITED
                                     else None)
            self.progress.done = self.nit
        batch = self.batches.next() if self.batches is not None else ()
        started = time.perf_counter()
        f, g = self.src.evaluate(batch)
        first_eval = time.perf_counter() - started
        if f is None:
            # a separate fun, else first called at the end: called here too, as
            # scipy does, so that a broken fun fails before the run, not after
            # it.  Its value serves this iteration where the loop would have
            # evaluated fun (a history record, patience, progress); otherwise it
            # was a check only, not counted (as minimize_many's of its first
            # problem), and the run is the one it always was
            counts = dict(self.src.counts)
            f0 = self.src.value(batch)
            if (self.patience is not None
                    or self.progress is not None and self.progress.due()
                    or self.history is not None and self.history.next == self.nit):
                f = f0
            else:
                self.src.counts.update(counts)
        if compiled is not None and not self.src.exact and self.loop.get("compiled") is True:
            raise ValueError(
                f"option compiled=True: {self.src.inexact}; the compiled loop takes what "
                "fun and jac return as it is: the objective a number, the gradient an "
                "array of x0's dtype and shape, C-contiguous (the ordinary loop, "
                "compiled=False or 'auto', converts them)")
        if compiled is not None and self.src.exact:
            self.compiled = True
            self.status, f, g = compiled(self, f, g, first_eval)
            self.bad = not (self.src.finite_gradient(g)
                            and (f is None or math.isfinite(f)))
        if self.status is None:
            try:
                f, g, batch = self.iterate(f, g, batch)
            except StopRun:
                self.status = 99
        # the end of the run is saved too (a run shorter than checkpoint_every
        # leaves its file; a finished run can go on with a larger maxiter),
        # unless a non-finite value stopped it: the last checkpoint before it
        # is kept, to resume from with other options
        if self.checkpoint is not None and self.status != 3 and self.saved_at != self.nit:
            self.checkpoint.save(self.loop["checkpoint"])
        return self.finish(f, g, batch)

    def iterate(self, f, g, batch):
        """The ordinary loop, from the evaluation at ``nit``; returns (f, g, batch)."""
        src, history, progress, patience = self.src, self.history, self.progress, \
            self.patience
        gtol, budget, batches = self.loop["gtol"], self.budget, self.batches
        reduce, evaluate, step, project = src.reduce, src.evaluate, src.step, src.project
        ckpt, every, style = self.checkpoint, self.loop["checkpoint_every"], self.style
        fold = self.folds()
        while True:
            nit = self.nit
            # folded: the gradient's finiteness is the step's own test (its
            # guard); no pass over g before it
            gn, norm = (0.0, None) if fold else reduce(g)
            hist_due = history is not None and nit == history.next
            prog_due = progress is not None and progress.due()
            if (patience is not None or hist_due or prog_due) and f is None \
                    and math.isfinite(gn):
                f = src.value(batch)
            bad_g = not math.isfinite(gn)
            self.bad = bad = bad_g or (f is not None and not math.isfinite(f))
            status = None
            if bad:
                status = self.nonfinite("gradient" if bad_g else "objective")
            elif patience is not None and patience.update(f):
                status = 4
            if status is None:
                if not bad and gtol > 0 and gn <= gtol:
                    status = 0
                elif nit >= budget:
                    status = self.budget_status()
            if hist_due or prog_due or (status is not None and (
                    history is not None or progress is not None)):
                f, status = self.record(f, gn, batch, hist_due, prog_due, status)
            if status is not None:
                self.status = status
                return f, g, batch
            if bad:  # nan_policy "skip": no step; parameters and state untouched
                self.nskip += 1
            else:
                try:
                    step(g, norm)
                except FloatingPointError as exc:  # an overflow inside the update
                    # (folded: or a non-finite gradient, which the step found)
                    self.folded_bad = fold and not src.finite_gradient(g)
                    self.status = self.overflow(exc)
                    return f, g, batch
                if project is not None:
                    project()
            self.nit = nit = nit + 1
            if ckpt is not None and nit % every == 0:
                ckpt.save(self.loop["checkpoint"])
                self.saved_at = nit
            if batches is not None:
                # the minibatch's loss at the new x (f, when known, is the old
                # x's), unless the source has only that one (MPI's global loss)
                if style is not None and self.call_back(
                        f if src.callback_fun_before_step else None, None, batch):
                    return f, g, batch
                if nit >= budget:  # the budget is spent: draw no further batch
                    self.status = self.budget_status()
                    return f, g, batch
                batch = batches.next()
            f, g = evaluate(batch)
            if batches is None and style is not None and self.call_back(f, g, batch):
                return f, g, batch

    def record(self, f, gn, batch, hist_due, prog_due, status):
        """The history record and the progress bar of this iteration; the
        objective is evaluated when they need it (and checked: a NaN objective
        gets the nan_policy).  Returns (f, status)."""
        if self.history is not None and (hist_due or status is not None):
            if f is None and not self.bad:
                f, status = self.value_checked(batch, status)
            self.history.add(self.nit, self.epoch_of(self.nit), f, gn,
                             math.nan if self.bad else self.opt.lr)
        if self.progress is not None and (status is not None or prog_due):
            if f is None and not self.bad:
                f, status = self.value_checked(batch, status)
            self.progress.show(self.nit, f)
        return f, status

    def value_checked(self, batch, status):
        f = self.src.value(batch)
        if not math.isfinite(f) and not self.bad:
            self.bad = True
            return f, self.nonfinite("objective") or 3
        return f, status

    def call_back(self, f, g, batch):
        """Call the callback after a step; True (status 99) when it stops the run."""
        from scipy.optimize import OptimizeResult
        try:
            if self.style == "new":
                if f is None:
                    f = self.src.value(batch)
                info = OptimizeResult(x=self.src.intermediate_x(), fun=f, nit=self.nit)
                if self.batches is not None:
                    info.epoch = self.epoch_of(self.nit)
                elif g is not None:
                    info.jac = self.src.jac_of(g)
                self.callback(intermediate_result=info)   # (by keyword, as SciPy)
            else:
                self.callback(self.src.intermediate_x())
        except StopIteration:
            if self.src.stop_requested():
                self.status = 99
                return True
        except Exception as exc:  # noqa: BLE001 - MPI holds it for every process
            if not self.src.hold_error(exc, self.nit):
                raise
        return False

    # -- the end -------------------------------------------------------------
    def finish(self, f, g, batch):
        """The final evaluation, the end-of-run nan_policy and the result."""
        src, nit = self.src, self.nit
        if self.opt.mode == "train":
            # Schedule-Free: the run evaluated y; the result is the average x,
            # evaluated once more there (the run's counts include it).  A
            # source whose optimizer holds part of x (MPI, sharded) gathers it
            getattr(src, "to_eval_point", self.opt.eval)()
            if self.batches is None:
                f, g = src.evaluate_both(batch)
        if self.batches is not None:
            # report the objective and gradient on the whole data set
            f, g = src.evaluate_both(self.batches.arrays)
            if self.status != 3:   # a stop at a bad minibatch keeps its cause
                self.bad = False
        elif f is None:
            f = src.value(batch)
        status = self.status   # MPI: a callback's stop may arrive with the final evaluation
        # Whenever the objective or gradient that numadam evaluated is not
        # finite, nan_policy applies (status 3), also at the end of the run:
        # the last iterate of a "skip" run, the whole data set's loss, a
        # separate fun.  A "skip" run over data keeps its status: it skipped
        # the bad batches, and the whole data set's loss holds them too.
        if status != 3 and not (self.policy == "skip" and self.batches is not None):
            end_bad_g = not src.finite_gradient(g)
            if self.bad or end_bad_g or not math.isfinite(f):
                if self.policy == "raise":
                    what = "gradient" if end_bad_g else "objective"
                    raise FloatingPointError(
                        f"iteration {nit}: the {what} at the final iterate is NaN or "
                        f"infinite (x, the iterate after {self.opt.t} steps, is finite)")
                status = 3
                self.bad = True
        if self.history is not None and self.history.last != nit and \
                self.batches is not None:
            self.history.add(nit, self.epoch_of(nit), f, src.reduce(g)[0], self.opt.lr)
        if self.progress is not None:
            self.progress.close(nit, f)
        return self.result(status, f, g)

    def result(self, status, f, g):
        from scipy.optimize import OptimizeResult
        message = STATUS_MESSAGES[status]
        if status == 3 and self.folded_bad:
            message = ("The gradient was NaN or infinite at the last step, found by "
                       "the step itself (gtol=0: no separate pass over the gradient); "
                       "its elements kept their values, the others were updated.")
        elif status == 3 and not self.bad:
            message = ("An update overflowed (NaN or infinite values); the elements "
                       "concerned kept their values, the others were updated.")
        counts = self.src.counts
        result = OptimizeResult(
            x=self.src.x, fun=f, jac=self.src.jac_of(g), nit=self.nit,
            nfev=counts["nfev"], njev=counts["njev"], status=status,
            success=status in _SUCCESS, message=message, method=self.method,
            compiled=self.compiled)
        if self.policy == "skip":
            result.nskip = self.nskip
        if self.batches is not None:
            result.epoch = self.epoch_of(self.nit)
        if self.history is not None:
            result.history = self.history.result()
        if self.loop.get("disp"):
            print(f"{result.message}\n         Current function value: {f:.6g}\n"
                  f"         Iterations: {self.nit}\n         Function evaluations: "
                  f"{counts['nfev']}\n         Gradient evaluations: {counts['njev']}")
        return result
