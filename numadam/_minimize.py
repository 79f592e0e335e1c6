"""``numadam.minimize``: scipy.optimize's front door to the fused optimizers.

:func:`minimize` checks its inputs (:mod:`numadam._inputs`), builds the run's
pieces -- the optimizer, the batches, the source of gradients
(:class:`numadam._driver.HostSource`), the checkpoint -- and hands them to
the one run loop, :class:`numadam._driver.Run` (the compiled loop,
:mod:`numadam._compiled`, runs its iterations when it can).
"""
import inspect

import numpy as np

from ._inputs import (STATUS_MESSAGES, _as_rng, _as_x0, _bounds, _callback_style,
                      _compiled_path, _loop_options, _out_position, _takes_rng)
from ._methods import MINIMIZE_OPTIONS, get_method

__all__ = ["minimize", "scipy_method", "STATUS_MESSAGES"]


def _check_c_objective(fun, jac, args, data, device):
    """Refuse what a C objective (a function pointer) cannot take."""
    if jac is not True:
        raise TypeError("jac: a C objective returns f and writes the gradient: pass "
                        f"jac=True; got {jac!r}")
    if args:
        raise TypeError("args: a C objective takes none (it sees n, x, grad and "
                        "user_data); pass its data through a scipy.LowLevelCallable's "
                        "user_data")
    if data is not None:
        raise ValueError("data: minibatches need a Python or numba.njit objective; a "
                         "C objective sees x only")
    if device != "cpu":
        raise ValueError("device: a C objective runs on the CPU; device='cuda' takes "
                         "Python or numba.cuda objectives")


def _looks_like_x0(value):
    """Whether ``value`` (given as jac) is a starting point: an array, a number
    or a (nested) sequence of numbers."""
    import numbers
    if isinstance(value, (np.ndarray, numbers.Number)) and not isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(_looks_like_x0(v) for v in value)
    return False


def _check_functions(fun, jac):
    """Whether ``fun`` returns ``(f, g)`` (``jac=True``); refuses anything else."""
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    if jac is True:
        return True
    if callable(jac):
        return False
    raise TypeError("jac must be a callable returning the gradient, or True "
                    "when fun returns (f, g); numadam's methods need the "
                    f"gradient; got {jac!r}")


#: x0 not given (the signature shows it required: see the end of the module)
_NO_X0 = object()


