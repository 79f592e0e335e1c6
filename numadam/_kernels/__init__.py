"""Kernels: everything numba compiles.

- ``generate``: writes every method's kernels (serial, parallel, guarded
  element update, CUDA) from the one per-element ``update`` function of its
  declaration in :mod:`numadam._methods`, into a content-hashed module in
  the cache directory;
- ``_math``: the helpers the update functions share (the gradient's
  preprocessing, the moments, the non-finite test), plain Python that the
  generator inlines;
- ``_scalars``: the per-step scalars (bias corrections, step sizes, the clip
  factor, the stopping test), plain Python compiled where they are used;
- ``cpu``: what the generated CPU kernels share (chunking, the int32 count,
  the serial/parallel choice), the gradient norms and the projection;
- ``loop``: ``minimize``'s whole loop in nopython mode, for compiled
  objectives; ``cached_loop`` writes it per method variant and feature set,
  its objective called through a C pointer (``_pointers``);
- ``many_loop``: ``minimize_many``'s loop, generated per method variant,
  feature set and objective (inlined), problems stepped in blocks;
- ``cuda``: the ``numba.cuda`` kernels (also on the CUDA simulator).

Importing this package imports nothing heavy; :func:`load_cpu` imports the CPU
kernel module (and numba) on first use.
"""


def load_cpu():
    """The :mod:`numadam._kernels.cpu` module, imported on first use."""
    from . import cpu as module
    return module
