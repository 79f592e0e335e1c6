"""Objectives through a C ABI: the compiled loop calls ``fun`` by its address.

minimize's compiled loop is compiled once per method variant and cached on
disk (:func:`numadam._kernels.generate.loop_module`); the objective reaches
it as a C function pointer of the signature ::

    double fg(intptr_t n, const double *x, double *grad, void *user_data)

(``float`` for float32 runs): it returns the objective at ``x[0..n)`` and
writes the gradient into ``grad[0..n)``.  Three kinds of pointer are taken
as they are (:func:`from_pointer`): a ``numba.cfunc``, a ``ctypes``
function pointer with ``restype`` and ``argtypes`` set, and a
``scipy.LowLevelCallable`` (whose ``user_data`` is passed on); so an
objective written in C, C++, Fortran (``bind(C)``) or Cython runs in the
compiled loop with no Python per iteration.

An ``numba.njit`` objective is wrapped into such a function
(:func:`wrap_njit`): a small generated ``cfunc`` that views the pointers as
arrays of ``x0``'s shape, reads the objective's ``args`` from a block of
words that ``user_data`` points to, calls the user's function (its ``out=``
form when it has one) and catches its exceptions (a flag in the block; the
Python side then evaluates the objective in Python, which raises the
exception itself).  The wrapper's module is named by a hash of the user's
function (its source, its file's size and time, numba's version) and is
cached on disk when the user's function is ``cache=True``: a new process
loads both the loop and the wrapper without compiling.
"""
import ctypes
import hashlib
import inspect

import numpy as np

__all__ = ["CObjective", "from_pointer", "is_pointer", "wrap_njit", "C_SIGNATURES",
           "C_SIGNATURES_MANY"]

#: the C signature of minimize's objective, by the dtype of x
C_SIGNATURES = {
    np.dtype(np.float64): "double (intptr_t, const double *, double *, void *)",
    np.dtype(np.float32): "float (intptr_t, const float *, float *, void *)",
}

#: the C signature of minimize_many's objective, by the dtype of x: the
#: fourth argument is the problem's index (its row of x0), with which the
#: function finds the problem's data through ``user_data``
C_SIGNATURES_MANY = {
    np.dtype(np.float64): "double (intptr_t, const double *, double *, intptr_t, void *)",
    np.dtype(np.float32): "float (intptr_t, const float *, float *, intptr_t, void *)",
}

_CTYPE = {np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float}


class CObjective:
    """An objective the compiled loop calls through C function pointers.

    ``fg`` returns f and writes the gradient; ``f`` returns f only (0: call
    ``fg`` with a scratch gradient); ``fused`` False when ``fg`` computes the
    gradient only (a separate ``jac``; it returns NaN).  ``block`` is the
    word block of a wrapped njit objective (its first word the error flag),
    None for a user's pointer.
    """

    def __init__(self, fg, f, user_data, fused, dtype, block=None, keep=()):
        self.fg, self.f, self.user_data = int(fg), int(f or 0), int(user_data or 0)
        self.fused, self.dtype, self.block = bool(fused), np.dtype(dtype), block
        self.keep = keep   # what the addresses point into: kept alive
        self.err = block if block is not None else np.zeros(1, np.int64)

    def key(self):
        """The tuple the compiled loop takes: ``(fg, f, user_data, fused)``."""
        return (np.int64(self.fg), np.int64(self.f or self.fg),
                np.int64(self.user_data), self.fused)

    def python(self):
        """``fg(x) -> (f, g)`` in Python (through ctypes), for the loop's
        evaluations outside the compiled code and for ``compiled=False``."""
        ct = _CTYPE[self.dtype]
        proto = ctypes.CFUNCTYPE(ct, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p)
        call = proto(self.fg)
        dtype, ud = self.dtype, self.user_data or None

        def fg(x, *args):
            # (np.require, not ascontiguousarray: a 0-d x stays 0-d)
            x = np.require(x, dtype, "C")
            g = np.empty(x.shape, dtype)
            f = call(x.size, x.ctypes.data, g.ctypes.data, ud)
            return f, g
        fg.__name__ = "c_objective"
        fg._numadam_c = self
        return fg


# ---------------------------------------------------------------------------
# a user's pointer
# ---------------------------------------------------------------------------
def is_pointer(fun):
    """Whether ``fun`` is a C function pointer numadam takes as an objective."""
    from scipy import LowLevelCallable
    return (isinstance(fun, LowLevelCallable) or isinstance(fun, ctypes._CFuncPtr)
            or type(fun).__name__ == "CFunc" and hasattr(fun, "address"))


