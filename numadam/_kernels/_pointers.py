"""Calls through C function pointers, for the compiled loops (see ``numadam._cabi``).

Two ``@intrinsic`` s: :func:`call_fg` calls ``fg(n, x, grad, user_data)`` at an
address (an integer) with two arrays' data pointers, :func:`as_pointer`
views an address (an integer or a ``void *``) as a typed pointer for
``numba.carray``.  Both compile to a few LLVM instructions (an ``inttoptr``
and a ``call``) and are cacheable, so a loop that takes the objective's
address is compiled once and loaded from numba's cache in every process.
"""
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["call_fg", "call_fg_at", "as_pointer", "row_view"]


@intrinsic
def call_fg(typingctx, addr, n, x, g, user_data):
    """``fg(n, x.data, g.data, user_data)`` for the C function at ``addr``;
    its return type is x's dtype (``double`` or ``float``)."""
    if not (isinstance(x, types.Array) and isinstance(g, types.Array)
            and x.dtype == g.dtype and x.dtype in (types.float64, types.float32)):
        return None
    real = x.dtype
    sig = real(types.int64, types.intp, x, g, types.int64)

    def codegen(context, builder, signature, args):
        a, n_, xa, ga, ud = args
        lt = context.get_value_type(real)
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(lt, [ir.IntType(64), lt.as_pointer(), lt.as_pointer(), i8p])
        fp = builder.inttoptr(a, fnty.as_pointer())
        xs = context.make_array(signature.args[2])(context, builder, xa)
        gs = context.make_array(signature.args[3])(context, builder, ga)
        return builder.call(fp, [n_, xs.data, gs.data, builder.inttoptr(ud, i8p)])
    return sig, codegen


@intrinsic
def call_fg_at(typingctx, addr, n, x, g, i, user_data, dtype):
    """``fg(n, x, g, i, user_data)`` for the C function at ``addr`` with the
    addresses ``x`` and ``g`` (integers) of ``dtype`` (``np.float64`` or
    ``np.float32``): minimize_many's objective, ``i`` the problem's index."""
    if not (isinstance(dtype, types.NumberClass)
            and dtype.dtype in (types.float64, types.float32)):
        return None
    ints = (addr, n, x, g, i, user_data)
    if not all(isinstance(t, types.Integer) for t in ints):
        return None
    real = dtype.dtype
    sig = real(*ints, dtype)

    def codegen(context, builder, signature, args):
        a, n_, xa, ga, i_, ud = (context.cast(builder, v, t, types.int64)
                                 for v, t in zip(args[:6], signature.args[:6]))
        lt = context.get_value_type(real)
        i8p = ir.IntType(8).as_pointer()
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(lt, [i64, lt.as_pointer(), lt.as_pointer(), i64, i8p])
        fp = builder.inttoptr(a, fnty.as_pointer())
        return builder.call(fp, [n_, builder.inttoptr(xa, lt.as_pointer()),
                                 builder.inttoptr(ga, lt.as_pointer()), i_,
                                 builder.inttoptr(ud, i8p)])
    return sig, codegen


@intrinsic
def as_pointer(typingctx, addr, dtype):
    """``addr`` (an int64 or a ``void *``) as a pointer to ``dtype`` (a numpy
    scalar type such as ``np.float64``)."""
    if not isinstance(dtype, types.NumberClass):
        return None
    target = types.CPointer(dtype.dtype)
    sig = target(addr, dtype)

    def codegen(context, builder, signature, args):
        lt = context.get_value_type(target)
        if isinstance(signature.args[0], types.Integer):
            return builder.inttoptr(args[0], lt)
        return builder.bitcast(args[0], lt)
    return sig, codegen


@intrinsic
def row_view(typingctx, addr, shape, dtype):
    """A read-only C array of ``shape`` (an integer or a tuple of integers) of
    ``dtype`` at ``addr`` (an integer): ``numba.carray`` without the write
    access, for the ``x`` that a user's objective receives (no reference
    counting: the caller keeps the memory alive)."""
    if isinstance(shape, types.Integer):
        ndim = 1
    elif isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer):
        ndim = shape.count
    else:
        return None
    if not (isinstance(dtype, types.NumberClass) and isinstance(addr, types.Integer)):
        return None
    arrty = types.Array(dtype.dtype, ndim, "C", readonly=True)
    sig = arrty(addr, shape, dtype)

    def codegen(context, builder, signature, args):
        from numba.core import cgutils
        from numba.np.arrayobj import populate_array
        a, shp, _ = args
        ary = context.make_array(arrty)(context, builder)
        item = context.get_abi_sizeof(context.get_data_type(arrty.dtype))
        intp = context.get_value_type(types.intp)
        if ndim == 1 and isinstance(signature.args[1], types.Integer):
            dims = [context.cast(builder, shp, signature.args[1], types.intp)]
        else:
            dims = [context.cast(builder, d, signature.args[1].dtype, types.intp)
                    for d in cgutils.unpack_tuple(builder, shp, ndim)]
        strides = []
        stride = ir.Constant(intp, item)
        for d in reversed(dims):
            strides.append(stride)
            stride = builder.mul(stride, d)
        data = builder.inttoptr(a, context.get_value_type(arrty.dtype).as_pointer())
        populate_array(ary, data=data, shape=cgutils.pack_array(builder, dims),
                       strides=cgutils.pack_array(builder, strides[::-1]),
                       itemsize=ir.Constant(intp, item), meminfo=None)
        return ary._getvalue()
    return sig, codegen
