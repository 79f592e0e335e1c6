"""The method registry: name -> defaults, validation, state, per-step scalars.

Each method is one :class:`Method` instance in :data:`METHODS`.  An entry says
which options the method takes (torch.optim's keyword names and defaults),
how to check them, which state arrays it keeps, which fused kernel of
:mod:`numadam._kernels.cpu` runs its step, and how to compute that kernel's
step-dependent scalars (bias corrections, NAdam's mu products, RAdam's rho)
once per step, in float64, on the host.  Adding a method means one entry here,
one per-element function in ``_kernels/_math.py`` and one loop in
``_kernels/cpu.py``.
"""
import math
import numbers

import numpy as np

from . import _kernels
from ._kernels import _scalars

__all__ = ["METHODS", "Method", "get_method", "show_options"]


# --------------------------------------------------------------------------
# option checks: each returns the normalised value or raises naming the option
# --------------------------------------------------------------------------
def _real(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"option {name!r} must be a real number; got {value!r} "
                        f"of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"option {name!r} must be finite; got {value}")
    return value


def _positive(name, value):
    value = _real(name, value)
    if value <= 0:
        raise ValueError(f"option {name!r} must be > 0; got {value}")
    return value


def _nonnegative(name, value):
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"option {name!r} must be >= 0; got {value}")
    return value


def _unit(name, value):
    """A coefficient in [0, 1)."""
    value = _real(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"option {name!r} must be in [0, 1); got {value}")
    return value


def _closed_unit(name, value):
    value = _real(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"option {name!r} must be in [0, 1]; got {value}")
    return value


def _lr(name, value):
    """A learning rate > 0, or a schedule: any callable of the step count."""
    if callable(value):
        return value
    return _positive(name, value)


def _optional_positive(name, value):
    return None if value is None else _positive(name, value)


def _nan_policy(name, value):
    if value not in ("raise", "skip"):
        raise ValueError(f"option {name!r} of a stateful optimizer must be 'raise' or "
                         f"'skip'; got {value!r}")
    return value


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"option {name!r} must be True or False; got {value!r}")
    return bool(value)


def _betas(name, value):
    if not isinstance(value, (tuple, list, np.ndarray)):
        raise TypeError(f"option {name!r} must be a pair (beta1, beta2), a tuple or "
                        f"list; got {type(value).__name__} {value!r}")
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise TypeError(f"option {name!r} must be a pair (beta1, beta2); "
                        f"got {value!r}") from None
    return (_unit(f"{name}[0]", b1), _unit(f"{name}[1]", b2))


_CHECKS = {
    "lr": _lr,
    "clip_norm": _optional_positive,
    "clip_value": _optional_positive,
    "nan_policy": _nan_policy,
    "betas": _betas,
    "eps": _positive,
    "weight_decay": _nonnegative,
    "amsgrad": _flag,
    "maximize": _flag,
    "decoupled_weight_decay": _flag,
    "momentum": _unit,
    "dampening": _closed_unit,
    "nesterov": _flag,
    "alpha": _unit,
    "centered": _flag,
    "lr_decay": _nonnegative,
    "initial_accumulator_value": _nonnegative,
    "momentum_decay": _nonnegative,
}

#: the options of numadam.minimize's loop (the rest of ``options`` belongs to the
#: method); minimize_many takes maxiter, gtol and nan_policy of them
#: minimize's own (loop) options, every method's: name -> (default, meaning).
#: minimize takes its defaults from here; show_options and the docs print it.
LOOP_OPTIONS = {
    "maxiter": (10000, "most steps to take (unlimited when epochs is given and maxiter "
                       "is not)"),
    "gtol": (1e-5, "stop when the gradient norm is <= gtol; 0 runs all maxiter steps"),
    "epochs": (None, "passes over the data to make (with data)"),
    "batch_size": (32, "samples per minibatch (with data)"),
    "shuffle": (True, "a new sample order every epoch (with data)"),
    "drop_last": (False, "leave out an epoch's last, smaller batch (with data)"),
    "history": (0, "record step, epoch, loss, grad_norm and lr every k steps into "
                   "result.history (0: off)"),
    "patience": (None, "stop after this many steps without improvement of the smoothed "
                       "loss (None: off)"),
    "ema": (0.99, "decay of the loss's moving average that patience watches, in [0, 1)"),
    "min_delta": (0.0, "improvement of the smoothed loss that patience counts, >= 0"),
    "disp": (False, "show a progress bar with the loss"),
    "nan_policy": ("stop", "a non-finite objective or gradient: 'stop' (status 3), "
                           "'raise' or 'skip' the step"),
    "checkpoint": (None, "file to save the run's whole state to (None: no checkpoints)"),
    "checkpoint_every": (1000, "steps between checkpoints"),
    "resume": (None, "checkpoint file to resume the run from, bit for bit"),
    "compiled": ("auto", "run the whole loop compiled: 'auto' (when fun and jac are "
                         "numba.njit functions and nothing needs Python), True or False"),
}
MINIMIZE_OPTIONS = tuple(LOOP_OPTIONS)