def _expected(dtype, many=False):
    if many:
        return (f"a C function {C_SIGNATURES_MANY[np.dtype(dtype)]} (x0 is "
                f"{np.dtype(dtype)}): it returns the objective of problem i at "
                "x[0..n) and writes its gradient into grad[0..n)")
    return (f"a C function {C_SIGNATURES[np.dtype(dtype)]} (x0 is {np.dtype(dtype)}): "
            "it returns the objective at x[0..n) and writes the gradient into "
            "grad[0..n)")


def _words(t):
    """A C type name with ``const`` and spaces normalised."""
    return " ".join(t.replace("*", " * ").replace("const", " ").split())


_INTP_NAMES = {"intptr_t", "ssize_t", "Py_ssize_t", "long", "long long", "int64_t",
               "longlong", "npy_intp"}


def _check_signature(ret, argtypes, dtype, what, many=False):
    real = "double" if np.dtype(dtype) == np.float64 else "float"
    index = [_words(a) in _INTP_NAMES for a in argtypes[3:4]] if many else []
    ok = (_words(ret) == real and len(argtypes) == 4 + many
          and _words(argtypes[0]) in _INTP_NAMES
          and _words(argtypes[1]) == f"{real} *" and _words(argtypes[2]) == f"{real} *"
          and all(index) and _words(argtypes[-1]) in ("void *", "char *"))
    if not ok:
        got = f"{ret} ({', '.join(argtypes)})"
        raise TypeError(f"fun: {what} has the signature {got}; numadam calls "
                        f"{_expected(dtype, many)}")


def _ctypes_name(t):
    if t is None:
        return "void"
    if t is ctypes.c_void_p:
        return "void *"
    if t is ctypes.c_char_p:
        return "char *"
    name, stars = t.__name__, 0
    while name.startswith("LP_"):
        name, stars = name[3:], stars + 1
    if name.startswith("c_"):
        name = name[2:]
    if name in ("long", "ssize_t", "longlong", "int64") and ctypes.sizeof(t) == 8:
        name = "intptr_t"
    return name + (" " + "*" * stars if stars else "")


def _capsule_pointer(capsule):
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_GetContext.restype = ctypes.c_void_p
    api.PyCapsule_GetContext.argtypes = [ctypes.py_object]
    name = api.PyCapsule_GetName(capsule)
    return api.PyCapsule_GetPointer(capsule, name), api.PyCapsule_GetContext(capsule), name


def _split_signature(text):
    """``"double (intptr_t, double *, ...)"`` -> ``("double", [args])``."""
    head, _, rest = text.partition("(")
    return head.strip(), [a.strip() for a in rest.rstrip(") ").split(",") if a.strip()]


def from_pointer(fun, dtype, many=False):
    """A :class:`CObjective` for a ``numba.cfunc``, a ``ctypes`` function
    pointer or a ``scipy.LowLevelCallable``; ``TypeError`` naming ``fun`` for
    one whose signature is not :data:`C_SIGNATURES`' for ``dtype`` (with
    ``many``, :data:`C_SIGNATURES_MANY`': minimize_many's)."""
    from scipy import LowLevelCallable
    dtype = np.dtype(dtype)
    if dtype not in C_SIGNATURES:
        raise TypeError(f"fun: a C objective needs float64 or float32 x0; got {dtype}")
    if isinstance(fun, LowLevelCallable):
        capsule = tuple.__getitem__(fun, 0)
        address, context, name = _capsule_pointer(capsule)
        ret, argtypes = _split_signature((name or b"").decode())
        _check_signature(ret, argtypes, dtype, "the LowLevelCallable", many)
        return CObjective(address, 0, context, True, dtype, keep=(fun,))
    if isinstance(fun, ctypes._CFuncPtr):
        if fun.argtypes is None:
            raise TypeError("fun: set the ctypes function's argtypes and restype so "
                            f"that numadam can check them; numadam calls "
                            f"{_expected(dtype, many)}")
        _check_signature(_ctypes_name(fun.restype),
                         [_ctypes_name(a) for a in fun.argtypes], dtype,
                         "the ctypes function", many)
        return CObjective(ctypes.cast(fun, ctypes.c_void_p).value, 0, 0, True, dtype,
                          keep=(fun,))
    sig = fun._sig
    from numba.core import types
    names = []
    for t in (sig.return_type, *sig.args):
        if isinstance(t, types.CPointer):
            names.append(f"{_numba_name(t.dtype)} *")
        elif t == types.voidptr:
            names.append("void *")
        else:
            names.append(_numba_name(t))
    _check_signature(names[0], names[1:], dtype, "the numba.cfunc", many)
    return CObjective(fun.address, 0, 0, True, dtype, keep=(fun,))


