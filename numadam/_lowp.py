"""Optimizer state in bfloat16 or 8 bits (the option ``state_dtype``).

A method's *moment* states (:class:`numadam._methods.State` with
``moment=True``: Adam's ``exp_avg`` and ``exp_avg_sq``, RMSprop's
``square_avg``, ...) can be stored in less than the parameters' precision;
every other state (a copy of the parameters, a previous gradient, Rprop's
step sizes) keeps the parameters' dtype.  The arithmetic of a step is
always in the parameters' dtype: the kernels widen each stored element,
update it and narrow it again in the same pass
(:mod:`numadam._kernels.generate`, whose helpers are in
:mod:`numadam._kernels._math`).

``"bfloat16"``
    The upper 16 bits of the float32 value, stored as ``uint16`` (NumPy has
    no bfloat16).  Narrowed with stochastic rounding by default: 16 random
    bits added below the kept bits, then truncated, the bits from a counter
    hash of (the step's key, the element's index), so a run repeats bit for
    bit on any number of threads.  ``stochastic_rounding=False`` rounds to
    nearest even, which biases slowly moving averages (a second moment at
    beta2 = 0.999 stops moving once its increments are below half an ulp).
``"int8"``
    Blockwise quantisation (Dettmers et al. 2022): blocks of
    :data:`BLOCK` elements, one float32 absmax per block (the state
    ``<name>_absmax``), each element an 8-bit code of ``value / absmax *
    1.875``: a first moment as sign and e4m3 (bias 15, subnormals down to
    2**-17), a second moment as an unsigned e5m3 (bias 31, subnormals down
    to 2**-33; a value > 0 never becomes code 0); a block whose ``1.875 /
    absmax`` overflows flushes to zero (:func:`quantize`).  An array of fewer
    than :data:`MIN_INT8` elements keeps full-precision state.

This module is plain NumPy: the reference of the kernels' rounding (the
tests compare them bit for bit), the initial states and the checks of
loaded state.
"""
import sys

import numpy as np

#: the values of ``state_dtype``
FORMATS = (None, "bfloat16", "int8")
#: elements per int8 block (one float32 absmax each)
BLOCK = 256
#: arrays with fewer elements keep full-precision state under int8
MIN_INT8 = 4096
#: a block's largest magnitude maps to this code value (the largest of both codes)
QMAX = 1.875
#: the per-state constants XORed into the step's key (state k of a method)
STATE_KEYS = (0x00000000, 0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F)

_SIGNED = dict(bias=15, bits=7)      # the magnitude of a signed code: e4m3
_UNSIGNED = dict(bias=31, bits=8)    # e5m3


def check_state_dtype(name, value):
    """The option's check: None, "bfloat16" or "int8" (numpy's bfloat16-less
    dtype objects are not accepted: the names only)."""
    if isinstance(value, str) and value.lower() in ("bfloat16", "int8"):
        return value.lower()
    if value is None:
        return None
    if isinstance(value, (type, np.dtype)) and np.dtype(value) in (np.float32, np.float64):
        raise ValueError(f"option {name!r}: the state takes the parameters' dtype with "
                         f"None; got {value!r} (give None, 'bfloat16' or 'int8')")
    raise ValueError(f"option {name!r} must be None (the parameters' dtype), 'bfloat16' "
                     f"or 'int8'; got {value!r}")


def storage(state_dtype, size):
    """How a moment state of an array of ``size`` elements is stored: None
    (full precision), ``"bfloat16"`` or ``"int8"`` (None under int8 for an
    array of fewer than :data:`MIN_INT8` elements)."""
    if state_dtype == "int8" and size < MIN_INT8:
        return None
    return state_dtype


def blocks(size):
    """The number of int8 blocks of an array of ``size`` elements."""
    return (size + BLOCK - 1) // BLOCK


def stored(name, fmt):
    """``[(array name, dtype or None for the parameters', size function of the
    element count)]`` that hold a moment state ``name`` stored as ``fmt``."""
    same = lambda n: n  # noqa: E731
    if fmt is None:
        return [(name, None, same)]
    if fmt == "bfloat16":
        return [(name, np.dtype(np.uint16), same)]
    return [(name, np.dtype(np.uint8), same), (name + "_absmax", np.dtype(np.float32), blocks)]


def halves(words):
    """The two uint16 views of the uint32 array ``words`` (bfloat16 moments
    stored two to a word): ``(low halves, high halves)``, each shaped like
    ``words`` (strided: every other uint16 of its memory)."""
    h = words.view(np.uint16)
    lo = 0 if sys.byteorder == "little" else 1
    return h[..., lo::2], h[..., 1 - lo::2]


