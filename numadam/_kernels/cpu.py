"""Fused CPU kernels: one pass over the parameters per step.

Every loop below reads ``x``, ``g`` and the state once and writes ``x`` and
the state once, in place, through the per-element function of its method in
:mod:`numadam._kernels._math`.  The loops guard every element: when any new
value of an element (its parameter or state) is NaN or infinite -- a
non-finite gradient, or an overflow -- the element keeps its old values, and
the loop returns how many elements it guarded this way (0 normally).  The
guard is folded into the pass: no extra memory traffic.  Scalars arrive as Python floats (computed once
per step on the host, in float64) and are cast once to the parameter's dtype.

Each loop is compiled twice, lazily, on first use: a ``parallel=True``
``prange`` kernel for large arrays and a serial kernel for small ones (a
parallel launch costs microseconds; the two break even near 1e4 elements).
Both use ``error_model="numpy"`` (the Python error model's division check
stops vectorisation) and ``cache=True``.  Nothing compiles at import.
"""
import contextlib
import threading
import types

import numpy as np
from numba import njit, prange

from . import _math

#: Arrays with at least this many elements use the parallel kernel.
PARALLEL_THRESHOLD = 32768


from numba.extending import intrinsic
from numba.core import types as _types


@intrinsic
def _iadd32(typingctx, a, b):
    """int32 + int32 -> int32 (numba's own integer addition widens to int64)."""
    sig = _types.int32(_types.int32, _types.int32)

    def codegen(context, builder, signature, args):
        return builder.add(args[0], args[1])
    return sig, codegen


_ZERO32 = np.int32(0)


def _chunking(n):
    """(chunks, chunk size) for the parallel drivers: up to 64 chunks of at least
    16384 elements, each a multiple of 64 elements; numba's scheduler shares
    them among its threads."""
    nch = max(1, min(64, n // 16384))
    size = (n + nch - 1) // nch
    size = (size + 63) // 64 * 64
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


def adam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, step_size, inv_sbc2, eps):
    T = x.dtype.type
    gmul, clip, wd, decay, b1, c1 = T(gmul), T(clip), T(wd), T(decay), T(b1), T(c1)
    b2, c2, step_size, inv_sbc2, eps = T(b2), T(c2), T(step_size), T(inv_sbc2), T(eps)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.adam_at(i, x, g, m, v, one, inf, zero, decay, b1, c1, b2, c2,
                                 step_size, inv_sbc2, eps, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.adam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2,
                             step_size, inv_sbc2, eps, zero)))
    return bad


def adam_amsgrad(x, g, m, v, vmax, gmul, clip, wd, decay, b1, c1, b2, c2, step_size,
                 inv_sbc2, eps):
    T = x.dtype.type
    gmul, clip, wd, decay, b1, c1 = T(gmul), T(clip), T(wd), T(decay), T(b1), T(c1)
    b2, c2, step_size, inv_sbc2, eps = T(b2), T(c2), T(step_size), T(inv_sbc2), T(eps)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.adam_amsgrad_at(i, x, g, m, v, vmax, one, inf, zero, decay, b1, c1,
                                         b2, c2, step_size, inv_sbc2, eps, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.adam_amsgrad_at(i, x, g, m, v, vmax, gmul, clip, wd, decay, b1, c1,
                                     b2, c2, step_size, inv_sbc2, eps, zero)))
    return bad


def adamax(x, g, m, u, gmul, clip, wd, decay, b1, c1, b2, step_size, eps):
    T = x.dtype.type
    gmul, clip, wd, decay, b1, c1 = T(gmul), T(clip), T(wd), T(decay), T(b1), T(c1)
    b2, step_size, eps = T(b2), T(step_size), T(eps)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.adamax_at(i, x, g, m, u, one, inf, zero, decay, b1, c1, b2,
                                   step_size, eps, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.adamax_at(i, x, g, m, u, gmul, clip, wd, decay, b1, c1, b2,
                               step_size, eps, zero)))
    return bad


