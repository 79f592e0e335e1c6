"""What a method declares, and the registry of declared methods.

A method is one :class:`Rule` -- its per-element ``update`` function, its
per-step ``scalars`` function, the constants those read (``hyper``), its
state arrays (:class:`State`), its scalar state carried between steps
(:class:`Host`) and its constant flags -- and one or more :class:`Method`
entries that give the rule a name, defaults and a reference (``adam``,
``adamw`` and ``amsgrad`` share Adam's rule).  Every kernel of the method
is generated from the rule by :mod:`numadam._kernels.generate`; every
entry point (the stateful optimizers, ``minimize`` and its compiled loop,
``minimize_many``, MPI, CUDA) reads the method through this interface only.

The conventions of a rule's two functions:

``update(x, g, *states, *scalars, *flags) -> (x, *states)``
    One element's new parameter and state values, in the parameter's dtype
    (no float literals: see :mod:`numadam._kernels._math`, whose helpers it
    may call, with ``math`` and ``np``).  A state whose ``when`` flag is off
    in a variant arrives as ``0`` and its new value is dropped; flags arrive
    as constants, so each variant compiles without the branches it skips.
``scalars(hyper, t, lr, gscale, host) -> (scalars, host)``
    The kernel's scalars of step ``t`` (after incrementing) in float64, in
    ``update``'s order, and the new host state; ``gscale`` is the
    clip-by-global-norm factor.  Plain Python that numba also compiles
    (``register_jitable``) for the compiled loops, so it may use only what
    both evaluate identically (IEEE arithmetic, ``math.sqrt``, float ``**``
    float; see :mod:`numadam._kernels._scalars`).
"""
import math
import threading

import numpy as np

from . import _options

__all__ = ["METHODS", "Method", "Rule", "State", "Host", "Modes", "PARAMS", "get_method",
           "register", "unregister"]

#: a state array's initial value: a copy of the parameters (Schedule-Free's z)
PARAMS = "<a copy of the parameters>"

#: every declared method by name (lower case)
METHODS = {}


class State:
    """A state array of a method: torch's name, initial value, constraints.

    ``init`` is a number, the name of an option holding it, or
    :data:`PARAMS` (a copy of the parameters); ``when`` the flag without
    which the array does not exist; ``nonnegative`` that no run makes it
    negative (second moments, accumulators: loaded state is checked).
    """

    def __init__(self, name, init=0.0, when=None, nonnegative=False, size=None,
                 moment=False):
        self.name, self.init, self.when, self.nonnegative = name, init, when, nonnegative
        #: a moment estimate (a running average or sum of the gradient or its
        #: square): the option ``state_dtype`` may store it in bfloat16 or 8
        #: bits (signed codes, unsigned when ``nonnegative``; numadam._lowp)
        self.moment = moment
        #: ``size(shape)``: the elements it holds for a parameter of that shape
        #: (Adafactor's factored moments); None: one per parameter
        self.size = size

    def size_of(self, shape):
        """The elements it holds for a parameter array of ``shape``."""
        return int(np.prod(shape)) if self.size is None else int(self.size(tuple(shape)))

    def initial(self, opts):
        """The initial value (a number; not for :data:`PARAMS`)."""
        return opts[self.init] if isinstance(self.init, str) else self.init

    def fill(self, opts, flat, shapes=None):
        """The initial array for the parameters ``flat`` (a fresh array): the
        arrays of ``shapes`` end to end when the size is not one per element."""
        if self.init is PARAMS:
            return flat.copy()
        if self.size is not None:
            n = sum(self.size_of(s) for s in (shapes or [flat.shape]))
            return np.full(n, self.initial(opts), flat.dtype)
        return np.full_like(flat, self.initial(opts))


