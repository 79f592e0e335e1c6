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
import numpy as np  # (the generated modules have their own np)


def excess(a):
    """``0`` when ``a`` is finite, NaN when it is NaN or infinite.

    Added to a value, it carries a non-finite input into it (the clipped
    gradient of :func:`grad_in`; LAMB's and Prodigy's new parameters), so that
    the loops' guard (:func:`screen`) sees it.
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


def screen(a, c):
    """``a * 0 + c``: ``c`` when ``a`` is finite (up to the sign of a zero),
    NaN when ``a`` is NaN or infinite.  The guard chains it over an element's
    new values, ``screen(v, screen(m, x * 0))``, and compares the result with
    zero: one multiplication and a fused multiply-add per further value, where
    adding up :func:`excess` takes two operations per value.  (The generated
    modules define it as one ``fma`` instruction, :mod:`numadam._kernels.cpu`'s
    intrinsic; this is its value.)"""
    return a * (a - a) + c


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


# -- low-precision state (``state_dtype``; numadam._lowp has the NumPy twins) --
def f32_bits(a):
    """The bits of ``float32(a)``, a uint32.  (The generated modules define
    their own, a bitcast in place by :mod:`numadam._kernels.cpu`'s intrinsic:
    numba's scalar ``.view`` is a call that LLVM may leave out of line, which
    stops the loop vectorising.)"""
    return np.float32(a).view(np.uint32)


def bits_f32(u):
    """The float32 whose bits are the uint32 ``u`` (a bitcast, as :func:`f32_bits`)."""
    return np.uint32(u).view(np.float32)


def mix32(key, i):
    """32 random bits of element ``i`` under the step's ``key``: a keyed Weyl
    sequence, ``i * 0x9E3779B9 + key`` (mod 2**32).  The key is a full hash of
    the step count, so each element's bits are uniform and independent from
    step to step, which is what stochastic rounding needs to be unbiased; the
    same bits on any number of threads and chunking, and LLVM turns ``i * c``
    into an addition per element (a hash with multiplications costs 10% of the
    step)."""
    return np.uint32(np.uint32(np.uint32(i) * np.uint32(0x9E3779B9)) + key)


def bf16_widen(h):
    """The bfloat16 value stored in ``h`` (uint16), a float32.  (The kernels
    convert it to the parameters' dtype, ``x.dtype.type(...)``: nothing for
    float32; adding a zero of that dtype instead cost a vector addition per
    state and element and turned -0 into +0.)"""
    return bits_f32(np.uint32(np.uint32(h) << np.uint32(16)))


def bf16_narrow(a, r):
    """``a`` (finite) rounded stochastically to bfloat16, its bits (uint16):
    its float32 bits plus ``r``, 16 random bits, truncated (the kernels take
    two states' bits from one :func:`mix32`)."""
    return np.uint16(np.uint32(f32_bits(a) + r) >> np.uint32(16))


def bf16_nearest(a):
    """``a`` (finite) rounded to the nearest bfloat16 (ties to even), its bits."""
    b = f32_bits(a)
    r = np.uint32(np.uint32(0x7FFF) + np.uint32(np.uint32(b >> np.uint32(16))
                                                & np.uint32(1)))
    return np.uint16(np.uint32(b + r) >> np.uint32(16))


def bf16_low(w):
    """The bfloat16 value in the low half of the uint32 word ``w`` (two
    moments stored in one word: :func:`bf16_pair`), a float32."""
    return bits_f32(np.uint32(np.uint32(w) << np.uint32(16)))


def bf16_high(w):
    """The bfloat16 value in the high half of the uint32 word ``w``, a float32."""
    return bits_f32(np.uint32(np.uint32(w) & np.uint32(0xFFFF0000)))


def bf16_range(a):
    """``a`` (a new moment) as float32 times 1.0039215 (float32), for the
    guard to screen: infinite exactly where ``|float32(a)|`` is over
    bfloat16's largest value, 3.3895e38 (the float32 product overflows
    from there: 1.0039215 is the one float32 factor that puts the overflow
    between that value and the next float32), or where ``a`` is beyond
    float32's range or not finite.  Such a moment cannot be stored (its
    rounding could carry into the exponent: infinity), so the element is
    kept as for a non-finite value; one multiplication per moment."""
    return np.float32(a) * np.float32(1.0039215)


def f32_range(a):
    """``float32(a)``, for the guard to screen (int8 state): infinite where
    a float64 moment is beyond float32's range (a block's absmax is a
    float32); for float32 parameters ``a`` itself, no operation."""
    return np.float32(a)


def bf16_pair(a, ra, b, rb):
    """The word of two moments' bfloat16 bits: ``a`` rounded stochastically
    with the 16 random bits ``ra`` in the low half, ``b`` with ``rb`` in the
    high half (each as :func:`bf16_narrow`; both finite).  One word per
    element for two moments: one load, a shift and a mask to widen them, and
    LLVM merges the two halves in one vector permutation."""
    return np.uint32(np.uint32(np.uint32(f32_bits(a) + ra) >> np.uint32(16))
                     | np.uint32(np.uint32(f32_bits(b) + rb) & np.uint32(0xFFFF0000)))


def bf16_pair_nearest(a, b):
    """:func:`bf16_pair` rounded to nearest even (:func:`bf16_nearest`)."""
    return np.uint32(np.uint32(bf16_nearest(a))
                     | np.uint32(np.uint32(bf16_nearest(b)) << np.uint32(16)))


def fp8_encode(y, pre, top):
    """The code of ``y`` in ``[0, 1.875]`` in an 8-bit float without sign,
    3 mantissa bits (``pre`` = 2**(bias - 127), a float32 power of two; ``top``
    the largest code): ``y * pre`` in float32 has the code's bits above bit
    20 (its subnormals are the code's), rounded to nearest, ties up (half a
    code's ulp added, then truncated: three integer operations fewer than ties
    to even, 15% of the int8 step)."""
    c = np.uint32(np.uint32(f32_bits(y * pre) + np.uint32(0x80000)) >> np.uint32(20))
    return c if c < top else top


def q8_signed(a, inv):
    """The signed code of ``a`` (a first moment; ``inv`` = 1.875 / the block's
    absmax): the sign bit of ``a`` (bit 7) and the e4m3 code of ``|a| * inv``
    (bias 15, subnormals down to 2**-17)."""
    s = np.uint32(np.uint32(f32_bits(a) >> np.uint32(24)) & np.uint32(0x80))
    return np.uint8(s | fp8_encode(abs(a) * inv, np.float32(1.925929944387236e-34),
                                   np.uint32(127)))


def q8_signed_pre(a, ip):
    """:func:`q8_signed` with the block's factors folded: ``ip`` =
    ``q8_signed_prescale(inv, absmax)``, a float32 normal, so ``a * ip`` rounds once
    where ``abs(a) * inv * 2**-112`` rounded twice (the same bits except
    where the product is a float32 subnormal, the codes' subnormal range:
    there it is the single rounding of the exact product, the NumPy
    reference's ``quantize``); the sign comes with the product's bits, and
    no clamp to the top code (``|a| <= absmax``: the block's largest value
    is 1.875 within a rounding, code 127, so the shifted bits above the
    code's seven are zeros and the sign, at bit 11, which the truncation to
    8 bits drops): 6 vector operations per element where :func:`q8_signed`
    takes 9."""
    c = np.uint32(f32_bits(a * ip) + np.uint32(0x80000))
    return np.uint8(np.uint32(c >> np.uint32(20))
                    | np.uint32(np.uint32(c >> np.uint32(24)) & np.uint32(0x80)))


def q8_signed_prescale(inv, absmax):
    """``inv * 2**-112`` (``inv`` = :func:`q8_inverse`), the factor of
    :func:`q8_signed_pre`, where it and the block's ``absmax`` are float32
    normals; else 0, and the block is encoded by :func:`q8_signed`, which
    clamps to the top code (float32 state: an absmax above 30720; float64
    state: an absmax under float32's normals too, which is the float32
    rounding of the block's largest value with an error up to 2**-150, so
    that a value's product with ``ip`` could pass the top code)."""
    ip = inv * np.float32(1.925929944387236e-34)
    tiny = np.float32(1.1754943508222875e-38)
    return ip if ip >= tiny and absmax >= tiny else ip - ip


def q8_signed_code(a, inv, ip):
    """The signed code of ``a``: :func:`q8_signed_pre` where the block's
    folded factor ``ip`` is not 0, else :func:`q8_signed`."""
    return q8_signed_pre(a, ip) if ip > ip - ip else q8_signed(a, inv)


def q8_signed_raw(c):
    """The value of signed code ``c`` over 2**112, a float32 (exact): its sign
    bit moved to the float's, its e4m3 bits to bit 20 (the code sign-extended
    and shifted, the sign's copies between them cleared: three vector
    operations, not six)."""
    w = np.uint32(np.int32(np.int8(c)))
    return bits_f32(np.uint32(np.uint32(w << np.uint32(20)) & np.uint32(0x87FFFFFF)))


def q8_signed_value(c, scale):
    """The value of signed code ``c`` times ``scale`` (absmax / 1.875, in the
    parameters' dtype, which the value takes)."""
    return q8_signed_raw(c) * np.float32(5.192296858534828e+33) * scale


def q8_signed_fold(scale):
    """``scale * 2**112``: ``q8_signed_raw(c) * q8_signed_fold(scale)`` is
    :func:`q8_signed_value` bit for bit (one rounding of the same product)
    wherever it is finite (float32: a scale under 2**16), one multiplication
    fewer per element."""
    return scale * np.float32(5.192296858534828e+33)


def q8_unsigned(a, inv):
    """The unsigned code of ``a >= 0`` (a second moment): e5m3 (bias 31,
    subnormals down to 2**-33); a value > 0 never becomes 0 (code 1 at least:
    a first moment over a zero second moment would make a huge step)."""
    c = fp8_encode(a * inv, np.float32(1.262177448353619e-29), np.uint32(255))
    one = np.uint32(a > np.float32(0))
    return np.uint8(c if c > one else one)


def q8_unsigned_pre(a, ip):
    """:func:`q8_unsigned` with the block's factors folded (``ip`` =
    ``q8_unsigned_prescale(inv, absmax)``; see :func:`q8_signed_pre`), no clamp to
    the top code; code 1 at least for ``a > 0`` as a masked maximum: 6 vector
    operations per element where :func:`q8_unsigned` takes 12."""
    c = np.uint32(np.uint32(f32_bits(a * ip) + np.uint32(0x80000)) >> np.uint32(20))
    c1 = c if c > np.uint32(1) else np.uint32(1)
    return np.uint8(c1 if a > np.float32(0) else c)


def q8_unsigned_prescale(inv, absmax):
    """``inv * 2**-96``, the factor of :func:`q8_unsigned_pre`, where it and
    ``absmax`` are float32 normals; else 0 (float32 state: an absmax above
    about 2e9; see :func:`q8_signed_prescale`)."""
    ip = inv * np.float32(1.262177448353619e-29)
    tiny = np.float32(1.1754943508222875e-38)
    return ip if ip >= tiny and absmax >= tiny else ip - ip


def q8_unsigned_code(a, inv, ip):
    """The unsigned code of ``a``: :func:`q8_unsigned_pre` where ``ip`` is
    not 0, else :func:`q8_unsigned`."""
    return q8_unsigned_pre(a, ip) if ip > ip - ip else q8_unsigned(a, inv)


def q8_unsigned_raw(c):
    """The value of unsigned code ``c`` over 2**96, a float32 (exact)."""
    return bits_f32(np.uint32(np.uint32(c) << np.uint32(20)))


def q8_unsigned_value(c, scale):
    """The value of unsigned code ``c`` times ``scale`` (absmax / 1.875)."""
    return q8_unsigned_raw(c) * np.float32(7.922816251426434e+28) * scale


def q8_unsigned_fold(scale):
    """``scale * 2**96`` (see :func:`q8_signed_fold`; float32: a scale under 2**32)."""
    return scale * np.float32(7.922816251426434e+28)


def q8_scale(absmax, zero):
    """A block's scale, ``absmax / 1.875``, in ``zero``'s dtype."""
    return (absmax + zero) / (np.float32(1.875) + zero)


def q8_inverse(absmax, zero):
    """A block's ``1.875 / absmax`` in ``zero``'s dtype, the encoders' ``inv``;
    0 for an all-zero block, and where it overflows (float32 state: an absmax
    under 1.875 / the largest float32, about 5.5e-39), so that such a block's
    values flush to zero (a positive second moment to the smallest code)."""
    inv = (np.float32(1.875) + zero) / (absmax + zero) if absmax > np.float32(0) else zero
    return inv if inv - inv == zero else zero


def abs_bits(a):
    """The float32 bits of ``|a|`` (a uint32 whose order is the values' order:
    the block maximum is an integer maximum, which vectorises)."""
    return np.uint32(f32_bits(a) & np.uint32(0x7FFFFFFF))
