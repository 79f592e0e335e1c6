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


def _build_finish():
    import numpy as np
    from numba import njit

    @njit(inline="always")
    def finish(x, upd, a_new, b_new, a, b, decay, alpha, d):
        """``x = x*decay - alpha/denom * upd``, the states stored, unless
        something is not finite (then nothing: the array's size)."""
        T = x.dtype.type
        un = math.sqrt(np.sum(upd.astype(np.float64) ** 2))
        denom = max(1.0, un / ((x.size ** 0.5) * d))
        new = x * T(decay) - T(alpha / denom) * upd
        if not (np.all(new - new == 0) and np.all(a_new - a_new == 0)
                and np.all(b_new - b_new == 0)):
            return x.size
        x[...] = new
        a[...] = a_new
        b[...] = b_new
        return 0
    return finish


def _build_full(gin, lerp, finish):
    """The step of a 1-D array: the second moment in full."""
    import numpy as np
    from numba import njit

    @njit(error_model="numpy", cache=True, nogil=True)
    def full(x, g, var, gmul, clip, decay, lr, t, beta2_decay, eps1, eps2, d):
        T = x.dtype.type
        n = x.size
        w = t ** beta2_decay
        rho = min(lr, 1.0 / (t ** 0.5))
        alpha = max(eps2, math.sqrt(np.sum(x.astype(np.float64) ** 2)) / (n ** 0.5)) * rho
        new_var = np.empty_like(var)
        upd = np.empty_like(x)
        e1 = T(eps1)
        for i in range(n):
            gi = gin(x[i], g[i], T(gmul), T(clip), T(0))
            new_var[i] = lerp(var[i], gi * gi, T(w), T(1))
            upd[i] = gi / math.sqrt(max(new_var[i], e1 * e1))
        return finish(x, upd, new_var, new_var, var, var, decay, alpha, d)
    return full


def _build_factored(gin, lerp, finish):
    """The step of a (batch, R, C) array: the second moment as row and
    column means."""
    import numpy as np
    from numba import njit

    @njit(error_model="numpy", cache=True, nogil=True)
    def factored(x, g, row, col, gmul, clip, decay, lr, t, beta2_decay, eps1, eps2, d):
        T = x.dtype.type
        nb, R, C = x.shape
        w = T(t ** beta2_decay)
        rho = min(lr, 1.0 / (t ** 0.5))
        alpha = max(eps2, math.sqrt(np.sum(x.astype(np.float64) ** 2)) / (x.size ** 0.5)) * rho
        gg = np.empty_like(x)
        for b in range(nb):
            for r in range(R):
                for c in range(C):
                    gg[b, r, c] = gin(x[b, r, c], g[b, r, c], T(gmul), T(clip), T(0))
        sq = gg * gg
        new_row = np.empty_like(row)
        new_col = np.empty_like(col)
        for b in range(nb):
            for r in range(R):
                new_row[b, r] = lerp(row[b, r], np.sum(sq[b, r, :]) / T(C), w, T(1))
            for c in range(C):
                new_col[b, c] = lerp(col[b, c], np.sum(sq[b, :, c]) / T(R), w, T(1))
        upd = np.empty_like(x)
        e1 = T(eps1)
        for b in range(nb):
            mean = max(np.sum(new_row[b]) / T(R), e1)
            for r in range(R):
                for c in range(C):
                    v = new_row[b, r] * new_col[b, c] / mean
                    upd[b, r, c] = gg[b, r, c] / math.sqrt(max(v, e1 * e1))
        return finish(x, upd, new_row, new_col, row, col, decay, alpha, d)
    return factored


def array_step():
    """The step of one array: ``step(x, g, row_var, col_var, variance,
    *scalars) -> bad`` (states flat), compiled on first use."""
    if _STEP:
        return _STEP[0]
    import numpy as np
    gin = RULE.cpu_module().grad_in     # the helpers, compiled in the generated module
    lerp, finish = RULE.cpu_module().lerp, _build_finish()
    full, factored = _build_full(gin, lerp, finish), _build_factored(gin, lerp, finish)

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
