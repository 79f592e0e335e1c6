"""Convergence plots of :func:`numadam.minimize` results (matplotlib, lazily)."""
import numbers

import numpy as np

__all__ = ["plot"]

_X = ("step", "epoch")
_Y = ("loss", "grad_norm", "lr")
_YLABEL = {"loss": "loss", "grad_norm": "gradient norm", "lr": "learning rate"}


def _results(results, OptimizeResult):
    """``(results as a list, their names)``, refusing what is not results."""
    if isinstance(results, OptimizeResult):
        results = [results]
    names = None
    if isinstance(results, dict):
        where = [f"results[{k!r}]" for k in results]
        names = [str(k) for k in results]
        results = list(results.values())
    elif isinstance(results, (list, tuple)):
        results = list(results)
        where = [f"results[{i}]" for i in range(len(results))]
    else:
        raise TypeError("results must be an OptimizeResult of numadam.minimize, a list of "
                        f"them or a dict label -> result; got {type(results).__name__}")
    for w, r in zip(where, results):
        if not isinstance(r, OptimizeResult):
            raise TypeError(f"{w} is a {type(r).__name__}, not an OptimizeResult of "
                            "numadam.minimize")
    if names is None:
        names = [r.get("method") or f"run {i}" for i, r in enumerate(results)]
    return results, names


def plot(results, x="step", y="loss", labels=None, ax=None, logy=None, smooth=None,
         title=None, filename=None):
    """Draw convergence curves of one or several results.

    Uses ``result.history`` (run :func:`numadam.minimize` with
    ``options={"history": k}``).  Works headless: without ``ax`` it draws on
    a new :class:`matplotlib.figure.Figure` with the Agg canvas, not pyplot.

    Parameters
    ----------
    results : OptimizeResult, sequence of them, or dict of label -> result
        What to draw, one line each.
    x : {"step", "epoch"}, default "step"
        Horizontal axis.  ``"epoch"`` needs results of runs with ``data``
        (they carry ``result.epoch``); a run without data has no epochs and
        is refused (plot it with ``x="step"``).
    y : {"loss", "grad_norm", "lr"}, default "loss"
        Vertical axis.
    labels : sequence of str, optional
        Legend entries; default: the dict's keys, else each result's method.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of on a new figure.
    logy : bool, optional
        Logarithmic vertical axis; by default when every value is positive
        and they span more than a decade.  With ``logy=True`` a result none
        of whose (finite) values is positive -- the losses of a maximize
        run, say -- is refused; when only some values are zero or negative,
        those are left out (gaps in the curve) with a warning.
    smooth : float, optional
        Also smooth each curve with an exponential moving average of this
        factor in [0, 1) (bias-corrected), for noisy minibatch losses.
        Non-finite values (NaN, infinite losses) are skipped: the average
        carries over them and its bias correction counts only the finite
        values, so each one leaves a one-point gap in the smoothed curve.
        Under ``logy=True`` the values left out are skipped likewise.
    title : str, optional
        Axes title.
    filename : str or path, optional
        Save the figure there (PNG, PDF, SVG, ... by extension).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TypeError
        When ``results`` (or one of its entries) is not an ``OptimizeResult``,
        or ``smooth`` is not a number.
    ValueError
        For a bad ``x``, ``y`` or ``smooth``; a result without history;
        ``x="epoch"`` for a result run without ``data``; ``logy=True`` for a
        result with no positive value.

    Warns
    -----
    UserWarning
        With ``logy=True``, when some values are zero or negative and are
        left out.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> from scipy.optimize import rosen, rosen_der
    >>> runs = {m: numadam.minimize(rosen, rosen_der, [-1.2, 1.0], method=m,
    ...                             options={"lr": 1e-2, "maxiter": 500, "history": 10})
    ...         for m in ("adam", "adamax")}
    >>> ax = numadam.plot(runs)
    >>> len(ax.get_lines())
    2
    """
    if x not in _X:
        raise ValueError(f"x must be one of {_X}; got {x!r}")
    if y not in _Y:
        raise ValueError(f"y must be one of {_Y}; got {y!r}")
    if smooth is not None:
        what = f"smooth must be a number in [0, 1) or None; got {smooth!r}"
        if isinstance(smooth, (bool, np.bool_)) or not isinstance(smooth, numbers.Real):
            raise TypeError(what)
        if not 0 <= smooth < 1:
            raise ValueError(what)
    from scipy.optimize import OptimizeResult

    results, names = _results(results, OptimizeResult)
    if labels is not None:
        if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
            raise TypeError(f"labels must be a list of strings, one per result; got "
                            f"{labels!r}")
        labels = list(labels)
        if len(labels) != len(results):
            raise ValueError(f"labels has {len(labels)} entries for {len(results)} results")
        names = [str(s) for s in labels]
    if not results:
        raise ValueError("results is empty: nothing to plot")
    for name, r in zip(names, results):
        if not isinstance(r, OptimizeResult) or r.get("history") is None:
            raise ValueError(f"result {name!r} has no history: run minimize with "
                             "options={'history': k} to record every k steps")
        if x == "epoch" and "epoch" not in r:
            raise ValueError(f"x='epoch': result {name!r} has no epochs (it was run "
                             "without data, so its history's epoch is just the step); "
                             "plot it with x='step'")
    curves = [(np.asarray(r.history[x], float), np.asarray(r.history[y], float))
              for r in results]
    if logy:
        curves = _positive_only(curves, names, y)
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    positive = True
    lo, hi = np.inf, -np.inf
    for name, (xs, ys) in zip(names, curves):
        finite = ys[np.isfinite(ys)]
        if finite.size:
            positive &= bool(np.all(finite > 0))
            lo, hi = min(lo, finite.min()), max(hi, finite.max())
        if smooth:
            line, = ax.plot(xs, ys, alpha=0.25)
            ax.plot(xs, _ema(ys, smooth), color=line.get_color(), label=name)
        else:
            ax.plot(xs, ys, label=name)
    if logy is None:
        logy = positive and np.isfinite(lo) and hi > 10 * lo
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(_YLABEL[y])
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(True, alpha=0.3)
    if filename is not None:
        ax.figure.savefig(filename, dpi=120)
    return ax