def minimize(fun, jac, x0=_NO_X0, method="adam", args=(), options=None, callback=None,
             bounds=None, data=None, rng=None, device="cpu"):
    """Minimize a function with a first-order stochastic method.

    SciPy's calling conventions, torch.optim's methods and hyperparameters,
    one fused kernel call per step; optionally minibatches of per-sample
    data, learning-rate schedules, gradient clipping, a patience rule,
    history and a progress bar.

    Parameters
    ----------
    fun : callable
        The objective, ``fun(x, *batch, *args) -> float``; with ``jac=True``
        it returns ``(f, g)``.  ``x`` has ``x0``'s shape and dtype; it is a
        read-only view of the optimizer's iterate, which the next step
        changes in place: copy it if you keep it.  ``batch`` is present only
        with ``data``.  If ``fun`` has a parameter named ``rng`` it receives
        numadam's generator for the objective (see ``rng`` below).
    jac : callable or True
        The gradient, ``jac(x, *batch, *args) -> array`` of ``x0``'s shape,
        or True when ``fun`` returns the objective and the gradient together
        (one call per step).  The gradient is converted to ``x0``'s dtype.
        It may be stochastic: a parameter named ``rng`` receives numadam's
        generator, so runs repeat.  NumPy's ``out=`` convention: when the
        function that returns the gradient (``fun`` with ``jac=True``, else
        ``jac``) has a parameter named ``out``, numadam passes one
        preallocated array of ``x0``'s shape and dtype as ``out=`` every
        call; the function writes the gradient there and returns it (``(f,
        out)`` when fused), so no step allocates.  The compiled loop needs
        ``out`` to be the parameter right after ``args``; the result's
        ``jac`` is a copy.
    x0 : array_like, dict or list of arrays
        Starting point, any shape.  float32 stays float32 (the whole run is
        in float32), float64 stays float64, integers become float64.  Several
        arrays: a dict name -> array, or a list or tuple of ndarrays (of one
        dtype; a tuple reaches ``fun`` as a tuple, what numba functions take);
        ``fun`` and ``jac`` then receive the same structure (views of the
        iterate), ``jac`` returns it (with ``out=``, a structure of views of
        one buffer is passed to write into), the callback sees it and
        ``result.x`` and ``result.jac`` have it; ``bounds`` may be given per
        array (a dict or list like ``x0``, an entry a ``(low, high)`` pair for
        every element, that array's bounds, or None).  What a method does per
        array (the cautious mask, LAMB's trust ratio) is per array.  njit
        functions taking a tuple of arrays (x0 a list or tuple) run the
        compiled loop (a one-pass method, not cautious).  A list of numbers or
        of lists is one array.
    method : str, default "adam"
        A method's name (case-insensitive): ``adam``, ``adamw``, ``amsgrad``,
        ``adamax``, ``nadam``, ``radam``, ``sgd``, ``rmsprop``, ``adagrad``
        and the others of :data:`numadam.METHODS`.
    args : tuple, optional
        Extra arguments passed whole to ``fun`` and ``jac`` after the batch.
    options : dict, optional
        The method's hyperparameters under torch.optim's keyword names (see
        :func:`show_options`; ``lr`` may be a schedule from
        :mod:`numadam.schedules` or any callable of the step count;
        ``clip_norm`` and ``clip_value`` clip the gradient) and the loop's:

        maxiter : int, default 10000 (unlimited when ``epochs`` is given)
            Maximum number of steps.
        gtol : float, default 1e-5
            Stop when the Euclidean norm of the gradient (before clipping;
            the minibatch gradient with ``data``) is ``<= gtol``, tested
            before each step; ``0`` disables the test.  With ``bounds``, the
            components that the box blocks are left out of the norm, as
            L-BFGS-B's ``pgtol`` does.
        epochs : int, optional
            With ``data``: stop after this many passes over the samples.
        batch_size : int, default 32
            With ``data``: samples per minibatch, >= 1; a larger one gives one
            batch of all the samples per epoch.  The last batch of an epoch
            holds the remaining ``n % batch_size`` samples ...
        drop_last : bool, default False
            ... unless this drops it (each epoch then has
            ``n // batch_size`` full batches; a ``batch_size`` larger than
            the number of samples is then a ``ValueError``).
        shuffle : bool, default True
            With ``data``: draw a new random order of the samples at the
            start of every epoch (else batches are consecutive samples).
        history : int, default 0
            Record ``step, epoch, loss, grad_norm, lr`` every ``history``
            steps (and at the last iterate) into ``result.history``; 0: off.
        patience : int, optional
            Stop (status 4, success) when the bias-corrected exponential
            moving average of the loss has not improved by more than
            ``min_delta`` for ``patience`` steps in a row.
        ema : float, default 0.99
            Smoothing factor of that moving average, in [0, 1).
        min_delta : float, default 0
            The improvement that counts, >= 0.
        disp : bool, default False
            Show a progress bar with the current loss on stderr (tqdm if it
            is installed, plain text otherwise) and print a summary at the
            end; nothing is printed when False.
        nan_policy : {"stop", "raise", "skip"}, default "stop"
            What a NaN or infinite gradient or objective does (the gradient
            is checked before every step, at no extra cost, the objective
            whenever it is evaluated, the final iterate included): end the
            run with status 3 (``x`` is the last iterate, finite), raise
            ``FloatingPointError`` naming the iteration, or skip the step and
            go on (counted in ``nit`` and in ``result.nskip``; a run without
            ``data`` that ends on a non-finite value has status 3).
        checkpoint : str or path-like, optional
            Write the whole state of the run to this ``.npz`` file every
            ``checkpoint_every`` iterations and when the run ends (atomically;
            not after a NaN or infinite value stopped it: the last file
            before it is kept, to resume from with other options).
        checkpoint_every : int, default 1000
            Iterations between checkpoints.
        resume : str or path-like, optional
            Continue the run saved in this checkpoint.  Options not given
            here come from the checkpoint (so ``resume`` alone continues the
            saved run, and with the same ``fun``, ``jac``, ``data`` and
            ``rng`` the iterates are bitwise those of a run that never
            stopped); options given take effect from the resumed step on
            (``lr``, ``maxiter``, ...) and ``result.resumed["changed"]``
            lists them.  ``x0`` gives the shape and dtype, the iterate comes
            from the file.  Refused before anything is loaded: a corrupted
            file, another method, shape, dtype, data set (a fingerprint of
            its bytes is recorded) or batching, other ``bounds``, another
            ``rng`` seed, and changes of ``batch_size``, ``shuffle``,
            ``drop_last``, ``history``, ``patience``, ``ema``,
            ``min_delta`` or of options that shape the state (``amsgrad``).
            The ``checkpoint`` option is not inherited.

        An option the method does not take raises ``TypeError``; a value out
        of range raises ``ValueError``.
    callback : callable, optional
        Called after each step, as ``callback(intermediate_result)`` (an
        :class:`~scipy.optimize.OptimizeResult` with ``x``, ``fun``, ``nit``
        and, with ``data``, ``epoch``) if its only parameter is named
        ``intermediate_result``, else as ``callback(xk)`` with a copy of the
        iterate.  Without ``data``, ``fun`` is the objective at ``x`` (and
        ``jac`` its gradient); with ``data`` it is the loss of the minibatch
        just used, at ``x`` (evaluated for the callback).  The callback is
        called by keyword, ``callback(intermediate_result=...)``, as SciPy
        does.  Raising ``StopIteration`` ends the run with status 99.
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Box constraints, one pair per element of ``x0`` (``None`` for no
        bound).  ``x0`` is projected onto the box, and so is every iterate
        after its step (projected gradient method).
    data : array_like or tuple of array_like, optional
        Per-sample data, arrays sharing axis 0 (e.g. ``(X, y)``).  Each step
        passes one minibatch of them to ``fun``/``jac``, as
        ``fun(x, X_batch, y_batch, *args)``.  With shuffling, the batch
        arrays are buffers that the next step overwrites.  ``scipy.sparse``
        matrices and arrays are taken too (as CSR; a minibatch is a row
        slice, a new sparse matrix per step).
    rng : int, numpy.random.Generator or None, optional
        Seed of the run's randomness.  numadam spawns two independent
        generators from it: one shuffles the minibatches, the other is
        passed as ``rng=`` to ``fun``/``jac`` when they accept it (a
        stochastic gradient that draws its own noise).  The same ``rng``
        gives the same run, bit for bit, on any number of threads.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"`` runs the loop on an NVIDIA GPU: ``x0`` (a host array or
        any array with ``__cuda_array_interface__``) is copied to the device
        once, ``fun``/``jac`` receive the iterate as a numba device array and
        must return the gradient as a device array of its shape and dtype,
        and the optimizer's state stays on the device; per step the host
        reads the gradient norm (one float, for ``gtol`` and the non-finite
        test).  ``result.x`` is then a numba device array
        (``result.x.copy_to_host()``).  Available there: the method's
        options, ``maxiter``, ``gtol``, ``history``, ``nan_policy``,
        ``bounds``, ``callback`` (which receives the device iterate);
        ``data``, ``patience``, ``disp`` and checkpoints are CPU-only.
        Without a usable GPU, ``"cuda"`` raises ``RuntimeError``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (``x0``'s shape and dtype), ``fun`` and ``jac`` at ``x`` (on
        the whole data set, in one call, with ``data``), ``nit``
        (iterations: steps taken, plus steps skipped by
        ``nan_policy="skip"``, counted in ``nskip``), ``nfev``, ``njev``,
        ``status``, ``success``, ``message``, ``method``; ``epoch``
        (iterations / batches per epoch) with ``data``; ``resumed`` (``path``,
        ``nit`` and ``changed`` options) with ``resume``; ``history`` (arrays
        ``step, epoch, loss, grad_norm, lr``) when requested; with ``data``
        its last record holds the whole data set's loss.  Status codes (see :data:`STATUS_MESSAGES`):

        * 0 -- the gradient norm fell to ``gtol`` or below (success);
        * 1 -- ``maxiter`` steps were taken;
        * 2 -- ``epochs`` epochs were completed;
        * 3 -- the objective or the gradient was NaN or infinite at ``x``;
          no step was taken with it (or, rarely, an update overflowed: the
          elements concerned kept their values);
        * 4 -- the smoothed loss stopped improving (``patience``; success);
        * 99 -- the callback raised ``StopIteration``.

    See Also
    --------
    numadam.Adam : the stateful optimizer that runs each step.
    numadam.schedules : learning-rate schedules.
    numadam.plot : convergence curves from ``result.history``.
    show_options : every method's options and defaults.

    Notes
    -----
    **The compiled loop.**  When ``fun`` and ``jac`` (or ``fun`` with
    ``jac=True``) are ``numba.njit`` functions, the whole loop -- evaluation,
    stopping tests, schedule, clipping, the fused step, the projection onto
    ``bounds``, history, ``nan_policy`` -- runs in one nopython function with
    no Python between iterations, and gives bitwise the iterates of the
    ordinary loop (``result.compiled`` says which ran; the option
    ``compiled`` is ``"auto"`` (default), ``True`` to insist, ``False`` to
    force the ordinary loop).  It falls back to the ordinary loop, with the
    same results, when something needs Python between iterations: a
    ``callback``, ``data`` (minibatches), ``patience``, ``disp``,
    ``checkpoint``/``resume``, an ``rng`` parameter of ``fun``/``jac``, or
    a gradient whose dtype or layout differs from ``x0``'s (the ordinary loop
    converts it).  The first call for a given method and ``fun`` compiles the
    loop (about a second); a schedule is tabulated in Python in chunks of
    65536 steps, which costs about a microsecond per step.

    With a separate ``jac``, the methods do not need the objective to step:
    ``fun`` is called once at ``x0`` as a check (as scipy does: a broken
    ``fun`` fails before the run; not counted in ``nfev`` unless its value is
    used there) and then evaluated only where its value is used (the final
    iterate, a new-style callback, history records, the patience rule,
    progress refreshes), so ``nfev`` stays small.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method="adam",
    ...                        options={"lr": 1e-2, "maxiter": 20000})
    >>> bool(np.allclose(res.x, [1.0, 1.0], atol=1e-3))
    True

    Least squares on minibatches, with a schedule:

    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> def loss(w, Xb, yb):
    ...     r = Xb @ w - yb
    ...     return 0.5 * np.mean(r * r), Xb.T @ r / len(yb)
    >>> res = numadam.minimize(loss, True, np.zeros(3), data=(X, y), rng=1,
    ...     options={"lr": numadam.schedules.cosine(0.1, 3200), "epochs": 100,
    ...              "batch_size": 32, "gtol": 0})
    >>> res.status, bool(np.allclose(res.x, [1.0, -2.0, 0.5], atol=1e-3))
    (2, True)
    """
    if x0 is _NO_X0 or not (jac is True or callable(jac)) and _looks_like_x0(jac):
        raise TypeError(
            "minimize takes (fun, jac, x0): the gradient second, then x0, where "
            "scipy.optimize.minimize takes (fun, x0, jac=...); got "
            + ("no x0" if x0 is _NO_X0 else f"x0={x0!r}")
            + f" and jac a {type(jac).__name__}: call numadam.minimize(fun, jac, x0) "
            "(jac=True when fun returns (f, g))")
    if not isinstance(args, tuple):
        args = (args,)
    from ._cabi import is_pointer
    if is_pointer(fun):
        _check_c_objective(fun, jac, args, data, device)
        fused = True
    else:
        fused = _check_functions(fun, jac)
    spec = get_method(method)
    if options is None:
        options = {}
    elif not isinstance(options, dict):
        raise TypeError(f"options must be a dict; got {type(options).__name__}")
    options = dict(options)
    if isinstance(options.get("state_dtype"), str) and "state_dtype" in spec.defaults:
        # its spellings ("INT8") as the one name the run's paths compare with
        from ._lowp import check_state_dtype
        options["state_dtype"] = check_state_dtype("state_dtype", options["state_dtype"])
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    from ._structured import structure_of
    st0 = structure_of(x0)
    if st0 is not None:
        nd = spec.rule.ndim
        wrong = [(n, s) for n, s in zip(st0.names, st0.shapes) if nd is not None
                 and len(s) != nd]
        if wrong:   # (the optimizers' advice, parameter groups, is not minimize's)
            raise ValueError(
                f"x0[{wrong[0][0]!r}]: method {spec.name!r} updates {nd}-D arrays "
                f"(matrices); got shape {tuple(wrong[0][1])}. minimize runs one method "
                "over every array of x0: give it only matrices, or run the stateful "
                "optimizer with a parameter group of another method for the others in "
                "your own loop: numadam.Optimizer([{'params': matrices}, {'params': "
                f"others, 'method': 'adamw'}}], method={spec.name!r})")
        if device != "cpu":
            raise ValueError("device: minimize over several arrays (x0 a dict or a list of "
                             "arrays) runs on the CPU; on the GPU give one array")
        if is_pointer(fun):
            raise TypeError("x0: a C objective takes one array (n, x, grad, user_data); "
                            "give x0 as one array")
    if device == "cuda":
        from ._device_minimize import minimize_device
        return minimize_device(fun, jac, x0, spec, args, options, callback, bounds, data)
    saved = None
    if options.get("resume") is not None:
        from ._inputs import check_path
        from ._resume import _read_resume
        check_path("resume", options["resume"])
        saved = _read_resume(options["resume"], spec)
    given = {k: v for k, v in options.items() if k != "resume"}
    if saved is not None:
        options = {**saved["options"], **options}   # the call's options win
    spec.check_known(options, loop=MINIMIZE_OPTIONS)
    loop = _loop_options(options, data is not None)
    if data is not None and spec.full_batch:
        import warnings
        warnings.warn(f"method {spec.name!r} is a full-batch method: it adapts each "
                      "step size to the sign of consecutive gradients, which minibatch "
                      "noise flips at random; give it the whole data set (fun with "
                      "args=..., no data=) or use a stochastic method such as adam",
                      UserWarning, stacklevel=2)
    return _run(fun, jac, fused, x0, spec, args, options, loop, callback, bounds, data,
                rng, saved, given)