def joined(lo, hi):
    """The uint32 array whose halves the uint16 arrays ``lo`` and ``hi`` are
    (views made by :func:`halves`, or slices of them), else None."""
    base = lo.base
    if not (isinstance(base, np.ndarray) and hi.base is base and base.dtype == np.uint32
            and lo.dtype == hi.dtype == np.uint16 and lo.shape == hi.shape
            and lo.strides == hi.strides and lo.ndim >= 1 and lo.strides[-1] == 4
            and base.flags.c_contiguous):
        return None
    first = lo.ctypes.data if sys.byteorder == "little" else hi.ctypes.data
    off = first - base.ctypes.data
    if (hi.ctypes.data - lo.ctypes.data != (2 if sys.byteorder == "little" else -2)
            or off % 4):
        return None
    return np.ndarray(lo.shape, np.uint32, buffer=base, offset=off, strides=lo.strides)


def join(lo, hi):
    """``(words, lo, hi)``: the uint32 array holding the moments ``lo`` (low
    halves) and ``hi`` (uint16 bfloat16 bits) and the two as its views: the
    arrays themselves when they already are (:func:`joined`), else a new
    array of their values and views of it."""
    words = joined(lo, hi)
    if words is not None:
        return words, lo, hi
    words = np.empty(np.shape(lo), np.uint32)
    new_lo, new_hi = halves(words)
    new_lo[...] = lo
    new_hi[...] = hi
    return words, new_lo, new_hi


