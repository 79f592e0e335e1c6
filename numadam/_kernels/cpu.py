"""CPU kernels besides the methods' steps, and the pieces those steps share.

Each method's fused step (serial loop, ``prange`` driver, guarded element
update) is generated from its declaration by :mod:`numadam._kernels.generate`;
they use the helpers here: the int32 guard count (:func:`_iadd32`), the
parallel chunking, the common-step test :func:`_plain`, and
:class:`KernelPair`, which picks the serial or the parallel kernel by size
(a parallel launch costs microseconds; the two break even near 1e4
elements) and serialises parallel launches under numba's ``workqueue``
layer.  Here too: the order-stable gradient norms (plain and projected, with
their overflow rescaling), the projection onto the box and the bench's
memory-traffic ceiling.  Every kernel uses ``error_model="numpy"`` (the
Python error model's division check stops vectorisation) and ``cache=True``;
nothing compiles at import.
"""
import contextlib
import threading
import types

import numpy as np
from numba import carray, njit, prange

from ._pointers import as_pointer

#: Arrays with at least this many elements use the parallel kernel.
PARALLEL_THRESHOLD = 32768


from numba.core import types as _types
from numba.extending import intrinsic


@intrinsic
def _iadd32(typingctx, a, b):
    """int32 + int32 -> int32 (numba's own integer addition widens to int64)."""
    sig = _types.int32(_types.int32, _types.int32)

    def codegen(context, builder, signature, args):
        return builder.add(args[0], args[1])
    return sig, codegen


_ZERO32 = np.int32(0)


@intrinsic
def _fma_zero(typingctx, a, c):
    """``a * 0 + c`` as one fused multiply-add (LLVM's ``llvm.fma``; float32 or
    float64, both of one type): the product is exact (a zero, or NaN when
    ``a`` is not finite), so it equals the two operations' result, in one
    instruction (LLVM does not contract them on its own).  ``c`` of another
    float type is converted to ``a``'s (the CUDA simulator's Python floats
    beside float32 values; ``c`` is a zero or NaN there, exact in both)."""
    from llvmlite import ir
    if not (isinstance(a, _types.Float) and isinstance(c, _types.Float)):
        return None
    sig = a(a, c)

    def codegen(context, builder, signature, args):
        cc = context.cast(builder, args[1], signature.args[1], signature.args[0])
        return builder.fma(args[0], ir.Constant(args[0].type, 0.0), cc)
    return sig, codegen