class Host:
    """A scalar carried between steps on the host (e.g. ``beta1 ** t``).

    ``kind`` is ``"power"`` for a product of betas (in ``[0, 1]``, exactly 1
    before the first step), ``"product"`` for another running product in
    ``(0, 1]`` (NAdam's mu product), ``"sum"`` for a running sum or maximum
    that is ``>= 0`` (Schedule-Free's weight sum), ``"positive"`` for any
    value > 0, ``"real"`` for any finite value (Prodigy's step size and
    numerator) or ``"count"`` for a count of steps, an integer in ``[0, t]``
    (Prodigy's steps taken; a state dict saved before it existed loads with
    ``t``).  ``init`` is a number or the name of the option holding it.
    """

    KINDS = ("power", "product", "sum", "positive", "real", "count")

    def __init__(self, name, init=1.0, kind="power"):
        if kind not in self.KINDS:
            raise ValueError(f"Host kind must be one of {self.KINDS}; got {kind!r}")
        self.name, self.init, self.kind = name, init, kind

    def initial(self, opts):
        """The value before the first step."""
        return float(opts[self.init]) if isinstance(self.init, str) else self.init

    def check(self, value, t):
        if not math.isfinite(value):
            raise ValueError(f"host[{self.name!r}] must be finite; got {value}")
        if self.kind == "real":
            return
        if self.kind == "count":
            if not (value == int(value) and 0 <= value <= t):
                raise ValueError(f"host[{self.name!r}] counts steps: an integer in [0, {t}]; "
                                 f"got {value!r}")
            return
        if self.kind == "positive":
            if not value > 0.0:
                raise ValueError(f"host[{self.name!r}] must be > 0; got {value!r}")
            return
        if self.kind == "power":
            if not 0.0 <= value <= 1.0 or (t == 0 and value != 1.0):
                raise ValueError(
                    f"host[{self.name!r}] is {value!r}: a product of betas, it must be "
                    "in [0, 1]" + (" and 1 before the first step" if t == 0 else ""))
        elif self.kind == "sum":
            if value < 0.0 or (t == 0 and value != self.init):
                raise ValueError(f"host[{self.name!r}] must be >= 0" + (
                    f" and {self.init} before the first step" if t == 0 else "")
                    + f"; got {value!r}")
        elif not 0.0 < value <= 1.0:
            raise ValueError(f"host[{self.name!r}] must be in (0, 1]; got {value!r}")


def common(opts):
    """``(maximize, clip_value or inf, weight_decay)``: the start of most hypers."""
    clip = opts["clip_value"]
    return (opts["maximize"], math.inf if clip is None else clip, opts["weight_decay"])