def step_key(t):
    """The uint32 key of step ``t``'s random bits (splitmix64 of ``t``)."""
    z = (t * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return np.uint32((z ^ (z >> 31)) & 0xFFFFFFFF)


# ---------------------------------------------------------------------------
# NumPy twins of the kernels' helpers (numadam._kernels._math)
# ---------------------------------------------------------------------------
def mix32(key, i):
    """The kernels' keyed Weyl sequence ``i * 0x9E3779B9 + key`` (mod 2**32) of
    element indices ``i``."""
    i = np.asarray(i).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    return ((i * np.uint64(0x9E3779B9) + np.uint64(key)) & np.uint64(0xFFFFFFFF)).astype(
        np.uint32)


def bf16_widen(h, dtype=np.float32):
    """Stored bfloat16 bits (uint16) -> values of ``dtype``."""
    return (np.asarray(h, np.uint16).astype(np.uint32) << np.uint32(16)).view(
        np.float32).astype(dtype)


def random_bits(key, index, slot):
    """The 16 random bits of the ``slot``-th moment (among those stored in
    bfloat16) at element ``index`` under the step's ``key``: moments 0 and 1
    take the low and the high half of ``mix32(key ^ STATE_KEYS[0], index)``,
    moments 2 and 3 those of ``STATE_KEYS[1]``'s, and so on."""
    h = mix32(np.uint32(key) ^ np.uint32(STATE_KEYS[slot // 2]), index)
    return ((h >> np.uint32(16 * (slot % 2))) & np.uint32(0xFFFF)).astype(np.uint32)


def bf16_narrow(a, bits=None):
    """Values -> bfloat16 bits (uint16): through float32, then stochastic
    rounding with the 16 random ``bits`` (:func:`random_bits`), or round to
    nearest even when ``bits`` is None."""
    b = np.asarray(a).astype(np.float32).view(np.uint32).astype(np.uint64)
    if bits is not None:
        r = np.asarray(bits).astype(np.uint64)
    else:
        r = np.uint64(0x7FFF) + ((b >> np.uint64(16)) & np.uint64(1))
    return (((b + r) & np.uint64(0xFFFFFFFF)) >> np.uint64(16)).astype(np.uint16)


def code_values(signed):
    """The magnitudes of the codes, from the formula: index c of a 7-bit
    (signed: e4m3, bias 15) or 8-bit (unsigned: e5m3, bias 31) code, value
    ``2**(e - bias) * (1 + f/8)`` (e > 0) or ``2**(1 - bias) * f/8``."""
    f = _SIGNED if signed else _UNSIGNED
    c = np.arange(2 ** f["bits"])
    e, m = c >> 3, c & 7
    return np.where(e > 0, np.ldexp(1.0 + m / 8.0, e - f["bias"]),
                    np.ldexp(m / 8.0, 1 - f["bias"]))


def decode_table(signed):
    """The value of every one of the 256 codes (a block's absmax = 1.875)."""
    mag = code_values(signed)
    return np.concatenate([mag, -mag]) if signed else mag


def encode(y, signed):
    """The codes of ``y`` (already divided by the block's scale: ``|y| <=
    1.875``), by the NumPy reference of the kernels' rounding: ``y`` in float32
    times 2**(bias-127) (rounded once to float32, as the kernel's multiply),
    then the nearest code value, a tie to the larger magnitude (the kernel adds
    half a code's ulp to the bits and truncates); a positive value under the
    unsigned code never rounds to 0."""
    f = _SIGNED if signed else _UNSIGNED
    y = np.asarray(y)
    # the kernel's float32 product: exact unless it is a float32 subnormal
    scaled = (np.abs(y) * 2.0 ** (f["bias"] - 127)).astype(np.float32)
    return _codes(scaled, y, signed)


def _codes(scaled, y, signed):
    """The codes of the float32 products ``scaled`` (``|y| * 1.875 / absmax *
    2**(bias-127)``, as the kernels round it) of the values ``y`` (their sign,
    and whether they are positive)."""
    f = _SIGNED if signed else _UNSIGNED
    mag = np.asarray(scaled, np.float32).astype(np.float64) * 2.0 ** (127 - f["bias"])
    table = code_values(signed)
    top = table.size - 1
    hi = np.clip(np.searchsorted(table, mag), 1, top)
    lo = hi - 1
    dlo, dhi = mag - table[lo], table[hi] - mag
    code = np.where(dlo < dhi, lo, hi)
    code = np.where(mag >= table[top], top, code)
    if signed:   # the sign bit of the value (-0.0 too)
        code = np.where(np.signbit(y), code | 128, code)
    else:
        code = np.where((code == 0) & (y > 0), 1, code)
    return code.astype(np.uint8)


def quantize(a, signed):
    """Blockwise int8 state of ``a`` (flat): ``(codes, absmax)``, as the
    kernels write them: absmax in float32; ``inv = 1.875 / absmax`` in ``a``'s
    dtype, 0 where absmax is 0 or ``inv`` overflows (the block flushes to
    zero); where ``inv * 2**(bias-127)`` and absmax are float32 normals (a
    float64 block's absmax under them bounds its values too coarsely), each code from
    the one rounding of ``|a| * (inv * 2**(bias-127))`` to float32 (the
    kernels' folded encoder), else from ``|a| * inv`` in ``a``'s dtype, then
    :func:`encode`."""
    f = _SIGNED if signed else _UNSIGNED
    a = np.asarray(a).reshape(-1)
    T = a.dtype.type
    nb = blocks(a.size)
    pad = np.zeros(nb * BLOCK, a.dtype)
    pad[:a.size] = a
    absmax = np.abs(pad.astype(np.float32)).reshape(nb, BLOCK).max(axis=1)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(absmax > 0, T(QMAX) / absmax.astype(a.dtype), T(0)).astype(a.dtype)
    inv = np.where(np.isfinite(inv), inv, T(0)).astype(a.dtype)
    ip = (inv * T(2.0 ** (f["bias"] - 127))).astype(a.dtype)
    tiny = np.finfo(np.float32).tiny
    ip = np.where((ip >= tiny) & (absmax >= tiny), ip, T(0)).astype(a.dtype)
    mag = np.abs(pad).reshape(nb, BLOCK)
    y = (mag * inv[:, None]).astype(a.dtype)
    scaled = np.where(ip[:, None] > 0, (mag * ip[:, None]).astype(a.dtype).astype(np.float32),
                      (y * T(2.0 ** (f["bias"] - 127))).astype(a.dtype).astype(np.float32))
    n = a.size
    return (_codes(scaled.reshape(-1)[:n], pad[:n], signed), absmax.astype(np.float32))


def dequantize(codes, absmax, signed, dtype=np.float32):
    """The values of blockwise int8 state, in ``dtype``."""
    codes = np.asarray(codes, np.uint8).reshape(-1)
    T = np.dtype(dtype).type
    scale = (np.asarray(absmax, np.float32).astype(dtype) / T(QMAX))
    vals = decode_table(signed)[codes].astype(np.float32).astype(dtype)
    return vals * np.repeat(scale, BLOCK)[:codes.size]


def fill(value, size, fmt, signed, dtype):
    """The stored arrays of a moment state whose elements all start at
    ``value``: ``{suffix: array}`` (suffix ``""`` and, under int8, ``"_absmax"``)."""
    if fmt is None:
        return {"": np.full(size, value, dtype)}
    if fmt == "bfloat16":
        return {"": np.full(size, bf16_narrow(np.float32(value)), np.uint16)}
    codes, absmax = quantize(np.full(size, value, dtype), signed)
    return {"": codes, "_absmax": absmax}


def values(arrays, name, fmt, signed, dtype):
    """The float values of a stored moment state (``arrays`` by name)."""
    if fmt is None:
        return np.asarray(arrays[name])
    if fmt == "bfloat16":
        return bf16_widen(arrays[name], dtype)
    return dequantize(arrays[name], arrays[name + "_absmax"], signed, dtype)


__all__ = ["FORMATS", "BLOCK", "MIN_INT8", "QMAX", "storage", "stored", "step_key",
           "mix32", "random_bits", "bf16_widen", "bf16_narrow", "code_values", "decode_table",
           "encode",
           "quantize", "dequantize", "fill", "values"]
