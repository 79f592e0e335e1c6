"""Several arrays per optimizer and parameter groups (torch.optim's convention).

``numadam.AdamW([W, b])``, ``numadam.AdamW({"W": W, "b": b})`` or
``numadam.AdamW([{"params": {"W": W}}, {"params": {"b": b}, "weight_decay": 0}])``:
the optimizer updates every array in place, one fused pass per group and
dtype per step (a generated ``<variant>_multi`` kernel walks a table of the
arrays' addresses in blocks, :data:`numadam._kernels.generate._MULTI`), with
the state of each group and dtype in one flat buffer per state array.  Each
array has a name: its key (dict input) or its position among all the
arrays (list input); state dicts and checkpoints key the state by it.
"""
from collections.abc import Mapping, MutableMapping

import numpy as np

from . import _kernels

#: options that belong to the optimizer, not to a group (the clip norm is over
#: every array; a skipped step skips every array)
OPTIMIZER_WIDE = ("clip_norm", "nan_policy")


def _is_group_list(params):
    return (isinstance(params, (list, tuple)) and len(params) > 0
            and all(isinstance(p, Mapping) for p in params))


def parse(params):
    """``(kind, [(overrides, [(name, array), ...]), ...])`` of a ``params``
    that is not one array: ``kind`` is ``"list"``, ``"dict"`` or ``"groups"``."""
    if isinstance(params, Mapping):
        if "params" in params:
            raise TypeError("params: a single parameter group must be passed in a list "
                            "([{'params': ..., 'lr': ...}]); a dict is read as name -> "
                            "array")
        return "dict", [({}, _members(params, "params", 0))]
    if not isinstance(params, (list, tuple)):
        raise TypeError(
            "params must be a numpy.ndarray, a list of arrays, a dict name -> array, or "
            f"a list of parameter groups (dicts with a 'params' entry); got "
            f"{type(params).__name__}")
    if not params:
        raise ValueError("params is an empty list: give the optimizer at least one array")
    if all(isinstance(p, (int, float, np.number)) for p in params):
        raise TypeError(
            "params must be a numpy.ndarray that the optimizer updates in place (or a list "
            "of arrays); got a list of numbers. Make an array first (x = np.array(...)) "
            "and keep a reference to it")
    if not _is_group_list(params):
        if any(isinstance(p, Mapping) for p in params):
            raise TypeError("params: a list mixes parameter groups (dicts) with arrays; "
                            "put every array in a group")
        return "list", [({}, _members(params, "params", 0))]
    groups, start = [], 0
    for k, group in enumerate(params):
        groups.append(_group_entry(group, f"params[{k}]", start))
        start += len(groups[-1][1])
    return "groups", groups


def _group_entry(group, where, start):
    """``(overrides, [(name, array), ...])`` of one parameter group (a dict
    with a ``"params"`` entry), its lists' arrays numbered from ``start``."""
    if "params" not in group:
        raise ValueError(f"{where} (a parameter group) has no 'params' entry; "
                         f"its keys are {sorted(map(str, group))}")
    wide = [key for key in group if key in OPTIMIZER_WIDE]
    if wide:
        raise ValueError(
            f"{where} sets {wide[0]!r}, an option of the whole optimizer (the "
            "clip norm is over every array, a skipped step skips them all): pass it "
            "to the optimizer, not to a group")
    members = _members(group["params"], f"{where}['params']", start)
    return {key: v for key, v in group.items() if key != "params"}, members