def _run(fun, jac, fused, x0, spec, args, options, loop, callback, bounds, data, rng,
         saved, given):
    """Build the run's pieces from checked options and run the loop."""
    import os

    from ._driver import HostSource, Run
    from ._optimizers import Optimizer
    from ._structured import structure_of
    st = structure_of(x0)
    x = _as_x0(x0 if st is None else st.start)
    from ._cabi import from_pointer, is_pointer
    if is_pointer(fun):   # called through ctypes outside the compiled loop
        fun = from_pointer(fun, x.dtype).python()
    flat_njit = flat_opt = False
    if st is not None:   # several arrays: the run over one flat array, see _structured
        if bounds is not None:
            bounds = st.bounds(bounds)
        # a resume steps the checkpoint's optimizer: a flat one (the compiled
        # path's) or one over the arrays (the ordinary loop's), the same steps
        saved_flat = (None if saved is None
                      else "structure" not in saved["meta"].get("optimizer", {}))
        funcs = _structured_functions(st, fun, jac, fused, args, spec, options,
                                      loop, flat=saved_flat is not False)
        fun, jac, flat_njit = funcs
        flat_opt = flat_njit or bool(saved_flat)
        callback = st.wrap_callback(callback)
    box = None if bounds is None else _bounds(bounds, x)
    style = _callback_style(callback)
    root = _as_rng(rng)
    shuffle_rng, user_rng = root.spawn(2)
    batches = None
    if data is not None:
        from ._data import Batches
        batches = Batches(data, loop["batch_size"], loop["shuffle"], loop["drop_last"],
                          shuffle_rng)
    if st is None or flat_opt:   # (an elementwise method: the same steps)
        opt = Optimizer(x, method=spec.name, **options)
    else:   # per-array semantics (cautious, LAMB) over views of the flat iterate
        opt = Optimizer(st.views(x), method=spec.name, **options)
        opt._use_flat(x)
    fkw = {"rng": user_rng} if _takes_rng(fun) else {}
    jkw = {"rng": user_rng} if not fused and _takes_rng(jac) else {}
    out, out_at = None, _out_position(fun if fused else jac)
    blocked = ((["a method whose step is not one elementwise pass"] if spec.two_pass
                else [])
               + (["x0 of several arrays (with Python functions, a dict, a cautious "
                   "method or int8 state, or resuming a checkpoint of the ordinary "
                   "loop)"] if st is not None and not flat_njit else []))
    compiled = _compiled_path(fun, jac, fused, loop, callback, data, bool(fkw or jkw),
                              out_at is None or out_at == 1 + len(args), blocked)
    if out_at is not None:   # numpy's out=: the gradient is written into one array
        out = np.empty(x.shape, x.dtype)
        (fkw if fused else jkw)["out"] = out
    src = HostSource(fun, jac, fused, args, x, opt, box, fkw, jkw)
    src.user_rng, src.out = user_rng, out
    run = Run(src, loop, spec.name, callback, style, batches)
    changed = {}
    if loop["checkpoint"] is not None or saved is not None:
        from ._resume import RunCheckpoint, _changed_options
        ckpt = RunCheckpoint(run, loop, spec, root, rng is not None, saved, st)
        if loop["checkpoint"] is not None:
            run.checkpoint = ckpt
        if saved is not None:
            changed = _changed_options(saved["options"], given)
            ckpt.resume(loop["resume"])
    if compiled:
        from ._compiled import run_compiled
    result = run.run(run_compiled if compiled else None)
    if st is not None:
        result.x = st.copies(result.x)
        if result.get("jac") is not None:
            result.jac = st.copies(result.jac)
    if saved is not None:
        result.resumed = {"path": os.fspath(loop["resume"]),
                          "nit": int(saved["meta"]["nit"]), "changed": changed}
    return result


