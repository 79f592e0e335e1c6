"""numadam: the Adam family of optimizers as fused Numba kernels.

``numadam.minimize(fun, jac, x0, method="adamw")`` minimises with SciPy's
conventions; ``numadam.Adam(x)`` and friends are stateful optimizers for
your own loop.  Importing numadam compiles nothing: each kernel compiles on
first use (and is cached on disk).
"""
from . import schedules
from ._many import MANY_STATUS_MESSAGES, minimize_many
from ._methods import METHODS, show_options
from ._minimize import STATUS_MESSAGES, minimize, scipy_method
from .plotting import plot
from ._optimizers import (ADOPT, ASGD, SGD, AdaBelief, Adadelta, Adagrad, Adam, Adamax,
                          AdamW, AdEMAMix, Adan, AMSGrad, LAMB, Lion, NAdam, Optimizer,
                          Muon, Prodigy, RAdam, RMSprop, Rprop, ScheduleFreeAdamW, Yogi,
                          Adafactor)

__version__ = "0.1.0"

__all__ = ["minimize", "minimize_many", "MANY_STATUS_MESSAGES", "scipy_method", "show_options", "plot", "METHODS", "STATUS_MESSAGES",
           "Optimizer", "Adam", "AdamW", "AMSGrad", "Adamax", "NAdam", "RAdam",
           "SGD", "RMSprop", "Adagrad", "ScheduleFreeAdamW", "Adadelta", "Rprop", "ASGD", "Lion", "ADOPT", "AdEMAMix", "AdaBelief", "Yogi",
           "Adan", "LAMB", "Prodigy", "Muon", "Adafactor", "schedules",
           "__version__"]


def __getattr__(name):
    # ``numadam.cuda`` is imported on first use: numba.cuda stays unimported
    if name == "cuda":
        import importlib
        return importlib.import_module(".cuda", __name__)
    raise AttributeError(f"module 'numadam' has no attribute {name!r}")