def _numba_name(t):
    from numba.core import types
    if t == types.float64:
        return "double"
    if t == types.float32:
        return "float"
    if isinstance(t, types.Integer) and t.bitwidth == 64 and t.signed:
        return "intptr_t"
    return str(t)


# ---------------------------------------------------------------------------
# an njit objective, wrapped
# ---------------------------------------------------------------------------
_WRAPPER = '''"""Generated by numadam._cabi.wrap_njit for {what}; do not edit."""
import math

import numpy as np
from numba import carray, cfunc, types

import numadam._cabi as _cabi
from numadam._kernels._pointers import as_pointer as _ptr
from numadam._kernels.cpu import copy_values as _copy

_fun, _jac = _cabi._PENDING[{key!r}]
_R = types.{real}
_SIG = _R(types.intp, types.CPointer(_R), types.CPointer(_R), types.voidptr)
_N = {nwords}


@cfunc(_SIG, cache={cache}, error_model="numpy")
def fg(_n, _xp, _gp, _ud):
    _u = carray(_ptr(_ud, np.int64), (_N,))
{floats}    _x = carray(_xp, ({shape}))
    _g = carray(_gp, ({shape}))
{unpack}
    try:
{call_g}
    except Exception:  # noqa: BLE001 - numba catches without binding
        _u[0] = 1
        return math.nan


@cfunc(_SIG, cache={cache}, error_model="numpy")
def f(_n, _xp, _gp, _ud):
    _u = carray(_ptr(_ud, np.int64), (_N,))
{floats}    _x = carray(_xp, ({shape}))
{unpack}
    try:
{call_f}
    except Exception:  # noqa: BLE001
        _u[0] = 1
        return math.nan
'''

#: the objectives being wrapped, read by the generated module as it imports
_PENDING = {}
_WRAPPED = {}


def _arg_kind(a):
    """How one of ``args`` travels in the word block: ``("array", dtype, ndim)``,
    ``("float",)``, ``("int",)``, ``("bool",)``; None when it cannot."""
    if isinstance(a, (bool, np.bool_)):
        return ("bool",)
    if isinstance(a, (int, np.integer)) and -2**63 <= int(a) < 2**63:
        return ("int",)
    if isinstance(a, (float, np.floating)):
        return ("float",)
    if (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype.isnative
            and a.dtype.kind in "biuf" and a.ndim >= 1 and not a.dtype.hasobject):
        return ("array", a.dtype.str, a.ndim)
    return None


def _block(x, args, kinds):
    """The word block: [error flag, x's shape..., then per arg its words]."""
    words = [0, *x.shape]
    floats = {}
    for a, kind in zip(args, kinds):
        if kind[0] == "array":
            words += [a.ctypes.data, *a.shape]
        elif kind[0] == "float":
            floats[len(words)] = float(a)
            words.append(0)
        else:
            words.append(int(a))
    block = np.array(words, np.int64)
    for j, v in floats.items():
        block.view(np.float64)[j] = v
    return block


def _unpack(x, kinds):
    lines, j = [], 1 + x.ndim
    names = []
    for k, kind in enumerate(kinds):
        name = f"_a{k}"
        names.append(name)
        if kind[0] == "array":
            ndim = kind[2]
            dims = ", ".join(f"_u[{j + 1 + d}]" for d in range(ndim))
            lines.append(f"    {name} = carray(_ptr(_u[{j}], np.{np.dtype(kind[1]).name}), "
                         f"({dims},))")
            j += 1 + ndim
        elif kind[0] == "float":
            lines.append(f"    {name} = _d[{j}]")
            j += 1
        elif kind[0] == "bool":
            lines.append(f"    {name} = _u[{j}] != 0")
            j += 1
        else:
            lines.append(f"    {name} = _u[{j}]")
            j += 1
    return "\n".join(lines) or "    pass", names, j