def nadam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, inv_bc2, eps, coef_g,
          coef_m):
    T = x.dtype.type
    gmul, clip, wd, decay, b1, c1 = T(gmul), T(clip), T(wd), T(decay), T(b1), T(c1)
    b2, c2, inv_bc2, eps = T(b2), T(c2), T(inv_bc2), T(eps)
    coef_g, coef_m = T(coef_g), T(coef_m)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.nadam_at(i, x, g, m, v, one, inf, zero, decay, b1, c1, b2, c2,
                                  inv_bc2, eps, coef_g, coef_m, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.nadam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2,
                              inv_bc2, eps, coef_g, coef_m, zero)))
    return bad


def radam(x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2, lr_bc1, rectified,
          rect_sbc2, eps):
    T = x.dtype.type
    gmul, clip, wd, decay, b1, c1 = T(gmul), T(clip), T(wd), T(decay), T(b1), T(c1)
    b2, c2, lr_bc1, rect_sbc2, eps = T(b2), T(c2), T(lr_bc1), T(rect_sbc2), T(eps)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.radam_at(i, x, g, m, v, one, inf, zero, decay, b1, c1, b2, c2,
                                  lr_bc1, rectified, rect_sbc2, eps, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.radam_at(i, x, g, m, v, gmul, clip, wd, decay, b1, c1, b2, c2,
                              lr_bc1, rectified, rect_sbc2, eps, zero)))
    return bad


def sgd(x, g, gmul, clip, wd, lr):
    T = x.dtype.type
    gmul, clip, wd, lr = T(gmul), T(clip), T(wd), T(lr)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.sgd_at(i, x, g, one, inf, zero, lr, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.sgd_at(i, x, g, gmul, clip, wd, lr, zero)))
    return bad


def sgd_momentum(x, g, b, gmul, clip, wd, lr, mom_b, c_g, nesterov, momentum):
    T = x.dtype.type
    gmul, clip, wd, lr, mom_b, c_g, momentum = (
        T(gmul), T(clip), T(wd), T(lr), T(mom_b), T(c_g), T(momentum))
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.sgd_momentum_at(i, x, g, b, one, inf, zero, lr, mom_b, c_g,
                                         nesterov, momentum, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.sgd_momentum_at(i, x, g, b, gmul, clip, wd, lr, mom_b, c_g,
                                     nesterov, momentum, zero)))
    return bad


def _rmsprop_loop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps, centered,
                  use_momentum, momentum, zero):
    bad = _ZERO32
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.rmsprop_at(i, x, g, v, gbar, buf, gmul, clip, wd, lr,
                                                     alpha, c_a, eps, centered, use_momentum,
                                                     momentum, zero)))
    return bad


_rmsprop_loop = njit(inline="always", error_model="numpy")(_rmsprop_loop)


def rmsprop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps, centered,
            use_momentum, momentum):
    T = x.dtype.type
    gmul, clip, wd, lr, alpha, c_a, eps, momentum = (
        T(gmul), T(clip), T(wd), T(lr), T(alpha), T(c_a), T(eps), T(momentum))
    zero = T(0)
    # One copy of the loop per flag combination, each with its flags as
    # constants: LLVM then drops the untaken branches (and the placeholder
    # arrays' loads) and vectorises.  With run-time flags the loop stays
    # scalar and runs 30x slower (measured: 11 ns against 0.4 ns per element).
    if centered:
        if use_momentum:
            return _rmsprop_loop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps,
                                 True, True, momentum, zero)
        return _rmsprop_loop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps,
                             True, False, momentum, zero)
    if use_momentum:
        return _rmsprop_loop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps,
                             False, True, momentum, zero)
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        return _rmsprop_loop(x, g, v, gbar, buf, T(1), T(np.inf), zero, lr, alpha, c_a,
                             eps, False, False, momentum, zero)
    return _rmsprop_loop(x, g, v, gbar, buf, gmul, clip, wd, lr, alpha, c_a, eps,
                         False, False, momentum, zero)


def adagrad(x, g, s, gmul, clip, wd, clr, eps):
    T = x.dtype.type
    gmul, clip, wd, clr, eps = T(gmul), T(clip), T(wd), T(clr), T(eps)
    zero = T(0)
    bad = _ZERO32
    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        one, inf = T(1), T(np.inf)
        for i in range(x.size):
            bad = _iadd32(bad, np.int32(_math.adagrad_at(i, x, g, s, one, inf, zero, clr, eps, zero)))
        return bad
    for i in range(x.size):
        bad = _iadd32(bad, np.int32(_math.adagrad_at(i, x, g, s, gmul, clip, wd, clr, eps, zero)))
    return bad


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
        opts = dict(error_model="numpy", cache=True, nogil=True)
        self.name = fn.__name__
        self.serial = serial if serial is not None else njit(**opts)(_variant(fn, "_serial"))
        self.parallel = njit(parallel=True, **opts)(
            _variant(fn, "_parallel") if parallel is None else parallel)
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


