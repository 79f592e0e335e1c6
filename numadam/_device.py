"""Device (CUDA) support of the stateful optimizers.

An optimizer whose ``params`` exposes ``__cuda_array_interface__`` (a numba
device array, a CuPy array, a PyTorch CUDA tensor) keeps its state in device
memory and runs the CUDA kernels of :mod:`numadam._kernels.cuda`; the
parameters are updated in place through a zero-copy view.  Per step the host
sends the step's scalars and reads one counter (the non-finite guard's), from
mapped memory.
"""
import math

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_numba_device_array(a):
    # numba's own device arrays, including the CUDA simulator's (which have no
    # __cuda_array_interface__)
    return type(a).__name__ in ("DeviceNDArray", "FakeCUDAArray", "MappedNDArray")


def is_device_array(a):
    """Whether ``a`` is a device array numadam can update (CUDA array interface)."""
    return not isinstance(a, np.ndarray) and (
        hasattr(a, "__cuda_array_interface__") or _is_numba_device_array(a))


def as_device(a, name):
    """A numba device-array view of ``a`` (zero copy), checked like params."""
    from numba import cuda
    iface = getattr(a, "__cuda_array_interface__", {})
    try:
        view = a if _is_numba_device_array(a) else cuda.as_cuda_array(a)
    except Exception as exc:  # noqa: BLE001 - report what it was
        raise TypeError(f"{name} exposes __cuda_array_interface__ but is not a usable "
                        f"CUDA array: {exc}") from None
    if view.dtype not in _FLOATS:
        raise TypeError(f"{name} must have dtype float32 or float64; got {view.dtype}")
    if view.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not view.is_c_contiguous():
        raise ValueError(f"{name} must be a C-contiguous device array; got strides "
                         f"{view.strides}")
    if iface.get("data", (0, False))[1]:
        raise ValueError(f"{name} is a read-only device array")
    return view


class DeviceState:
    """What a device optimizer keeps besides its state arrays."""

    def __init__(self, n, dtype):
        from numba import cuda

        from ._kernels import cuda as K
        self.K = K
        self.cuda = cuda
        self.T = np.dtype(dtype).type
        self.config = K.launch_config(n)
        self.bad = cuda.mapped_array(1, np.int64)
        self.parts, self.out = K.sumsq_buffers(n)

    def zeros(self, n, value=0.0):
        a = self.cuda.device_array(n, dtype=self.T)
        self.K.fill[self.config](a, self.T(value))
        return a

    def sumsq(self, g, box=None, x=None, gsign=1.0):
        """``sum(g**2)``; with ``box`` and ``x``, over the components the box
        does not block (see :func:`numadam._kernels.cuda.sumsq`)."""
        return self.K.sumsq(g, self.parts, self.out, box, x, gsign)

    def norm(self, g, box=None, x=None, gsign=1.0):
        """``(s, r)`` with ``||g|| = s * r``, as the CPU norm kernels: ``s = 1``
        unless the float64 sum of squares overflowed for a finite gradient;
        then the CPU's rescaled second pass, on a host copy (rare: an element
        over 1.3e154).  With ``box`` and ``x``: the projected gradient's."""
        total = self.sumsq(g, box, x, gsign)
        if total < math.inf:
            return 1.0, math.sqrt(total)
        from ._kernels import cpu
        h = g.copy_to_host()
        if box is None:
            return cpu._rescaled(h, h, h, h, 1.0, False, total)
        return cpu._rescaled(x.copy_to_host(), h, box[0].copy_to_host(),
                             box[1].copy_to_host(), gsign, True, total)

    def agree(self, kernels, flat, g, arrays, scalars):
        """The count pass of a cautious variant on the device (how many
        elements' update agrees in sign with the gradient)."""
        return self._counted(kernels.cuda_agree, flat, g, arrays, scalars)

    def first(self, kernels, flat, g, arrays, scalars, k):
        """The first pass of a two-pass rule on the device: ``(bad, sums)``,
        the ``k`` sums added on the host in thread order (deterministic for a
        launch configuration)."""
        T = self.T
        typed = tuple(s if isinstance(s, (bool, np.bool_)) else T(s) for s in scalars)
        threads = self.config[0] * self.config[1]
        if getattr(self, "_parts", None) is None or self._parts.shape != (k, threads):
            self._parts = self.cuda.device_array((k, threads), np.float64)
        self.bad[0] = 0
        with self.K.wrapping():
            kernels.cuda_first[self.config](flat, g, *arrays, self.bad, self._parts,
                                            *typed, T(0))
        self.cuda.synchronize()
        parts = self._parts.copy_to_host()
        total = [0.0] * k
        for j in range(k):
            for v in parts[j]:
                total[j] += float(v)
        return int(self.bad[0]), tuple(total)

    def launch(self, kernels, flat, g, arrays, scalars):
        """Run the CUDA kernel of a method's generated ``kernels``
        (:class:`numadam._kernels.generate.MethodKernels`); returns the guard's
        count."""
        return self._counted(kernels.cuda, flat, g, arrays, scalars,
                             kernels.cuda_config(self.config, flat.size))

    def _counted(self, kernel, flat, g, arrays, scalars, config=None):
        """Launch ``kernel(x, g, *states, count, *scalars, zero)``; the count."""
        T = self.T
        typed = tuple(s if isinstance(s, (bool, np.bool_)) else T(s) for s in scalars)
        self.bad[0] = 0
        with self.K.wrapping():
            kernel[config or self.config](flat, g, *arrays, self.bad, *typed, T(0))
        self.cuda.synchronize()
        return int(self.bad[0])

    def check_grad(self, grad, params_view, name="grad"):
        if not is_device_array(grad):
            raise TypeError(f"{name} must be a device array like params (it exposes "
                            f"__cuda_array_interface__); got {type(grad).__name__}. "
                            "numadam does not copy gradients between host and device")
        g = as_device(grad, name) if grad is not params_view else grad
        if g.shape != params_view.shape:
            raise ValueError(f"{name} must have the parameters' shape "
                             f"{params_view.shape}; got shape {g.shape}")
        if g.dtype != params_view.dtype:
            raise TypeError(f"{name} must have the parameters' dtype "
                            f"{params_view.dtype} (device arrays are not converted); "
                            f"got {g.dtype}")
        return g.reshape(g.size)

    def check_finite(self, flat, name):
        if not math.isfinite(self.norm(flat)[1]):
            raise ValueError(f"{name} contains NaN or infinity")