def _positive_only(curves, names, y):
    """For a log axis: refuse a curve with no positive value, blank the rest's others."""
    what = {"loss": "losses", "grad_norm": "gradient norms", "lr": "learning rates"}[y]
    out, dropped = [], []
    for name, (xs, ys) in zip(names, curves):
        finite = np.isfinite(ys)
        bad = finite & ~(ys > 0)
        if finite.any() and not (ys[finite] > 0).any():
            hint = (" (a maximize run?): plot it with logy=False, or plot -loss"
                    if y == "loss" else ": plot it with logy=False")
            raise ValueError(f"logy=True: the {what} of result {name!r} are not positive "
                             f"(none of its {int(finite.sum())} finite values is > 0)"
                             f"{hint}")
        if bad.any():
            dropped.append(f"{int(bad.sum())} of {ys.size} in result {name!r}")
            ys = np.where(bad, np.nan, ys)
        out.append((xs, ys))
    if dropped:
        import warnings
        warnings.warn(f"logy=True: {what} <= 0 cannot be drawn on a log axis and are left "
                      f"out ({'; '.join(dropped)}); plot with logy=False to see them",
                      UserWarning, stacklevel=3)
    return out


def _ema(ys, beta):
    """Bias-corrected EMA that skips non-finite values (NaN out there, state kept)."""
    out = np.full_like(ys, np.nan)
    s, n = 0.0, 0
    for i, v in enumerate(ys):
        if not np.isfinite(v):
            continue
        n += 1
        s = beta * s + (1 - beta) * v
        out[i] = s / (1 - beta ** n)
    return out
