"""The methods: each declared once, in its own module of this package.

A declaration (see :mod:`._declare`) is one :class:`Rule` -- the
per-element update, the per-step scalars, the state -- and the named
:class:`Method` entries that use it; every kernel is generated from the rule
(:mod:`numadam._kernels.generate`).  Adding a method means one new module
here (its declaration), one row in the test table ``tests/cases.py`` and
its docs page.  :mod:`._options` holds the option checks and descriptions
the methods share, and minimize's loop options.
"""
# the order of these imports is the order of numadam.METHODS
from . import adam  # noqa: F401, I001 - each module declares its methods
from . import adamax, nadam, radam, sgd, rmsprop, adagrad  # noqa: F401
from . import lion, adopt, ademamix, adabelief, yogi, adan  # noqa: F401
from . import adadelta, rprop, asgd  # noqa: F401
from . import schedule_free  # noqa: F401
from . import lamb, prodigy, muon, adafactor  # noqa: F401
from ._declare import (METHODS, PARAMS, Host, Method, Modes, Rule, State, common,
                       get_method, register, unregister)
from ._options import LOOP_OPTIONS, MINIMIZE_OPTIONS

__all__ = ["METHODS", "Method", "Rule", "State", "Host", "Modes", "PARAMS", "common", "get_method", "register",
           "unregister", "show_options", "LOOP_OPTIONS", "MINIMIZE_OPTIONS"]


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
