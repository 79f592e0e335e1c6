"""Option checks, names and descriptions shared by every method, and the
options of minimize's loop.

Each check returns the normalised value or raises naming the option; a
method's declaration names the shared options it takes (with its defaults)
and may add options of its own (with their check and description).
"""
import math
import numbers

import numpy as np

from .. import _lowp



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
    """A learning rate >= 0 (0 freezes the parameters, as torch.optim takes it),
    or a schedule: any callable of the step count."""
    if callable(value):
        return value
    return _nonnegative(name, value)


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


def betas_n(n):
    """The check of a tuple of ``n`` decay rates, each in [0, 1)."""
    def check(name, value):
        names = ", ".join(f"beta{k + 1}" for k in range(n))
        if not isinstance(value, (tuple, list, np.ndarray)):
            raise TypeError(f"option {name!r} must be a tuple ({names}), a tuple or "
                            f"list; got {type(value).__name__} {value!r}")
        if len(value) != n:
            raise TypeError(f"option {name!r} must hold {n} values ({names}); "
                            f"got {value!r}")
        return tuple(_unit(f"{name}[{k}]", b) for k, b in enumerate(value))
    return check


_CHECKS = {
    "lr": _lr,
    "clip_norm": _optional_positive,
    "clip_value": _optional_positive,
    "nan_policy": _nan_policy,
    "betas": _betas,
    "eps": _positive,
    "weight_decay": _nonnegative,
    "amsgrad": _flag,
    "cautious": _flag,
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
    "state_dtype": lambda name, value: _lowp.check_state_dtype(name, value),
    "stochastic_rounding": _flag,
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
    "cautious": "mask the update where its sign differs from the gradient's, rescaled "
                "by the fraction that agrees (Cautious Optimizers, timm's caution)",
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
    "state_dtype": "how the moment estimates are stored: None (the parameters' dtype), "
                   "'bfloat16' (half of float32's bytes) or 'int8' (blockwise 8-bit codes, "
                   "a quarter; arrays under 4096 elements keep full precision); the "
                   "arithmetic stays in the parameters' dtype",
    "stochastic_rounding": "round bfloat16 state stochastically (unbiased; the bits from "
                           "a hash of the step and the element: runs repeat bit for bit) "
                           "instead of to nearest",
}




def unknown_option_message(name, method, valid, listed):
    """The message for an unknown option ``name`` of ``method``: numadam's
    name for another library's spelling, or the closest valid name."""
    message = f"unknown option {name!r} for method {method!r}"
    alias = _SPELLINGS.get(name.lower())
    if alias in valid:
        message += f"; did you mean {alias!r}? (numadam's name for {name!r})"
    else:
        import difflib
        close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return (f"{message} Valid options: {listed}" if message.endswith((")", "?"))
            else f"{message}. Valid options: {listed}")