#: other libraries' spellings of numadam's options (SciPy, torch, optax, Keras)
_SPELLINGS = {"tol": "gtol", "maxfun": "maxiter", "maxfev": "maxiter",
              "max_iter": "maxiter", "n_iter": "maxiter", "learning_rate": "lr", "step_size": "lr",
              "epsilon": "eps", "beta1": "betas", "beta2": "betas",
              "b1": "betas", "b2": "betas", "max_norm": "clip_norm",
              "clipnorm": "clip_norm", "clipvalue": "clip_value", "verbose": "disp",
              "epoch": "epochs", "batchsize": "batch_size"}

_DESCRIPTIONS = {
    "lr": "learning rate (step size), or a schedule: a callable of the step "
          "count (see numadam.schedules)",
    "clip_norm": "clip the gradient by its global norm: if ||g|| > clip_norm, "
                 "g *= clip_norm/||g|| (None: off)",
    "clip_value": "clip every gradient component into [-clip_value, clip_value] "
                  "after any norm clipping (None: off)",
    "nan_policy": "what a non-finite gradient does: 'raise' (default) or 'skip' "
                  "the step; minimize also takes 'stop' (its default)",
    "betas": "decay rates of the first and second moment estimates, each in [0, 1)",
    "eps": "term added to the denominator for numerical stability, > 0",
    "weight_decay": "weight decay coefficient, >= 0",
    "amsgrad": "use the running maximum of the second moment (AMSGrad)",
    "maximize": "maximize the objective instead of minimizing",
    "decoupled_weight_decay": "decay the parameters directly (AdamW-style) "
                              "instead of adding an L2 term to the gradient",
    "momentum": "momentum factor, in [0, 1)",
    "dampening": "dampening of the momentum, in [0, 1]",
    "nesterov": "use Nesterov momentum (needs momentum > 0 and dampening 0)",
    "alpha": "smoothing constant of the squared-gradient average, in [0, 1)",
    "centered": "normalise by the estimated variance of the gradient",
    "lr_decay": "learning-rate decay: lr / (1 + (t - 1) * lr_decay)",
    "initial_accumulator_value": "starting value of the sum of squares, >= 0",
    "momentum_decay": "NAdam's momentum decay psi, >= 0",
}