class Rule:
    """One update rule: the per-element and per-step functions and the state.

    Parameters
    ----------
    name : str
        The kernels' name (``adam`` for Adam, AdamW and AMSGrad).
    update, scalars : callable
        The per-element and the per-step functions (module docstring).
    hyper : callable
        ``hyper(opts)``: the tuple of constants ``scalars`` reads.
    states : sequence of State
        The state arrays, in ``update``'s order.
    host : sequence of Host
        The scalars carried between steps.
    flags : dict, optional
        ``flag name -> function of opts``: ``update``'s last parameters,
        constants of each generated variant.
    bools : sequence of str
        The scalars that are booleans (not cast to the parameters' dtype).
    check : callable, optional
        ``check(opts)``: raises for a combination of options it refuses.
    options : dict, optional
        Options of this rule not in the shared table: ``name -> (check,
        description)``.
    first, sums, between : optional
        A two-pass rule (LAMB, Prodigy): ``first(x, g, *states, *scalars,
        *flags) -> (*states, *contributions)`` (``update``'s parameters) is
        the first pass, updating the states and returning each element's
        contributions to the float64 ``sums`` (their names); then
        ``between(hyper, t, lr, sums, host, scalars) -> (scalars, host)``
        gives ``update`` (the second pass) its scalars from the sums.
    per_array : bool, default False
        The sums are per array (LAMB's norms): over several arrays
        ``between`` sees each array's sums, and only the last scalar it
        returns may differ between arrays; else the sums are over every
        array of the optimizer (Prodigy's dot products).
    array_step : callable, optional
        A matrix rule (Muon): ``array_step()`` returns the compiled step of one
        array, ``step(x, g, *states, *scalars) -> bad`` with every array of
        the parameter's shape (``bad``: the array's size when the step was not
        taken because something was not finite, else 0); ``update`` is then
        only the declaration's shape.
    ndim : int, optional
        The number of dimensions every parameter must have (Muon: 2).
    shared : sequence of str
        Options every parameter group must share (a two-pass rule whose sums
        are over all arrays adapts one quantity for all of them).
    caution : callable, optional
        For rules with the ``cautious`` flag (the Cautious Optimizers' mask):
        ``caution(x, g, <states>, <scalars>)``, a subset of ``update``'s
        parameters, returns a value whose sign is that of (the update before
        the learning rate, without weight decay) times (the gradient the
        method sees); the generator makes the count pass of it, reading only
        the arrays it names.  ``update`` then takes the scalar ``cscale``
        (``1 / max(mean(mask), 1e-3)``, filled in by the loops).
    """

    def __init__(self, name, update, scalars, hyper, states=(), host=(), flags=None,
                 bools=(), check=None, options=None, caution=None, first=None, sums=(),
                 between=None, per_array=False, shared=(), array_step=None, ndim=None):
        from .._kernels.generate import Signature, _check_globals
        self.name, self.update, self.scalars, self.hyper = name, update, scalars, hyper
        if (first is None) != (between is None) or (first is not None and not sums):
            raise TypeError(f"rule {name!r}: a two-pass rule needs first, sums and between")
        if first is not None:
            import inspect
            if (list(inspect.signature(first).parameters)
                    != list(inspect.signature(update).parameters)):
                raise TypeError(f"rule {name!r}: first takes update's parameters")
            _check_globals(first)
        self.first, self.sums, self.between = first, tuple(sums), between
        self.per_array, self.shared = bool(per_array), tuple(shared)
        self.array_step, self.ndim = array_step, ndim
        self.caution = caution
        self.states, self.host = tuple(states), tuple(host)
        self.flags = dict(flags or {})
        self.check = check
        self.options = dict(options or {})
        self.signature = Signature(update, len(self.states), tuple(self.flags), bools)
        #: the moment states that ``state_dtype`` stores in low precision, by
        #: the update's parameter name: ``"signed"`` or ``"unsigned"`` (none for
        #: a matrix rule)
        self.moments = ({} if array_step is not None else {
            p: "unsigned" if st.nonnegative else "signed"
            for p, st in zip(self.signature.states, self.states) if st.moment})
        if first is not None and self.moments and any(st.when for st in self.states):
            # (its low-precision second pass recomputes every state: see
            # numadam._kernels.generate._LOWP_TWO_PASS)
            raise TypeError(f"rule {name!r}: a two-pass rule with moment states cannot "
                            "have conditional states")
        self._lock = threading.RLock()
        self._modules = {}
        self._kernels = {}

    def flag_values(self, opts):
        return tuple(bool(f(opts)) for f in self.flags.values())

    def present(self, opts):
        """The states that exist with these options."""
        on = dict(zip(self.flags, self.flag_values(opts)))
        return tuple(s for s in self.states if s.when is None or on[s.when])

    # -- the generated kernels -------------------------------------------
    def _module(self, kind):
        from .._kernels import generate as G
        with self._lock:
            if kind not in self._modules:
                whens = [s.when for s in self.states]
                if isinstance(kind, tuple):   # ("lowp", format, stochastic, paired)
                    # or ("lowp-cuda", format, stochastic): see lowp_module
                    stem = f"{self.name}_{kind[1]}" + ("" if kind[2] else "_rtn")
                    if kind[0] == "lowp":
                        stem += "" if kind[3] or kind[1] != "bfloat16" else "_split"
                        src = G.lowp_source(self.cpu_module().__name__, self.name,
                                            self.update, self.signature, whens, self.moments,
                                            kind[1], kind[2], self.caution, kind[3],
                                            None if self.first is None
                                            else (self.first, self.sums), self.per_array)
                    else:
                        cpu = self._module(("lowp",) + kind[1:] + (False,)).__name__
                        src = G.lowp_cuda_source(cpu, self.name, self.signature, whens,
                                                 self.moments, kind[1], kind[2], self.caution,
                                                 self.sums)
                        stem += "_cuda"
                    self._modules[kind] = G.load(src, stem)
                    return self._modules[kind]
                if kind == "cpu":
                    src = G.cpu_source(self.name, self.update, self.signature, whens,
                                       self.caution, None if self.first is None
                                       else (self.first, self.sums), self.per_array)
                else:
                    src = G.cuda_source(self.cpu_module().__name__, self.name,
                                        self.signature, whens, self.caution,
                                        None if self.first is None
                                        else (self.first, self.sums))
                self._modules[kind] = G.load(src, self.name + ("" if kind == "cpu"
                                                                else "_cuda"))
            return self._modules[kind]

    def cpu_module(self):
        """The generated CPU module (imported on first use)."""
        return self._module("cpu")

    def cuda_module(self):
        """The generated CUDA module (imports numba.cuda; on first use)."""
        return self._module("cuda")

    def lowp_module(self, fmt, stochastic, cuda=False, paired=True):
        """The generated module of the kernels with the moments stored as ``fmt``
        (``cuda``: the device kernels', which imports numba.cuda).  bfloat16
        moments are ``paired`` (two to a uint32 word, :meth:`Method.bind_state`)
        in the host's kernels; the device kernels and ``paired=False`` (the
        many-problems loop) keep one uint16 array per moment."""
        if cuda:
            return self._module(("lowp-cuda", fmt, bool(stochastic)))
        return self._module(("lowp", fmt, bool(stochastic), bool(paired)))

    def kernels(self, opts, fmt=None):
        """The :class:`numadam._kernels.generate.MethodKernels` for ``opts``,
        the moment states stored as ``fmt`` (None: full precision)."""
        return self.kernels_for(self.flag_values(opts), fmt,
                                opts.get("stochastic_rounding", True))

    def kernels_for(self, values, fmt=None, stochastic=True):
        """The kernels of the variant whose flags are ``values`` (a tuple of
        bools), the moments stored as ``fmt``."""
        key = (tuple(values), fmt, bool(stochastic) if fmt == "bfloat16" else True)
        with self._lock:
            if key not in self._kernels:
                from .._kernels.generate import MethodKernels
                self._kernels[key] = MethodKernels(self, *key)
            return self._kernels[key]


