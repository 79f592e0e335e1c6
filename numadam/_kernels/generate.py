"""Every kernel of a method, generated from its one per-element function.

A method's declaration (:class:`numadam._methods.Method`) holds ONE function
that updates one element: ``update(x, g, *states, *scalars, *flags)`` returns
the new ``(x, *states)``.  From it this module writes the source of every
kernel the package runs, as numba builds ``@vectorize`` kernels from one
scalar function:

- per *variant* (an assignment of the method's constant flags, e.g. RMSprop's
  ``centered`` and ``use_momentum``; a state array with ``when=flag`` exists
  only in the variants where the flag is set):

  * ``<v>_at``: one element's guarded update (read the element, update it,
    store the new values only if they are all finite, return 1 if not);
  * ``<v>_serial``: the serial loop, ``error_model="numpy"``, counting the
    guarded elements in int32 (an int64 count halves the float32 vector
    width), with a second copy of the loop for the common step whose
    ``gmul``, ``clip`` and ``wd`` are constants (``1``, ``inf``, ``0``: LLVM
    folds them away, about 15% of a compute-bound step, bitwise the same);
  * ``<v>_parallel``: fixed chunks of the serial loop under ``prange``;
  * the CUDA kernel (a grid-stride loop over ``<v>_at``), in a second module
    imported only with :mod:`numba.cuda`;

- and ``<v>_flagged``, the serial loop that also stores each element's
  guard flag (the many-problems loop steps a run of problems at once).

The source is written to a cache directory (:func:`cache_dir`) under a name
that is the hash of everything the kernels inline -- the generated text
(which holds ``update``'s own source and :mod:`numadam._kernels._math`'s
helpers), :mod:`numadam._kernels.cpu` and numba's version -- and imported from there,
so numba's ``cache=True`` works (it needs a source file) and a change to the
per-element math can never load a stale kernel.  Nothing compiles here:
numba compiles each kernel on its first call.
"""
import hashlib
import importlib.util
import inspect
import itertools
import os
import sys
import tempfile
import textwrap
import threading

import numpy as np

_LOCK = threading.RLock()
_MODULES = {}
#: the user's functions a generated module compiles in, read by the module as
#: it imports (key -> functions)
PENDING = {}

#: the names of the scalars that the common step passes as constants
PLAIN = ("gmul", "clip", "wd")

#: the flag of a rule's cautious variants (option ``cautious``): they get a
#: count pass, ``<v>_agree_serial`` / ``_parallel``
CAUTIOUS = "cautious_step"


def cache_dir():
    """Where the generated modules (and numba's cache of them) are written.

    ``$NUMADAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/numadam`` or
    ``~/.cache/numadam``; a per-user directory under the system's temporary
    directory when none of these can be written.
    """
    given = os.environ.get("NUMADAM_CACHE_DIR")
    if given:
        return given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                           ".cache")
    return os.path.join(base, "numadam")


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def _kernel_dir():
    path = os.path.join(cache_dir(), "kernels")
    if _writable(path):
        return path
    path = os.path.join(tempfile.gettempdir(), f"numadam-{os.getuid()}", "kernels")
    os.makedirs(path, exist_ok=True)
    return path


def _inlined_sources():
    """The text of the modules every generated kernel inlines (and numba's version)."""
    import numba

    from . import cpu
    return inspect.getsource(cpu) + numba.__version__


#: njit options of a user's function that its copy inlined into a loop does
#: not take: caching (the loop is cached), parallel (it runs inside the loop)
_NOT_INLINED = ("cache", "parallel", "inline", "forceinline", "nopython")


def inlined(fn, error_model="python"):
    """The user's njit function ``fn`` compiled again for a loop to inline:
    with ``fn``'s own options (``fastmath``, ``error_model``, ...) less
    :data:`_NOT_INLINED`, typed and compiled by itself as ``fn`` is, and
    marked for LLVM to inline (``forceinline``); the options it leaves unset
    given numba's defaults, which a call from Python gets and a call from
    compiled code would not (numba passes a caller's ``error_model`` and
    ``fastmath`` on to a callee that does not set them), or ``error_model``
    (minimize_many's loop: "numpy", a division by zero stops one problem).  (numba's ``inline="always"``
    types the function's IR inside its caller, which may compute otherwise:
    ``x * np.arange(n) / n`` of a float32 ``x`` in float32, twice rounded,
    where the function by itself computes it in float64, rounded once.)"""
    from numba import njit
    # numba's defaults of a function called from Python, set: a function that
    # does not set them inherits its caller's (the loops' error_model="numpy")
    opts = {"error_model": error_model, "fastmath": False}
    opts.update((k, v) for k, v in fn.targetoptions.items() if k not in _NOT_INLINED)
    return njit(forceinline=True, **opts)(fn.py_func)


def load(source, stem):
    """Import the generated ``source`` as a module, written under its hash.

    The file is written once (atomically: other processes may be writing the
    same one); its name holds the hash, so numba's cache of it stays valid
    until the source or anything it inlines changes.
    """
    digest = hashlib.sha256((source + _inlined_sources()).encode()).hexdigest()[:16]
    name = f"numadam_{stem}_{digest}"
    with _LOCK:
        module = _MODULES.get(name)
        if module is not None:
            return module
        path = os.path.join(_kernel_dir(), name + ".py")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module   # numba's cache finds the file through it
        spec.loader.exec_module(module)
        _MODULES[name] = module
        return module


# ---------------------------------------------------------------------------
# the shape of an update function
# ---------------------------------------------------------------------------
class Signature:
    """``update``'s parameters split into states, scalars and flags."""

    def __init__(self, update, n_states, flags, bools):
        params = list(inspect.signature(update).parameters)
        if params[:2] != ["x", "g"]:
            raise TypeError(f"{update.__name__}: an update function's first parameters "
                            f"are x and g; got {params[:2]}")
        nf = len(flags)
        self.states = params[2:2 + n_states]
        self.scalars = params[2 + n_states:len(params) - nf]
        self.flags = params[len(params) - nf:]
        if len(self.states) != n_states or self.flags != list(flags):
            raise TypeError(f"{update.__name__}: expected (x, g, {n_states} states, "
                            f"scalars..., flags {list(flags)}); got {params}")
        unknown = set(bools) - set(self.scalars)
        if unknown:
            raise TypeError(f"{update.__name__}: bools {sorted(unknown)} are not scalars")
        clash = [p for p in params if p.startswith("_") or p in _reserved()]
        if clash:
            raise TypeError(f"{update.__name__}: parameter names {clash} are taken by "
                            "the generated kernels (names starting with '_', the "
                            "helpers of numadam._kernels._math, math, np, update)")
        _check_globals(update)
        self.bools = tuple(bools)
        self.plain = all(p in self.scalars for p in PLAIN)


#: the helpers the generated modules define from :mod:`numadam._kernels.cpu`'s
#: intrinsics (bitcasts in place, a fused multiply-add) instead of copying
#: their Python source
BITCASTS = ("f32_bits", "bits_f32", "screen")


def _guard(values):
    """The expression that is zero when every one of ``values`` (expressions,
    ``x``'s new value first) is finite, and NaN otherwise: ``x * 0`` screened
    by each of the others (:func:`numadam._kernels._math.screen`)."""
    if not values:
        return "_zero"
    out = f"{values[0]} * _zero"
    for v in values[1:]:
        out = f"screen({v}, {out})"
    return out


def _helper_functions():
    from . import _math
    fns = [f for f in vars(_math).values()
           if inspect.isfunction(f) and f.__module__ == _math.__name__
           and f.__name__ not in BITCASTS]
    return sorted(fns, key=lambda f: f.__code__.co_firstlineno)


def _reserved():
    return {f.__name__ for f in _helper_functions()} | set(BITCASTS) | {"math", "np", "update", "njit",
                                                         "prange", "cuda", "caution_sign",
                                                         "first_pass"}


def _check_globals(update):
    """The generated module holds ``math``, ``np`` and the helpers only: refuse an
    update function that reads another global (it would fail to compile)."""
    import math

    import numpy as np
    allowed = {f.__name__: f for f in _helper_functions()}
    allowed.update(math=math, np=np)
    names = inspect.getclosurevars(update)
    other = sorted(k for k, v in names.globals.items() if allowed.get(k) is not v)
    other += sorted(set(names.nonlocals))
    if other:
        raise TypeError(f"{update.__name__} reads {other}: an update function may use "
                        "only its arguments, math, np and the helpers of "
                        "numadam._kernels._math (it is copied into a generated module)")


def variants(flags):
    """Every assignment of the flags, as tuples of bools (one when no flags)."""
    return list(itertools.product((False, True), repeat=len(flags)))


def variant_name(base, flags, values):
    return base + "".join(f"__{f}" for f, on in zip(flags, values) if on)


def present(sig, whens, values):
    """The update's state parameters that exist in this variant."""
    on = dict(zip(sig.flags, values))
    return [s for s, when in zip(sig.states, whens) if when is None or on[when]]


# ---------------------------------------------------------------------------
# the CPU module
# ---------------------------------------------------------------------------
_CPU_HEADER = '''"""Generated by numadam._kernels.generate from {qualname}; do not edit."""
import math

import numpy as np
from numba import carray, njit, prange
from numba.cpython.unsafe.tuple import tuple_setitem

from numadam._kernels._pointers import as_pointer
from numadam._kernels.cpu import _ZERO32, _chunking, _iadd32, _plain, _row_sum  # noqa: F401
from numadam._kernels.cpu import _bits_to_float, _float_to_bits, _fma_zero

_KERNEL = dict(error_model="numpy", cache=True, nogil=True)


@njit(inline="always")
def f32_bits(a):   # bitcasts in place (numba's scalar .view is an out-of-line call)
    return _float_to_bits(np.float32(a))


@njit(inline="always")
def bits_f32(u):
    return _bits_to_float(np.uint32(u))


@njit(inline="always")
def screen(a, c):   # a * 0 + c, one fused multiply-add (the guard; see _math.screen)
    return _fma_zero(a, c)
{helpers}

@njit(inline="always")
{update}
'''

_AT = '''

@njit(inline="always")
def {v}_at(_i, x, g, {args}_zero):
    _x_old = x[_i]
{reads}
    {news} = update(_x_old, g[_i], {call}{flags})
    _ok = {ok} == _zero
    x[_i] = keep(_ok, _x_new, _x_old)
{stores}
    return 0 if _ok else 1
'''

