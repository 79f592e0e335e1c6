"""Learning-rate schedules: plain callables of the step count.

A schedule maps the step count ``k`` -- the number of steps taken before the
one it sets, so ``k = 0`` for the first step, as in optax -- to a learning
rate.  Pass one as ``lr`` to :func:`numadam.minimize` (``options={"lr":
schedule}``) or to a stateful optimizer (``numadam.Adam(x, lr=schedule)``);
any callable ``lr(k) -> float`` works too.  Schedules are pure functions of
``k``: a run resumed from a checkpoint at step ``k`` continues the schedule
where it was.  Every schedule refuses a step count that is negative or not
an integer (a bool, a string, ``2.5``); an integral NumPy integer or float
(``np.int64(3)``, ``3.0``) is taken as that int.

Every schedule here has a ``__repr__`` that rebuilds it and a ``params``
dict of its arguments.

Examples
--------
>>> from numadam import schedules
>>> s = schedules.warmup(schedules.cosine(1e-3, decay_steps=1000), warmup_steps=100)
>>> s(0), s(50), s(100), s(600), s(1100)
(0.0, 0.0005, 0.001, 0.0005, 0.0)
"""
import math
import numbers

import numpy as np

from ._numbers import as_int

__all__ = ["Schedule", "constant", "step_decay", "exponential", "inverse_sqrt",
           "cosine", "one_cycle", "warmup", "check_lr"]


