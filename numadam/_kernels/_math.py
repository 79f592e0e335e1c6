"""The helpers that the methods' per-element update functions share.

Each method's ``update`` (in its declaration, ``numadam/_methods/*.py``)
takes the old values of one parameter, its gradient and its state, plus the
step's scalars, and returns the new values; the generator
(:mod:`numadam._kernels.generate`) compiles it, with these helpers, into
every kernel.  Conventions shared by every update function:

* every scalar argument already has the parameter's dtype (the loops cast the
  host's float64 scalars once, outside the element loop), so float32 code
  stays float32: there is no float literal in an update function;
* ``gmul`` is ``-1`` for ``maximize=True`` and ``+1`` otherwise, times the
  clip-by-global-norm factor; ``clip`` is the clip-by-value bound;
* ``wd`` is the coupled (L2) weight decay added to the gradient, ``0`` when
  the decay is decoupled or absent;
* ``decay`` is the decoupled factor ``1 - lr * weight_decay`` applied to the
  parameter first, ``1`` when the decay is coupled or absent.

Plain Python (importing this module imports no numba): the generator copies
each function here into the generated module as ``@njit(inline="always")``.
The formulas follow torch.optim's semantics; each method's update rule is
written out on its page, ``docs/methods/*.md``, and in its class's docstring.
"""
def excess(a):
    """``0`` when ``a`` is finite, NaN when it is NaN or infinite.

    The loops add these up for an element's new values and compare the sum
    with zero: one comparison tells whether all of them are finite.
    """
    return a - a


def grad_in(x, g, gmul, clip, wd):
    """The gradient a method sees.

    ``gmul`` carries maximize's sign and the clip-by-global-norm factor;
    ``clip`` is the clip-by-value bound (``inf`` when off); then the coupled
    L2 decay ``wd * x``.  Non-finite means non-finite before clipping: an
    infinite component clips to NaN (``clip + excess(g)``), not to the bound,
    so the loops' guard sees it; NaN stays NaN.
    """
    g = gmul * g
    g = clip + excess(g) if g > clip else (-clip + excess(g) if g < -clip else g)
    if wd == wd - wd:  # no coupled decay: g itself, as torch (and 0*x costs 2 operations)
        return g
    return g + wd * x


def moments(g, m, v, b1, c1, b2, c2):
    """Adam's moment estimates: ``b1*m + (1-b1)*g`` and ``b2*v + (1-b2)*g*g``."""
    return b1 * m + c1 * g, b2 * v + c2 * g * g


def keep(ok, new, old):
    """``new`` if the element's new values are all finite, else ``old``."""
    return new if ok else old




def signed(s, a):
    """``s * sign(a)``: ``s`` with the sign of ``a``, zero where ``a`` is zero
    and NaN where ``a`` is NaN (``s`` finite and >= 0; selects, no branch
    that stops the loop vectorising)."""
    zero = s - s
    return s if a > zero else (-s if a < zero else a * s)


def caution_factor(d, g, cscale):
    """The Cautious Optimizers' mask, rescaled: ``cscale`` where ``d`` (a value
    with the update's sign; the count pass tests the same one) agrees in sign
    with the gradient ``g``, else 0 (NaN for a NaN ``d``, so the guard sees
    it); ``cscale`` is ``1 / max(mean(mask), 1e-3)``."""
    zero = d - d
    return cscale if d * g > zero else zero


def lerp(a, b, w, one):
    """torch.lerp: ``a + w*(b - a)``, or ``b - (b - a)*(1 - w)`` from ``w =
    0.5`` on (the form torch picks by the weight; ``one`` is 1 in the dtype)."""
    return a + w * (b - a) if w + w < one else b - (b - a) * (one - w)