def _members(arrays, where, start):
    """``[(name, array)]`` of a group's arrays: a dict's keys, else positions
    counted over every group (from ``start``)."""
    from ._inputs import check_params
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    if isinstance(arrays, Mapping):
        bad = [k for k in arrays if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where}: array names must be strings; got {bad[0]!r}")
        items = list(arrays.items())
    elif isinstance(arrays, (list, tuple)):
        items = [(start + i, a) for i, a in enumerate(arrays)]
    else:
        raise TypeError(f"{where} must be an array, a list of arrays or a dict name -> "
                        f"array; got {type(arrays).__name__}")
    if not items:
        raise ValueError(f"{where} is empty: every group needs at least one array")
    from ._device import is_device_array
    for name, arr in items:
        if is_device_array(arr):
            raise TypeError(
                f"{where}[{name!r}] is a device array: an optimizer over several arrays "
                "runs on the CPU; optimise one device array per optimizer")
        check_params(arr, f"{where}[{name!r}]")
    return items


def _group_method(spec, overrides, where):
    """``(the group's method, its other keys)``: a group may name its own
    ``method`` (Muon's 2-D arrays beside AdamW's others)."""
    if "method" not in overrides:
        return spec, overrides
    from ._methods import get_method
    try:
        gspec = get_method(overrides["method"])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}['method']: {exc}") from None
    if gspec.two_pass and gspec is not spec and gspec.rule.first is not None:
        raise ValueError(f"{where}['method']: {gspec.name!r} (two passes, sums over "
                         "its arrays) must be the optimizer's own method")
    return gspec, {key: v for key, v in overrides.items() if key != "method"}