def _stamp(fn):
    """What identifies an njit function's code across processes, or None."""
    py = getattr(fn, "py_func", fn)
    try:
        path = inspect.getsourcefile(py)
        src = inspect.getsource(py)
        import os
        st = os.stat(path)
    except (OSError, TypeError):
        return None
    # (its njit options too: the loops compile it with them)
    opts = sorted((k, repr(v)) for k, v in getattr(fn, "targetoptions", {}).items())
    # a closure's variables are constants of its compiled code: the same
    # source over other values is another function (numba's cache hashes
    # them likewise); values that do not pickle leave it without a stamp
    cells = ""
    if getattr(py, "__closure__", None):
        import pickle
        try:
            cells = hashlib.sha256(pickle.dumps(
                [c.cell_contents for c in py.__closure__])).hexdigest()
        except Exception:  # noqa: BLE001 - unpicklable (or empty) cells
            return None
    return (f"{path}:{py.__qualname__}:{st.st_size}:{st.st_mtime_ns}:{src}:{opts}"
            f":{cells}")


def _cacheable(fn):
    cache = getattr(fn, "_cache", None)
    return cache is not None and type(cache).__name__ != "NullCache"


def wrap_njit(fun, jac, fused, args, out, x):
    """A :class:`CObjective` for numba dispatchers ``fun`` (and ``jac``), or
    None when an ``args`` entry cannot travel in the word block (then the
    loop specialised to the functions runs).  ``out``: the gradient
    function takes numpy's ``out=`` right after ``args``."""
    import numba
    kinds = [_arg_kind(a) for a in args]
    if any(k is None for k in kinds) or x.dtype not in C_SIGNATURES:
        return None
    stamps = [_stamp(fun), _stamp(jac) if not fused else ""]
    cache = all(s is not None for s in stamps) and _cacheable(fun) and (
        fused or _cacheable(jac))
    ident = (stamps if cache else [id(fun), id(jac)]) + [
        fused, out, kinds, x.dtype.str, x.ndim, numba.__version__,
        inspect.getsource(wrap_njit)]
    key = hashlib.sha256(repr(ident).encode()).hexdigest()[:16]
    unpack, names, nwords = _unpack(x, kinds)
    call_args = "".join(f"{n}, " for n in names)
    if fused:
        o = "_g" if out else ""
        call_g = (f"        _fv, _gv = _fun(_x, {call_args}{o})\n"
                  + _COPY + "        return _fv")
        call_f = (f"        _gs = np.empty_like(_x)\n"
                  f"        return _fun(_x, {call_args}{'_gs' if out else ''})[0]"
                  if out else f"        return _fun(_x, {call_args})[0]")
    else:
        o = "_g" if out else ""
        call_g = f"        _gv = _jac(_x, {call_args}{o})\n" + _COPY + "        return math.nan"
        call_f = f"        return _fun(_x, {call_args})"
    shape = "_n, " if x.ndim == 1 else "".join(f"_u[{1 + d}], " for d in range(x.ndim))
    floats = ("    _d = carray(_ptr(_ud, np.float64), (_N,))\n"
              if any(k[0] == "float" for k in kinds) else "")
    what = f"{getattr(fun, '__name__', fun)!s}" + ("" if fused else
                                                    f" and {getattr(jac, '__name__', jac)}")
    src = _WRAPPER.format(what=what, key=key, nwords=max(nwords, 1), cache=cache,
                          real="float64" if x.dtype == np.float64 else "float32",
                          shape=shape, floats=floats, unpack=unpack, call_g=call_g, call_f=call_f)
    from ._kernels import generate
    _PENDING[key] = (fun, jac if not fused else fun)
    try:
        module = generate.load(src, f"objective_{key}")
    finally:
        _PENDING.pop(key, None)
    block = _block(x, args, kinds)
    return CObjective(module.fg.address, module.f.address, block.ctypes.data, fused,
                      x.dtype, block=block, keep=(module, args, block))


# the gradient returned is copied into the loop's buffer unless it is that
# buffer (the out= form); a wrong shape sets flag 2, an exception flag 1 (Python
# re-evaluates and raises).  (``copy_values``, not ``_g[...] = _gv``, whose
# broadcasting error message numba compiles: about 2.4 s of the wrapper's
# compile, for an error the shape test excludes.)
_COPY = '''        if _gv.shape != _x.shape:
            _u[0] = 2
            return math.nan
        _copy(_g, _gv)
'''


def error_flag(cobj):
    """The wrapped objective's error flag (0: none), cleared."""
    if cobj is None or cobj.block is None:
        return 0
    flag = int(cobj.block[0])
    cobj.block[0] = 0
    return flag