@intrinsic
def _float_to_bits(typingctx, a):
    """float32 -> its bits as uint32, in place (LLVM's bitcast)."""
    from llvmlite import ir
    sig = _types.uint32(_types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return sig, codegen


@intrinsic
def _bits_to_float(typingctx, u):
    """uint32 -> the float32 of those bits, in place."""
    from llvmlite import ir
    sig = _types.float32(_types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen




def _chunking(n):
    """(chunks, chunk size) for the parallel drivers: up to 64 chunks of at least
    16384 elements, each a multiple of 256 elements (an int8 state's block:
    a chunk holds whole blocks); numba's scheduler shares them among its
    threads."""
    nch = max(1, min(64, n // 16384))
    size = (n + nch - 1) // nch
    size = (size + 255) // 256 * 256
    nch = (n + size - 1) // size
    return nch, size


_chunking = njit(inline="always", error_model="numpy")(_chunking)


def _plain(gmul, clip, wd):
    """True for the common step: no sign flip or norm clipping, no clip by
    value, no coupled weight decay.

    The serial loops then run a second copy of the element loop that passes
    ``1``, ``inf`` and ``0`` for these scalars as constants: LLVM folds the
    multiplication by 1, the comparisons with inf and the decay test away.
    That is about 15% of a step where the step is compute-bound (arrays in
    cache, 1e4..1e6 elements); the results are bitwise those of the general
    loop, since ``1*g`` and ``clip(g, -inf, inf)`` are ``g``.
    """
    return gmul == 1 and clip == np.inf and wd == 0


_plain = njit(inline="always", error_model="numpy")(_plain)


SUMSQ_BLOCK = 8192


def _block_sumsq(g, lo, hi):
    """Sum of squares of ``g[lo:hi]`` in float64, four interleaved accumulators.

    Every element is widened to float64 before it is squared (``float()`` in
    numba keeps float32), so no finite float32 gradient overflows here.
    """
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    i = lo
    while i + 4 <= hi:
        g0 = np.float64(g[i])
        g1 = np.float64(g[i + 1])
        g2 = np.float64(g[i + 2])
        g3 = np.float64(g[i + 3])
        a0 += g0 * g0
        a1 += g1 * g1
        a2 += g2 * g2
        a3 += g3 * g3
        i += 4
    while i < hi:
        gi = np.float64(g[i])
        a0 += gi * gi
        i += 1
    return (a0 + a1) + (a2 + a3)


_block_sumsq = njit(inline="always", error_model="numpy")(_block_sumsq)


def _finite_or_zero(a):
    return a if a - a == 0.0 else 0.0


_finite_or_zero = njit(inline="always", error_model="numpy")(_finite_or_zero)


def _row_sum(a, n):
    """The float64 sum of the finite elements of ``a[:n]``, four interleaved
    accumulators (the first pass's block sums of two-pass rules: an element
    whose contribution is not finite adds nothing)."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    i = 0
    while i + 4 <= n:
        a0 += _finite_or_zero(a[i])
        a1 += _finite_or_zero(a[i + 1])
        a2 += _finite_or_zero(a[i + 2])
        a3 += _finite_or_zero(a[i + 3])
        i += 4
    while i < n:
        a0 += _finite_or_zero(a[i])
        i += 1
    return (a0 + a1) + (a2 + a3)


_row_sum = njit(inline="always", error_model="numpy")(_row_sum)


def _finish(x, g, lb, ub, gsign, bounded, total):
    """``(1, sqrt(total))``, or the rescaled norm when ``total`` overflowed."""
    if total < np.inf:
        return 1.0, np.sqrt(total)
    return _rescaled(x, g, lb, ub, gsign, bounded, total)


_finish = njit(inline="always", error_model="numpy")(_finish)


def norm_small(g):
    """:func:`norm` of an array of at most ``SUMSQ_BLOCK`` elements (one block),
    inlined into the compiled loops' per-problem code."""
    total = 0.0 + _block_sumsq(g, 0, g.size)
    if total < np.inf:
        return 1.0, np.sqrt(total)
    return _rescaled(g, g, g, g, 1.0, False, total)


norm_small = njit(inline="always", error_model="numpy")(norm_small)


def _extent(a):
    """The address range ``[lo, hi)`` that the elements of array ``a`` (any
    layout, strides of either sign; at least one element) occupy."""
    lo = hi = a.ctypes.data
    for d in range(a.ndim):
        span = (a.shape[d] - 1) * a.strides[d]
        if span < 0:
            lo += span
        else:
            hi += span
    return lo, hi + a.itemsize


def _copy_flat(flat, src):
    """``src``'s elements in C order into the 1-D array ``flat``."""
    for k, e in enumerate(src.flat):
        flat[k] = e


def copy_values(dst, src):
    """``dst[...] = src`` for a C-contiguous ``dst`` and an array ``src`` of its
    shape (any layout), element by element in C order, through a temporary
    where their memory overlaps (a view of ``dst`` returned as the gradient,
    reversed or transposed), as NumPy's assignment does; nothing when ``src``
    is ``dst`` itself.  A slice assignment would do the same, but numba
    compiles its broadcasting error message with the shapes formatted in:
    1.7-2.4 s of every compile that contains one (the compiled loops' copy of
    a returned gradient)."""
    n = src.size
    if n == 0 or (src.ctypes.data == dst.ctypes.data and src.strides == dst.strides):
        return
    flat = dst.reshape(n)
    lo, hi = _extent(src)
    start = dst.ctypes.data
    if lo < start + n * dst.itemsize and start < hi:
        tmp = np.empty(n, dst.dtype)
        _copy_flat(tmp, src)
        for k in range(n):
            flat[k] = tmp[k]
    else:
        _copy_flat(flat, src)


_extent = njit(inline="always", error_model="numpy")(_extent)
_copy_flat = njit(inline="always", error_model="numpy")(_copy_flat)
# (a call, not inlined into numba's IR: the loops evaluate the objective at
# several sites, and each inlined copy is typed again)
copy_values = njit(error_model="numpy")(copy_values)


def norm(g):
    """The Euclidean norm of a 1-D array as ``(s, r)``: ``||g|| = s * r``.

    ``s`` is 1 unless the float64 sum of squares overflowed for finite
    elements (then ``s = max|g_i|``), so finite gradients up to the largest
    double have a finite ``r`` and an exact clip factor ``(c / s) / r``
    (:func:`numadam._kernels._scalars.clip_scale`); ``r`` is NaN or infinite
    exactly when an element is.  Blocks of ``SUMSQ_BLOCK`` elements, four
    interleaved float64 accumulators per block, block sums added in index
    order: the result does not depend on the number of threads.  One block
    (small arrays) is summed without allocating.
    """
    n = g.size
    if n <= SUMSQ_BLOCK:
        return norm_small(g)
    nblocks = (n + SUMSQ_BLOCK - 1) // SUMSQ_BLOCK
    parts = np.empty(nblocks)
    for b in prange(nblocks):
        parts[b] = _block_sumsq(g, b * SUMSQ_BLOCK, min(b * SUMSQ_BLOCK + SUMSQ_BLOCK, n))
    total = 0.0
    for b in range(nblocks):
        total += parts[b]
    return _finish(g, g, g, g, 1.0, False, total)


def multi_norm(gp, blocks, proto):
    """:func:`norm` over several arrays (parameter groups) as ``(s, r)``:
    ``gp`` their addresses, ``blocks`` the step's blocks (``(array, lo, hi,
    offset)``, at most ``SUMSQ_BLOCK`` elements each), ``proto`` an empty
    array of their dtype.  Block sums added in block order; an overflowed sum
    of finite elements is rescaled by the largest ``|g_i|``."""
    T = proto.dtype.type
    nb = blocks.shape[0]
    parts = np.empty(nb)
    for b in prange(nb):
        g = carray(as_pointer(gp[blocks[b, 0]], T), blocks[b, 2])
        parts[b] = _block_sumsq(g, blocks[b, 1], blocks[b, 2])
    total = 0.0
    for b in range(nb):
        total += parts[b]
    if total < np.inf:
        return 1.0, np.sqrt(total)
    s = 0.0   # the rare second pass (see _rescaled)
    for b in range(nb):
        g = carray(as_pointer(gp[blocks[b, 0]], T), blocks[b, 2])
        for i in range(blocks[b, 1], blocks[b, 2]):
            a = abs(np.float64(g[i]))
            if not a < np.inf:
                return 1.0, np.sqrt(total)
            s = max(s, a)
    acc = 0.0
    for b in range(nb):
        g = carray(as_pointer(gp[blocks[b, 0]], T), blocks[b, 2])
        for i in range(blocks[b, 1], blocks[b, 2]):
            q = np.float64(g[i]) / s
            acc += q * q
    return s, np.sqrt(acc)


@njit(cache=True, nogil=True)
def array_sums(parts, blocks, n):
    """``(bad, sums)``: the first pass's block columns ``parts`` (``(bad,
    *sums)`` per block) added per array in block order, ``sums[j]`` the
    ``n`` arrays' rows."""
    sums = np.zeros((n, parts.shape[0] - 1))
    bad = 0
    for b in range(blocks.shape[0]):
        bad += np.int64(parts[0, b])
        for k in range(parts.shape[0] - 1):
            sums[blocks[b, 0], k] += parts[k + 1, b]
    return bad, sums


@njit(cache=True, nogil=True)
def read_fields(ids, data, flags):
    """The data pointers (an int64 at ``ids[i] + data``) and flags (an int32
    at ``ids[i] + flags``) of ndarray objects at the addresses ``ids`` (see
    ``numadam._groups._layout``)."""
    addr = np.empty(ids.size, np.int64)
    flag = np.empty(ids.size, np.int64)
    for i in range(ids.size):
        addr[i] = carray(as_pointer(ids[i] + data, np.int64), 1)[0]
        flag[i] = carray(as_pointer(ids[i] + flags, np.int32), 1)[0]
    return addr, flag


def stream_ceiling(x, g, m, v, a):
    """Adam's memory traffic (read 4 arrays, write 3) with trivial math.

    The honest ceiling for an in-place optimizer step, used by ``bench/``.
    """
    T = x.dtype.type
    a = T(a)
    for i in prange(x.size):
        gi = g[i]
        m[i] = m[i] + gi
        v[i] = v[i] + gi
        x[i] = x[i] + a * m[i]


def _variant(fn, suffix):
    # A distinct function object (and qualname) per compiled variant: numba's
    # on-disk cache is keyed by qualname, not by the ``parallel`` flag.
    clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix,
                               fn.__defaults__, fn.__closure__)
    clone.__qualname__ = fn.__qualname__ + suffix
    clone.__doc__ = fn.__doc__
    return clone


# --- parallel launches and numba's threading layer ---------------------------
# numba's ``workqueue`` layer (its silent fallback when neither OpenMP nor TBB
# loads) is not thread-safe: two threads launching parallel kernels at once
# abort the process.  The first parallel launch runs under a lock and reads
# the layer; under ``workqueue`` every later launch is serialised behind that
# lock, under ``omp``/``tbb`` launches run concurrently and unlocked.
_LAUNCH_LOCK = threading.RLock()
_LAYER = [None]   # None until the first parallel launch, then the layer's name


@contextlib.contextmanager
def parallel_launch():
    """Context of a parallel kernel launch: serialised unless the layer is safe."""
    if _LAYER[0] is not None and _LAYER[0] != "workqueue":
        yield
        return
    with _LAUNCH_LOCK:
        yield
        if _LAYER[0] is None:
            import numba
            try:
                _LAYER[0] = numba.threading_layer()
            except ValueError:   # nothing ran in parallel yet
                pass


def threading_layer():
    """numba's threading layer once a parallel kernel ran, else None."""
    return _LAYER[0]


class _Guarded:
    """A parallel dispatcher called from Python, inside :func:`parallel_launch`."""

    __slots__ = ("kernel",)

    def __init__(self, kernel):
        self.kernel = kernel

    def __call__(self, *args):
        layer = _LAYER[0]
        if layer is not None and layer != "workqueue":
            return self.kernel(*args)
        with parallel_launch():
            return self.kernel(*args)


class KernelPair:
    """A loop compiled serial and parallel; :meth:`pick` chooses by size."""

    __slots__ = ("name", "serial", "parallel", "_guarded")

    def __init__(self, fn, parallel=None, serial=None):
        """``fn`` compiled both ways, or the dispatchers ``parallel`` and
        ``serial`` already compiled (generated kernels: ``fn`` is None)."""
        opts = dict(error_model="numpy", cache=True, nogil=True)
        if fn is None:
            self.name = serial.py_func.__name__
            self.serial, self.parallel = serial, parallel
        else:
            self.name = fn.__name__
            self.serial = njit(**opts)(_variant(fn, "_serial"))
            self.parallel = njit(parallel=True, **opts)(_variant(fn, "_parallel"))
        self._guarded = _Guarded(self.parallel)

    def pick(self, size, guarded=True):
        """The kernel for an array of ``size`` elements.

        Called from Python, the parallel kernel comes wrapped in
        :func:`parallel_launch` (``guarded``); compiled loops take the bare
        dispatcher (``guarded=False``) and run inside ``parallel_launch``.
        """
        if size < PARALLEL_THRESHOLD:
            return self.serial
        return self._guarded if guarded else self.parallel


STREAM_CEILING = KernelPair(stream_ceiling)
NORM = KernelPair(norm)
MULTI_NORM = KernelPair(multi_norm)


def project(x, lb, ub):
    """Clip ``x`` into the box ``[lb, ub]`` in place (projected methods)."""
    for i in prange(x.size):
        x[i] = min(max(x[i], lb[i]), ub[i])


PROJECT = KernelPair(project)


def _blocked(x, g, lb, ub, gsign, i):
    """Whether the box blocks component ``i``: ``x`` on its lower bound with
    the (sign-adjusted) gradient pushing down, or on its upper bound pushing
    up.  A NaN or infinite component is never blocked: it must be seen."""
    d = np.float64(g[i]) * gsign
    return (x[i] <= lb[i] and 0.0 < d < np.inf) or (x[i] >= ub[i] and -np.inf < d < 0.0)


_blocked = njit(inline="always", error_model="numpy")(_blocked)


def _rescaled(x, g, lb, ub, gsign, bounded, total):
    """``(s, r)`` with ``||g|| = s * r`` when ``sum(g**2)`` overflowed.

    The rare second pass, kept out of line so that the norm kernels stay
    small: ``total`` (the float64 sum of squares of the components that
    count, see ``_blocked`` when ``bounded``) is infinite or NaN.  If an
    element is NaN or infinite the norm is not finite: ``(1, sqrt(total))``.
    Otherwise every element is finite and only the squares overflowed
    (``|g_i| > 1.3e154`` in float64): sum the squares of ``g / max|g|``.
    """
    s = 0.0
    for i in range(g.size):
        a = abs(np.float64(g[i]))
        if not a < np.inf:
            return 1.0, np.sqrt(total)
        if a > s and not (bounded and _blocked(x, g, lb, ub, gsign, i)):
            s = a
    acc = 0.0
    for i in range(g.size):
        if not (bounded and _blocked(x, g, lb, ub, gsign, i)):
            q = np.float64(g[i]) / s
            acc += q * q
    return s, np.sqrt(acc)

_rescaled = njit(error_model="numpy", cache=True, nogil=True)(_rescaled)


def _block_psumsq(x, g, lb, ub, gsign, lo, hi):
    acc = 0.0
    for i in range(lo, hi):
        if _blocked(x, g, lb, ub, gsign, i):
            continue
        d = np.float64(g[i])
        acc += d * d
    return acc


_block_psumsq = njit(inline="always", error_model="numpy")(_block_psumsq)


def projected_norm_small(x, g, lb, ub, gsign):
    """:func:`projected_norm` of at most ``SUMSQ_BLOCK`` elements, inlined."""
    return _finish(x, g, lb, ub, gsign, True,
                   0.0 + _block_psumsq(x, g, lb, ub, gsign, 0, g.size))


projected_norm_small = njit(inline="always", error_model="numpy")(projected_norm_small)


def projected_norm(x, g, lb, ub, gsign):
    """The norm of the projected gradient as ``(s, r)``, as :func:`norm`.

    A component counts unless the box blocks it (see ``_blocked``): the gtol
    test of bounded problems (L-BFGS-B's ``pgtol``).  Same order, float64
    accumulation and overflow rescaling as :func:`norm`.
    """
    n = g.size
    if n <= SUMSQ_BLOCK:
        return projected_norm_small(x, g, lb, ub, gsign)
    nblocks = (n + SUMSQ_BLOCK - 1) // SUMSQ_BLOCK
    parts = np.empty(nblocks)
    for b in prange(nblocks):
        parts[b] = _block_psumsq(x, g, lb, ub, gsign, b * SUMSQ_BLOCK,
                                 min((b + 1) * SUMSQ_BLOCK, n))
    total = 0.0
    for b in range(nblocks):
        total += parts[b]
    return _finish(x, g, lb, ub, gsign, True, total)


PROJECTED_NORM = KernelPair(projected_norm)
