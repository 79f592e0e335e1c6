"""Kernels: per-element math (``_math``) and the CPU loops over it (``cpu``).

Importing this package imports nothing heavy; :func:`load_cpu` imports the CPU
kernel module (and numba) on first use.
"""


def load_cpu():
    """The :mod:`numadam._kernels.cpu` module, imported on first use."""
    from . import cpu as module
    return module