#: the compiled loop's step for tiny problems (``TINY`` elements or fewer): the
#: iterate and the states are tuples (registers: the loop carries them, not
#: memory), ``g`` a tuple; the new iterate is also stored into ``x`` (the
#: objective reads it there).  The guard's verdict of all the elements is one
#: branch (the elements' own ``keep`` runs only when it fails), so no
#: select waits on it: the same values as ``<v>_at`` on each element.
#: Returns ``(kept, new (x, states) tuples)``
_TINY = '''

@njit(forceinline=True, error_model="numpy")
def {v}_tiny_core(x, g, _st, {args}_zero):
{unpack}
    _e = _zero
    for _i in range(len(_x_o)):
        {news} = update(_x_o[_i], g[_i], {call}{flags})
        _e += {ok}
{sets}
    if not _e == _zero:   # some element is not finite: each element's guard
        _bad = 0
        for _i in range(len(_x_o)):
            _ok = {ok_i} == _zero
{keeps}
            _bad += 0 if _ok else 1
            x[_i] = _x_n[_i]
        # (at least one: said so, the loop knows that it stops here)
        return max(_bad, 1), ({packed})
    for _i in range(len(_x_o)):
        x[_i] = _x_n[_i]
    return 0, ({packed})


@njit(inline="always", error_model="numpy")
def {v}_tiny(x, g, _st, {scalars}):
    _T = x.dtype.type
{casts}
    _zero = _T(0)
{plain}    return {v}_tiny_core(x, g, _st, {args}_zero)
'''

_TINY_PLAIN = '''    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        _one, _inf = _T(1), _T(np.inf)
        return {v}_tiny_core(x, g, _st, {plain_args}_zero)
'''

_SERIAL = '''

@njit(**_KERNEL)
def {v}_{kind}({params}):
    _T = x.dtype.type
{casts}
    _zero = _T(0)
    _bad = _ZERO32
{plain}
{weyl}    for _i in range(x.size):
        _b = np.int32({kept}{v}_at(_i, x, g, {args}_zero))
{flag}        _bad = _iadd32(_bad, _b)
{weyl_next}    return {result}
'''

_PLAIN_LOOP = '''    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        _one, _inf = _T(1), _T(np.inf)
{weyl}        for _i in range(x.size):
            _b = np.int32({kept}{v}_at(_i, x, g, {plain_args}_zero))
{flag}            _bad = _iadd32(_bad, _b)
{weyl_next}        return {result}
'''

#: the serial loops' count (``kept``, ``result`` of :data:`_SERIAL`): the loop
#: adds up the elements the guard kept, ``1 - <v>_at(...)``, and returns the
#: others' count (exact modulo 2**32, so for any size): the count's test is
#: then the select's own (``_ok``), where counting ``<v>_at``'s 1 for a bad
#: element took a second comparison per vector (Adam's element loop: 61 -> 59
#: instructions per 32 elements in float32, 71 -> 69 with bfloat16 state, in
#: cache 2-4% faster there).  The flagged loops store each element's flag and
#: count those as they are
COUNT_KEPT = dict(kept="1 - ", result="np.int32(np.int32(x.size) - _bad)")
COUNT_FLAGGED = dict(kept="", result="_bad")

#: bfloat16's random bits: the loops carry each element's Weyl value plus the
#: step's key, ``(_off + _i) * 0x9E3779B9 + _key`` (mod 2**32), as a uint32
#: induction variable (computed from the int64 index it cost a widening, a
#: narrowing and a vector multiplication per element: 10% of the step; the key
#: added per element, one more vector addition: 4%); ``<v>_at`` takes it as
#: the first pair of moments' bits (``STATE_KEYS[0]`` is 0) and adds the
#: other pairs' key differences
_WEYL = "{pad}_w = np.uint32(np.uint32(np.uint32(_off) * np.uint32(0x9E3779B9)) + _key)\n"
_WEYL_NEXT = "{pad}    _w = np.uint32(_w + np.uint32(0x9E3779B9))\n"

#: ... computed for element ``_i`` (the device's grid-stride loop)
_WEYL_AT = {"_w": "np.uint32(np.uint32(np.uint32(_off + _i) * np.uint32(0x9E3779B9)) + _key)"}

#: the flagged loop's extra store: which elements the guard kept (the
#: many-problems loop steps a run of problems at once and must know which
#: of them overflowed)
_FLAG = "{pad}_flags[_i] = np.int8(_b)\n"

#: fixed chunks of a serial loop under prange, the counts summed (the step's
#: guard, or the cautious count pass: ``{v}`` then ends with ``_agree``)
_PARALLEL = '''

@njit(parallel=True, **_KERNEL)
def {v}_parallel(x, g, {states}*_scalars):
    _nch, _size = _chunking(x.size)
    _parts = np.zeros(_nch, np.int64)
    for _c in prange(_nch):
        _lo, _hi = _c * _size, min(_c * _size + _size, x.size)
        _parts[_c] = {v}_serial(x[_lo:_hi], g[_lo:_hi], {slices}*_scalars)
    return _parts.sum()
'''

#: the step over several arrays of one dtype (parameter groups): blocks of
#: arrays, each ``blocks[b] = (array, lo, hi, the array's offset in the
#: states)``, ``xp`` and ``gp`` the addresses of the parameters and the
#: gradients, ``proto`` an empty array of their dtype, ``cs`` each array's
#: scale of the cautious step (its own mask's mean); the serial loop per
#: block, the counts summed (``{v}`` ends with ``_agree`` for the count pass,
#: which returns the blocks' counts)
_MULTI = '''

@njit({par}**_KERNEL)
def {v}_multi_{kind}(xp, gp, blocks, proto, cs, {states}*_scalars):
    _T = proto.dtype.type
    _parts = np.zeros(blocks.shape[0], np.int64)
    for _b in {loop}(blocks.shape[0]):
        _j, _lo, _hi, _o = blocks[_b, 0], blocks[_b, 1], blocks[_b, 2], blocks[_b, 3]
        _x = carray(as_pointer(xp[_j], _T), _hi)[_lo:]
        _g = carray(as_pointer(gp[_j], _T), _hi)[_lo:]
        _parts[_b] = {v}_serial(_x, _g, {slices}{scalars})
    return _parts{ret}
'''


def _multi_source(v, have, cautious, agree=False, stored=None):
    """``<v>_multi_serial`` and ``<v>_multi_parallel`` (see :data:`_MULTI`);
    ``stored``: the kernel's array parameters of low-precision state (an int8
    state's absmax from the block's column 4, the offset of the step's random
    bits the block's place in the state)."""
    scalars = "*_scalars[:-1], cs[_j]" if cautious and not agree else "*_scalars"
    name = v + ("_agree" if agree else "")
    stored = have if stored is None else stored
    return "".join(_MULTI.format(
        v=name, kind=kind, par=par, loop=loop, scalars=scalars,
        states=_join(p for p in stored if p != "_off"),
        slices=_join(_slice(p, "_o + _lo", "_o + _hi", "blocks[_b, 4]", "") for p in stored),
        ret="" if agree else ".sum()")
        for kind, par, loop in (("serial", "", "range"),
                                ("parallel", "parallel=True, ", "prange")))


#: the first pass of a two-pass rule (``Rule.first``: a reduction between
#: the passes, LAMB's norms, Prodigy's dot products): each element's new state
#: values (guarded: the old ones kept when one is not finite) and its
#: contributions to the sums, added in float64 in blocks of ``SUMSQ_BLOCK``
#: elements (four interleaved accumulators per sum; a non-finite contribution
#: adds nothing), the blocks' sums in order: the same bits serial, parallel or
#: block by block
_FIRST = '''

@njit(inline="always")
def {v}_first_at(_i, x, g, _buf, {args}_zero):
    """Element ``_i``'s first pass; its contributions into ``_buf``'s rows
    (as they are: a select here would stop vectorisation; the row sums leave
    out the non-finite ones); 1 where a new state value is not finite."""
{reads}
    {news}, {contribs} = first_pass(x[_i], g[_i], {call}{flags})
    _ok = {ok} == _zero
{stores}
{buf_store}
    return 0 if _ok else 1


@njit(**_KERNEL)
def {v}_first_block({bparams}):
    """One block (at most {block} elements): the element loop, every index
    the loop's own (it vectorises: no reduction in it but the int32 count),
    then the float64 sums of ``_buf``'s rows, four interleaved accumulators."""
    _T = x.dtype.type
{casts}
    _zero = _T(0)
    _bad = _ZERO32
    if {has_plain} and _plain(gmul, clip, wd):  # the common case, scalars as constants
        _one, _inf = _T(1), _T(np.inf)
{loop_plain}
    else:
{loop}
    return (np.int64(x.size - _bad), {block_sums})   # (_bad: the kept, see COUNT_KEPT)


@njit(**_KERNEL)
def {v}_first_serial(x, g, {states}*_scalars):
    _buf = np.empty({k} * {block})
    _bad = 0
{tot_init}
    for _lo in range(0, x.size, {block}):
        _hi = min(_lo + {block}, x.size)
        _p = {v}_first_block(x[_lo:_hi], g[_lo:_hi], _buf, {slices}*_scalars)
        _bad += _p[0]
{tot_add}
    return (_bad, {tot})


@njit(parallel=True, **_KERNEL)
def {v}_first_parallel(x, g, {states}*_scalars):
    _nb = (x.size + {block} - 1) // {block}
    _parts = np.zeros(({k1}, _nb))
    for _c in prange(_nb):
        _lo, _hi = _c * {block}, min(_c * {block} + {block}, x.size)
        _r = {v}_first_block(x[_lo:_hi], g[_lo:_hi], np.empty({k} * {block}), {slices}*_scalars)
{parts_store}
    _bad = 0
{tot_init}
    for _c in range(_nb):
        _bad += np.int64(_parts[0, _c])
{tot_parts}
    return (_bad, {tot})
'''