class Method:
    """One optimisation method: options, state, kernel and per-step scalars.

    Subclasses implement :meth:`state_names`, :meth:`kernel` and
    :meth:`scalars`; instances are listed in :data:`METHODS`.
    """

    def __init__(self, name, title, defaults, reference, fixed=None):
        self.name = name
        self.title = title
        self.defaults = dict(defaults, clip_norm=None, clip_value=None,
                             nan_policy="raise")
        self.reference = reference
        #: options this method sets itself (e.g. adamw's decoupled decay)
        self.fixed = dict(fixed or {})

    # -- options --------------------------------------------------------
    def resolve(self, options):
        """Defaults overlaid with ``options``, every value checked.

        Raises ``TypeError`` for an option this method does not take and
        ``ValueError`` / ``TypeError`` for a value out of its range.
        """
        self.check_known(options)
        opts = dict(self.defaults)
        opts.update(options)
        for key, value in opts.items():
            opts[key] = _CHECKS[key](key, value)
        opts.update(self.fixed)
        self.check(opts)
        return opts

    def check_known(self, options, loop=()):
        """Refuse an option name that neither this method nor ``loop`` (the
        loop options of the caller, e.g. minimize's) takes.

        The ``TypeError`` names the option, says whether it belongs to other
        methods, suggests the closest valid name (or numadam's name for a
        SciPy/torch spelling such as ``tol``) and lists the valid names.
        """
        valid = set(self.defaults) | set(loop)
        unknown = [k for k in options if k not in valid]
        if not unknown:
            return
        name = unknown[0]
        listed = ", ".join(sorted(valid))
        if name in _CHECKS:
            others = sorted(m.name for m in METHODS.values() if name in m.defaults)
            raise TypeError(f"option {name!r} is not an option of method {self.name!r} "
                            f"(it is one of {', '.join(others)}); {self.name!r} takes "
                            f"{listed}")
        if not isinstance(name, str):
            raise TypeError(f"option names must be strings; got {name!r}")
        if not loop and name in MINIMIZE_OPTIONS:
            raise TypeError(f"option {name!r} belongs to numadam.minimize's loop, not to "
                            f"the stateful optimizer of method {self.name!r} (you run "
                            "the loop); it takes " + listed)
        message = f"unknown option {name!r} for method {self.name!r}"
        alias = _SPELLINGS.get(name.lower())
        if alias in valid:
            message += f"; did you mean {alias!r}? (numadam's name for {name!r})"
        else:
            import difflib
            close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        raise TypeError(f"{message} Valid options: {listed}" if message.endswith(")")
                        or message.endswith("?") else f"{message}. Valid options: {listed}")

    def check(self, opts):
        """Checks that involve several options (none by default)."""

    # -- state ----------------------------------------------------------
    def state_names(self, opts):
        """Names of the per-parameter state arrays (torch's names)."""
        raise NotImplementedError

    def init_state(self, opts, flat):
        """Fresh state arrays (zeros) shaped like the flat parameters."""
        return {name: np.zeros_like(flat) for name in self.state_names(opts)}

    #: names of the scalar state kept on the host between steps
    host_names = ()

    #: state arrays that can never be negative (second moments, accumulators)
    NONNEGATIVE = ("exp_avg_sq", "max_exp_avg_sq", "exp_inf", "square_avg", "sum")

    def check_state_values(self, opts, state, host, t):
        """Refuse loaded state that no run of this method can reach.

        Every array finite; second moments and accumulators ``>= 0``; the
        bias-correction products ``beta**t`` in ``[0, 1]`` (1 before the
        first step); NAdam's mu product in ``(0, 1]``.  Raises ``ValueError``
        naming the offending entry.
        """
        for name, arr in state.items():
            arr = np.asarray(arr)
            if not np.isfinite(arr).all():
                i = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
                raise ValueError(f"state[{name!r}] holds a non-finite value (element "
                                 f"{i}: {arr.reshape(-1)[i]})")
            if name in self.NONNEGATIVE and (arr < 0).any():
                i = int(np.flatnonzero(arr.reshape(-1) < 0)[0])
                raise ValueError(f"state[{name!r}] must be >= 0 (a second moment or "
                                 f"accumulator); element {i} is {arr.reshape(-1)[i]}")
        for name, value in zip(self.host_names, host):
            if not math.isfinite(value):
                raise ValueError(f"host[{name!r}] must be finite; got {value}")
            if name in ("beta1_power", "beta2_power"):
                if not 0.0 <= value <= 1.0 or (t == 0 and value != 1.0):
                    raise ValueError(
                        f"host[{name!r}] is {value!r}: a product of betas, it must be "
                        "in [0, 1]" + (" and 1 before the first step" if t == 0 else ""))
            elif not 0.0 < value <= 1.0:
                raise ValueError(f"host[{name!r}] must be in (0, 1]; got {value!r}")

    def init_host(self, opts):
        """Scalar state kept on the host (NAdam's mu product), a tuple."""
        return ()

    # -- the step -------------------------------------------------------
    def kernel(self, opts):
        """The :class:`numadam._kernels.cpu.KernelPair` running the step.

        The kernel module (and numba) is imported here, on first use, so that
        ``import numadam`` stays fast.
        """
        raise NotImplementedError

    def kernel_arrays(self, opts, state, flat):
        """The state arrays in the order the kernel takes them."""
        return tuple(state[name] for name in self.state_names(opts))

    def scalar_fn(self, opts):
        """The function of :mod:`numadam._kernels._scalars` for this step.

        Called as ``fn(self.hyper(opts), t, lr, gscale, host)``, it returns
        the kernel's scalar arguments of step ``t`` and the new host state.
        """
        raise NotImplementedError

    def hyper(self, opts):
        """The constants the scalar function reads, as a tuple."""
        raise NotImplementedError

    @staticmethod
    def _common(opts):
        clip = opts["clip_value"]
        return (opts["maximize"], math.inf if clip is None else clip,
                opts["weight_decay"])

    # -- documentation --------------------------------------------------
    def options_doc(self):
        """One line per option: name, default and meaning."""
        lines = [f"{self.name}: {self.title}", f"    {self.reference}"]
        for key, default in self.defaults.items():
            lines.append(f"    {key} = {default!r}: {_DESCRIPTIONS[key]}")
        for key, value in self.fixed.items():
            lines.append(f"    ({key} is always {value!r} for this method)")
        return "\n".join(lines)

    def __repr__(self):
        return f"<numadam method {self.name!r}>"


