"""CUDA kernels besides the methods': fills, projections, norms, many problems.

The step kernel of every method is generated from its per-element update by
:mod:`numadam._kernels.generate` (a grid-stride loop over the same guarded
``<method>_at`` function the CPU loops call), so the two targets share every
formula and the non-finite guard.  Scalars arrive already cast to the
parameters' dtype (float32 stays float32); ``bad`` is a one-element int64
array that counts the elements whose update was not finite
(``cuda.atomic.add``, once per thread).

Importing this module imports ``numba.cuda``; nothing is compiled until a
kernel is launched.  Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run on
numba's CUDA simulator (tests in CI); ``cuda`` must stay a module-level name
for that.
"""
import contextlib
import math
import warnings

import numpy as np
from numba import config, cuda

#: threads per block of every launch: a multiple of the warp size on a GPU; 16
#: on the simulator, whose launch polls every thread of a block in Python (a
#: fifth faster than 32, and N = 70 in the tests still spans five blocks)
THREADS = 16 if config.ENABLE_CUDASIM else 256

#: elements summed by one block of :func:`sumsq_blocks`
SUMSQ_CHUNK = 8192


@cuda.jit
def stream_ceiling(x, g, m, v, a):
    """Adam's traffic (read 4 arrays, write 3) with trivial math: the ceiling."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        gi = g[i]
        m[i] = m[i] + gi
        v[i] = v[i] + gi
        x[i] = x[i] + a * m[i]


@cuda.jit
def fill(x, value):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = value


@cuda.jit
def project(x, lb, ub):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = min(max(x[i], lb[i]), ub[i])


@cuda.jit
def sumsq_blocks(g, x, lb, ub, gsign, bounded, parts):
    """Block ``b`` sums the squares of ``g[b*CHUNK:(b+1)*CHUNK]`` into ``parts[b]``;
    with ``bounded``, less the components the box ``[lb, ub]`` blocks at ``x``
    (the projected gradient of the gtol test, as the CPU's projected norm).

    Fixed chunks, a fixed per-thread stride and a fixed shared-memory tree:
    the result does not depend on the launch configuration beyond THREADS.
    """
    acc = cuda.shared.array(THREADS, np.float64)
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    lo = b * SUMSQ_CHUNK
    hi = min(lo + SUMSQ_CHUNK, g.size)
    s = 0.0
    for i in range(lo + t, hi, THREADS):
        gi = np.float64(g[i])  # float() would keep float32 (and overflow)
        d = gi * gsign
        if bounded and ((x[i] <= lb[i] and 0.0 < d < math.inf)
                        or (x[i] >= ub[i] and -math.inf < d < 0.0)):
            continue
        s += gi * gi
    acc[t] = s
    cuda.syncthreads()
    width = THREADS // 2
    while width > 0:
        if t < width:
            acc[t] += acc[t + width]
        cuda.syncthreads()
        width //= 2
    if t == 0:
        parts[b] = acc[0]


@cuda.jit
def sum_parts(parts, out):
    """One thread adds the block sums in index order (a fixed order)."""
    if cuda.grid(1) == 0:
        s = 0.0
        for i in range(parts.size):
            s += parts[i]
        out[0] = s


def wrapping():
    """The context to launch a kernel in that computes random bits (the Weyl
    sequence of low-precision state and of ``minimize_many``'s steps).

    The sequence wraps modulo 2**32 by design.  On the simulator its uint32
    arithmetic runs on NumPy scalars, which warn of every wrap ("overflow
    encountered in scalar multiply"); a GPU never does.  There, and only
    there, exactly those warnings are ignored for the launch (the
    simulator's threads are Python threads: the filter is the process's for
    that time).  On a GPU: a context that does nothing (no cost per step)."""
    return _quiet() if config.ENABLE_CUDASIM else _NOTHING


_NOTHING = contextlib.nullcontext()


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"overflow encountered in scalar (multiply|add|subtract)",
            RuntimeWarning)
        yield


def launch_config(n):
    """(blocks, threads) for a grid-stride loop over ``n`` elements."""
    blocks = (n + THREADS - 1) // THREADS
    try:
        sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
        blocks = min(blocks, sms * 32)
    except Exception:  # noqa: BLE001 - the simulator may not report it
        blocks = min(blocks, 1024)
    return max(blocks, 1), THREADS


def sumsq(g, parts, out, box=None, x=None, gsign=1.0):
    """``sum(g**2)`` on the device, in a fixed order; returns a Python float.
    With ``box = (lb, ub)`` and ``x``: the sum over the components the box does
    not block (the projected gradient)."""
    nblocks = parts.size
    if box is None:
        sumsq_blocks[nblocks, THREADS](g, g, g, g, gsign, False, parts)
    else:
        sumsq_blocks[nblocks, THREADS](g, x, box[0], box[1], gsign, True, parts)
    sum_parts[1, 1](parts, out)
    return float(out[0])


def sumsq_buffers(n):
    """Device buffers for :func:`sumsq` over ``n`` elements."""
    nblocks = max(1, (n + SUMSQ_CHUNK - 1) // SUMSQ_CHUNK)
    return cuda.device_array(nblocks, np.float64), cuda.mapped_array(1, np.float64)


def is_finite_value(v):
    return math.isfinite(v)


# ---------------------------------------------------------------------------
# many independent problems on the GPU: one thread per problem
# ---------------------------------------------------------------------------
_MANY_TEMPLATE = '''
@cuda.jit
def many_kernel(X, G, {states}, {data}, hyper, host0, lr_const, lr_table, clip_norm,
                maxiter, gtol, has_box, lb, ub, gsign, skip, out_f, out_nit, out_status,
                out_nskip):
    i = cuda.grid(1)
    if i >= X.shape[0]:
        return
    x = X[i]
    g = G[i]
    n = x.size
    zero = T(0)
    host = host0
    t = 0
    nit = 0
    nskip = 0
    status = 99
    f = EVAL(x, g{rows})
    while True:
        s, r = NORM(x, g, lb, ub, gsign, has_box)
        gn = NORM_VALUE(s, r)
        # (a separate fun: its value is tested at the end, as on the CPU)
        status, bad = STOP(gn, (not FUSED) or math.isfinite(f), skip, gtol, nit, maxiter)
        if status != 99:
            break
        if bad:
            nskip += 1
        else:
            lr = LR_AT(lr_const, lr_table, t)
            gscale = 1.0
            if clip_norm > 0.0:
                s, r = NORM(x, g, lb, ub, gsign, False)
                gscale = CLIP_SCALE(clip_norm, s, r)
            scalars, host = SCALARS(hyper, t + 1, lr, gscale, host)
            if CAUTION:   # the cautious step's count pass over this problem
                na = 0
                for k in range(n):
                    na += AGREE(k, x, g{state_rows}{agree_extra}, {cast_scalars}, zero)
                scalars = WITH_CAUTION(scalars, na, n)
            t += 1
{step}
            if nb > 0:
                status = 3
                break
            if has_box:
                for k in range(n):
                    x[k] = min(max(x[k], lb[k]), ub[k])
        nit += 1
        f = EVAL(x, g{rows})
    if status == 1 and (bad or not math.isfinite(f)):
        status = 3   # the run ends on a non-finite objective or gradient (the CPU's)
    out_f[i] = f
    out_nit[i] = nit
    out_status[i] = status
    out_nskip[i] = nskip
'''


def many_kernel(fun, jac, fused, at, scalar_fn, n_scalars, bools, n_states, n_data,
                dtype, agree_at=None, lowp=False, row=None):
    """Build the one-thread-per-problem kernel for these device functions.

    ``at`` is the method's generated guarded element update
    (:class:`numadam._kernels.generate.MethodKernels` ``.at``) and
    ``scalar_fn`` its per-step scalar function; the ``n_scalars`` scalars are cast to the parameters' dtype except the
    positions in ``bools``.  The kernel's source is generated for the number
    of state and data arrays, so it compiles for the device without tuple
    tricks.  ``agree_at``, a cautious variant's one-element agreement, adds
    the count pass before every step.  ``lowp``: the element functions of
    bfloat16 state, which take the step's random key and the element's Weyl
    value after the state rows (each problem's elements 0..n-1, as
    :func:`numadam.minimize` on the problem alone).  ``row``: int8 state's
    step of a whole row (:attr:`MethodKernels.row`), called once per step
    instead of ``at`` per element (a block's codes need its new absmax).
    """
    states = ", ".join(f"S{k}" for k in range(n_states)) or "S_unused"
    data = ", ".join(f"D{k}" for k in range(n_data)) or "D_unused"
    rows = "".join(f", D{k}[i]" for k in range(n_data))
    state_rows = "".join(f", S{k}[i]" for k in range(n_states))
    cast_scalars = ", ".join(f"scalars[{k}]" if k in bools else f"T(scalars[{k}])"
                             for k in range(n_scalars))
    weyl = "np.uint32(np.uint32(np.uint32(k) * np.uint32(0x9E3779B9)) + KEY(t))"
    if row is None:
        step = (f"            nb = 0\n            for k in range(n):\n"
                f"                nb += AT(k, x, g{state_rows}"
                + (f", KEY(t), {weyl}" if lowp else "") + f", {cast_scalars}, zero)")
    else:
        step = (f"            nb = ROW(x, g{state_rows}, KEY(t), np.int64(0), "
                f"{cast_scalars}, zero)")
    src = _MANY_TEMPLATE.format(
        states=states, data=data, rows=rows, state_rows=state_rows,
        cast_scalars=cast_scalars, step=step,
        agree_extra=", KEY(t + 1), np.int64(0)" if lowp else "")
    T = np.dtype(dtype).type
    if fused:
        evaluate = fun
    else:
        def evaluate(x, g, *d):
            jac(x, g, *d)
            return fun(x, *d)
        evaluate = cuda.jit(device=True)(evaluate) if not config.ENABLE_CUDASIM \
            else evaluate

    from . import _scalars

    def device(fn):
        return fn.py_func if config.ENABLE_CUDASIM else fn
    scope = {"cuda": cuda, "math": math, "np": np, "T": T, "EVAL": evaluate,
             "AT": device(at), "ROW": row, "SCALARS": scalar_fn,
             "STOP": _scalars.stop_status, "LR_AT": _scalars.lr_at,
             "CLIP_SCALE": _scalars.clip_scale, "CAUTION": agree_at is not None,
             "NORM": _scalars.vector_norm, "NORM_VALUE": _scalars.norm_value,
             "FUSED": bool(fused),
             "KEY": _scalars.step_key,
             "AGREE": device(agree_at if agree_at is not None else at),
             "WITH_CAUTION": _scalars.with_caution}
    exec(compile(src, f"<numadam many kernel {at.__name__}>", "exec"), scope)
    return scope["many_kernel"]
