"""Muon: momentum orthogonalised by a Newton-Schulz iteration (torch.optim.Muon).

A matrix method: each step of a 2-D array is its momentum (Nesterov by
default), orthogonalised by five Newton-Schulz iterations of matrix products
(numba's ``np.dot``, i.e. BLAS), then ``x = x*(1 - lr*wd) - lr_adj * O``.
Its step is the compiled :func:`muon_step` per array (``Rule.array_step``),
not a generated per-element kernel; the per-element ``update`` below is the
last part of that step, kept for the declaration's shape.
"""
import math

from .._numbers import as_int
from .._kernels._scalars import prologue
from ._declare import Method, Rule, State, common, register
from ._options import _nonnegative, _positive, _real

#: adjust_lr_fn's names, as codes the compiled step reads
_ADJUST = {None: 0, "original": 0, "match_rms_adamw": 1, "spectral_unclamped": 2}


def update(x, g, b, gmul, clip, wd, decay, lr, mom, nesterov, a, b5, c, steps, eps,
           adjust):
    """The last part of the step, ``x*decay - lr*g`` with ``g`` the
    orthogonalised update (see :func:`muon_step`)."""
    return x * decay - lr * g, b


def scalars(h, t, lr, gscale, host):
    """``h = (maximize, clip, wd, momentum, nesterov, a, b, c, ns_steps, eps,
    adjust code)``; the decay ``1 - lr*wd`` (torch's, with the unadjusted lr)."""
    maximize, clip, wd, mom, nesterov, a, b, c, steps, eps, adjust = h
    gmul, clip, _, _ = prologue(maximize, clip, 0.0, False, lr, gscale)
    return (gmul, clip, 0.0, 1.0 - lr * wd, lr, mom, nesterov, a, b, c, steps, eps,
            adjust), host


_STEP = None


def array_step():
    """The compiled step of one 2-D array (compiled on first use):
    ``step(x, g, buf, *scalars) -> bad``, ``x`` and ``g`` 2-D, ``buf`` flat."""
    global _STEP
    if _STEP is None:
        from numba import njit
        import numpy as np

        gin = RULE.cpu_module().grad_in     # the helpers, compiled in the generated module

        lerp = RULE.cpu_module().lerp

        @njit(error_model="numpy", cache=True, nogil=True)
        def newton_schulz(u, a, b, c, steps, eps):
            """torch.optim.Muon's iteration, in u's dtype: the (short side first)
            matrix scaled to unit Frobenius norm, then ``A = X X^T``,
            ``X = a X + (b A + c A A) X`` ``steps`` times."""
            tall = u.shape[0] > u.shape[1]
            X = np.ascontiguousarray(u.T) if tall else u.copy()
            nrm = np.sqrt(np.sum(X * X))
            X = X / max(nrm, eps)
            for _ in range(steps):
                A = np.dot(X, X.T)
                B = b * A + c * np.dot(A, A)
                X = a * X + np.dot(B, X)
            return np.ascontiguousarray(X.T) if tall else X

        @njit(error_model="numpy", cache=True, nogil=True)
        def step(x, g, buf, gmul, clip, wd, decay, lr, mom, nesterov, a, b, c, steps, eps,
                 adjust):
            T = x.dtype.type
            n_rows, n_cols = x.shape
            buf = buf.reshape(x.shape)   # (the state arrays are flat)
            gg = np.empty_like(x)
            nb = np.empty_like(x)
            u = np.empty_like(x)
            bad = 0
            w = T(1.0 - mom)
            m = T(mom)
            for i in range(n_rows):
                for j in range(n_cols):
                    gi = gin(x[i, j], g[i, j], T(gmul), T(clip), T(0))
                    gg[i, j] = gi
                    bi = lerp(buf[i, j], gi, w, T(1))
                    nb[i, j] = bi
                    u[i, j] = lerp(gi, bi, m, T(1)) if nesterov else bi
                    if not (bi - bi == 0):
                        bad += 1
            if bad:     # the products spread a non-finite element over the matrix
                return x.size
            o = newton_schulz(u, T(a), T(b), T(c), int(steps), T(eps))
            if adjust == 0:
                ratio = math.sqrt(max(1.0, n_rows / n_cols))
            elif adjust == 1:
                ratio = 0.2 * math.sqrt(max(n_rows, n_cols))
            else:
                ratio = math.sqrt(n_rows / n_cols)
            step_ = T(lr * ratio)
            dec = T(decay)
            new = x * dec - step_ * o
            for i in range(n_rows):
                for j in range(n_cols):
                    if not (new[i, j] - new[i, j] == 0):
                        return x.size
            # element by element: a slice assignment (x[:, :] = new) makes numba
            # compile its broadcasting error message, 2-3 s of the first compile
            for i in range(n_rows):
                for j in range(n_cols):
                    x[i, j] = new[i, j]
                    buf[i, j] = nb[i, j]
            return 0

        _STEP = step
    return _STEP


def _coefficients(name, value):
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise TypeError(f"option {name!r} must be three numbers (a, b, c); got {value!r}")
    return tuple(_real(f"{name}[{k}]", v) for k, v in enumerate(value))


def _steps(name, value):
    return as_int(f"option {name!r}", value, 1, 99)


def _adjust(name, value):
    if value not in _ADJUST:
        raise ValueError(f"option {name!r} must be None, 'original', 'match_rms_adamw' or "
                         f"'spectral_unclamped'; got {value!r}")
    return value


def _momentum(name, value):
    value = _nonnegative(name, value)
    if value >= 1.0:
        raise ValueError(f"option {name!r} must be in [0, 1); got {value}")
    return value


RULE = Rule(
    "muon", update, scalars,
    hyper=lambda o: common(o)[:2] + (o["weight_decay"], o["momentum"], o["nesterov"],
                                     *o["ns_coefficients"], o["ns_steps"], o["eps"],
                                     _ADJUST[o["adjust_lr_fn"]]),
    states=(State("momentum_buffer"),), bools=("nesterov",),
    array_step=array_step, ndim=2,
    options={"momentum": (_momentum, "momentum factor, in [0, 1)"),
             "ns_coefficients": (_coefficients, "the Newton-Schulz iteration's (a, b, c)"),
             "ns_steps": (_steps, "Newton-Schulz iterations per step, in [1, 100)"),
             "eps": (_positive, "the smallest norm the update is divided by, > 0"),
             "adjust_lr_fn": (_adjust, "the lr's scaling by the shape (A, B): None or "
                                       "'original': sqrt(max(1, A/B)); 'match_rms_adamw': "
                                       "0.2*sqrt(max(A, B)); 'spectral_unclamped': "
                                       "sqrt(A/B)")})

register(Method("muon", "Muon (momentum orthogonalised by Newton-Schulz)", RULE,
                dict(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                     ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
                     adjust_lr_fn=None, maximize=False),
                "Jordan et al. (2024), Muon: An optimizer for hidden layers in neural "
                "networks; torch.optim.Muon"))
