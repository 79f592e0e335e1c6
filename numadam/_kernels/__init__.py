"""Kernels: everything numba compiles.

- ``_math``: the per-element update of every method (one function and its
  guarded ``_at`` twin each), shared by the CPU and CUDA kernels;
- ``_scalars``: the per-step scalars (bias corrections, step sizes, the clip
  factor, the stopping test), plain Python compiled where they are used;
- ``cpu``: the serial and ``prange`` CPU kernels and the gradient norms;
- ``loop``: the whole loop in nopython mode, for compiled objectives
  (``minimize``'s compiled loop and ``minimize_many``);
- ``cuda``: the ``numba.cuda`` kernels (also on the CUDA simulator).

Importing this package imports nothing heavy; :func:`load_cpu` imports the CPU
kernel module (and numba) on first use.
"""


def load_cpu():
    """The :mod:`numadam._kernels.cpu` module, imported on first use."""
    from . import cpu as module
    return module