class Modes:
    """A method whose parameter array holds another point while it trains than
    the one it returns (Schedule-Free: y while training, the average x to
    evaluate).

    ``to_eval(params, state, opts)`` and ``to_train(params, state, opts)``
    move the parameters (a flat host array) between the two, in place; the
    stateful optimizer starts in train mode, and its ``eval()`` / ``train()``
    call them.  ``minimize`` and ``minimize_many`` return the eval point.
    """

    def __init__(self, to_eval, to_train):
        self.to_eval, self.to_train = to_eval, to_train


class Method:
    """One named method: a :class:`Rule` with defaults and a reference.

    Parameters
    ----------
    name, title, reference : str
        The method's name (``method="..."``), a one-line title and the paper
        and reference implementation it follows.
    rule : Rule
        Its update rule.
    defaults : dict
        The options it takes and their defaults (torch.optim's names);
        ``clip_norm``, ``clip_value`` and ``nan_policy`` are added.
    fixed : dict, optional
        Options this method sets itself (e.g. adamw's decoupled decay).
    full_batch : bool, default False
        The method was designed for exact gradients (Rprop): ``minimize``
        warns when it is given minibatches (``data``).
    modes : Modes, optional
        Train and eval points (Schedule-Free).
    """

    def __init__(self, name, title, rule, defaults, reference, fixed=None,
                 full_batch=False, modes=None):
        self.full_batch = full_batch
        self.modes = modes
        self.name = name
        self.title = title
        self.rule = rule
        self.defaults = dict(defaults, clip_norm=None, clip_value=None,
                             nan_policy="raise")
        if rule.moments:   # moment states: storable in low precision (numadam._lowp)
            self.defaults.update(state_dtype=None, stochastic_rounding=True)
        self.reference = reference
        self.fixed = dict(fixed or {})
        self.host_names = tuple(h.name for h in rule.host)

    def _check_fn(self, key):
        if key in self.rule.options:
            return self.rule.options[key][0]
        return _options._CHECKS[key]

    def description(self, key):
        """The one-line meaning of option ``key`` (the docs' options tables)."""
        if key in self.rule.options:
            return self.rule.options[key][1]
        return _options._DESCRIPTIONS[key]

    # -- options --------------------------------------------------------
    def resolve(self, options):
        """Defaults overlaid with ``options``, every value checked.

        Raises ``TypeError`` for an option this method does not take and
        ``ValueError`` / ``TypeError`` for a value out of its range.
        """
        self.check_known(options)
        opts = dict(self.defaults)
        opts.update(options)
        for key, value in opts.items():
            opts[key] = self._check_fn(key)(key, value)
        opts.update(self.fixed)
        if self.rule.check is not None:
            self.rule.check(opts)
        return opts

    def check_known(self, options, loop=()):
        """Refuse an option name that neither this method nor ``loop`` (the
        loop options of the caller, e.g. minimize's) takes.

        The ``TypeError`` names the option, says whether it belongs to other
        methods, suggests the closest valid name (or numadam's name for a
        SciPy/torch spelling such as ``tol``) and lists the valid names.
        """
        valid = set(self.defaults) | set(loop)
        unknown = [k for k in options if k not in valid]
        if not unknown:
            return
        name = unknown[0]
        listed = ", ".join(sorted(valid))
        others = sorted(m.name for m in METHODS.values() if name in m.defaults)
        if others:
            raise TypeError(f"option {name!r} is not an option of method {self.name!r} "
                            f"(it is one of {', '.join(others)}); {self.name!r} takes "
                            f"{listed}")
        if not isinstance(name, str):
            raise TypeError(f"option names must be strings; got {name!r}")
        if not loop and name in _options.MINIMIZE_OPTIONS:
            raise TypeError(f"option {name!r} belongs to numadam.minimize's loop, not to "
                            f"the stateful optimizer of method {self.name!r} (you run "
                            "the loop); it takes " + listed)
        raise TypeError(_options.unknown_option_message(name, self.name, valid, listed))

    def replace(self, current, options, where="", sizes=(None,)):
        """``options`` resolved to replace the resolved ``current`` ones from
        the next step on: refused when they would change the state arrays of
        an array of one of ``sizes`` (their names, or how they are stored:
        ``state_dtype``; None: a large array) (``where`` prefixes the
        message)."""
        opts = self.resolve(dict(options))
        for size in sizes:
            before = [(e[0], e[1]) for e in self.layout(current, size)]
            after = [(e[0], e[1]) for e in self.layout(opts, size)]
            if before != after:
                diff = [k for k in options if options[k] != current.get(k)]
                # name the options that change the layout by themselves (an lr
                # changed with amsgrad does not), else all the changed ones
                alone = [k for k in diff if [(e[0], e[1]) for e in self.layout(
                    self.resolve({**{k2: current[k2] for k2 in options if k2 in current},
                                  k: options[k]}), size)] != before]
                diff = alone or diff
                raise ValueError(
                    f"{where}option{'s' if len(diff) > 1 else ''} "
                    f"{', '.join(map(repr, diff))} would change the state arrays "
                    f"({_stored(before)} -> {_stored(after)}); they cannot change")
        return opts

    @property
    def two_pass(self):
        """Whether the step is more than one elementwise pass: two passes with a
        reduction between (LAMB, Prodigy) or matrix products (Muon).  The
        stateful optimizers and minimize's ordinary loop run it (a two-pass
        rule on the GPU too, with any ``state_dtype``; a matrix rule on the
        CPU); the compiled loops, minimize_many and sharded MPI do not
        (yet)."""
        return self.rule.first is not None or self.rule.array_step is not None

    def refuse_two_pass(self, where):
        """Raise for a method whose step is not one elementwise pass where only
        such steps run."""
        if self.two_pass:
            what = ("matrix products over each array" if self.rule.array_step is not None
                    else "two passes with a reduction over the parameters between them")
            raise ValueError(
                f"method {self.name!r} is not supported by {where}: its step is {what} "
                "(run it with numadam.minimize on the CPU, or its stateful optimizer)")

    def check_shape(self, shape, where):
        """Refuse a parameter of the wrong number of dimensions (Muon's 2)."""
        nd = self.rule.ndim
        if nd is not None and len(shape) != nd:
            raise ValueError(
                f"{where}: method {self.name!r} updates {nd}-D arrays (matrices); got shape "
                f"{tuple(shape)}. Give the other arrays to another method: a parameter "
                "group with its own 'method' (e.g. {'params': [...], 'method': 'adamw'})")

    # -- state ----------------------------------------------------------
    def storage(self, opts, size):
        """How the moments of an array of ``size`` elements are stored: None
        (the parameters' dtype), ``"bfloat16"`` or ``"int8"``."""
        from .. import _lowp
        return _lowp.storage(opts.get("state_dtype"), size)

    def layout(self, opts, size=None):
        """The stored arrays: ``[(name, dtype or None (the parameters'), size
        function, State, format)]`` in the kernels' order (an int8 moment is its
        codes and ``<name>_absmax``); ``size`` the element count that decides
        int8's full-precision fallback (None: a large array)."""
        from .. import _lowp
        fmt = self.storage(opts, _lowp.MIN_INT8 if size is None else size)
        out = []
        for st in self.rule.present(opts):
            if st.moment and fmt is not None and self.rule.moments:
                out += [(name, dt, fn, st, fmt) for name, dt, fn in _lowp.stored(st.name, fmt)]
            else:
                out.append((st.name, None, None, st, None))
        return out

    def state_names(self, opts, size=None):
        """Names of the per-parameter state arrays (torch's names; an int8
        moment adds ``<name>_absmax``)."""
        return tuple(entry[0] for entry in self.layout(opts, size))

    def state_dtypes(self, opts, dtype, size=None):
        """Each state array's dtype for parameters of ``dtype``."""
        return {name: np.dtype(dtype) if dt is None else dt
                for name, dt, *_ in self.layout(opts, size)}

    def init_state(self, opts, flat, shapes=None, size=None):
        """Fresh state arrays shaped like the flat parameters (``shapes``: the
        parameter arrays ``flat`` holds end to end, for states whose size is
        not one per element); low-precision moments in their stored form
        (``size``: an array's size, which decides int8's fallback; ``flat``'s
        by default)."""
        from .. import _lowp
        shapes = shapes or [flat.shape]
        out = {}
        for name, dt, fn, st, fmt in self.layout(opts, flat.size if size is None else size):
            if fmt is None:
                out[name] = st.fill(opts, flat, shapes)
            elif name == st.name:   # its stored arrays, array by array (int8 blocks)
                parts = [_lowp.fill(st.initial(opts), int(np.prod(sh)), fmt,
                                    not st.nonnegative, flat.dtype) for sh in shapes]
                for suffix in parts[0]:
                    out[st.name + suffix] = np.concatenate([p[suffix] for p in parts])
        return out

    def state_sizes(self, opts, shape, size=None):
        """Each state array's size for a parameter array of ``shape`` (``size``:
        the size that decides int8's fallback, the array's by default)."""
        n = int(np.prod(shape))
        return {name: (st.size_of(shape) if fn is None else fn(n))
                for name, dt, fn, st, fmt in self.layout(opts, n if size is None else size)}

    def state_values(self, opts, state, dtype, size):
        """The state of an array of ``size`` elements as values of ``dtype`` by
        torch's names (low-precision moments decoded)."""
        from .. import _lowp
        out = {}
        for name, dt, fn, st, fmt in self.layout(opts, size):
            if name == st.name:
                out[name] = _lowp.values(state, name, fmt, not st.nonnegative, dtype)
        return out

    def init_host(self, opts):
        """Scalar state kept on the host (e.g. ``beta1 ** t``), a tuple."""
        return tuple(h.initial(opts) for h in self.rule.host)

    def check_state_values(self, opts, state, host, t):
        """Refuse loaded state that no run of this method can reach.

        Every array finite; the arrays declared ``nonnegative`` (second
        moments, accumulators) ``>= 0``; the host scalars as their
        :class:`Host` kind says.  Low-precision moments: bfloat16 values
        likewise, int8 blocks' absmax finite and ``>= 0`` (every code is a
        value).  Raises ``ValueError`` naming the entry.
        """
        from .. import _lowp
        nonnegative = {s.name for s in self.rule.states if s.nonnegative}
        for name, arr in state.items():
            flat = np.asarray(arr).reshape(-1)
            if flat.dtype == np.uint8:   # int8 codes: each is a value
                continue
            if flat.dtype == np.uint16:
                flat = _lowp.bf16_widen(flat)
            if name.endswith("_absmax"):
                nonneg = True
            else:
                nonneg = name in nonnegative
            if not np.isfinite(flat).all():
                i = int(np.flatnonzero(~np.isfinite(flat))[0])
                raise ValueError(f"state[{name!r}] holds a non-finite value (element "
                                 f"{i}: {flat[i]})")
            if nonneg and (flat < 0).any():
                i = int(np.flatnonzero(flat < 0)[0])
                what = ("an int8 block's absmax" if name.endswith("_absmax")
                        else "a second moment or accumulator")
                raise ValueError(f"state[{name!r}] must be >= 0 ({what}); element "
                                 f"{i} is {flat[i]}")
        for h, value in zip(self.rule.host, host):
            h.check(value, t)

    # -- the step -------------------------------------------------------
    def kernel(self, opts, size=None):
        """The generated kernels of the step with these options (for an array
        of ``size`` elements: int8 state falls back to full precision under
        :data:`numadam._lowp.MIN_INT8`).

        The kernel module (and numba) is imported here, on first use, so that
        ``import numadam`` stays fast.
        """
        from .. import _lowp
        return self.rule.kernels(opts, self.storage(
            opts, _lowp.MIN_INT8 if size is None else size))

    def words(self, opts, size=None):
        """``[(first, second)]``: the bfloat16 moments that the host's kernels
        take two to a uint32 word (the state's order, in pairs; an odd last
        one alone); empty for other formats."""
        low = [e[0] for e in self.layout(opts, size) if e[4] == "bfloat16"]
        return list(zip(low[0::2], low[1::2]))

    def bind_state(self, opts, state, size=None, paired=True):
        """``(state, arrays)``: the state arrays by name, ready for the kernels,
        and the arrays the kernels take, in their order (``size``: the elements
        of each array, which decides int8's fallback).

        bfloat16 moments are two to a uint32 word in the host's kernels
        (``paired``; not the device's): one array of words per pair of them,
        each moment a uint16 view of its halves (:func:`numadam._lowp.halves`);
        ``state`` comes back with those views (new arrays of the same values
        where the moments were not yet views of one array of words).
        """
        from .. import _lowp
        state = dict(state)
        words = {}
        for a, b in (self.words(opts, size) if paired else []):
            words[a], state[a], state[b] = _lowp.join(state[a], state[b])
            words[b] = None
        return state, tuple(words.get(name, state[name])
                            for name in self.state_names(opts, size)
                            if words.get(name, 0) is not None)

    def scalar_fn(self, opts):
        """The per-step scalar function, called as
        ``fn(self.hyper(opts), t, lr, gscale, host)``."""
        return self.rule.scalars

    def hyper(self, opts):
        """The constants the scalar function reads, as a tuple."""
        return self.rule.hyper(opts)

    def bools(self):
        """The positions of the kernel's scalars that are booleans."""
        sig = self.rule.signature
        return tuple(k for k, s in enumerate(sig.scalars) if s in sig.bools)

    # -- documentation --------------------------------------------------
    def options_doc(self):
        """One line per option: name, default and meaning."""
        lines = [f"{self.name}: {self.title}", f"    {self.reference}"]
        for key, default in self.defaults.items():
            lines.append(f"    {key} = {default!r}: {self.description(key)}")
        for key, value in self.fixed.items():
            lines.append(f"    ({key} is always {value!r} for this method)")
        return "\n".join(lines)

    def __repr__(self):
        return f"<numadam method {self.name!r}>"


def register(*methods):
    """Add methods to :data:`METHODS` (a name may be declared once)."""
    for m in methods:
        if m.name in METHODS:
            raise ValueError(f"method {m.name!r} is declared twice")
        METHODS[m.name] = m
    return methods[0] if len(methods) == 1 else methods


def unregister(name):
    """Remove a method from :data:`METHODS` (tests' toy methods)."""
    del METHODS[name]


def get_method(method):
    """The registry entry of ``method`` (a name, case-insensitive)."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string naming one of "
                        f"{', '.join(METHODS)}; got {method!r}")
    try:
        return METHODS[method.lower()]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of "
                         f"{', '.join(METHODS)}") from None


def _stored(layout):
    """The state arrays of ``layout`` (``(name, dtype or None)``) for a
    message: ``['exp_avg', 'exp_avg_sq']`` in the parameters' dtype, else
    each with its stored dtype."""
    if all(dt is None for _, dt in layout):
        return str(sorted(name for name, _ in layout))
    return "[" + ", ".join(f"{name!r}" + ("" if dt is None else f" {np.dtype(dt).name}")
                           for name, dt in sorted(layout, key=lambda e: e[0])) + "]"
