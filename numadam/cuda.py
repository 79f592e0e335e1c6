"""numadam on NVIDIA GPUs, through numba.cuda.

Hand a stateful optimizer any array that exposes ``__cuda_array_interface__``
(a numba device array, a CuPy array, a PyTorch CUDA tensor): it keeps its
state in device memory and updates the array in place with the CUDA kernels
of :mod:`numadam._kernels.cuda`, which call the same per-element functions as
the CPU kernels::

    import cupy, numadam
    x = cupy.zeros(10**8, dtype=cupy.float32)
    opt = numadam.AdamW(x, lr=1e-3)
    opt.step(grad)              # grad: a device array of x's shape and dtype

The GPU path is optional: numadam installs and runs without numba-cuda or a
GPU.  ``python -m pip install -e ".[cuda]"`` in a checkout pins a numba /
numba-cuda pair that works together.
"""

__all__ = ["is_available"]


def _require(what):
    """Raise RuntimeError, saying how to get a GPU path, unless one can run."""
    if not is_available():
        from ._install import install_hint
        raise RuntimeError(f"{what} needs a usable NVIDIA GPU and numba-cuda; "
                           f"numadam.cuda.is_available() is False here (on a machine "
                           f"with a GPU: {install_hint('cuda')})")


def is_available():
    """Whether numadam's CUDA kernels can run here.

    True when ``numba.cuda`` imports and finds a usable GPU (or when numba's
    CUDA simulator is enabled with ``NUMBA_ENABLE_CUDASIM=1``).  Never raises.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numadam.cuda
    >>> numadam.cuda.is_available() in (True, False)
    True
    """
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no driver, no toolkit, no numba-cuda
        return False