def _structured_functions(st, fun, jac, fused, args, spec, options, loop, flat=True):
    """``(fun, jac, compiled)`` over the flat iterate of several arrays: njit
    functions over a tuple of arrays become njit functions of the flat array
    (the compiled loop inlines them) when the method's step is one
    elementwise pass (so the flat optimizer takes the same steps: not with
    int8 state, whose blocks and full-precision fallback are per array) and
    ``flat`` (not when resuming a checkpoint of the optimizer over the
    arrays), else Python wrappers (see :mod:`numadam._structured`)."""
    from ._inputs import _out_position
    if (flat and loop["compiled"] is not False and not spec.two_pass
            and not options.get("cautious", False)
            and options.get("state_dtype") != "int8"):   # (its blocks are per array)
        grad = fun if fused else jac
        g = st.njit_flat(grad, len(args), bool(fused), _out_position(grad), "gradient")
        f = g if fused else st.njit_flat(fun, len(args), None, None, "fun")
        if g is not None and f is not None:
            return f, (jac if fused else g), True
    return (st.wrap(fun, True if fused else None, "fun's gradient"),
            jac if fused else st.wrap(jac, False, "jac"), False)


def scipy_method(method="adam"):
    """A numadam method for ``scipy.optimize.minimize(method=...)``.

    SciPy accepts a callable as its ``method``; this returns one that runs
    :func:`minimize` with the named numadam method, so existing SciPy code can
    switch to Adam by changing one argument.

    Parameters
    ----------
    method : str, default "adam"
        A numadam method name (see :func:`show_options`).

    Returns
    -------
    callable
        ``custom(fun, x0, args=(), jac=None, hess=None, hessp=None,
        bounds=None, constraints=(), callback=None, **options)``, the
        signature SciPy calls.  ``options`` are numadam's (``lr``,
        ``maxiter``, ...); SciPy's ``tol`` becomes ``gtol`` unless ``gtol``
        is given.  A gradient is required (``jac`` callable or True);
        constraints and Hessians are refused.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import minimize, rosen, rosen_der
    >>> res = minimize(rosen, [-1.2, 1.0], jac=rosen_der,
    ...                method=numadam.scipy_method("adam"),
    ...                options={"lr": 1e-2, "maxiter": 20000})
    >>> bool(np.allclose(res.x, 1.0, atol=1e-3))
    True
    """
    name = get_method(method).name

    def custom(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
               constraints=(), callback=None, **options):
        if constraints not in (None, (), []):
            raise ValueError(f"numadam's {name!r} does not take constraints; "
                             "use bounds, or a constrained SciPy method")
        if hess is not None or hessp is not None:
            raise TypeError(f"numadam's {name!r} is a first-order method; it "
                            "takes no hess or hessp")
        if jac is None or isinstance(jac, str):
            raise TypeError(
                f"numadam's {name!r} needs the gradient: pass jac=callable (the "
                "gradient) or jac=True (fun returns (f, g)); SciPy's finite-difference "
                f"jac ('2-point', '3-point', 'cs' or None) is not supported; got {jac!r}")
        tol = options.pop("tol", None)
        if tol is not None:
            options.setdefault("gtol", tol)
        return minimize(fun, jac, x0, method=name, args=args, options=options,
                        callback=callback, bounds=bounds)

    custom.__name__ = custom.__qualname__ = f"numadam_{name}"
    custom.__doc__ = f"numadam's {name!r} in scipy.optimize.minimize's custom-method form."
    return custom


# x0 is required: its default only lets a call in scipy's argument order get an
# error that says so (see minimize's first check)
minimize.__signature__ = inspect.signature(minimize).replace(parameters=[
    p.replace(default=inspect.Parameter.empty) if p.name == "x0" else p
    for p in inspect.signature(minimize).parameters.values()])