_KERNEL_OPTS = dict(error_model="numpy", cache=True, nogil=True)
_adam_serial = njit(**_KERNEL_OPTS)(_variant(adam, "_serial"))
_adam_amsgrad_serial = njit(**_KERNEL_OPTS)(_variant(adam_amsgrad, "_serial"))
_adamax_serial = njit(**_KERNEL_OPTS)(_variant(adamax, "_serial"))
_nadam_serial = njit(**_KERNEL_OPTS)(_variant(nadam, "_serial"))
_radam_serial = njit(**_KERNEL_OPTS)(_variant(radam, "_serial"))
_sgd_serial = njit(**_KERNEL_OPTS)(_variant(sgd, "_serial"))
_sgd_momentum_serial = njit(**_KERNEL_OPTS)(_variant(sgd_momentum, "_serial"))
_rmsprop_serial = njit(**_KERNEL_OPTS)(_variant(rmsprop, "_serial"))
_adagrad_serial = njit(**_KERNEL_OPTS)(_variant(adagrad, "_serial"))


# --- parallel drivers: fixed chunks of the serial loops above, one per thread --
# (a prange reduction of the guard's count would be int64, which halves the
# float32 vector width; the serial loops count in int32 and vectorise fully)
def adam_parallel(x, g, m, v, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _adam_serial(x[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], *s)
    return parts.sum()


def adam_amsgrad_parallel(x, g, m, v, w, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _adam_amsgrad_serial(x[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi],
                                       w[lo:hi], *s)
    return parts.sum()


def adamax_parallel(x, g, m, u, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _adamax_serial(x[lo:hi], g[lo:hi], m[lo:hi], u[lo:hi], *s)
    return parts.sum()


def nadam_parallel(x, g, m, v, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _nadam_serial(x[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], *s)
    return parts.sum()


def radam_parallel(x, g, m, v, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _radam_serial(x[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], *s)
    return parts.sum()


def sgd_parallel(x, g, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _sgd_serial(x[lo:hi], g[lo:hi], *s)
    return parts.sum()


def sgd_momentum_parallel(x, g, b, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _sgd_momentum_serial(x[lo:hi], g[lo:hi], b[lo:hi], *s)
    return parts.sum()


def rmsprop_parallel(x, g, v, gbar, buf, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        # empty placeholders stay empty (their slices are empty too)
        parts[c] = _rmsprop_serial(x[lo:hi], g[lo:hi], v[lo:hi], gbar[lo:hi], buf[lo:hi],
                                  *s)
    return parts.sum()


def adagrad_parallel(x, g, acc, *s):
    nch, size = _chunking(x.size)
    parts = np.zeros(nch, np.int64)
    for c in prange(nch):
        lo, hi = c * size, min(c * size + size, x.size)
        parts[c] = _adagrad_serial(x[lo:hi], g[lo:hi], acc[lo:hi], *s)
    return parts.sum()



ADAM = KernelPair(adam, adam_parallel, _adam_serial)
ADAM_AMSGRAD = KernelPair(adam_amsgrad, adam_amsgrad_parallel, _adam_amsgrad_serial)
ADAMAX = KernelPair(adamax, adamax_parallel, _adamax_serial)
NADAM = KernelPair(nadam, nadam_parallel, _nadam_serial)
RADAM = KernelPair(radam, radam_parallel, _radam_serial)
SGD = KernelPair(sgd, sgd_parallel, _sgd_serial)
SGD_MOMENTUM = KernelPair(sgd_momentum, sgd_momentum_parallel, _sgd_momentum_serial)
RMSPROP = KernelPair(rmsprop, rmsprop_parallel, _rmsprop_serial)
ADAGRAD = KernelPair(adagrad, adagrad_parallel, _adagrad_serial)
STREAM_CEILING = KernelPair(stream_ceiling)
NORM = KernelPair(norm)


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