def _number(name, value, low=None, low_open=False, high=None, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {value}")
    return value


def _count(name, value, low=1):
    return as_int(name, value, low)


def _step_count(k):
    """The step count ``k`` as a Python int, refused unless an integer >= 0."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Real):
        raise TypeError(f"the step count k must be an integer >= 0; got {k!r} "
                        f"of type {type(k).__name__}")
    if isinstance(k, numbers.Integral):
        k = int(k)
    else:
        f = float(k)
        if not f.is_integer():
            raise ValueError(f"the step count k must be an integer >= 0; got {k!r}, "
                             "which is not integral")
        k = int(f)
    if k < 0:
        raise ValueError(f"the step count k must be an integer >= 0; got {k}")
    return k


class Schedule:
    """Base class: a learning rate as a function of the step count ``k``.

    Subclasses implement :meth:`lr`; calling the schedule checks ``k``
    once, here, and passes it to :meth:`lr` as a Python int (so an integral
    NumPy integer or an integral float such as ``3.0`` gives exactly the
    value of ``3``).  A schedule of your own class serves everywhere but in
    checkpoints (``save``, minimize's ``checkpoint``), which hold this
    module's schedules by name and parameters and refuse another class.

    Raises
    ------
    TypeError
        When called with a step count that is not a real number, or is a
        bool.
    ValueError
        When called with a negative step count or a non-integral one
        (``2.5``, NaN, an infinity).

    Examples
    --------
    >>> from numadam.schedules import Schedule
    >>> class halving(Schedule):
    ...     def __init__(self, lr):
    ...         self._params = {"lr": lr}
    ...     def lr(self, k):
    ...         return self._params["lr"] / 2 ** k
    >>> s = halving(1.0)
    >>> s(0), s(3), s
    (1.0, 0.125, numadam.schedules.halving(lr=1.0))
    >>> s(-1)
    Traceback (most recent call last):
    ...
    ValueError: the step count k must be an integer >= 0; got -1
    """

    def __call__(self, k):
        if type(k) is not int or k < 0:     # the fast path: a plain int >= 0
            k = _step_count(k)
        return self.lr(k)

    def lr(self, k):
        """The learning rate of the step taken after ``k`` steps.

        Called by ``schedule(k)`` with ``k`` already checked: a Python
        int >= 0.
        """
        raise NotImplementedError

    @property
    def params(self):
        """The arguments the schedule was built with."""
        return dict(self._params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        cls = type(self)   # (a class of the user's by its own module)
        where = ("numadam.schedules" if cls.__module__ == __name__
                 else f"{cls.__module__}")
        return f"{where}.{cls.__qualname__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self._params == other._params

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._params.items())))


class constant(Schedule):
    """``lr`` at every step.

    Parameters
    ----------
    lr : float
        The learning rate, >= 0.

    Examples
    --------
    >>> from numadam.schedules import constant
    >>> constant(1e-3)(0), constant(1e-3)(10**6)
    (0.001, 0.001)
    """

    def __init__(self, lr):
        self._lr = _number("lr", lr, 0)
        self._params = {"lr": self._lr}

    def lr(self, k):
        return self._lr


class step_decay(Schedule):
    """``lr * gamma**(k // step_size)`` (torch's ``StepLR``).

    Parameters
    ----------
    lr : float
        Initial learning rate, >= 0.
    step_size : int
        Steps between decays, >= 1.
    gamma : float, default 0.1
        Decay factor, in (0, 1].

    Examples
    --------
    >>> from numadam.schedules import step_decay
    >>> s = step_decay(1.0, step_size=10, gamma=0.5)
    >>> s(0), s(9), s(10), s(25)
    (1.0, 1.0, 0.5, 0.25)
    """

    def __init__(self, lr, step_size, gamma=0.1):
        self._lr = _number("lr", lr, 0)
        self._step = _count("step_size", step_size)
        self._gamma = _number("gamma", gamma, 0, low_open=True, high=1)
        self._params = {"lr": self._lr, "step_size": self._step, "gamma": self._gamma}

    def lr(self, k):
        return self._lr * self._gamma ** (k // self._step)


class exponential(Schedule):
    """``lr * gamma**k`` (torch's ``ExponentialLR``, per step).

    Parameters
    ----------
    lr : float
        Initial learning rate, >= 0.
    gamma : float
        Decay factor per step, in (0, 1].

    Examples
    --------
    >>> from numadam.schedules import exponential
    >>> s = exponential(1.0, gamma=0.5)
    >>> s(0), s(1), s(3)
    (1.0, 0.5, 0.125)
    """

    def __init__(self, lr, gamma):
        self._lr = _number("lr", lr, 0)
        self._gamma = _number("gamma", gamma, 0, low_open=True, high=1)
        self._params = {"lr": self._lr, "gamma": self._gamma}

    def lr(self, k):
        return self._lr * self._gamma ** k


class inverse_sqrt(Schedule):
    """``lr / sqrt(k + 1)``: alpha/sqrt(t) of Kingma & Ba's logistic regression.

    Parameters
    ----------
    lr : float
        The learning rate of the first step, >= 0.

    Examples
    --------
    >>> from numadam.schedules import inverse_sqrt
    >>> s = inverse_sqrt(0.1)
    >>> s(0), round(s(3), 6), round(s(99), 6)
    (0.1, 0.05, 0.01)
    """

    def __init__(self, lr):
        self._lr = _number("lr", lr, 0)
        self._params = {"lr": self._lr}

    def lr(self, k):
        return self._lr / math.sqrt(k + 1)


class cosine(Schedule):
    """Cosine decay from ``lr`` to ``end_lr`` over ``decay_steps`` steps.

    ``end_lr + (lr - end_lr) * 0.5 * (1 + cos(pi * min(k, T) / T))`` with
    ``T = decay_steps``; ``end_lr`` from step ``T`` on.

    Parameters
    ----------
    lr : float
        Initial (peak) learning rate, >= 0.
    decay_steps : int
        ``T``, >= 1.
    end_lr : float, default 0
        Final learning rate, >= 0.

    Examples
    --------
    >>> from numadam.schedules import cosine
    >>> s = cosine(1e-2, decay_steps=100, end_lr=1e-4)
    >>> s(0), round(s(50), 6), s(100), s(1000)
    (0.01, 0.00505, 0.0001, 0.0001)
    """

    def __init__(self, lr, decay_steps, end_lr=0.0):
        self._lr = _number("lr", lr, 0)
        self._t = _count("decay_steps", decay_steps)
        self._end = _number("end_lr", end_lr, 0)
        self._params = {"lr": self._lr, "decay_steps": self._t, "end_lr": self._end}

    def lr(self, k):
        frac = min(k, self._t) / self._t
        return self._end + (self._lr - self._end) * 0.5 * (1.0 + math.cos(math.pi * frac))


class one_cycle(Schedule):
    """The one-cycle policy (Smith, 2018) in torch's ``OneCycleLR`` form.

    From ``max_lr / div_factor`` up to ``max_lr`` over the first
    ``pct_start * total_steps - 1`` steps, then down to
    ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``,
    each phase annealed by a cosine (or linearly); the final value after.

    Parameters
    ----------
    max_lr : float
        Peak learning rate, >= 0.
    total_steps : int
        Length of the cycle, >= 2.
    pct_start : float, default 0.3
        Fraction of the cycle spent increasing, in (0, 1).
    div_factor : float, default 25
        ``initial_lr = max_lr / div_factor``, >= 1.
    final_div_factor : float, default 1e4
        ``final_lr = initial_lr / final_div_factor``, >= 1.
    anneal : {"cos", "linear"}, default "cos"
        Shape of each phase.

    Examples
    --------
    >>> from numadam.schedules import one_cycle
    >>> s = one_cycle(1.0, total_steps=100, pct_start=0.5, div_factor=10,
    ...               final_div_factor=100)
    >>> round(s(0), 9), round(s(49), 9), round(s(99), 9)
    (0.1, 1.0, 0.001)
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4, anneal="cos"):
        self._max = _number("max_lr", max_lr, 0)
        self._total = _count("total_steps", total_steps, 2)
        self._pct = _number("pct_start", pct_start, 0, low_open=True, high=1, high_open=True)
        self._div = _number("div_factor", div_factor, 1)
        self._fdiv = _number("final_div_factor", final_div_factor, 1)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be 'cos' or 'linear'; got {anneal!r}")
        self._anneal = anneal
        self._params = {"max_lr": self._max, "total_steps": self._total,
                        "pct_start": self._pct, "div_factor": self._div,
                        "final_div_factor": self._fdiv, "anneal": anneal}
        self._initial = self._max / self._div
        self._final = self._initial / self._fdiv
        self._up_end = self._pct * self._total - 1.0
        if self._up_end <= 0 or self._up_end >= self._total - 1:
            raise ValueError("pct_start * total_steps must leave at least one step "
                             f"in each phase; got pct_start={self._pct}, "
                             f"total_steps={self._total}")

    def _interp(self, start, end, pct):
        if self._anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
        return (end - start) * pct + start

    def lr(self, k):
        last = self._total - 1
        if k <= self._up_end:
            return self._interp(self._initial, self._max, k / self._up_end)
        if k >= last:
            return self._final
        return self._interp(self._max, self._final,
                            (k - self._up_end) / (last - self._up_end))


class warmup(Schedule):
    """Linear warmup from ``init_lr`` joined in front of another schedule.

    For ``k < warmup_steps``: ``init_lr + (peak - init_lr) * k / warmup_steps``
    with ``peak = schedule(0)``; from then on ``schedule(k - warmup_steps)``.

    Parameters
    ----------
    schedule : Schedule, callable or float
        What follows the warmup; a float means a constant learning rate.
    warmup_steps : int
        Length of the warmup, >= 1.
    init_lr : float, default 0
        Learning rate of the first step, >= 0.

    Examples
    --------
    >>> from numadam.schedules import warmup
    >>> s = warmup(1e-3, warmup_steps=10)
    >>> s(0), s(5), s(10), s(10**6)
    (0.0, 0.0005, 0.001, 0.001)
    """

    def __init__(self, schedule, warmup_steps, init_lr=0.0):
        if not callable(schedule):
            schedule = constant(schedule)
        self._after = schedule
        self._w = _count("warmup_steps", warmup_steps)
        self._init = _number("init_lr", init_lr, 0)
        self._peak = check_lr(schedule, 0)
        self._params = {"schedule": schedule, "warmup_steps": self._w, "init_lr": self._init}

    def lr(self, k):
        if k < self._w:
            return self._init + (self._peak - self._init) * k / self._w
        return self._after(k - self._w)


def check_lr(schedule, k):
    """``schedule(k)`` as a float, refused unless finite and >= 0.

    Parameters
    ----------
    schedule : callable
        A learning-rate schedule.
    k : int
        The step count.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        When the schedule returns something that is not a real number.
    ValueError
        When it returns NaN, an infinity or a negative number.

    Examples
    --------
    >>> from numadam.schedules import check_lr, cosine
    >>> check_lr(cosine(1e-3, 10), 5)
    0.0005
    >>> check_lr(lambda k: -1.0, 0)
    Traceback (most recent call last):
    ...
    ValueError: the lr schedule <function <lambda> at ...> returned -1.0 at step 0; expected a finite learning rate >= 0
    """
    value = schedule(k)
    try:
        lr = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"the lr schedule {schedule!r} returned {value!r} at step "
                        f"{k}; expected a real number") from None
    if not (lr >= 0 and math.isfinite(lr)):
        raise ValueError(f"the lr schedule {schedule!r} returned {lr} at step {k}; "
                         "expected a finite learning rate >= 0")
    return lr
