"""The one check of an integer argument, shared by every entry point."""
import numbers

import numpy as np


def as_int(name, value, low=None, high=None):
    """``value`` as an ``int``, else a clear error naming ``name``.

    An integral float (``maxiter=1e3``, ``batch_size=32.0``) is taken as the
    integer it is, as SciPy takes it; a bool, a non-integral or non-finite
    number and anything else raises ``TypeError``; a value under ``low`` or
    over ``high`` (inclusive bounds) raises ``ValueError``.
    """
    if isinstance(value, (float, np.floating)) and np.isfinite(value) \
            and float(value).is_integer():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {value!r}")
    value = int(value)
    if low is not None and value < low:
        if high is not None:
            raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value}")
        raise ValueError(f"{name} must be >= {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value}")
    return value
