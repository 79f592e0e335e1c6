"""``minimize`` over several arrays: ``x0`` a dict name -> array or a list of arrays.

The run itself is over one flat array holding every array end to end (the
loop, its norms, history, checkpoints and minibatches are unchanged); the
objective, its gradient, the callback and the result see the structure:
views of the flat iterate (no copy per call), the gradient copied into one
preallocated flat buffer (or, with NumPy's ``out=``, written by the function
straight into views of it).  The optimizer is the several-array optimizer
over views of the flat iterate, so that what a method does per array (the
cautious mask's mean, LAMB's trust ratio) is per array here too.
"""
import inspect
from collections.abc import Mapping

import numpy as np

from ._inputs import flat_gradient


class Structure:
    """The names, shapes and places of ``x0``'s arrays in the flat iterate."""

    def __init__(self, x0):
        self.is_dict = isinstance(x0, Mapping)
        #: a tuple of arrays is handed on as a tuple (what an njit function takes)
        self.is_tuple = isinstance(x0, tuple)
        items = list(x0.items()) if self.is_dict else list(enumerate(x0))
        if not items:
            raise ValueError("x0 is empty: give at least one array")
        if self.is_dict:
            bad = [k for k, _ in items if not isinstance(k, str)]
            if bad:
                raise TypeError(f"x0: array names must be strings; got {bad[0]!r}")
        arrays = []
        for name, a in items:
            try:
                arr = np.asarray(a)
            except Exception as exc:  # noqa: BLE001 - report which
                raise TypeError(f"x0[{name!r}] must be an array of real numbers; got "
                                f"{type(a).__name__}") from exc
            if arr.dtype.kind not in "fiub" or arr.dtype.kind == "f" and \
                    arr.dtype not in (np.float32, np.float64):
                raise TypeError(f"x0[{name!r}] must hold float32, float64 or integers; "
                                f"got dtype {arr.dtype}")
            if arr.size == 0:
                raise ValueError(f"x0[{name!r}] is empty")
            arrays.append(arr)
        floats = {a.dtype for a in arrays if a.dtype.kind == "f"}
        if len(floats) > 1:
            raise TypeError(
                "x0: minimize runs one dtype: its arrays are " + ", ".join(
                    f"{n!r} {a.dtype}" for (n, _), a in zip(items, arrays))
                + "; make them all float32 or all float64 (the stateful optimizers "
                "take mixed dtypes)")
        self.dtype = np.dtype(floats.pop() if floats else np.float64)
        self.names = [n for n, _ in items]
        self.shapes = [a.shape for a in arrays]
        sizes = [a.size for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.size = int(self.offsets[-1])
        self.start = np.concatenate([a.astype(self.dtype).ravel() for a in arrays])

    def views(self, flat):
        """The structure of views of ``flat`` (x's or the gradient buffer's)."""
        parts = [flat[lo:hi].reshape(shape) for lo, hi, shape in
                 zip(self.offsets[:-1], self.offsets[1:], self.shapes)]
        if self.is_dict:
            return dict(zip(self.names, parts))
        return tuple(parts) if self.is_tuple else parts

    def copies(self, flat):
        """The structure of copies (the result's x and jac)."""
        return self.views(np.array(flat, copy=True))

    def flatten(self, value, out, what):
        """``value`` (the structure of a gradient) into ``out``, checked."""
        if self.is_dict:
            if not isinstance(value, Mapping):
                raise TypeError(f"{what} must be a dict name -> array like x0; got "
                                f"{type(value).__name__}")
            if len(value) != len(self.names) or not all(k in value for k in self.names):
                missing = [k for k in self.names if k not in value]
                extra = [k for k in value if k not in self.names]
                raise ValueError(f"{what} must have x0's arrays by name: " + "; ".join(
                    filter(None, [f"missing {missing}" if missing else "",
                                  f"not in x0: {extra}" if extra else ""])))
            seq = [value[k] for k in self.names]
        else:
            if not isinstance(value, (list, tuple)) or len(value) != len(self.names):
                raise TypeError(f"{what} must be a list of {len(self.names)} arrays like "
                                f"x0; got {type(value).__name__}"
                                + (f" of {len(value)}" if isinstance(value, (list, tuple))
                                   else ""))
            seq = value
        for name, v, lo, hi, shape in zip(self.names, seq, self.offsets[:-1],
                                          self.offsets[1:], self.shapes):
            dest = out[lo:hi]
            if isinstance(v, np.ndarray) and v.base is not None and \
                    np.shares_memory(v, dest) and v.shape == shape and \
                    v.ctypes.data == dest.ctypes.data:
                continue     # written in place (out=)
            dest[...] = flat_gradient(v, shape, self.dtype, f"{what}[{name!r}]")
        return out

    def bounds(self, bounds):
        """Bounds given per array (a dict or list like x0, each entry None, a
        (low, high) pair for every element, or that array's bounds as
        :func:`minimize` takes them) as one flat ``scipy.optimize.Bounds``."""
        from scipy.optimize import Bounds

        from ._inputs import _bounds
        if isinstance(bounds, Bounds):
            return bounds
        if self.is_dict:
            if not isinstance(bounds, Mapping):
                raise TypeError("bounds: with x0 a dict, give bounds as a dict name -> "
                                "bounds of that array (missing names: unbounded); got "
                                f"{type(bounds).__name__}")
            extra = [k for k in bounds if k not in self.names]
            if extra:
                raise ValueError(f"bounds has arrays that x0 lacks: {extra}")
            per = [bounds.get(k) for k in self.names]
        else:
            if not isinstance(bounds, (list, tuple)) or len(bounds) != len(self.names):
                raise TypeError(f"bounds: with x0 a list of {len(self.names)} arrays, give "
                                "a list of as many bounds (None: unbounded)")
            per = list(bounds)
        lb = np.full(self.size, -np.inf)
        ub = np.full(self.size, np.inf)
        for name, b, lo, hi, shape in zip(self.names, per, self.offsets[:-1],
                                          self.offsets[1:], self.shapes):
            if b is None:
                continue
            n = hi - lo
            if isinstance(b, tuple) and len(b) == 2 and all(
                    v is None or np.ndim(v) == 0 for v in b):
                b = [b] * n       # one (low, high) pair for every element
            try:
                box = _bounds(b, np.empty(shape, self.dtype))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"bounds[{name!r}]: {exc}") from None
            if box is not None:
                lb[lo:hi], ub[lo:hi] = box
        return Bounds(lb, ub)

    def wrap(self, fn, fused, what):
        """``fn`` over the flat iterate: the structure in, the flat gradient out
        (into one buffer; with ``out=``, into the buffer's views directly)."""
        if fn is None or fn is True:
            return fn
        buf = np.empty(self.size, self.dtype)
        st = self

        def flat_fn(x, *args, **kw):
            if "out" in kw:
                out = kw["out"]
                kw["out"] = st.views(out)
            else:
                out = buf
            r = fn(st.views(x), *args, **kw)
            if fused is None:      # the objective alone
                return r
            if fused:
                try:
                    f, g = r
                except (TypeError, ValueError):
                    raise TypeError("with jac=True, fun must return (f, g); got "
                                    f"{type(r).__name__}") from None
                return f, st.flatten(g, out, what)
            return st.flatten(r, out, what)

        flat_fn.__signature__ = inspect.signature(fn)
        flat_fn.__name__ = getattr(fn, "__name__", "objective")
        return flat_fn

    def wrap_callback(self, callback):
        """The callback with x (or ``intermediate_result.x``) as the structure."""
        if callback is None:
            return None
        st = self

        def flat_cb(*args, **kw):
            if kw:   # intermediate_result=..., passed on as it came
                arg = kw["intermediate_result"]
                return callback(intermediate_result=type(arg)(
                    dict(arg, x=st.views(np.asarray(arg["x"])))))
            return callback(st.views(np.asarray(args[0])))

        flat_cb.__signature__ = inspect.signature(callback)
        return flat_cb


    def njit_flat(self, fn, n_args, fused, out_at, what):
        """An njit objective over a tuple of arrays as an njit function of the
        flat iterate (for the compiled loop, which inlines it): ``fn(xs,
        *args[, out])`` with ``xs`` (and ``out``) tuples of views of the flat
        arrays; the gradient's arrays copied into one buffer (or, with
        ``out``, left where the function wrote them).  None when ``fn`` is not
        numba's or takes keywords the loop does not pass."""
        from ._inputs import _is_dispatcher, _takes_rng
        if (not _is_dispatcher(fn) or self.is_dict or _takes_rng(fn)
                or out_at not in (None, 1 + n_args)):
            return None
        import hashlib
        import textwrap
        args = "".join(f"a{k}, " for k in range(n_args))
        spans = list(zip(self.offsets[:-1], self.offsets[1:], self.shapes))
        view = lambda name: "(" + "".join(   # noqa: E731
            f"{name}[{lo}:{hi}].reshape({shape!r}), " for lo, hi, shape in spans) + ")"
        out = out_at is not None
        lines = [f"def flat_fn(x, {args}{'out' if out else ''}):",
                 f"    xs = {view('x')}"]
        if out:
            lines.append(f"    os = {view('out')}")
            call = f"_fn(xs, {args}os)"
        else:
            call = f"_fn(xs, {args})"
        if fused is None:
            lines.append(f"    return {call}")
        else:
            lines.append(f"    r = {call}")
            gs = "r[1]" if fused else "r"
            buf = "out" if out else "np.empty(x.size, x.dtype)"
            lines.append(f"    g = {buf}")
            lines += [f"    g[{lo}:{hi}] = np.ascontiguousarray({gs}[{k}]).reshape(-1)"
                      for k, (lo, hi, _) in enumerate(spans)]
            lines.append("    return r[0], g" if fused else "    return g")
        src = "\n".join(lines) + "\n"
        name = "numadam_flat_" + hashlib.sha256(src.encode()).hexdigest()[:12]
        scope = {"_fn": fn, "np": np}
        exec(compile(textwrap.dedent(src), name, "exec"), scope)
        from numba import njit as _njit
        return _njit(error_model="numpy")(scope["flat_fn"])


def structure_of(x0):
    """A :class:`Structure` when ``x0`` is a dict of arrays or a list of
    ndarrays (a list of numbers or of lists stays one array), else None."""
    if isinstance(x0, Mapping):
        return Structure(x0)
    if isinstance(x0, (list, tuple)) and x0 and all(isinstance(a, np.ndarray) for a in x0):
        return Structure(x0)
    return None