_BETAS = (0.9, 0.999)


class _AdamFamily(Method):
    host_names = ("beta1_power", "beta2_power")

    def init_host(self, opts):
        return (1.0, 1.0)

    def state_names(self, opts):
        names = ("exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if opts["amsgrad"] else names

    def kernel(self, opts):
        k = _kernels.load_cpu()
        return k.ADAM_AMSGRAD if opts["amsgrad"] else k.ADAM

    def hyper(self, opts):
        return self._common(opts) + (opts["decoupled_weight_decay"], *opts["betas"],
                                     opts["eps"])

    def scalar_fn(self, opts):
        return _scalars.adam


class _Adamax(Method):
    host_names = ("beta1_power",)

    def init_host(self, opts):
        return (1.0,)

    def state_names(self, opts):
        return ("exp_avg", "exp_inf")

    def kernel(self, opts):
        return _kernels.load_cpu().ADAMAX

    def hyper(self, opts):
        return self._common(opts) + (*opts["betas"], opts["eps"])

    def scalar_fn(self, opts):
        return _scalars.adamax


class _NAdam(Method):
    def state_names(self, opts):
        return ("exp_avg", "exp_avg_sq")

    host_names = ("mu_product", "beta2_power")

    def init_host(self, opts):
        return (1.0, 1.0)

    def kernel(self, opts):
        return _kernels.load_cpu().NADAM

    def hyper(self, opts):
        return self._common(opts) + (opts["decoupled_weight_decay"], *opts["betas"],
                                     opts["eps"], opts["momentum_decay"])

    def scalar_fn(self, opts):
        return _scalars.nadam


class _RAdam(Method):
    host_names = ("beta1_power", "beta2_power")

    def init_host(self, opts):
        return (1.0, 1.0)

    def state_names(self, opts):
        return ("exp_avg", "exp_avg_sq")

    def kernel(self, opts):
        return _kernels.load_cpu().RADAM

    def hyper(self, opts):
        return self._common(opts) + (opts["decoupled_weight_decay"], *opts["betas"],
                                     opts["eps"])

    def scalar_fn(self, opts):
        return _scalars.radam


class _SGD(Method):
    def check(self, opts):
        if opts["nesterov"] and (opts["momentum"] <= 0 or opts["dampening"] != 0):
            raise ValueError("option 'nesterov' requires momentum > 0 and "
                             f"dampening = 0; got momentum={opts['momentum']}, "
                             f"dampening={opts['dampening']}")

    def state_names(self, opts):
        return ("momentum_buffer",) if opts["momentum"] > 0 else ()

    def kernel(self, opts):
        k = _kernels.load_cpu()
        return k.SGD_MOMENTUM if opts["momentum"] > 0 else k.SGD

    def hyper(self, opts):
        return (self._common(opts) if opts["momentum"] <= 0 else self._common(opts)
                + (opts["momentum"], opts["dampening"], opts["nesterov"]))

    def scalar_fn(self, opts):
        return _scalars.sgd_momentum if opts["momentum"] > 0 else _scalars.sgd


class _RMSprop(Method):
    def state_names(self, opts):
        names = ("square_avg",)
        if opts["centered"]:
            names += ("grad_avg",)
        if opts["momentum"] > 0:
            names += ("momentum_buffer",)
        return names

    def kernel(self, opts):
        return _kernels.load_cpu().RMSPROP

    def kernel_arrays(self, opts, state, flat):
        empty = flat[:0]
        return (state["square_avg"], state.get("grad_avg", empty),
                state.get("momentum_buffer", empty))

    def hyper(self, opts):
        return self._common(opts) + (opts["alpha"], opts["eps"], opts["centered"],
                                     opts["momentum"])

    def scalar_fn(self, opts):
        return _scalars.rmsprop


class _Adagrad(Method):
    def state_names(self, opts):
        return ("sum",)

    def init_state(self, opts, flat):
        return {"sum": np.full_like(flat, opts["initial_accumulator_value"])}

    def kernel(self, opts):
        return _kernels.load_cpu().ADAGRAD

    def hyper(self, opts):
        return self._common(opts) + (opts["lr_decay"], opts["eps"])

    def scalar_fn(self, opts):
        return _scalars.adagrad


_KB = "Kingma & Ba (2014), Adam: A Method for Stochastic Optimization"

METHODS = {m.name: m for m in (
    _AdamFamily(
        "adam", "Adam",
        dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled_weight_decay=False, maximize=False),
        _KB + ", Algorithm 1; torch.optim.Adam"),
    _AdamFamily(
        "adamw", "AdamW (Adam with decoupled weight decay)",
        dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=1e-2, amsgrad=False,
             maximize=False),
        "Loshchilov & Hutter (2019), Decoupled Weight Decay Regularization; "
        "torch.optim.AdamW",
        fixed=dict(decoupled_weight_decay=True)),
    _AdamFamily(
        "amsgrad", "AMSGrad (Adam with the running maximum of v)",
        dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0,
             decoupled_weight_decay=False, maximize=False),
        "Reddi, Kale & Kumar (2018), On the Convergence of Adam and Beyond; "
        "torch.optim.Adam(amsgrad=True)",
        fixed=dict(amsgrad=True)),
    _Adamax(
        "adamax", "Adamax (Adam with the infinity norm)",
        dict(lr=2e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0, maximize=False),
        _KB + ", Algorithm 2; torch.optim.Adamax"),
    _NAdam(
        "nadam", "NAdam (Adam with Nesterov momentum)",
        dict(lr=2e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0,
             momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False),
        "Dozat (2016), Incorporating Nesterov Momentum into Adam; "
        "torch.optim.NAdam"),
    _RAdam(
        "radam", "RAdam (rectified Adam)",
        dict(lr=1e-3, betas=_BETAS, eps=1e-8, weight_decay=0.0,
             decoupled_weight_decay=False, maximize=False),
        "Liu et al. (2020), On the Variance of the Adaptive Learning Rate and "
        "Beyond; torch.optim.RAdam"),
    _SGD(
        "sgd", "SGD with optional (Nesterov) momentum",
        dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, maximize=False),
        "Robbins & Monro (1951); Sutskever et al. (2013) for Nesterov "
        "momentum; torch.optim.SGD"),
    _RMSprop(
        "rmsprop", "RMSprop, optionally centered",
        dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
             centered=False, maximize=False),
        "Tieleman & Hinton (2012), Lecture 6.5; Graves (2013) for the centered "
        "form; torch.optim.RMSprop"),
    _Adagrad(
        "adagrad", "Adagrad",
        dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
             initial_accumulator_value=0.0, eps=1e-10, maximize=False),
        "Duchi, Hazan & Singer (2011), Adaptive Subgradient Methods; "
        "torch.optim.Adagrad"),
)}