def _blocks(sizes, offsets, block):
    """The step's blocks: ``(array, lo, hi, offset, int8 absmax offset)``, at
    most ``block`` elements (a multiple of an int8 state's blocks)."""
    from ._lowp import BLOCK, blocks
    scales = np.concatenate([[0], np.cumsum([blocks(n) for n in sizes])])
    rows = [(j, lo, min(lo + block, n), off, scales[j] + lo // BLOCK)
            for j, (n, off) in enumerate(zip(sizes, offsets))
            for lo in range(0, n, block)]
    return np.array(rows, np.int64).reshape(-1, 5)


class Pack:
    """The arrays of one dtype in a group: their addresses, blocks and the
    group's state for them (one flat buffer per state array).  Under
    ``state_dtype="int8"`` the arrays too small for int8 state are a pack of
    their own (full precision)."""

    def __init__(self, spec, opts, members):
        cpu = _kernels.load_cpu()
        self.index = np.array([i for i, _, _ in members], np.int64)
        self.names = [name for _, name, _ in members]
        self.arrays = [a for _, _, a in members]
        self.dtype = self.arrays[0].dtype
        self.proto = np.empty(0, self.dtype)
        sizes = [a.size for a in self.arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.size = int(self.offsets[-1])
        self.xp = np.array([a.ctypes.data for a in self.arrays], np.int64)
        self.blocks = _blocks(sizes, self.offsets[:-1], cpu.SUMSQ_BLOCK)
        #: the last scalar of the step per array: a cautious step's scale or a
        #: two-pass rule's per-array scalar (LAMB's step); else unused
        self.last = np.ones(len(self.arrays))
        #: an array size of the pack: it decides how the pack's moments are stored
        self.rep = min(sizes)
        self.set_state(spec, opts, spec.init_state(
            opts, np.concatenate([a.reshape(-1) for a in self.arrays]),
            [a.shape for a in self.arrays], self.rep))

    def set_state(self, spec, opts, state):
        """The state buffers (name -> flat array, the arrays' states end to end;
        bfloat16 moments as views of words, :meth:`Method.bind_state`) and the
        arrays the kernels take."""
        self.state, self.kernel_arrays = spec.bind_state(opts, state, self.rep)
        #: each state's offsets of the arrays (their sizes may not be the arrays')
        self.state_offsets = {
            k: np.concatenate([[0], np.cumsum([spec.state_sizes(opts, a.shape)[k]
                                               for a in self.arrays])]).astype(np.int64)
            for k in state}

    def views(self, j):
        """Array ``j``'s state: views of the buffers."""
        return {k: v[self.state_offsets[k][j]:self.state_offsets[k][j + 1]]
                for k, v in self.state.items()}

    def flat(self, j):
        return self.arrays[j].reshape(-1)


class Group:
    """One parameter group: its options, kernels, host scalars and packs."""

    def __init__(self, spec, user, members):
        self._spec = spec
        self.method = spec.name
        self.user = dict(user)
        self._opts = spec.resolve(self.user)
        for _, name, arr in members:
            spec.check_shape(arr.shape, f"params[{name!r}]")
        self.names = [name for _, name, _ in members]
        self.arrays = [a for _, _, a in members]
        self.packs = self._packs(self._opts, members)
        self._host = spec.init_host(self._opts)
        #: the optimizer's step count when the group was added
        #: (:meth:`Optimizer.add_param_group`): the group's own steps, which
        #: its bias corrections count, are the optimizer's less this
        self.start = 0
        self.bind()

    def _packs(self, opts, members):
        """The packs of ``members`` (``(index, name, array)``) under ``opts``:
        by dtype and how the moments are stored."""
        by_dtype = {}
        for m in members:
            by_dtype.setdefault((m[2].dtype, self._spec.storage(opts, m[2].size)),
                                []).append(m)
        return [Pack(self._spec, opts, ms) for ms in by_dtype.values()]

    def load(self, opts, state, host, start):
        """Loaded (checked) options, state by array name, host scalars and
        start: the packs made anew when the options store the moments of
        some array otherwise (another ``state_dtype``)."""
        members = sorted((int(i), n, a) for p in self.packs
                         for i, n, a in zip(p.index, p.names, p.arrays))
        storage = [self._spec.storage(opts, a.size) for _, _, a in members]
        if storage != [self._spec.storage(self._opts, a.size) for _, _, a in members]:
            self.packs = self._packs(opts, members)
        self.user = {k: v for k, v in opts.items() if k in self._spec.defaults}
        self._opts, self._host, self.start = opts, host, start
        for pack in self.packs:
            pack.set_state(self._spec, opts, {
                k: np.concatenate([np.asarray(state[n][k]) for n in pack.names])
                for k in self._spec.state_names(opts, pack.rep)})
        self.bind()

    def bind(self):
        spec, opts = self._spec, self._opts
        self._kernels = spec.kernel(opts)
        self._hyper = spec.hyper(opts)
        self._scalar_fn = spec.scalar_fn(opts)
        lr = opts["lr"]
        self._schedule = lr if callable(lr) else None
        self._lr = None if callable(lr) else lr
        #: a matrix rule's compiled step of one array (Muon), else None
        self._array_step = (None if spec.rule.array_step is None
                            else spec.rule.array_step())
        for p in self.packs:
            kernels = spec.kernel(opts, p.rep)
            p.kernel = kernels.multi(p.size)
            p.agree = kernels.agree_multi(p.size)
            p.first = kernels.first_multi(p.size)
            p.extra = kernels.extra
            p.state, p.kernel_arrays = spec.bind_state(opts, p.state, p.rep)

    def user_options(self):
        return {k: v for k, v in self._opts.items() if k in self._spec.defaults}

    def replace(self, user, where):
        """New options from the next step on (checked); the state stays."""
        self._opts = self._spec.replace(self._opts, user, f"{where}: ",
                                        sorted({a.size for a in self.arrays}))
        self.user = dict(user)
        self.bind()


class _ReadOnly(list):
    """A parameter group's ``"params"`` or ``"names"`` as read out: a list
    (it compares and iterates as one) whose in-place changes raise, since the
    optimizer would not see them (its arrays are fixed when it is built)."""

    __slots__ = ("_where",)

    def __init__(self, items, where):
        super().__init__(items)
        self._where = where

    def _refuse(self, *args, **kwargs):
        raise TypeError(f"{self._where} is read-only: the optimizer's arrays are fixed "
                        "when it is built; add arrays with opt.add_param_group({'params': "
                        "[...]}), or build a new optimizer")

    def __reduce_ex__(self, protocol):   # copies and pickles are plain lists
        return list, (list(self),)

    append = extend = insert = pop = remove = clear = reverse = sort = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


class ParamGroup(MutableMapping):
    """One parameter group's options, live: ``opt.param_groups[k]["lr"] = 0.01``
    changes the learning rate from the next step on (checked as the
    constructor checks it), as in torch.optim.

    Keys: ``"params"`` (the group's arrays, a list that refuses in-place
    changes: add arrays with :meth:`Optimizer.add_param_group`), ``"names"``
    (their names, read-only too) and every option of the method.  Options that would change the
    state arrays (``amsgrad``) and the optimizer-wide ``clip_norm`` and
    ``nan_policy`` of a group among several cannot be set here.
    """

    __slots__ = ("_owner", "_k")

    def __init__(self, owner, k):
        self._owner, self._k = owner, k

    def _options(self):
        return self._owner._group_options(self._k)

    def __getitem__(self, key):
        if key in ("params", "names"):
            names, arrays = self._owner._group_arrays(self._k)
            return _ReadOnly(arrays if key == "params" else names,
                             f"param_groups[{self._k}][{key!r}]")
        if key == "method":
            return self._owner._group_method(self._k)
        return self._options()[key]

    def __setitem__(self, key, value):
        if key in ("params", "names", "method"):
            raise TypeError(f"param_groups[{self._k}][{key!r}] cannot be replaced: add "
                            "other arrays with opt.add_param_group, or build a new "
                            "optimizer")
        self._owner._set_group_option(self._k, key, value)

    def __delitem__(self, key):
        raise TypeError(f"param_groups[{self._k}][{key!r}] cannot be deleted (set another "
                        "value instead)")

    def __iter__(self):
        yield "params"
        yield "names"
        yield "method"
        yield from self._options()

    def __len__(self):
        return 3 + len(self._options())

    def __repr__(self):
        return f"ParamGroup({dict(self)!r})"


class Groups:
    """The arrays of a several-array optimizer: their groups, names and
    structure (``kind``: ``"list"``, ``"dict"`` or ``"groups"``)."""

    def __init__(self, spec, options, params):
        self.kind, parsed = parse(params)
        self.spec = spec
        self.groups = []
        self.names, self.arrays = [], []
        for k, (overrides, members) in enumerate(parsed):
            group = self._group(options, overrides, members, f"params[{k}]",
                                self.kind == "groups")
            self.groups.append(group)
            self.names += group.names
            self.arrays += group.arrays
        _check_distinct(self.names, self.arrays, "params")
        self.check_shared()
        self._index()
        #: the structure and number of the groups the optimizer was built with
        self.built = (self.kind, len(self.groups))

    def _group(self, options, overrides, members, where, named):
        """A :class:`Group` of ``members`` (their indices following the
        arrays so far), from the optimizer's ``options`` and the group's
        ``overrides``; its options' errors name ``where`` if ``named``."""
        spec = self.spec
        gspec, overrides = _group_method(spec, overrides, where)
        gspec.check_known(overrides)
        index = len(self.names)
        numbered = [(index + i, name, arr) for i, (name, arr) in enumerate(members)]
        # the optimizer's options are its method's: a group of another method
        # starts from that method's defaults (and the optimizer-wide options)
        base = (options if gspec is spec else
                {k2: v for k2, v in options.items() if k2 in OPTIMIZER_WIDE})
        try:
            return Group(gspec, {**base, **overrides}, numbered)
        except (TypeError, ValueError) as exc:
            if not named or str(exc).startswith(f"{where}: "):   # (named already)
                raise
            raise type(exc)(f"{where}: {exc}") from None

    def _index(self):
        self.where = {n: (k, p, j) for k, g in enumerate(self.groups)
                      for p, pack in enumerate(g.packs) for j, n in enumerate(pack.names)}
        self.size = sum(a.size for a in self.arrays)
        self.dtypes = [a.dtype for a in self.arrays]
        self.shapes = [a.shape for a in self.arrays]

    def add(self, options, group, t):
        """Add the parameter group ``group`` (:meth:`Optimizer.add_param_group`)
        at step ``t``, everything checked before anything changes: its arrays
        fresh state, its own step count from 0 -- except under a rule whose
        sums are over every array (Prodigy), whose groups share one step count
        and one adapted step size, as in the reference (group 0's)."""
        if not isinstance(group, Mapping):
            raise TypeError("param_group must be a dict with a 'params' entry (an array, "
                            "a list of arrays or a dict name -> array) and the group's "
                            f"options; got {type(group).__name__}")
        where = "param_group"
        overrides, members = _group_entry(group, where, len(self.names))
        new = self._group(options, overrides, members, where, True)
        names, arrays = self.names + new.names, self.arrays + new.arrays
        _check_distinct(names, arrays, "param_group")
        self.check_shared(self.groups + [new])
        rule = new._spec.rule
        same = [g for g in self.groups if g._spec.rule is rule]
        if rule.first is not None and not rule.per_array and same:
            new._host = same[0]._host       # one adapted quantity, one step count
        else:
            new.start = t
        self.groups.append(new)
        self.names, self.arrays = names, arrays
        self.kind = "groups"
        self._index()

    def given(self):
        """``(params, added)``: what rebuilds these arrays and groups -- the
        constructor's ``params`` (in the structure it was given) and the
        groups added since (:meth:`add_param_group`'s dicts).  The options
        are each group's own; the state is for ``load_state_dict``."""
        kind, n = self.built

        def spec(g):
            arrays = (dict(zip(g.names, g.arrays)) if all(isinstance(k, str) for k in g.names)
                      else list(g.arrays))
            options = {k: v for k, v in g.user.items() if k not in OPTIMIZER_WIDE}
            return {"params": arrays, **options,
                    **({"method": g.method} if g._spec is not self.spec else {})}

        first = self.groups[:n]
        if kind == "list":
            params = list(first[0].arrays)
        elif kind == "dict":
            params = dict(zip(first[0].names, first[0].arrays))
        else:
            params = [spec(g) for g in first]
        return params, [spec(g) for g in self.groups[n:]]

    def check_shared(self, groups=None):
        """A rule whose sums are over every array adapts one quantity for all
        of them: its ``shared`` options must be the same in every group of
        that method."""
        groups = self.groups if groups is None else groups
        g0 = groups[0]
        for key in g0._spec.rule.shared:
            for k, g in enumerate(groups[1:], 1):
                if g._spec is g0._spec and g._opts[key] != g0._opts[key]:
                    raise ValueError(
                        f"method {g0._spec.name!r} adapts one step size for every array: "
                        f"option {key!r} must be the same in every parameter group; group "
                        f"0 has {g0._opts[key]!r}, group {k} {g._opts[key]!r}")

    # -- gradients ---------------------------------------------------------
    def first_passes(self, gps, t, lrs, steps):
        """The first passes of a two-pass rule (else nothing): every pack's,
        then its ``between`` per array (LAMB: each array's scalar into
        ``pack.last``) or once over all the sums (Prodigy), which replaces the
        groups' scalars ``steps`` in place.  Returns the first passes' count
        of non-finite elements."""
        rule = self.spec.rule
        if rule.first is None:    # (a two-pass method is the optimizer's own)
            return 0
        cpu = _kernels.load_cpu()
        bad, total = 0, np.zeros(len(rule.sums))
        sums = []
        for g, scalars, gpg in zip(self.groups, steps, gps):
            if g._spec.rule is not rule:
                continue
            for p, gp in zip(g.packs, gpg):
                b, s = cpu.array_sums(p.first(p.xp, gp, p.blocks, p.proto, *p.kernel_arrays,
                                              *p.extra(t + 1, multi=True), *scalars),
                                      p.blocks, len(p.arrays))
                bad = max(bad, b)
                sums.append(s)
                for row in s:          # the arrays in order
                    total += row
        k = 0
        for i, (g, lr) in enumerate(zip(self.groups, lrs)):
            if g._spec.rule is not rule:
                continue
            for p in g.packs:
                s, k = sums[k], k + 1
                if rule.per_array:
                    for j, row in enumerate(s):
                        out, _ = rule.between(g._hyper, t + 1 - g.start, lr, tuple(row),
                                              g._host, steps[i])
                        p.last[j] = out[-1]
            if not rule.per_array:
                steps[i], g._host = rule.between(g._hyper, t + 1 - g.start, lr,
                                                 tuple(total), g._host, steps[i])
        return bad

    def gradients(self, grads):
        """The gradients in the arrays' order (a list), their structure checked."""
        n = len(self.names)
        if isinstance(grads, Mapping):
            if self.kind == "list" or not all(isinstance(k, str) for k in self.names):
                raise TypeError("grads: a dict of gradients needs arrays given by name "
                                "(params a dict); give a list in the arrays' order")
            if len(grads) != n or not all(k in grads for k in self.names):
                missing = [k for k in self.names if k not in grads]
                extra = [k for k in grads if k not in self.where]
                raise ValueError(
                    "grads must have one gradient per array, by name: "
                    + "; ".join(filter(None, [
                        f"missing {missing}" if missing else "",
                        f"not arrays of this optimizer: {extra}" if extra else ""])))
            seq = [grads[k] for k in self.names]
        elif isinstance(grads, (list, tuple)):
            if len(grads) != n:
                raise ValueError(f"grads must be a list of {n} gradients, one per array in "
                                 f"the order {self.names}; got {len(grads)}")
            seq = grads
        else:
            raise TypeError(f"grads must be a list of {n} arrays"
                            + (" or a dict name -> array" if self.kind != "list" else "")
                            + f" (the parameters' structure); got {type(grads).__name__}")
        return seq

    def addresses(self, grads):
        """``(gradients, tables)``: the gradients ``grads`` checked and
        converted (a list in the arrays' order, of the parameters' shapes and
        dtypes, C-contiguous) and each pack's table of their addresses.

        The common case is checked in bulk, a fraction of a microsecond per
        array (a step over many small arrays cannot afford the microsecond of
        ``ndarray.ctypes``): the types, dtypes and shapes in Python, the
        addresses and the flags (the gradients C-contiguous, the parameters
        still writable) read from the objects in one compiled call."""
        from ._inputs import flat_gradient
        seq = list(self.gradients(grads))   # (a tuple given: the same as a list)
        n = len(seq)
        fields = None
        if (list(map(type, seq)).count(np.ndarray) == n
                and list(map(_DTYPE, seq)) == self.dtypes
                and list(map(_SHAPE, seq)) == self.shapes):
            fields = object_fields(seq + self.arrays)
        if fields is None or not (fields[1][:n] & _C_CONTIGUOUS).all():
            seq = [flat_gradient(g, a.shape, a.dtype, f"grads[{name!r}]")
                   for g, a, name in zip(seq, self.arrays, self.names)]
            fields = object_fields(seq + self.arrays)
        addr, flags = fields
        if not (flags[n:] & _WRITEABLE).all():
            k = int(np.flatnonzero(~flags[n:] & _WRITEABLE)[0])
            raise ValueError(f"params[{self.names[k]!r}] became read-only after the "
                             "optimizer was built; the optimizer updates it in place")
        return seq, [[addr[p.index] for p in g.packs] for g in self.groups]


def _check_distinct(names, arrays, where):
    """No name twice, no memory shared between two arrays."""
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        seen.add(name)
    spans = sorted((a.ctypes.data, a.ctypes.data + a.nbytes, n)
                   for n, a in zip(names, arrays))
    for (_, end, n1), (start, _, n2) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError(
                f"{where}: arrays {n1!r} and {n2!r} share memory (the same array "
                "twice, or overlapping views); each array must appear once")


#: NumPy's flags (``NPY_ARRAY_C_CONTIGUOUS``, ``NPY_ARRAY_WRITEABLE``)
_C_CONTIGUOUS, _WRITEABLE = 0x1, 0x400
_DTYPE = np.ndarray.dtype.__get__
_SHAPE = np.ndarray.shape.__get__
_LAYOUT = []


def _layout():
    """Where an ndarray object holds its data pointer and its flags (NumPy's
    ``PyArrayObject_fields``: the object header, then ``data``, ``nd``,
    ``dimensions``, ``strides``, ``base``, ``descr``, ``flags``, the ABI that
    ``PyArray_DATA`` and ``PyArray_FLAGS`` read), checked once against
    ``ndarray.ctypes.data`` and ``ndarray.flags`` on probes; None when the
    check fails (the slow way is then taken)."""
    if not _LAYOUT:
        head = object.__basicsize__
        data, flags = head, head + 48
        probes = [np.arange(4.0), np.arange(8.0)[::2], np.arange(3.0)]
        probes[2].flags.writeable = False
        try:
            addr, got = _kernels.load_cpu().read_fields(
                np.array([id(p) for p in probes], np.int64), data, flags)
            ok = all(a == p.ctypes.data
                     and bool(f & _C_CONTIGUOUS) == p.flags.c_contiguous
                     and bool(f & _WRITEABLE) == p.flags.writeable
                     for a, f, p in zip(addr, got, probes))
        except Exception:  # noqa: BLE001 - any failure: the slow way
            ok = False
        _LAYOUT.append((data, flags) if ok else None)
    return _LAYOUT[0]


def object_fields(arrays):
    """``(addresses, flags)`` of ``arrays`` (ndarrays the caller keeps
    alive), int64 arrays; see :func:`_layout`."""
    layout = _layout()
    if layout is None:
        return (np.array([a.ctypes.data for a in arrays], np.int64),
                np.array([_C_CONTIGUOUS * a.flags.c_contiguous
                          + _WRITEABLE * a.flags.writeable for a in arrays], np.int64))
    ids = np.fromiter(map(id, arrays), np.int64, len(arrays))
    return _kernels.load_cpu().read_fields(ids, *layout)


def structure_difference(groups, saved_groups, saved_arrays):
    """What differs between the arrays of ``groups`` (a :class:`Groups`) and a
    state dict's ``groups`` and ``arrays`` entries, in words; "" when nothing."""
    try:
        saved = [list(g["names"]) for g in saved_groups]
        meta = {n: (np.dtype(saved_arrays[n]["dtype"]), tuple(saved_arrays[n]["shape"]))
                for names in saved for n in names}
    except (KeyError, TypeError, ValueError) as exc:
        return f"its 'groups' and 'arrays' entries are malformed ({exc!r})"
    ours = [g.names for g in groups.groups]
    flat_saved = [n for names in saved for n in names]
    missing = [n for n in groups.names if n not in meta]
    extra = [n for n in flat_saved if n not in groups.where]
    if missing or extra:
        return "; ".join(filter(None, [
            f"this optimizer's arrays {missing} are not in it" if missing else "",
            f"its arrays {extra} are not in this optimizer" if extra else ""]))
    if len(saved) != len(ours):
        return (f"it has {len(saved)} parameter group{'s' if len(saved) > 1 else ''}, "
                f"this optimizer {len(ours)}")
    for k, (a, b) in enumerate(zip(saved, ours)):
        if set(a) != set(b):
            moved = sorted(set(a) ^ set(b), key=str)
            return f"group {k} holds {a} there and {b} here (moved: {moved})"
    for n, arr in zip(groups.names, groups.arrays):
        dtype, shape = meta[n]
        if (dtype, shape) != (arr.dtype, arr.shape):
            return (f"array {n!r} is {dtype.name} of shape {shape} there and "
                    f"{arr.dtype.name} of shape {arr.shape} here"
                    + (" (a list of arrays in another order? state goes by position)"
                       if isinstance(n, int) else ""))
    return ""