#: the first pass over several arrays: each block's ``(bad, *sums)`` as a
#: column (``cpu.array_sums`` adds each array's blocks in order)
_FIRST_MULTI = '''

@njit({par}**_KERNEL)
def {v}_first_multi_{kind}(xp, gp, blocks, proto, {states}*_scalars):
    _T = proto.dtype.type
    _parts = np.zeros(({k1}, blocks.shape[0]))
    for _b in {loop}(blocks.shape[0]):
        _j, _lo, _hi, _o = blocks[_b, 0], blocks[_b, 1], blocks[_b, 2], blocks[_b, 3]
        _x = carray(as_pointer(xp[_j], _T), _hi)[_lo:]
        _g = carray(as_pointer(gp[_j], _T), _hi)[_lo:]
        _r = {v}_first_block(_x, _g, np.empty({k} * {block}), {mslices}*_scalars)
{mparts_store}
    return _parts
'''


#: a two-pass rule's first pass of one element from low-precision state, for
#: the device's kernel (:data:`_CUDA_FIRST_LOWP`): ``(1 where a new state value
#: is not finite, *the element's contributions)``; it stores nothing (as
#: ``<v>_first_at`` of low-precision state)
_FIRST_ELEM = '''

@njit(inline="always")
def {v}_first_elem(_i, x, g, {args}_zero):
{reads}
    {news}, {contribs} = first_pass(x[_i], g[_i], {call}{flags})
    _ok = {ok} == _zero
    return (0 if _ok else 1), {contribs}
'''


def _first_loop(v, args, q8=None, arrays=()):
    """The first pass's element loop over one block (``args``: the element
    function's arguments after ``_buf``).  int8 state (``q8``: each moment's
    ``(scale, absmax array)``): by int8 blocks, each block's scales computed
    once, the element function's ``arrays`` sliced to the block (a loop from
    0 over slices vectorises)."""
    call = "_bad = _iadd32(_bad, np.int32(1 - {v}_first_at(_i, {x}, {g}, {b}, {args}_zero)))"
    if not q8:
        return (f"        for _i in range(x.size):\n"
                f"            {call.format(v=v, x='x', g='g', b='_buf', args=_join(args))}")
    from .._lowp import BLOCK
    lines = [f"        for _q in range(0, x.size, {BLOCK}):",
             f"            _r = min(_q + {BLOCK}, x.size)"]
    lines += [f"            {sc} = q8_scale({am}[_q >> 8], _zero)" for sc, am in q8]
    lines += ["            _xq, _gq, _bq = x[_q:_r], g[_q:_r], _buf[_q:]"]
    lines += [f"            _{a}_q = {a}[_q:_r]" for a in arrays]
    lines += ["            for _i in range(_xq.size):",
              "                " + call.format(v=v, x="_xq", g="_gq", b="_bq", args=_join(
                  f"_{a}_q" if a in arrays else a for a in args))]
    return "\n".join(lines)


def _first_source(v, sig, have, casts, values, first, sums, stored=None, at_args=None,
                  read=None, q8=None):
    """The first pass of a two-pass rule (see :data:`_FIRST`).  Low-precision
    state: ``stored`` the kernels' array parameters (with the step's ``_key,
    _off``), ``at_args`` the element function's arrays and ``read(s)`` the
    expression of state ``s``'s element ``_i`` (decoded); that first pass
    stores nothing (the second pass, :data:`_LOWP_TWO_PASS`, updates the
    states from their old values and stores them once)."""
    from .cpu import SUMSQ_BLOCK
    k = len(sums)
    same = _passthrough(first, sig, lead=0, extra=k)
    lowp = stored is not None
    stored = have if stored is None else stored
    at_args = have if at_args is None else at_args
    arrays = [a for a in at_args if a not in {sc for sc, _ in q8 or ()}]
    read = read or (lambda s: f"{s}[_i]")
    flags = ", ".join(map(str, values))
    call = _join([f"_{s}_old" if s in have else "_zero" for s in sig.states] + sig.scalars)
    c = [f"_c{i}" for i in range(k)]
    tup = lambda items: ", ".join(items) + ("," if len(items) == 1 else "")  # noqa: E731
    plain_args = at_args + ([{"gmul": "_one", "clip": "_inf", "wd": "_zero"}.get(s, s)
                             for s in sig.scalars] if sig.plain else sig.scalars)
    return _FIRST.format(
        v=v, args=_join(at_args + sig.scalars), call=call, flags=flags, block=SUMSQ_BLOCK,
        loop_plain=_first_loop(v, plain_args, q8, arrays),
        loop=_first_loop(v, at_args + sig.scalars, q8, arrays),
        reads="\n".join(f"    _{s}_old = {read(s)}" for s in have) or "    pass",
        news=", ".join(f"_{s}_new" for s in sig.states), contribs=", ".join(c),
        ok=_guard([f"_{s}_new" for s in have]),
        stores="\n".join(f"    {s}[_i] = keep(_ok, _{s}_new, _{s}_old)" for s in have
                          if s not in same and not lowp)
        or "    pass",
        buf_store="\n".join(f"    _buf[{i * SUMSQ_BLOCK} + _i] = _c{i}" for i in range(k)),
        block_sums=tup([f"_row_sum(_buf[{i * SUMSQ_BLOCK}:], x.size)" for i in range(k)]),
        bparams=", ".join(["x", "g", "_buf"] + stored + sig.scalars), casts=casts or "    pass",
        has_plain=sig.plain,
        tot_init="\n".join(f"    _t{i} = 0.0" for i in range(k)),
        tot_add="\n".join(f"        _t{i} += _p[{i + 1}]" for i in range(k)),
        tot=tup([f"_t{i}" for i in range(k)]), states=_join(stored), k=k, k1=k + 1,
        slices=_join(_slice(p, "_lo", "_hi") for p in stored),
        parts_store="\n".join(f"        _parts[{i}, _c] = _r[{i}]" for i in range(k + 1)),
        tot_parts="\n".join(f"        _t{i} += _parts[{i + 1}, _c]" for i in range(k))
    ) + "".join(_FIRST_MULTI.format(
        v=v, kind=kind, par=par, loop=loop, states=_join(p for p in stored if p != "_off"),
        k=k, k1=k + 1, block=SUMSQ_BLOCK,
        mslices=_join(_slice(p, "_o + _lo", "_o + _hi", "blocks[_b, 4]", "") for p in stored),
        mparts_store="\n".join(f"        _parts[{i}, _b] = _r[{i}]" for i in range(k + 1)))
        for kind, par, loop in (("serial", "", "range"),
                                ("parallel", "parallel=True, ", "prange")))


def _join(names):
    return "".join(f"{n}, " for n in names)


def _helpers():
    """The source of :mod:`numadam._kernels._math`'s functions, each inlined."""
    return "".join(f'\n\n@njit(inline="always")\n{inspect.getsource(f).rstrip()}\n'
                   for f in _helper_functions())


_AGREE = '''

@njit(inline="always")
def {v}_agree_at(_i, x, g, {args}_zero):
    """1 when element ``_i``'s update agrees in sign with the gradient."""
    return np.int32(caution_sign({call}) > _zero)


@njit(**_KERNEL)
def {v}_agree_serial({params}):
    _T = x.dtype.type
{casts}
    _zero = _T(0)
    _n = _ZERO32   # an int32 count (int64 halves the vector width), as the step's guard
{plain}
    for _i in range(x.size):
        _n = _iadd32(_n, {v}_agree_at(_i, x, g, {args}_zero))
    return _n
'''

_AGREE_PLAIN = '''    if _plain(gmul, clip, wd):  # the common case, its scalars as constants
        _one, _inf = _T(1), _T(np.inf)
        for _i in range(x.size):
            _n = _iadd32(_n, {v}_agree_at(_i, x, g, {plain_args}_zero))
        return _n
'''


def _agree_source(v, caution, sig, have, casts, values, stored=None, read=None):
    """``<v>_agree_at`` (one element), ``<v>_agree_serial`` and ``_parallel``:
    how many elements' update agrees in sign with the gradient
    (``caution_sign(...) > 0``), read from the arrays ``caution`` names only
    (the cautious step's count pass).  Low-precision state: ``stored`` the
    kernels' array parameters (with the step's ``_key, _off``) and ``read(s)``
    the expression of state ``s``'s element ``_i``."""
    flags = {f: str(val) for f, val in zip(sig.flags, values)}
    read = read or (lambda p: f"{p}[_i]")
    stored = have if stored is None else stored
    call = [f"{p}[_i]" if p in ("x", "g") else read(p) if p in have else
            "_zero" if p in sig.states else flags.get(p, p)
            for p in inspect.signature(caution).parameters]
    plain = ""
    if sig.plain:
        consts = {"gmul": "_one", "clip": "_inf", "wd": "_zero"}
        plain = _AGREE_PLAIN.format(v=v, plain_args=_join(
            stored + [consts.get(s, s) for s in sig.scalars]))
    return (_AGREE.format(v=v, params=", ".join(["x", "g"] + stored + sig.scalars),
                          args=_join(stored + sig.scalars), casts=casts or "    pass",
                          plain=plain, call=", ".join(call))
            + _PARALLEL.format(v=v + "_agree", states=_join(stored),
                               slices=_join(_slice(p, "_lo", "_hi") for p in stored)))


def _slice(p, lo, hi, scale_at=None, base="_off + "):
    """The chunk ``[lo:hi]`` of kernel array ``p``: an int8 state's absmax
    (``_<name>_am``) from the chunk's first block (``scale_at``, else ``lo``'s),
    the step's key as it is, its offset moved to the chunk (``base + lo``)."""
    if p == "_key":
        return p
    if p == "_off":
        return f"{base}{lo}"
    if p.endswith("_am"):
        return f"{p}[{scale_at or f'{lo} >> 8'}:]"
    return f"{p}[{lo}:{hi}]"


