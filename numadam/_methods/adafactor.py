"""Adafactor: a factored second moment (torch.optim.Adafactor).

A matrix rule (``Rule.array_step``): for an array of two or more dimensions
the second moment is kept as its row and column means over the last two
dimensions (``row_var``, ``col_var``: ``R + C`` numbers per ``R x C``
matrix, not ``R*C``), for a 1-D array in full (``variance``).  The step
needs the array's RMS and the update's RMS, so it is the compiled
:func:`array_step` per array; each array holds the states its shape uses (the
others are empty).
"""
import math

from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _positive, _real


def _rows(shape):
    return int(math.prod(shape[:-1])) if len(shape) >= 2 else 0


def _cols(shape):
    return int(math.prod(shape[:-2])) * shape[-1] if len(shape) >= 2 else 0


def _full(shape):
    return int(math.prod(shape)) if len(shape) < 2 else 0


def update(x, g, row_var, col_var, variance, gmul, clip, wd, decay, lr, t, beta2_decay,
           eps1, eps2, d):
    """The declaration's shape (the step is :func:`array_step`'s)."""
    return x, row_var, col_var, variance


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, beta2_decay, eps1 (0: the dtype's), eps2, d)``."""
    maximize, clip, wd, beta2_decay, eps1, eps2, d = h
    gmul, clip, _, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    return (gmul, clip, 0.0, 1.0 - lr * wd, lr, float(t), beta2_decay, eps1, eps2, d), host


_STEP = []


#: the reductions (parameter and update norms, row and column sums) may be
#: reassociated, so that they vectorise; nothing else of fastmath (NaN and
#: infinity stay what they are: the guard reads them)
_FAST = {"reassoc"}


def _build_full(gin, lerp):
    """The step of a 1-D array: the second moment in full."""
    import numpy as np
    from numba import njit

    @njit(error_model="numpy", fastmath=_FAST, cache=True, nogil=True)
    def full(x, g, var, gmul, clip, decay, lr, t, beta2_decay, eps1, eps2, d):
        T = x.dtype.type
        n = x.size
        w = T(t ** beta2_decay)
        e1, one, zero = T(eps1), T(1), T(0)
        new_var = np.empty_like(var)
        xs = 0.0
        us = 0.0
        for i in range(n):
            gi = gin(x[i], g[i], T(gmul), T(clip), zero)
            v = lerp(var[i], gi * gi, w, one)
            new_var[i] = v
            u = gi / math.sqrt(max(v, e1 * e1))
            xs += np.float64(x[i]) * np.float64(x[i])
            us += np.float64(u) * np.float64(u)
        alpha = max(eps2, math.sqrt(xs) / (n ** 0.5)) * min(lr, 1.0 / (t ** 0.5))
        k = T(alpha / max(1.0, math.sqrt(us) / ((n ** 0.5) * d)))
        new = np.empty_like(x)
        bad = zero
        dec = T(decay)
        for i in range(n):
            gi = gin(x[i], g[i], T(gmul), T(clip), zero)
            xi = x[i] * dec - k * (gi / math.sqrt(max(new_var[i], e1 * e1)))
            new[i] = xi
            bad += (xi - xi) + (new_var[i] - new_var[i])
        if bad != zero:   # NaN: something was not finite: nothing is stored
            return n
        # element by element: a slice assignment (x[:] = new) makes numba compile
        # its broadcasting error message, 2-3 s of the first compile
        for i in range(n):
            x[i] = new[i]
            var[i] = new_var[i]
        return 0
    return full


def _build_factored(gin, lerp):
    """The step of a (batch, R, C) array: the second moment as row and
    column means; three streaming passes (the sums, the update's norm, the
    step) and a guard over everything stored."""
    import numpy as np
    from numba import njit

    @njit(error_model="numpy", fastmath=_FAST, cache=True, nogil=True)
    def factored(x, g, row, col, gmul, clip, decay, lr, t, beta2_decay, eps1, eps2, d):
        T = x.dtype.type
        nb, R, C = x.shape
        n = x.size
        w = T(t ** beta2_decay)
        e1, one, zero = T(eps1), T(1), T(0)
        gm, cl = T(gmul), T(clip)
        rs = np.zeros((nb, R), x.dtype)
        cs = np.zeros((nb, C), x.dtype)
        xs = 0.0
        for b in range(nb):
            for r in range(R):
                acc = zero
                for c in range(C):
                    gi = gin(x[b, r, c], g[b, r, c], gm, cl, zero)
                    s = gi * gi
                    acc += s
                    cs[b, c] += s
                    xs += np.float64(x[b, r, c]) * np.float64(x[b, r, c])
                rs[b, r] = acc
        new_row = np.empty_like(row)
        new_col = np.empty_like(col)
        inv = np.empty(nb, x.dtype)     # 1 / max(mean of the new rows, eps1)
        for b in range(nb):
            acc = zero
            for r in range(R):
                new_row[b, r] = lerp(row[b, r], rs[b, r] / T(C), w, one)
                acc += new_row[b, r]
            for c in range(C):
                new_col[b, c] = lerp(col[b, c], cs[b, c] / T(R), w, one)
            inv[b] = one / max(acc / T(R), e1)
        us = 0.0
        for b in range(nb):
            for r in range(R):
                rr = new_row[b, r] * inv[b]
                for c in range(C):
                    gi = gin(x[b, r, c], g[b, r, c], gm, cl, zero)
                    u = gi / math.sqrt(max(rr * new_col[b, c], e1 * e1))
                    us += np.float64(u) * np.float64(u)
        alpha = max(eps2, math.sqrt(xs) / (n ** 0.5)) * min(lr, 1.0 / (t ** 0.5))
        k = T(alpha / max(1.0, math.sqrt(us) / ((n ** 0.5) * d)))
        new = np.empty_like(x)
        dec = T(decay)
        bad = zero
        for b in range(nb):
            for r in range(R):
                rr = new_row[b, r] * inv[b]
                for c in range(C):
                    gi = gin(x[b, r, c], g[b, r, c], gm, cl, zero)
                    xi = x[b, r, c] * dec - k * (gi / math.sqrt(max(rr * new_col[b, c],
                                                                    e1 * e1)))
                    new[b, r, c] = xi
                    bad += xi - xi
        for b in range(nb):
            for r in range(R):
                bad += new_row[b, r] - new_row[b, r]
            for c in range(C):
                bad += new_col[b, c] - new_col[b, c]
        if bad != zero:   # NaN: something was not finite: nothing is stored
            return n
        for b in range(nb):   # (element by element, as the full step's)
            for r in range(R):
                row[b, r] = new_row[b, r]
                for c in range(C):
                    x[b, r, c] = new[b, r, c]
            for c in range(C):
                col[b, c] = new_col[b, c]
        return 0
    return factored


def array_step():
    """The step of one array: ``step(x, g, row_var, col_var, variance,
    *scalars) -> bad`` (states flat), compiled on first use."""
    if _STEP:
        return _STEP[0]
    import numpy as np
    gin = RULE.cpu_module().grad_in     # the helpers, compiled in the generated module
    lerp = RULE.cpu_module().lerp
    full, factored = _build_full(gin, lerp), _build_factored(gin, lerp)

    def step(x, g, row_var, col_var, variance, gmul, clip, wd, decay, lr, t, beta2_decay,
             eps1, eps2, d):
        e1 = eps1 if eps1 > 0.0 else float(np.finfo(x.dtype).eps)
        if x.ndim >= 2:
            nb, R, C = int(math.prod(x.shape[:-2])), x.shape[-2], x.shape[-1]
            return factored(x.reshape(nb, R, C), g.reshape(nb, R, C),
                            row_var.reshape(nb, R), col_var.reshape(nb, C), gmul, clip,
                            decay, lr, t, beta2_decay, e1, eps2, d)
        return full(x.reshape(-1), g.reshape(-1), variance, gmul, clip, decay, lr, t,
                    beta2_decay, e1, eps2, d)

    _STEP.append(step)
    return step


def _eps_pair(name, value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"option {name!r} must be a pair (eps1 or None, eps2); got {value!r}")
    e1 = None if value[0] is None else _real(f"{name}[0]", value[0])
    e2 = _real(f"{name}[1]", value[1])
    if (e1 is not None and e1 <= 0) or e2 <= 0:
        raise ValueError(f"option {name!r}: eps1 (None: the dtype's epsilon) and eps2 must "
                         f"be > 0; got {value!r}")
    return (e1, e2)


def _threshold(name, value):
    if _positive(name, value) < 1.0:
        raise ValueError(f"option {name!r} must be >= 1 (torch's); got {value}")
    return float(value)


def _decay(name, value):
    value = _real(name, value)
    if not value <= 0.0:
        raise ValueError(f"option {name!r} must be <= 0 (beta2_t = 1 - t**beta2_decay); got "
                         f"{value}")
    return value


RULE = Rule(
    "adafactor", update, scalars,
    hyper=lambda o: common(o)[:2] + (o["weight_decay"], o["beta2_decay"],
                                     o["eps"][0] or 0.0, o["eps"][1], o["d"]),
    states=(State("row_var", size=_rows, nonnegative=True),
            State("col_var", size=_cols, nonnegative=True),
            State("variance", size=_full, nonnegative=True)),
    array_step=array_step,
    options={"beta2_decay": (_decay, "the second moment's decay: beta2_t = 1 - "
                                     "t**beta2_decay, <= 0"),
             "eps": (_eps_pair, "(eps1, eps2): the smallest second moment's square root "
                                "(None: the dtype's epsilon) and the smallest parameter "
                                "RMS the step scales by"),
             "d": (_threshold, "clipping threshold of the update's RMS, >= 1")})

register(Method("adafactor", "Adafactor (a factored second moment)", RULE,
                dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                     maximize=False),
                "Shazeer & Stern (2018), Adafactor: Adaptive Learning Rates with Sublinear "
                "Memory Cost; torch.optim.Adafactor"))