def get_method(method):
    """The registry entry of ``method`` (a name, case-insensitive)."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string naming one of "
                        f"{', '.join(METHODS)}; got {method!r}")
    try:
        return METHODS[method.lower()]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of "
                         f"{', '.join(METHODS)}") from None


def loop_options_doc():
    """The text of minimize's loop options, one line each with its default."""
    lines = ["numadam.minimize's loop options (every method; see help(numadam.minimize)):"]
    lines += [f"    {name} = {default!r}: {meaning}"
              for name, (default, meaning) in LOOP_OPTIONS.items()]
    return "\n".join(lines)


def show_options(method=None, disp=True):
    """Show the options of one method, or of all methods.

    Parameters
    ----------
    method : str, optional
        A method name (see :data:`numadam.METHODS`); all methods when None.
    disp : bool, default True
        Print the text; otherwise return it.

    Returns
    -------
    str or None
        The text when ``disp`` is False.

    Examples
    --------
    >>> import numadam
    >>> text = numadam.show_options("adam", disp=False)
    >>> "betas = (0.9, 0.999)" in text
    True
    >>> "checkpoint_every = 1000" in text
    True
    """
    entries = METHODS.values() if method is None else [get_method(method)]
    text = "\n\n".join(m.options_doc() for m in entries)
    text += "\n\n" + loop_options_doc()
    if disp:
        print(text)
        return None
    return text