def _passthrough(update, sig, lead=1, extra=0):
    """The states that ``update`` returns unchanged (its parameter, never
    assigned, in their place in every ``return``): their stores are left out
    (a second pass that only moves x writes nothing else).  ``lead`` values
    come before the states in the return (x), ``extra`` after them (a first
    pass's contributions)."""
    import ast
    tree = ast.parse(textwrap.dedent(inspect.getsource(update)))
    rets = [n.value for n in ast.walk(tree) if isinstance(n, ast.Return)]
    assigned = {n.id for n in ast.walk(tree)
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    same = set(sig.states) - assigned
    for r in rets:
        if not isinstance(r, ast.Tuple) or len(r.elts) != lead + len(sig.states) + extra:
            return set()
        same &= {st for st, e in zip(sig.states, r.elts[lead:])
                 if isinstance(e, ast.Name) and e.id == st}
    return same


def cpu_source(name, update, sig, whens, caution=None, first=None, per_array=False):
    """The source of the CPU module of one method's update function (and of
    its ``caution`` sign function, for the cautious step's count pass; of the
    first pass ``first = (function, sums)`` of a two-pass rule, whose update
    takes its last scalar per array over several arrays when ``per_array``)."""
    src = textwrap.dedent(inspect.getsource(update))
    src = src.replace(f"def {update.__name__}(", "def update(", 1)
    lines = [_CPU_HEADER.format(qualname=f"{update.__module__}.{update.__qualname__}",
                                helpers=_helpers(), update=src.rstrip())]
    if caution is not None:
        csrc = textwrap.dedent(inspect.getsource(caution))
        csrc = csrc.replace(f"def {caution.__name__}(", "def caution_sign(", 1)
        lines.append(f'\n\n@njit(inline="always")\n{csrc.rstrip()}\n')
    if first is not None:
        fsrc = textwrap.dedent(inspect.getsource(first[0]))
        fsrc = fsrc.replace(f"def {first[0].__name__}(", "def first_pass(", 1)
        lines.append(f'\n\n@njit(inline="always")\n{fsrc.rstrip()}\n')
    same = _passthrough(update, sig)
    for values in variants(sig.flags):
        v = variant_name(name, sig.flags, values)
        have = present(sig, whens, values)
        args = _join(have + sig.scalars)
        call = _join([f"_{s}_old" if s in have else "_zero" for s in sig.states]
                     + sig.scalars)
        lines.append(_AT.format(
            v=v, args=args, call=call, flags=", ".join(map(str, values)),
            reads="\n".join(f"    _{s}_old = {s}[_i]" for s in have) or "    pass",
            news=", ".join(["_x_new"] + [f"_{s}_new" for s in sig.states]),
            ok=_guard([f"_{s}_new" for s in ["x"] + have]),
            stores="\n".join(f"    {s}[_i] = keep(_ok, _{s}_new, _{s}_old)" for s in have
                              if s not in same)
            or "    pass"))
        casts = "\n".join(f"    {s} = _T({s})" for s in sig.scalars if s not in sig.bools)
        plain_scalars = []
        if sig.plain:
            plain_scalars = [{"gmul": "_one", "clip": "_inf", "wd": "_zero"}.get(s, s)
                             for s in sig.scalars]
        if first is None:
            lines.append(_tiny_source(v, sig, have, values, casts, plain_scalars))
        params = ["x", "g"] + have + sig.scalars
        # the serial loop, and its twin that also stores each element's guard
        # flag (``<v>_flagged(..., _flags)``, for the many-problems loop)
        for kind, extra in (("serial", []), ("flagged", ["_flags"])):
            flag = " " * 8 if extra else ""
            plain = ""
            count = COUNT_FLAGGED if extra else COUNT_KEPT
            if sig.plain:
                plain = _PLAIN_LOOP.format(
                    v=v, plain_args=_join(have + plain_scalars),
                    flag=_FLAG.format(pad=" " * 12) if extra else "", weyl="",
                    weyl_next="", **count)
            lines.append(_SERIAL.format(v=v, kind=kind, args=args,
                                        casts=casts or "    pass", plain=plain,
                                        flag=_FLAG.format(pad=flag) if extra else "",
                                        params=", ".join(params + extra), weyl="",
                                        weyl_next="", **count))
        lines.append(_PARALLEL.format(v=v, states=_join(have),
                                      slices=_join(_slice(s, "_lo", "_hi") for s in have)))
        cautious = caution is not None and dict(zip(sig.flags, values)).get(CAUTIOUS)
        lines.append(_multi_source(v, have, cautious or per_array))
        if first is not None:
            lines.append(_first_source(v, sig, have, casts, values, *first))
        if cautious:
            lines.append(_agree_source(v, caution, sig, have, casts, values))
            lines.append(_multi_source(v, have, cautious, agree=True))
    return "".join(lines)



def _tiny_source(v, sig, have, values, casts, plain_scalars):
    """``<v>_tiny`` (see ``_TINY``) of one variant: ``have`` its states."""
    both = ["x"] + have
    return _TINY.format(
        v=v, args=_join(sig.scalars), scalars=", ".join(sig.scalars),
        unpack="\n".join(f"    _{s}_o = _st[{k}]\n    _{s}_n = _{s}_o"
                         for k, s in enumerate(both)),
        news=", ".join(["_x_new"] + [f"_{s}_new" for s in sig.states]),
        call=_join([f"_{s}_o[_i]" if s in have else "_zero" for s in sig.states]
                   + sig.scalars),
        flags=", ".join(map(str, values)),
        ok=_guard([f"_{s}_new" for s in both]),
        sets="\n".join(f"        _{s}_n = tuple_setitem(_{s}_n, _i, _{s}_new)"
                       for s in both),
        ok_i=_guard([f"_{s}_n[_i]" for s in both]),
        keeps="\n".join(f"            _{s}_n = tuple_setitem(_{s}_n, _i, "
                        f"keep(_ok, _{s}_n[_i], _{s}_o[_i]))" for s in both),
        packed="".join(f"_{s}_n, " for s in both),
        casts=casts or "    pass",
        plain=_TINY_PLAIN.format(v=v, plain_args=_join(plain_scalars)) if sig.plain else "")


# ---------------------------------------------------------------------------
# low-precision state (``state_dtype``, numadam._lowp): a second CPU module
# ---------------------------------------------------------------------------
#: the int8 step: blocks of ``BLOCK`` elements, one pass over memory (a
#: block's values in L1).  First each element's update without the guard
#: (``<v>_fast``: the moments' old values decoded with the block's folded
#: scales, their new values into the buffer ``_buf``, the old values of the
#: arrays written in place kept in ``_sv``) and the running maxima of the new
#: values' bits, which give the guard's verdict for the whole block: all
#: finite (the common case: no select, no count, no masked store per element)
#: or the block's old values put back and the block again with the guard
#: (``<v>_at``, the maxima anew).  Then each moment's new absmax (an integer
#: maximum of the float32 bits) and its codes.
_SERIAL_Q8 = '''

@njit(**_KERNEL)
def {v}_serial({params}):
    _T = x.dtype.type
{casts}
    _zero = _T(0)
    _bad = _ZERO32
{bufs}
    _one, _inf = _T(1), _T(np.inf)
    _fast_step = {fast_step}
    for _blo in range(0, x.size, {block}):
        _bhi = min(_blo + {block}, x.size)
        _k = _blo >> 8
        # the block's slices (_<name>_k): loops from 0 over a slice vectorise
        # (from _blo they do not)
        _x, _g = x[_blo:_bhi], g[_blo:_bhi]
{slices}
{scales}
        _fast = _fast_step{folded}
        if _fast:
{fast}
            _fast = _x_mx < np.uint32(0x7F800000){finite}
            if not _fast:   # a new value is not finite: the old values back
                for _i in range(_x.size):
{restore}
        if not _fast:
{guarded}
{requant}
    return _bad
'''

#: an int8 step's element loop over a block (``_bad`` counts the guard's
#: kept elements, ``_u`` is the fast element's largest bits), the running
#: absmax of each moment's new values beside it
_Q8_LOOP = '''{pad}for _i in range(_x.size):
{pad}    {body}
{maxes}'''
#: the running maximum of ``abs_bits`` (the float32 bits' integer maximum):
#: a moment's absmax, or at or above the bits of infinity, a value not finite
_Q8_MAX = '''{pad}    _{s}_u = {value}
{pad}    _{s}_mx = _{s}_mx if _{s}_mx > _{s}_u else _{s}_u'''

#: an int8 variant's element without the guard (see ``_SERIAL_Q8``): returns
#: the largest ``abs_bits`` of the new values written in place (x's and the
#: full-precision states')
_FAST = '''

@njit(inline="always")
def {v}_fast(_i, x, g, {args}_zero):
    _x_old = x[_i]
    _sv[0, _i] = _x_old
{reads}
    {news} = update(_x_old, g[_i], {call}{flags})
    x[_i] = _x_new
{stores}
    _r = abs_bits(_x_new)
{maxes}
    return _r
'''

#: an int8 variant's element for the device (see ``_LowVariant.elem``): ``_AT``
#: returning the moments' new values besides the guard's flag
_ELEM = _AT.replace("{v}_at(", "{v}_elem(").replace("return 0 if _ok else 1",
                                                  "return (0 if _ok else 1){values}")

_LOWP_HEADER = '''"""Generated by numadam._kernels.generate: {name}, {fmt} moments; do not edit."""
import math  # noqa: F401

import numpy as np
from numba import carray, njit, prange  # noqa: F401

from numadam._kernels._pointers import as_pointer  # noqa: F401
from numadam._kernels.cpu import _ZERO32, _chunking, _iadd32, _plain, _row_sum  # noqa: F401
from {cpu} import *  # noqa: F401,F403  (update, caution_sign and the helpers)

_KERNEL = dict(error_model="numpy", cache=True, nogil=True)
'''

#: a moment's block scale from its absmax (the block's codes: ``_Q8_ENCODE``)
_REQUANT = '''        _{s}_a = bits_f32(_{s}_mx)
        _{s}_am[_k] = _{s}_a
        _{s}_inv = q8_inverse(_{s}_a, _zero)
        _{s}_ip = {kind}_prescale(_{s}_inv, _{s}_a)
'''
#: a block's codes: the encoders with the folded factors where every moment
#: has one (the common case; one loop each, as LLVM does not unswitch the
#: per-element choice of ``q8_*_code``), else element by element
_Q8_ENCODE = '''        if {folded}:
            for _j in range(_x.size):
{pre}
        else:
            for _j in range(_x.size):
{codes}
'''


def _q8_loop(pad, body, low, x_max=False, unsigned=()):
    """An int8 step's element loop (``_Q8_LOOP``) with its running maxima (the
    moments ``low``'s, and the fast element's ``_u`` when ``x_max``), their
    starts before it.  The moments in ``unsigned`` (the fast loop's second
    moments) take their bits as they are: a value >= +0 has its absolute
    value's bits, and any other (-0 too) bits above those of infinity, which
    send the block to the guarded loop (one vector operation fewer)."""
    maxes = ([_Q8_MAX.format(pad=pad, s="x", value="_u")] if x_max else []) + [
        _Q8_MAX.format(pad=pad, s=st, value=("f32_bits" if st in unsigned else "abs_bits")
                       + f"(_buf[{j}, _i])")
        for j, st in enumerate(low)]
    starts = [f"{pad}_{st}_mx = np.uint32(0)" for st in (["x"] if x_max else []) + low]
    return "\n".join(starts + [_Q8_LOOP.format(pad=pad, body=body, maxes="\n".join(maxes))])


def _blocked(args, states):
    """The int8 step's arguments of ``<v>_at`` inside a block: the states' slices."""
    return [f"_{a}_k" if a in states else a for a in args]


class _LowVariant:
    """One variant's kernels with low-precision moments (see :func:`lowp_source`)."""

    def __init__(self, name, sig, whens, moments, fmt, stochastic, values, paired=False):
        from .._lowp import STATE_KEYS
        self.sig, self.moments, self.values = sig, moments, values
        self.q8, self.stochastic = fmt == "int8", stochastic
        self.v = variant_name(name, sig.flags, values)
        self.have = have = present(sig, whens, values)
        self.low = low = [st for st in have if st in moments]
        #: bfloat16: the moments two to a uint32 word (``bf16_pair``), the
        #: array named by the first; ``word[b]`` is ``a`` for the second
        #: moment ``b`` of a pair (an odd last moment: a uint16 array alone)
        self.word = dict(zip(low[1::2], low[0::2])) if paired and not self.q8 else {}
        #: the kernels' array parameters (an int8 moment: codes and absmax)
        self.stored = [p for st in have if st not in self.word
                       for p in ([st, f"_{st}_am"] if self.q8 and st in low
                                 else [st])] + ["_key", "_off"]
        # (int8: the block's scales and new values of the moments in ``_sc`` and
        # ``_buf``; two arrays, not two per moment: CPython calls a function of
        # more than 30 arguments with *args, which numba does not inline)
        self.at_args = [st for st in have if st not in self.word] + (
            ["_sc", "_buf"] if self.q8 else ["_key", "_w"])
        self.slot = {st: j for j, st in enumerate(low)}
        # bfloat16's stochastic rounding: 32 random bits per element for two
        # moments (16 each), from (the step's key, the element)
        assert STATE_KEYS[0] == 0    # (``_w`` holds the key: the first pair's bits)
        self.hashes = [] if self.q8 or not stochastic else ["    _h0 = _w"] + [
            f"    _h{p} = np.uint32(_w + np.uint32(np.uint32(_key ^ np.uint32({STATE_KEYS[p]}))"
            " - _key))" for p in range(1, (len(low) + 1) // 2)]

    def checked(self, st):
        """The guard's expression of state ``st``'s new value: a moment in
        its format's range (:func:`~numadam._kernels._math.bf16_range`,
        :func:`~numadam._kernels._math.f32_range`), so that a moment the
        format cannot hold is an overflow, not an infinity stored."""
        if st not in self.low:
            return f"_{st}_new"
        return f"{'f32_range' if self.q8 else 'bf16_range'}(_{st}_new)"

    def read(self, st, scale=None):
        """The expression of state ``st``'s element ``_i`` (decoded)."""
        if st not in self.low:
            return f"{st}[_i]"
        if not self.q8:
            return f"x.dtype.type({self.widen(st, f'{self.word.get(st, st)}[_i]')})"
        value = "q8_signed_value" if self.moments[st] == "signed" else "q8_unsigned_value"
        return f"{value}({st}[_i], {scale or f'_sc[{self.slot[st]}]'})"

    def widen(self, st, raw):
        """bfloat16: the float32 value of moment ``st`` in ``raw``, its stored
        element (its word's low or high half, or a uint16 alone)."""
        if st in self.word:
            return f"bf16_high({raw})"
        return f"bf16_low({raw})" if self.pair(st) else f"bf16_widen({raw})"

    def pair(self, st):
        """bfloat16: the second moment of ``st``'s word if ``st`` is its first, else None."""
        return next((b for b, a in self.word.items() if a == st), None)

    def bits(self, st):
        """bfloat16, stochastic: moment ``st``'s 16 random bits (``_h<pair>``'s
        low half for an even slot, its high half for an odd one)."""
        j = self.slot[st]
        return (f"np.uint32(_h{j // 2} "
                + ("& np.uint32(0xFFFF))" if j % 2 == 0 else ">> np.uint32(16))"))

    def store(self, st):
        """The statement that keeps state ``st``'s new value of element ``_i``
        (a bfloat16 word: at its first moment, both halves)."""
        if st not in self.low:
            return f"    {st}[_i] = keep(_ok, _{st}_new, _{st}_old)"
        if self.q8:
            return f"    _buf[{self.slot[st]}, _i] = keep(_ok, _{st}_new, _{st}_old)"
        b = self.pair(st)
        if b is not None:
            narrow = (f"bf16_pair(_{st}_new, {self.bits(st)}, _{b}_new, {self.bits(b)})"
                      if self.stochastic else f"bf16_pair_nearest(_{st}_new, _{b}_new)")
        else:
            narrow = (f"bf16_narrow(_{st}_new, {self.bits(st)})"
                      if self.stochastic else f"bf16_nearest(_{st}_new)")
        return f"    {st}[_i] = keep(_ok, {narrow}, _{st}_raw)"

    def stores(self, same):
        """The states that ``<v>_at`` stores (not passed through; a bfloat16
        word when either of its moments is written; int8 moments always)."""
        return [st for st in self.have if st not in self.word and (
            st not in same or (self.q8 and st in self.low)
            or self.pair(st) not in (None, *same))]

    def at(self, same):
        """``<v>_at``: one element's guarded update (``same``: passthrough states)."""
        sig, have, low, q8 = self.sig, self.have, self.low, self.q8
        return _AT.format(
            v=self.v, args=_join(self.at_args + sig.scalars),
            call=_join([f"_{st}_old" if st in have else "_zero" for st in sig.states]
                       + sig.scalars),
            flags=", ".join(map(str, self.values)),
            reads="\n".join(
                (f"    _{st}_raw = {st}[_i]\n" if st not in self.word else "")
                + f"    _{st}_old = x.dtype.type({self.widen(st, f'_{self.word.get(st, st)}_raw')})"
                if st in low and not q8 else f"    _{st}_old = {self.read(st)}"
                for st in have) or "    pass",
            news=", ".join(["_x_new"] + [f"_{st}_new" for st in sig.states]),
            ok=_guard(["_x_new"] + [self.checked(st) for st in have]),
            stores="\n".join(self.hashes + [self.store(st) for st in self.stores(same)])
            or "    pass")

    def elem(self, same):
        """``<v>_elem`` (int8): one element's guarded update with the moments'
        block scales as scalars (``_s0, _s1, ...``), returning ``(bad, *the
        moments' new values)``: the device kernel keeps them in registers,
        takes the block's absmax and encodes them (:data:`_CUDA_Q8`)."""
        sig, have, low = self.sig, self.have, self.low
        scales = [f"_s{j}" for j in range(len(low))]
        return _ELEM.format(
            v=self.v, args=_join(have + scales + sig.scalars),
            call=_join([f"_{st}_old" if st in have else "_zero" for st in sig.states]
                       + sig.scalars),
            flags=", ".join(map(str, self.values)),
            reads="\n".join(f"    _{st}_old = " + self.read(
                st, f"_s{self.slot[st]}" if st in low else None) for st in have) or "    pass",
            news=", ".join(["_x_new"] + [f"_{st}_new" for st in sig.states]),
            ok=_guard(["_x_new"] + [self.checked(st) for st in have]),
            stores="\n".join(self.store(st) for st in have if st not in low
                              and st not in same) or "    pass",
            values="".join(f", keep(_ok, _{st}_new, _{st}_old)" for st in low))

    def flagged(self, casts):
        """``<v>_flagged`` (bfloat16): the serial loop that takes each element's
        Weyl value from the array ``_wt`` (minimize_many steps a run of
        problems' rows at once, each row's elements numbered from 0 as
        minimize numbers one problem's) and stores each element's guard flag
        in ``_flags``."""
        sig = self.sig
        args = [("np.uint32(_wt[_i] + _key)" if a == "_w" else a) for a in self.at_args]
        consts = {"gmul": "_one", "clip": "_inf", "wd": "_zero"}
        plain = ("" if not sig.plain else _PLAIN_LOOP.format(
            v=self.v, plain_args=_join(args + [consts.get(c, c) for c in sig.scalars]),
            flag=_FLAG.format(pad=" " * 12), weyl="", weyl_next="", **COUNT_FLAGGED))
        return _SERIAL.format(
            v=self.v, kind="flagged", args=_join(args + sig.scalars),
            casts=casts or "    pass", plain=plain, flag=_FLAG.format(pad=" " * 8),
            params=", ".join(["x", "g"] + self.stored[:-2] + ["_key", "_wt"] + sig.scalars
                             + ["_flags"]), weyl="", weyl_next="", **COUNT_FLAGGED)

    def serial(self, casts, same):
        """``<v>_serial``: int8 block by block, bfloat16 element by element."""
        from .._lowp import BLOCK
        sig, have, low, slot, at_args = self.sig, self.have, self.low, self.slot, self.at_args
        consts = {"gmul": "_one", "clip": "_inf", "wd": "_zero"}
        plain_scalars = [consts.get(c, c) for c in sig.scalars] if sig.plain else []
        params = ", ".join(["x", "g"] + self.stored + sig.scalars)
        if not self.q8:
            weyl = {pad: (_WEYL.format(pad=" " * pad), _WEYL_NEXT.format(pad=" " * pad))
                    for pad in (4, 8)}
            plain = ("" if not sig.plain else _PLAIN_LOOP.format(
                v=self.v, plain_args=_join(at_args + plain_scalars), flag="",
                weyl=weyl[8][0], weyl_next=weyl[8][1], **COUNT_KEPT))
            return _SERIAL.format(v=self.v, kind="serial", args=_join(at_args + sig.scalars),
                                  casts=casts or "    pass", plain=plain, flag="",
                                  params=params, weyl=weyl[4][0], weyl_next=weyl[4][1],
                                  **COUNT_KEPT)
        kind = {st: "q8_signed" if self.moments[st] == "signed" else "q8_unsigned"
                for st in low}
        written = self.written(same)
        nlow = max(len(low), 1)
        fast_scalars = plain_scalars or sig.scalars
        return _SERIAL_Q8.format(
            v=self.v, params=params, casts=casts or "    pass", block=BLOCK,
            bufs=f"    _buf = np.empty(({nlow}, {BLOCK}), _T)\n"
                 f"    _sc = np.empty({nlow}, _T)\n"
                 f"    _fs = np.empty({nlow}, _T)\n"
                 f"    _sv = np.empty(({1 + len(written)}, {BLOCK}), _T)",
            fast_step="_plain(gmul, clip, wd)" if sig.plain else "True",
            slices="\n".join(f"        _{st}_k = {st}[_blo:_bhi]" for st in have),
            scales="\n".join(f"        _sc[{slot[st]}] = q8_scale(_{st}_am[_k], _zero)\n"
                              f"        _fs[{slot[st]}] = {kind[st]}_fold(_sc[{slot[st]}])"
                              for st in low) or "        pass",
            folded="".join(f" and _fs[{slot[st]}] < _inf" for st in low),
            fast=_q8_loop(" " * 12, f"_u = {self.v}_fast(_i, _x, _g, "
                          f"{_join(_blocked(have, have) + ['_sv', '_buf', '_fs'] + fast_scalars)}"
                          "_zero)", low, x_max=True,
                          unsigned=[st for st in low if self.moments[st] != "signed"]),
            finite="".join(f" and _{st}_mx < np.uint32(0x7F800000)" for st in low),
            restore="\n".join([" " * 20 + "_x[_i] = _sv[0, _i]"] + [
                " " * 20 + f"_{st}_k[_i] = _sv[{j + 1}, _i]" for j, st in enumerate(written)]),
            guarded=_q8_loop(" " * 12, f"_bad = _iadd32(_bad, np.int32({self.v}_at(_i, _x, _g, "
                             f"{_join(_blocked(at_args, have) + sig.scalars)}_zero)))", low),
            requant=("".join(_REQUANT.format(s=st, kind=kind[st]) for st in low)
                     + _Q8_ENCODE.format(
                         folded=" and ".join(f"_{st}_ip > _zero" for st in low),
                         pre="\n".join(f"                _{st}_k[_j] = {kind[st]}_pre("
                                       f"_buf[{slot[st]}, _j], _{st}_ip)" for st in low),
                         codes="\n".join(f"                _{st}_k[_j] = {kind[st]}_code("
                                         f"_buf[{slot[st]}, _j], _{st}_inv, _{st}_ip)"
                                         for st in low))
                     if low else "        pass"))

    def written(self, same):
        """The full-precision states that an element's update writes in place
        (not a moment, not passed through): the int8 step's fast loop keeps
        their old values (``_sv``, after x's)."""
        return [st for st in self.have if st not in self.low and st not in same]

    def fast(self, same):
        """``<v>_fast`` (int8): one element's update without the guard (see
        :data:`_SERIAL_Q8`), the moments decoded with the folded scales ``_fs``."""
        sig, have, low = self.sig, self.have, self.low
        written = self.written(same)
        reads = []
        for st in have:
            if st in low:
                kind = "q8_signed" if self.moments[st] == "signed" else "q8_unsigned"
                reads.append(f"    _{st}_old = {kind}_raw({st}[_i]) * _fs[{self.slot[st]}]")
            else:
                reads.append(f"    _{st}_old = {st}[_i]")
                if st in written:
                    reads.append(f"    _sv[{1 + written.index(st)}, _i] = _{st}_old")
        return _FAST.format(
            v=self.v, args=_join(have + ["_sv", "_buf", "_fs"] + sig.scalars),
            call=_join([f"_{st}_old" if st in have else "_zero" for st in sig.states]
                       + sig.scalars),
            flags=", ".join(map(str, self.values)),
            reads="\n".join(reads) or "    pass",
            news=", ".join(["_x_new"] + [f"_{st}_new" for st in sig.states]),
            stores="\n".join([f"    _buf[{self.slot[st]}, _i] = _{st}_new" for st in low]
                              + [f"    {st}[_i] = _{st}_new" for st in written]) or "    pass",
            maxes="\n".join(f"    _u = abs_bits(_{st}_new)\n    _r = _r if _r > _u else _u"
                             for st in written) or "    pass")


#: a two-pass rule's step with low-precision state (LAMB, Prodigy): the first
#: pass only reads the states (its sums need the new values, which it computes
#: and leaves); the second pass computes them again from the old ones (the
#: same bits), keeps the old ones where a new one is not finite (as the
#: full-precision first pass stores them), steps x from them (the rule's own
#: update) and stores the states once, each moment rounded once: the step is
#: the full-precision step from the decoded state, bit for bit, and the
#: stored state its encoding
_LOWP_TWO_PASS = '''
from {cpu} import update as _second_pass  # noqa: E402  (the rule's update)


@njit(inline="always")
def update({params}):
    """The first pass's new states from the old ones (each kept where a new
    one is not finite), then the rule's update from them."""
    _zero = x - x   # (x is finite, the guard keeps it so; else the element is kept whole)
    {news}, {contribs} = first_pass(x, g, {args})
    _ok = {ok} == _zero
    return _second_pass(x, g, {kept}{rest})
'''


def _two_pass_update(cpu_module, sig, first, sums):
    """The second pass of a two-pass rule with low-precision state (see
    :data:`_LOWP_TWO_PASS`); every state is present (Rule refuses a two-pass
    rule with conditional moment states)."""
    news = [f"_{s}_n" for s in sig.states]
    return _LOWP_TWO_PASS.format(
        cpu=cpu_module, params=", ".join(["x", "g"] + sig.states + sig.scalars + sig.flags),
        news=", ".join(news), contribs=", ".join(f"_c{i}" for i in range(len(sums))),
        args=", ".join(sig.states + sig.scalars + sig.flags), ok=_guard(news),
        kept=_join(f"keep(_ok, _{s}_n, {s})" for s in sig.states),
        rest=", ".join(sig.scalars + sig.flags))


def lowp_source(cpu_module, name, update, sig, whens, moments, fmt, stochastic,
                caution=None, paired=True, first=None, per_array=False):
    """The module of one method's kernels with its moment states (the names in
    ``moments``, each ``"signed"`` or ``"unsigned"``) stored as ``fmt``
    (``"bfloat16"`` or ``"int8"``, see :mod:`numadam._lowp`): per variant
    ``<v>_at``, ``<v>_serial``, ``<v>_parallel``, ``<v>_multi_*`` and, for a
    cautious variant, the count pass.  Every kernel takes ``(x, g, *arrays,
    _key, _off, *scalars)``: an int8 moment is two arrays (its codes and
    ``_<name>_am``, the blocks' absmax), ``_key`` the step's random key and
    ``_off`` the index of ``x[0]`` in the state (bfloat16's stochastic
    rounding; int8 rounds to nearest).  ``update`` (and ``caution``) are the
    ones ``cpu_module`` (the full-precision module) compiled in.  ``paired``:
    bfloat16 moments two to a uint32 word (see ``_LowVariant.word``), one
    array parameter named by the first of each pair.  A two-pass rule
    (``first = (function, sums)``; its sums ``per_array`` or not): the first
    pass reads the states and the step stores them (:data:`_LOWP_TWO_PASS`)."""
    lines = [_LOWP_HEADER.format(name=name, fmt=fmt, cpu=cpu_module)]
    same = _passthrough(update, sig)
    if first is not None:
        lines.append(_two_pass_update(cpu_module, sig, *first))
        same &= _passthrough(first[0], sig, lead=0, extra=len(first[1]))
    for values in variants(sig.flags):
        var = _LowVariant(name, sig, whens, moments, fmt, stochastic, values, paired)
        v, have, stored = var.v, var.have, var.stored
        casts = "\n".join(f"    {c} = _T({c})" for c in sig.scalars if c not in sig.bools)
        if var.q8:
            lines += [var.elem(same), var.fast(same)]
        lines += [var.at(same), var.serial(casts, same), _PARALLEL.format(
            v=v, states=_join(stored), slices=_join(_slice(p, "_lo", "_hi") for p in stored))]
        if not var.q8:   # (minimize_many's runs of problems)
            lines.append(var.flagged(casts))
        cautious = caution is not None and dict(zip(sig.flags, values)).get(CAUTIOUS)
        lines.append(_multi_source(v, have, cautious or per_array, stored=stored))

        def read(st, var=var):
            if var.q8 and st in var.low:
                return var.read(st, f"q8_scale(_{st}_am[_i >> 8], _zero)")
            return var.read(st)
        if first is not None:
            at_args = [p for p in stored if p not in ("_key", "_off")]
            q8 = None
            if var.q8:   # (the block's scales once, see _first_loop)
                q8 = [(f"_s{var.slot[st]}", f"_{st}_am") for st in var.low]
                lines.append(_first_source(
                    v, sig, have, casts, values, *first, stored=stored,
                    at_args=[p for p in at_args if not p.endswith("_am")] + [s for s, _ in q8],
                    read=lambda st, var=var: var.read(st, f"_s{var.slot[st]}")
                    if st in var.low else var.read(st), q8=q8))
            else:
                lines.append(_first_source(v, sig, have, casts, values, *first, stored=stored,
                                           at_args=at_args, read=read))
            lines.append(_FIRST_ELEM.format(
                v=v, args=_join(at_args + sig.scalars),
                reads="\n".join(f"    _{st}_old = {read(st)}" for st in have) or "    pass",
                news=", ".join(f"_{st}_new" for st in sig.states),
                contribs=", ".join(f"_c{i}" for i in range(len(first[1]))),
                call=_join([f"_{st}_old" if st in have else "_zero" for st in sig.states]
                           + sig.scalars),
                flags=", ".join(map(str, values)), ok=_guard([f"_{st}_new" for st in have])))
        if cautious:
            lines.append(_agree_source(v, caution, sig, have, casts, values, stored, read))
            lines.append(_multi_source(v, have, cautious, agree=True, stored=stored))
    return "".join(lines)


# ---------------------------------------------------------------------------
# the CUDA module
# ---------------------------------------------------------------------------
_CUDA_HEADER = '''"""Generated by numadam._kernels.generate (CUDA kernels of {cpu}); do not edit."""
from numba import config, cuda

import {cpu} as _cpu


def _device_fn(fn):
    # under the simulator kernels run as Python: call the plain-Python source
    return fn.py_func if config.ENABLE_CUDASIM else fn
'''

#: a counting grid-stride kernel: the step (``suffix`` "", the guard's count
#: of kept elements) or a cautious variant's count pass (``suffix`` "_agree",
#: how many elements agree), each element by the CPU module's ``_at`` function
_CUDA_COUNTED = '''

_{v}{suffix}_at = _device_fn(_cpu.{v}{suffix}_at)


@cuda.jit
def {v}{suffix}(x, g, {states}_count, {scalars}_zero):
    _n = 0
    for _i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        _n += _{v}{suffix}_at(_i, x, g, {args}{scalars}_zero)
    if _n:
        cuda.atomic.add(_count, 0, _n)
'''


#: the first pass of a two-pass rule on the device: each thread's float64
#: partial sums into its column of ``_parts`` (the host adds them in thread
#: order: the same bits for the same launch configuration), non-finite
#: contributions left out as on the CPU, the guard's count as the kernel's
_CUDA_FIRST = '''

{fetch}


@cuda.jit
def {v}_first(x, g, {states}_bad, _parts, {scalars}_zero):
    _t = cuda.grid(1)
    _nbad = 0
{acc_init}
    for _i in range(_t, x.size, cuda.gridsize(1)):
{body}
{acc_add}
{parts_store}
    if _nbad:
        cuda.atomic.add(_bad, 0, _nbad)
'''

#: its element of full-precision state: the first pass stores the new states
_CUDA_FIRST_BODY = '''{reads}
        {news}, {contribs} = _{v}_first_pass(x[_i], g[_i], {call}{flags})
        _ok = {ok} == _zero
{stores}
        _nbad += 0 if _ok else 1'''

#: ... of low-precision state: ``<v>_first_elem`` of the CPU's module reads
#: the decoded states and stores nothing (the step stores them, see
#: ``_LOWP_TWO_PASS``)
_CUDA_FIRST_LOWP = '''        _e, {contribs} = _{v}_first_elem(_i, x, g, {args}{scalars}_zero)
        _nbad += _e'''


def _cuda_first(v, sig, states, k, fetch, body):
    """A CUDA first pass (:data:`_CUDA_FIRST`): ``states`` its array
    parameters, ``k`` sums, ``fetch`` the element function it takes from the
    CPU's module, ``body`` each element's statements."""
    return _CUDA_FIRST.format(
        v=v, states=_join(states), scalars=_join(sig.scalars), fetch=fetch, body=body,
        acc_init="\n".join(f"    _a{i} = 0.0" for i in range(k)),
        acc_add="\n".join(f"        _c = np.float64(_c{i})\n        _a{i} += _c if _c - _c == 0.0 "
                           "else 0.0" for i in range(k)),
        parts_store="\n".join(f"    _parts[{i}, _t] = _a{i}" for i in range(k)))


def _cuda_first_full(v, sig, have, values, first, sums):
    """The CUDA first pass of full-precision state."""
    k = len(sums)
    same = _passthrough(first, sig, lead=0, extra=k)
    call = _join([f"_{s}_old" if s in have else "_zero" for s in sig.states] + sig.scalars)
    return _cuda_first(v, sig, have, k, f"_{v}_first_pass = _device_fn(_cpu.first_pass)",
                       _CUDA_FIRST_BODY.format(
        v=v, call=call, flags=", ".join(map(str, values)),
        reads="\n".join(f"        _{s}_old = {s}[_i]" for s in have) or "        pass",
        news=", ".join(f"_{s}_new" for s in sig.states),
        contribs=", ".join(f"_c{i}" for i in range(k)),
        ok=_guard([f"_{s}_new" for s in have]),
        stores="\n".join(f"        {s}[_i] = keep(_ok, _{s}_new, _{s}_old)" for s in have
                          if s not in same) or "        pass"))


#: the int8 step on the device: one thread block of ``BLOCK`` threads per int8
#: block (a grid-stride loop over the blocks), one element per thread: its
#: update (``<v>_elem``), the block's new absmax of each moment by a tree of
#: integer maxima in shared memory (exact: the CPU's bits), then each thread
#: encodes its own values
_CUDA_Q8 = '''

_{v}_elem = _device_fn(_cpu.{v}_elem)
_{v}_abs_bits = _device_fn(_cpu.abs_bits)
_{v}_bits_f32 = _cpu.bits_f32   # (its intrinsic runs compiled under the simulator too)
_{v}_q8_scale = _device_fn(_cpu.q8_scale)
{encoders}

@cuda.jit
def {v}(x, g, {params}_count, {scalars}_zero):
    _red = cuda.shared.array(({nlow}, {block}), np.uint32)
    _t = cuda.threadIdx.x
    _n = 0
    for _b in range(cuda.blockIdx.x, (x.size + {block} - 1) // {block}, cuda.gridDim.x):
        _i = _b * {block} + _t
{scales}
{init}
        if _i < x.size:
            {lhs} = _{v}_elem(_i, x, g, {have}{snames}{scalars}_zero)
            _n += _bad
{red_store}
        cuda.syncthreads()
        _w = {half}
        while _w > 0:
            if _t < _w:
{red_step}
            cuda.syncthreads()
            _w //= 2
{absmax}
        cuda.syncthreads()   # (every thread read the maxima: the next block may write)
        if _i < x.size:
{encode}
        if _t == 0:
{am_store}
    if _n:
        cuda.atomic.add(_count, 0, _n)
'''


#: the int8 step of one problem's row on the device, by one thread
#: (``minimize_many(device="cuda")``: one thread per problem): block by
#: block, each element's update (``<v>_elem``), its new moments into a local
#: buffer (float64: any parameter dtype's values, exactly) and their running
#: absmax, then the block's absmax and codes: the CPU's ``<v>_serial`` bit
#: for bit.  Returns how many elements the guard kept.
_CUDA_Q8_ROW = '''

@cuda.jit(device=True)
def {v}_row(x, g, {params}{scalars}_zero):
    _buf = cuda.local.array(({nlow}, {block}), np.float64)
    _bad = 0
    for _b in range((x.size + {block} - 1) // {block}):
        _lo = _b * {block}
        _hi = min(_lo + {block}, x.size)
{scales}
{maxes}
        for _i in range(_lo, _hi):
            {lhs} = _{v}_elem(_i, x, g, {have}{snames}{scalars}_zero)
            _bad += _e
{buf_store}
{absmax}
        for _i in range(_lo, _hi):
{encode}
{am_store}
    return _bad
'''


def lowp_cuda_source(lowp_module, name, sig, whens, moments, fmt, stochastic, caution=None,
                     sums=None):
    """The device kernels of a method with low-precision moments (``lowp_module``:
    the CPU module of :func:`lowp_source`, whose element functions they call):
    bfloat16, the grid-stride kernel over ``<v>_at`` as for full precision (its
    ``_key, _off`` after the arrays); int8, :data:`_CUDA_Q8`; the cautious
    variants' count pass over ``<v>_agree_at``; a two-pass rule's first pass
    (``sums``: its sums' names), :data:`_CUDA_FIRST_LOWP`.  Launched with
    ``BLOCK`` threads per block for int8 (:meth:`MethodKernels.cuda_config`)."""
    from .._lowp import BLOCK
    lines = [_CUDA_HEADER.format(cpu=lowp_module),
             "\n\nimport numpy as np  # noqa: E402\n"]
    for values in variants(sig.flags):
        var = _LowVariant(name, sig, whens, moments, fmt, stochastic, values)
        v, low = var.v, var.low
        if var.q8:
            common = _q8_device_parts(var, moments, sig)
            lines.append(_CUDA_Q8.format(
                **common, half=BLOCK // 2,
                encoders="".join(f"_{v}_{e} = _device_fn(_cpu.{e})\n"
                                 for e in ("q8_signed_code", "q8_unsigned_code",
                                           "q8_signed_prescale", "q8_unsigned_prescale",
                                           "q8_inverse")),
                init="\n".join(f"        _v{j} = _zero" for j in range(len(low)))
                     or "        pass",
                lhs=", ".join(["_bad"] + [f"_v{j}" for j in range(len(low))]),
                red_store="\n".join(f"        _red[{j}, _t] = _{v}_abs_bits(_v{j})"
                                     for j in range(len(low))) or "        pass",
                red_step="\n".join(
                    f"                _red[{j}, _t] = max(_red[{j}, _t], _red[{j}, _t + _w])"
                    for j in range(len(low))) or "                pass",
                absmax="\n".join(f"        _a{j} = _{v}_bits_f32(_red[{j}, 0])\n"
                                  + _q8_inv(v, j, common["codes"][st])
                                  for j, st in enumerate(low)) or "        pass",
                encode="\n".join(
                    f"            {st}[_i] = _{v}_{common['codes'][st]}_code(_v{j}, _inv{j}, _ip{j})"
                    for j, st in enumerate(low)) or "            pass",
                am_store="\n".join(f"            _{st}_am[_b] = _a{j}"
                                    for j, st in enumerate(low)) or "            pass"))
            lines.append(_q8_row(var, common))
        else:
            lines.append(_CUDA_COUNTED.format(v=v, suffix="", states=_join(var.stored),
                                              args=_join(_WEYL_AT.get(a, a)
                                                         for a in var.at_args),
                                              scalars=_join(sig.scalars)))
        if caution is not None and dict(zip(sig.flags, values)).get(CAUTIOUS):
            lines.append(_CUDA_COUNTED.format(v=v, suffix="_agree", states=_join(var.stored),
                                              args=_join(var.stored), scalars=_join(sig.scalars)))
        if sums:
            lines.append(_cuda_first(
                v, sig, var.stored, len(sums),
                f"_{v}_first_elem = _device_fn(_cpu.{v}_first_elem)",
                _CUDA_FIRST_LOWP.format(
                    v=v, args=_join(p for p in var.stored if p not in ("_key", "_off")),
                    scalars=_join(sig.scalars),
                    contribs=", ".join(f"_c{i}" for i in range(len(sums))))))
    return "".join(lines)


def _q8_inv(v, j, kind):
    """A device int8 block's ``inv`` and folded factor ``ip`` of moment ``j``
    (``kind``: its encoder's name), as the CPU's ``_REQUANT``."""
    return (f"        _inv{j} = _{v}_q8_inverse(_a{j}, _zero)\n"
            f"        _ip{j} = _{v}_{kind}_prescale(_inv{j}, _a{j})")


def _q8_device_parts(var, moments, sig):
    """What the int8 device templates (:data:`_CUDA_Q8`, :data:`_CUDA_Q8_ROW`)
    share: the variant's names, each moment's block scale ``_s<j>``, the
    moments' encoders (``codes``: by state)."""
    from .._lowp import BLOCK
    v, low = var.v, var.low
    return dict(
        v=v, params=_join(var.stored), scalars=_join(sig.scalars), block=BLOCK,
        nlow=max(len(low), 1), have=_join(var.have),
        scales="\n".join(f"        _s{j} = _{v}_q8_scale(_{st}_am[_b], _zero)"
                          for j, st in enumerate(low)) or "        pass",
        snames=_join(f"_s{j}" for j in range(len(low))),
        codes={st: "q8_signed" if moments[st] == "signed" else "q8_unsigned" for st in low})


def _q8_row(var, common):
    """``<v>_row`` of an int8 variant (:data:`_CUDA_Q8_ROW`); ``common``:
    :func:`_q8_device_parts`."""
    v, low = var.v, var.low
    return _CUDA_Q8_ROW.format(
        **common,
        maxes="\n".join(f"        _m{j} = np.uint32(0)" for j in range(len(low)))
              or "        pass",
        lhs=", ".join(["_e"] + [f"_v{j}" for j in range(len(low))]),
        buf_store="\n".join(f"            _buf[{j}, _i - _lo] = _v{j}\n"
                             f"            _m{j} = max(_m{j}, _{v}_abs_bits(_v{j}))"
                             for j in range(len(low))) or "            pass",
        absmax="\n".join(f"        _a{j} = _{v}_bits_f32(_m{j})\n"
                          + _q8_inv(v, j, common["codes"][st])
                          for j, st in enumerate(low)) or "        pass",
        encode="\n".join(f"            {st}[_i] = _{v}_{common['codes'][st]}_code("
                          f"x.dtype.type(_buf[{j}, _i - _lo]), _inv{j}, _ip{j})"
                          for j, st in enumerate(low)) or "            pass",
        am_store="\n".join(f"        _{st}_am[_b] = _a{j}" for j, st in enumerate(low))
                 or "        pass")


def cuda_source(cpu_module, name, sig, whens, caution=None, first=None):
    lines = [_CUDA_HEADER.format(cpu=cpu_module)]
    for values in variants(sig.flags):
        v = variant_name(name, sig.flags, values)
        have = present(sig, whens, values)
        lines.append(_CUDA_COUNTED.format(v=v, suffix="", states=_join(have),
                                          args=_join(have), scalars=_join(sig.scalars)))
        if first is not None:
            if len(lines) == 2:   # the helpers the first pass calls
                lines.append("\n\nimport numpy as np\n\n"
                             "screen = _cpu.screen   # (its intrinsic runs compiled under "
                             "the simulator too)\n"
                             "keep = _device_fn(_cpu.keep)\n")
            lines.append(_cuda_first_full(v, sig, have, values, *first))
        if caution is not None and dict(zip(sig.flags, values)).get(CAUTIOUS):
            lines.append(_CUDA_COUNTED.format(v=v, suffix="_agree", states=_join(have),
                                              args=_join(have), scalars=_join(sig.scalars)))
    return "".join(lines)


# ---------------------------------------------------------------------------
# a method's kernels
# ---------------------------------------------------------------------------
class MethodKernels:
    """The kernels of one variant of a method: serial, parallel, ``at`` and CUDA.

    :meth:`pick` chooses the serial or the parallel kernel by size, as
    :class:`numadam._kernels.cpu.KernelPair`; ``cuda`` is the CUDA kernel
    (its module is generated and imported on first use).
    """

    def __init__(self, rule, values, fmt=None, stochastic=True):
        from .cpu import KernelPair
        self.rule = rule
        self.values = values
        #: how the moments are stored: None (full precision), "bfloat16", "int8"
        self.fmt, self.stochastic = fmt, stochastic
        self.name = variant_name(rule.name, rule.signature.flags, values)
        module = self._module()
        self._pair = KernelPair(None, getattr(module, self.name + "_parallel"),
                                getattr(module, self.name + "_serial"))
        # the cautious step's count pass (variants with the cautious flag)
        self._agree = (KernelPair(None, getattr(module, self.name + "_agree_parallel"),
                                  getattr(module, self.name + "_agree_serial"))
                       if hasattr(module, self.name + "_agree_serial") else None)
        # several arrays at once (parameter groups): see ``_MULTI``
        self._multi = KernelPair(None, getattr(module, self.name + "_multi_parallel"),
                                 getattr(module, self.name + "_multi_serial"))
        self._agree_multi = (KernelPair(None,
                                        getattr(module, self.name + "_agree_multi_parallel"),
                                        getattr(module, self.name + "_agree_multi_serial"))
                             if self._agree is not None else None)
        # the first pass of a two-pass rule, one array and several
        self._first = self._first_multi = None
        if hasattr(module, self.name + "_first_serial"):
            self._first = KernelPair(None, getattr(module, self.name + "_first_parallel"),
                                     getattr(module, self.name + "_first_serial"))
            self._first_multi = KernelPair(
                None, getattr(module, self.name + "_first_multi_parallel"),
                getattr(module, self.name + "_first_multi_serial"))
        self.serial = self._pair.serial
        self.parallel = self._pair.parallel
        self._cuda = None
        self._loop = {}

    def _module(self, cuda=False, paired=True):
        """The generated module of this variant's kernels: the full-precision
        CPU or CUDA module, or the low-precision one of its format (``paired``:
        bfloat16 moments two to a word, the host's kernels; the device's
        element functions take one uint16 array per moment)."""
        if self.fmt is None:
            return self.rule.cuda_module() if cuda else self.rule.cpu_module()
        return self.rule.lowp_module(self.fmt, self.stochastic, cuda=cuda, paired=paired)

    @property
    def at(self):
        """One element's guarded update, for the device kernels (``_i, x, g,
        *states, *extra, *scalars, zero``; bfloat16 moments one uint16 array
        each)."""
        return getattr(self._module(paired=False), self.name + "_at")

    @property
    def agree_at(self):
        """One element's agreement of a cautious variant (``_i, x, g, *states,
        *scalars, zero``), else None; the device's, as :attr:`at`."""
        return getattr(self._module(paired=False), self.name + "_agree_at", None)

    @property
    def n_arrays(self):
        """How many state arrays the kernels take before :meth:`extra`'s
        arguments (an int8 moment is two: its codes and its blocks' absmax;
        two bfloat16 moments share one array of words)."""
        rule = self.rule
        have = present(rule.signature, [st.when for st in rule.states], self.values)
        low = sum(st in rule.moments for st in have)
        return len(have) + {"int8": low, "bfloat16": -(low // 2)}.get(self.fmt, 0)

    @property
    def row(self):
        """int8 state: the device function that steps one problem's row by one
        thread (:data:`_CUDA_Q8_ROW`, ``minimize_many(device="cuda")``):
        ``row(x, g, *arrays, key, offset, *scalars, zero)`` -> the guard's count
        of kept elements; None for other formats (the kernel loops over
        ``at``)."""
        if self.fmt != "int8":
            return None
        return getattr(self._module(cuda=True), self.name + "_row")

    def extra(self, t, multi=False, offset=0):
        """The arguments the kernels of low-precision state take after the
        state arrays for step ``t``: the step's random key and ``offset``, the
        index of the array's first element in the state (``()`` for full
        precision; the ``multi`` kernels take the key only)."""
        if self.fmt is None:
            return ()
        from .._lowp import step_key
        return (step_key(t),) if multi else (step_key(t), np.int64(offset))

    def pick(self, size, guarded=True):
        """The serial or the parallel kernel, see ``KernelPair.pick``."""
        return self._pair.pick(size, guarded)

    def agree(self, size, guarded=True):
        """The count pass of a cautious variant (serial or parallel by size):
        ``agree(x, g, *states, *scalars)`` -> how many elements' update agrees
        in sign with the gradient; None for other variants."""
        return None if self._agree is None else self._agree.pick(size, guarded)

    def multi(self, size):
        """The step over several arrays of one dtype, ``size`` elements in all
        (serial or parallel): ``multi(xp, gp, blocks, proto, cs, *states,
        *scalars)`` -> how many elements the guard kept (see ``_MULTI``)."""
        return self._multi.pick(size)

    def agree_multi(self, size):
        """The count pass over several arrays (a cautious variant; else None):
        the arguments of :meth:`multi`, returns the count of every block."""
        return None if self._agree_multi is None else self._agree_multi.pick(size)

    def first(self, size):
        """The first pass of a two-pass rule (else None): ``first(x, g, *states,
        *scalars)`` -> ``(bad, *sums)``."""
        return None if self._first is None else self._first.pick(size)

    def first_multi(self, size):
        """The first pass over several arrays (else None): ``(xp, gp, blocks,
        proto, *states, *scalars)`` -> each block's ``(bad, *sums)``, columns."""
        return None if self._first_multi is None else self._first_multi.pick(size)

    @property
    def cuda(self):
        """The CUDA kernel (``x, g, *states, bad, *scalars, zero``; low-precision
        state: ``*states`` ends with the step's key and offset)."""
        if self._cuda is None:
            self._cuda = getattr(self._module(cuda=True), self.name)
        return self._cuda

    def cuda_config(self, config, n):
        """The launch configuration of the step on ``n`` elements: ``config``,
        or for int8 state one block of 256 threads per int8 block."""
        if self.fmt != "int8":
            return config
        from .._lowp import BLOCK
        return (max(1, min((n + BLOCK - 1) // BLOCK, 65535)), BLOCK)

    @property
    def cuda_first(self):
        """The CUDA first pass of a two-pass rule (``x, g, *states, bad, parts,
        *scalars, zero``; low-precision state: ``*states`` ends with the step's
        key and offset), or None."""
        if self._first is None:
            return None
        return getattr(self._module(cuda=True), self.name + "_first")

    @property
    def cuda_agree(self):
        """The CUDA count pass of a cautious variant (``x, g, *states, count,
        *scalars, zero``), or None."""
        if self._agree is None:
            return None
        return getattr(self._module(cuda=True), self.name + "_agree")
