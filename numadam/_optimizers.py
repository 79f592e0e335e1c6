"""Stateful optimizers for people who own their loop.

``opt = numadam.AdamW(x, lr=1e-3)`` keeps the state of the method next to
the parameter array ``x``; ``opt.step(grad)`` updates ``x`` and the state in
place with one fused kernel call.  :func:`numadam.minimize` is built on these
classes.
"""
import inspect
import math
from collections.abc import Mapping

import numpy as np

from . import _kernels
from ._kernels import _scalars
from ._inputs import check_params, flat_gradient
from ._methods import get_method
from .schedules import check_lr

__all__ = ["Optimizer", "Adam", "AdamW", "AMSGrad", "Adamax", "NAdam", "RAdam",
           "ScheduleFreeAdamW", "Adadelta", "Rprop", "ASGD", "Lion", "ADOPT", "AdEMAMix", "AdaBelief", "Yogi",
           "Adan", "LAMB", "Prodigy", "Muon", "Adafactor",
           "SGD", "RMSprop", "Adagrad"]

def _real_number(v):
    if isinstance(v, (str, bytes, bool, np.bool_)):
        raise TypeError(f"not a number: {v!r}")
    return float(v)


class StateView(Mapping):
    """The optimizer's state arrays by name: a read-only mapping of live arrays.

    The arrays are the ones the kernels update (changing their elements in
    place changes the optimizer's state); the mapping itself cannot be
    assigned to: load a whole state with :meth:`Optimizer.load_state_dict`
    or :meth:`Optimizer.load`, which validate it first.
    """

    __slots__ = ("_arrays",)

    def __init__(self, arrays):
        self._arrays = dict(arrays)

    def __getitem__(self, name):
        return self._arrays[name]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __setitem__(self, name, value):
        raise TypeError(
            f"opt.state is read-only: state[{name!r}] cannot be replaced (the kernels "
            "hold the arrays). Change its values in place (opt.state"
            f"[{name!r}][...] = values), or load a whole checked state with "
            "opt.load_state_dict(sd) or opt.load(path)")

    def __delitem__(self, name):
        self.__setitem__(name, None)

    def __repr__(self):
        return f"StateView({self._arrays!r})"


def _lr_at(binding, t):
    """The learning rate of the step after ``t`` of an optimizer or a group."""
    return binding._lr if binding._schedule is None else check_lr(binding._schedule, t)


def _overflow(t, bad, n):
    return FloatingPointError(
        f"step {t + 1}: the update of {bad} of {n} elements was NaN or infinite (a "
        "non-finite gradient, or an overflow); those elements and their state kept "
        "their old values, the others were updated")


def _combined_norm(parts):
    """The norm kernels' ``(s, r)`` of several arrays combined into one."""
    if len(parts) == 1:
        return parts[0]
    if all(s == 1.0 for s, _ in parts):
        total = sum(r * r for _, r in parts)
        if total < math.inf:
            return 1.0, math.sqrt(total)
    norms = [s * r if r < math.inf else r for s, r in parts]
    if not all(math.isfinite(n) for n in norms):
        return 1.0, math.inf if all(n == n for n in norms) else math.nan
    big = max(norms)
    if big == 0.0:
        return 1.0, 0.0
    return big, math.sqrt(sum((n / big) ** 2 for n in norms))


class Optimizer:
    """Base class of numadam's stateful optimizers.

    Use a subclass (:class:`Adam`, :class:`AdamW`, ...), or
    ``Optimizer(params, method="adam", **options)`` to pick the method by
    name.

    Parameters
    ----------
    params : numpy.ndarray
        The parameters: a writable, C-contiguous float32 or float64 array of
        any shape, updated in place by :meth:`step`.  The state arrays have
        the same dtype.  To optimise several arrays with one fused pass, make
        them views of one flat array.
    method : str
        Only for the base class: the method's name (see
        :func:`numadam.show_options`).
    **options
        The method's hyperparameters, under torch.optim's keyword names.

    Attributes
    ----------
    params : numpy.ndarray
        The array being optimised (the very object passed in).
    method : str
        The method's name.
    t : int
        Number of steps taken.
    state : dict of numpy.ndarray
        The per-parameter state arrays (flat, torch's names), live.

    Examples
    --------
    >>> import numpy as np
    >>> import numadam
    >>> x = np.array([1.0, -2.0])
    >>> opt = numadam.Optimizer(x, method="sgd", lr=0.1, momentum=0.9)
    >>> opt.step(np.array([1.0, 1.0]))
    True
    >>> x, opt.t, sorted(opt.state)
    (array([ 0.9, -2.1]), 1, ['momentum_buffer'])
    """

    method = None

    def __init__(self, params, method=None, **options):
        if type(self).method is not None:
            if method is not None:
                raise TypeError(f"{type(self).__name__} takes no 'method' "
                                "argument")
            method = type(self).method
        elif method is None:
            raise TypeError("Optimizer needs a method name, e.g. "
                            "Optimizer(x, method='adam')")
        self._spec = get_method(method)
        self.method = self._spec.name
        self._opts = self._spec.resolve(options)
        from ._device import is_device_array
        self._dev = None
        #: ``(offset, size)`` when the parameters are one shard of an array of
        #: ``size`` elements from element ``offset`` on (numadam.mpi, sharded):
        #: low-precision state is stored as that array's would be
        self._shard = None
        #: the arrays and groups of an optimizer over several arrays, else None
        self._groups = None
        if not isinstance(params, np.ndarray) and not is_device_array(params):
            self._init_groups(params, options)
            return
        if is_device_array(params) and self._spec.rule.array_step is not None:
            self._spec.refuse_two_pass("the optimizers over device arrays")
        if is_device_array(params):
            from ._device import DeviceState, as_device
            view = as_device(params, "params")
            self._view = view
            self._flat = view.reshape(view.size)
            self._dev = DeviceState(view.size, view.dtype)
            self._dev.check_finite(self._flat, "params")
            self.state = StateView(self._device_state(self._opts))
        else:
            check_params(params)
            self._spec.check_shape(params.shape, "params")
            self._flat = params.reshape(-1)
            self.state = StateView(self._spec.init_state(self._opts, self._flat,
                                                         [params.shape]))
        self.params = params
        self._host = self._spec.init_host(self._opts)
        self.t = 0
        #: steps skipped because of a non-finite gradient (``nan_policy="skip"``)
        self.skipped = 0
        #: for a cautious method whose parameters are one shard of several
        #: (numadam.mpi, sharded): ``count -> (global count, global size)``
        self._shards = None
        #: "train" or "eval": which point the parameters hold, for a method
        #: with both (Schedule-Free); None for the others
        self.mode = None if self._spec.modes is None else "train"
        self._bind()

    def _init_groups(self, params, options):
        """Several arrays, or parameter groups (see :mod:`numadam._groups`)."""
        from ._groups import Groups
        self._groups = Groups(self._spec, options, params)
        self.params = params
        self._host = None
        self.t = 0
        self.skipped = 0
        self._shards = None
        self.mode = None if self._spec.modes is None else "train"
        self._bind_groups()

    def _use_flat(self, flat):
        """The arrays are views, in order and end to end, of the flat array
        ``flat`` (minimize over several arrays): ``_step_flat`` then takes one
        flat gradient, and the run loop reads ``_flat``."""
        G = self._groups
        starts = np.cumsum([0] + [a.size for a in G.arrays[:-1]])
        if not (flat.ndim == 1 and flat.size == G.size and all(
                a.ctypes.data == flat[s:].ctypes.data for a, s in zip(G.arrays, starts))):
            raise ValueError("the arrays are not views of this flat array in order")
        self._flat = flat
        self._splits = [(s, s + a.size, a.shape) for a, s in zip(G.arrays, starts)]

    def _bind_groups(self):
        self._clip_norm = self._opts["clip_norm"]
        self._skip = self._opts["nan_policy"] == "skip"
        self.state = StateView({
            name: StateView(pack.views(j)) for g in self._groups.groups
            for pack in g.packs for j, name in enumerate(pack.names)})

    @property
    def param_groups(self):
        """The parameter groups, torch.optim's ``param_groups``: a list of live
        mappings (:class:`numadam._groups.ParamGroup`) with the group's arrays
        (``"params"``), their names (``"names"``) and its options; setting an
        option (``opt.param_groups[0]["lr"] = 1e-4``) takes effect from the
        next step.  One group for an optimizer built on one array, a list or
        a dict."""
        from ._groups import ParamGroup
        n = 1 if self._groups is None else len(self._groups.groups)
        return [ParamGroup(self, k) for k in range(n)]

    def add_param_group(self, param_group):
        """Add a parameter group, as torch.optim's ``add_param_group``: more
        arrays to optimise from the next step on (unfreezing layers while
        fine-tuning, a new head).

        The group's options default to the optimizer's (those given to the
        constructor; a group naming its own ``method`` starts from that
        method's defaults).  Its arrays start with fresh state and the group
        with a step count of its own: its first step is step 1 of its bias
        corrections (and of Schedule-Free's averaging), as a parameter that
        torch.optim meets for the first time, while a learning-rate schedule
        reads the optimizer's step count.  Under Prodigy, whose step size is
        adapted over every array, the new group shares the other groups' step
        count and step size (as the reference reads group 0's).

        The gradients of the next steps take the new arrays after the others
        (a list), or by name (a dict, when every array has a string name):
        a list group's arrays are numbered after the arrays so far.  The
        group joins :attr:`param_groups`, :meth:`state_dict` and checkpoints;
        to load a state saved after ``add_param_group``, add the same group
        to the new optimizer first.

        Parameters
        ----------
        param_group : dict
            ``{"params": arrays, **options}``: an array, a list of arrays or
            a dict name -> array, and any of the method's options (not the
            optimizer-wide ``clip_norm`` and ``nan_policy``).

        Raises
        ------
        TypeError
            For an optimizer over one array (build it over a list,
            ``Adam([x])``, to add groups later) or a ``param_group`` that is
            not a dict; an unknown option.
        ValueError
            If an array is already optimised (or shares memory with one), a
            name is taken, or an option's value is refused.  Nothing changes.

        Examples
        --------
        >>> import numpy as np, numadam
        >>> body, head = np.ones(3), np.zeros(2)
        >>> opt = numadam.AdamW([body], lr=0.1)
        >>> opt.step([np.ones(3)])
        True
        >>> opt.add_param_group({"params": [head], "lr": 0.01})
        >>> opt.step([np.ones(3), np.ones(2)])
        True
        >>> [g["lr"] for g in opt.param_groups], head
        ([0.1, 0.01], array([-0.01, -0.01]))
        """
        if self._groups is None:
            raise TypeError(
                "add_param_group needs an optimizer over several arrays or parameter "
                "groups; this one is over one array (its step takes one gradient). "
                "Build it over a list, e.g. numadam.Adam([x]), to add groups later")
        self._groups.add(self._user_options(), param_group, self.t)
        self._bind_groups()

    def _group_options(self, k):
        if self._groups is None:
            return self._user_options()
        return self._groups.groups[k].user_options()

    @property
    def state_nbytes(self):
        """The bytes of state the optimizer holds: every state array's (the
        codes and block scales of low-precision state; with several arrays,
        every group's), not counting the parameters or scalars.

        Adam on ``n`` float32 parameters holds ``8 n`` bytes of state, ``4 n``
        with ``state_dtype="bfloat16"`` and ``2 n + 8 ceil(n / 256)`` with
        ``"int8"``.
        """
        return int(self._state_nbytes())

    def _state_nbytes(self):
        """The bytes the state arrays hold (every array's, with several)."""
        if self._groups is None:
            return sum(a.nbytes for a in self.state.values())
        return sum(v.nbytes for g in self._groups.groups for p in g.packs
                   for v in p.state.values())

    def _storage_size(self):
        """The size that decides how the state is stored (int8 state keeps full
        precision under :data:`numadam._lowp.MIN_INT8` elements): the array's,
        or the whole array's when this optimizer holds one shard of it."""
        return self._flat.size if self._shard is None else self._shard[1]

    def _use_shard(self, offset, size):
        """Make this fresh optimizer (no step taken) step one shard of an array
        of ``size`` elements, its parameters that array's from element
        ``offset`` on: low-precision state stored as the whole array's would be
        (int8's choice by ``size``, its blocks aligned: ``offset`` a multiple of
        :data:`numadam._lowp.BLOCK`; bfloat16's random bits by the element's
        index in the array).  A full-precision step is unchanged."""
        from . import _lowp
        if self.t != 0 or self._groups is not None or self._dev is not None:
            raise AssertionError("a shard is set on a fresh optimizer of one host array")
        if offset % _lowp.BLOCK and self._spec.storage(self._opts, size) == "int8":
            raise AssertionError(f"an int8 shard starts at a multiple of {_lowp.BLOCK}")
        self._shard = (int(offset), int(size))
        self.state = StateView(self._spec.init_state(self._opts, self._flat,
                                                     [self.params.shape], size=size))
        self._bind()

    def _group_method(self, k):
        return self.method if self._groups is None else self._groups.groups[k].method

    def _group_arrays(self, k):
        if self._groups is None:
            return [0], [self.params]
        g = self._groups.groups[k]
        return g.names, g.arrays

    def _set_group_option(self, k, key, value):
        if self._groups is None:
            self._replace_options({**self._user_options(), key: value})
            return
        from ._groups import OPTIMIZER_WIDE
        g = self._groups.groups[k]
        if key in OPTIMIZER_WIDE and len(self._groups.groups) == 1:
            # one group: its options are the optimizer's (as for one array)
            top = self._spec.resolve({**self._user_options(), key: value})
            g.replace({**g.user_options(), key: value}, f"param_groups[{k}]")
            self._opts = top
            self._bind_groups()
            return
        if key in OPTIMIZER_WIDE:
            raise ValueError(f"param_groups[{k}][{key!r}]: {key} is an option of the whole "
                             "optimizer, not of a group")
        g._spec.check_known({key: value})
        before = g.user_options()
        g.replace({**before, key: value}, f"param_groups[{k}]")
        try:
            self._groups.check_shared()
        except ValueError:
            g.replace(before, f"param_groups[{k}]")
            raise

    def _device_state(self, opts):
        from . import _lowp
        from ._methods import PARAMS
        out = {}
        n = self._flat.size
        for name, dt, fn, s, fmt in self._spec.layout(opts, n):
            if fmt is not None:           # low precision: encoded on the host, copied
                if name == s.name:
                    for suffix, a in _lowp.fill(s.initial(opts), n, fmt, not s.nonnegative,
                                                self._flat.dtype).items():
                        out[name + suffix] = self._dev.cuda.to_device(a)
                continue
            if s.init is PARAMS:          # a copy of the parameters, device to device
                arr = self._dev.zeros(n)
                arr.copy_to_device(self._flat)
            else:
                arr = self._dev.zeros(n, float(s.initial(opts)))
            out[s.name] = arr
        return out

    def _bind(self):
        n = self._flat.size
        state, self._arrays = self._spec.bind_state(self._opts, self.state,
                                                    self._storage_size(),
                                                    paired=self._dev is None)
        self.state = StateView(state)
        self._kernels = self._spec.kernel(self._opts, self._storage_size())
        self._kernel = self._kernels.pick(n)
        self._agree = self._kernels.agree(n)
        self._first = self._kernels.first(n)
        #: a matrix rule's compiled step of one array (Muon), else None
        self._array_step = (None if self._spec.rule.array_step is None
                            else self._spec.rule.array_step())
        self._hyper = self._spec.hyper(self._opts)
        self._scalar_fn = self._spec.scalar_fn(self._opts)
        lr = self._opts["lr"]
        self._schedule = lr if callable(lr) else None
        self._lr = None if callable(lr) else lr
        self._clip_norm = self._opts["clip_norm"]
        self._skip = self._opts["nan_policy"] == "skip"
        self._norm = (_kernels.load_cpu().NORM.pick(n) if self._dev is None
                      else self._dev.norm)

    # -- hyperparameters -------------------------------------------------
    @property
    def options(self):
        """The resolved hyperparameters (a copy)."""
        return dict(self._opts)

    @property
    def lr(self):
        """The learning rate of the next step; settable (a float or a schedule).

        With a schedule this is ``schedule(t)``; the schedule itself is
        ``options["lr"]``.
        """
        if self._groups is not None:
            groups = self._groups.groups
            if len(groups) > 1:
                raise TypeError("this optimizer has several parameter groups, each with "
                                "its learning rate: read opt.param_groups[k]['lr']")
            return _lr_at(groups[0], self.t)
        return _lr_at(self, self.t)

    @lr.setter
    def lr(self, value):
        if self._groups is not None:   # every group's and the optimizer's, or none
            groups = self._groups.groups
            before = [g.user_options() for g in groups]
            top = self._spec.resolve({**self._user_options(), "lr": value})
            try:   # all at once: the options every group shares checked after
                for k, g in enumerate(groups):
                    g.replace({**g.user_options(), "lr": value}, f"param_groups[{k}]")
                self._groups.check_shared()
            except (TypeError, ValueError):
                for k, g in enumerate(groups):
                    g.replace(before[k], f"param_groups[{k}]")
                raise
            self._opts = top
            return
        self._opts = self._spec.resolve({**self._user_options(), "lr": value})
        self._bind()

    def _replace_options(self, options):
        """New hyperparameters from the next step on (checked); the state stays."""
        sizes = ([self._storage_size()] if self._groups is None
                 else sorted({a.size for a in self._groups.arrays}))
        self._opts = self._spec.replace(self._opts, options, sizes=sizes)
        if self._groups is not None:   # (minimize: one group, the optimizer's options)
            for g in self._groups.groups:
                g.replace(options, "options")
            self._bind_groups()
            return
        self._bind()

    def _user_options(self):
        return {k: v for k, v in self._opts.items() if k in self._spec.defaults}

    def zero_grad(self, set_to_none=True):
        """Nothing to do: torch.optim's ``zero_grad``, for loops ported from it.

        numadam's optimizers hold no gradients: :meth:`step` takes the
        gradient itself, so there is none to zero or accumulate into.  Kept
        so that a training loop written for torch.optim runs unchanged.

        Parameters
        ----------
        set_to_none : bool, default True
            Ignored (torch.optim's argument).
        """

    # -- the step ----------------------------------------------------------
    def step(self, grad):
        """Take one step with the gradient ``grad``, in place.

        Parameters
        ----------
        grad : array_like
            The gradient of the objective at the current parameters, with the
            parameters' shape.  Real values of another dtype are converted to
            the parameters' dtype.  It is not modified: clipping is applied
            inside the fused update.

        Returns
        -------
        bool
            True if the step was taken, False if ``nan_policy="skip"``
            skipped it because the gradient was not finite.

        Raises
        ------
        FloatingPointError
            With ``nan_policy="raise"`` (the default), when the update of
            some elements was not finite (a NaN or infinite gradient, or an
            overflow).  Those elements and their state kept their old values;
            the others were updated and the step counted.

        Notes
        -----
        The learning rate is ``lr``, or ``lr(t)`` for a schedule with ``t``
        the number of steps taken before this one.  With ``clip_norm`` the
        gradient's global norm is computed first (one extra read of
        ``grad``); ``clip_value`` costs nothing extra.

        Non-finite values never enter the parameters or the state: the fused
        kernel checks every element's new values in the same pass and keeps
        the old ones where they are not finite, at no extra memory traffic.
        ``nan_policy="skip"`` must know before the pass whether to take it:
        it reads the gradient once more to test it (free with ``clip_norm``,
        whose norm pass tests it too), then leaves the parameters, the state
        and ``t`` bitwise unchanged when it is not finite.
        """
        if callable(grad):
            raise TypeError(
                "grad is a callable: step takes the gradient itself, not torch.optim's "
                "closure (numadam holds no gradients and evaluates nothing): compute "
                "it first, opt.step(grad_of(x)); to minimise a function, see "
                "numadam.minimize")
        if self._dev is not None:
            return self._step_flat(self._dev.check_grad(grad, self._view)) is not None
        if self._groups is not None:
            return self._step_groups(grad) is not None
        if not self.params.flags.writeable:
            raise ValueError("params became read-only after the optimizer was built; "
                             "the optimizer updates it in place (make it writeable "
                             "again, or build a new optimizer on a writable array)")
        return self._step_flat(self._check_grad(grad)) is not None

    def _check_grad(self, grad, name="grad"):
        if self._groups is not None:   # minimize over several arrays: one flat gradient
            return flat_gradient(grad, self._flat.shape, self._flat.dtype, name)
        if self._dev is not None:
            return self._dev.check_grad(grad, self._view, name)
        return flat_gradient(grad, self.params.shape, self.params.dtype, name)

    def _step_flat(self, g, norm=None):
        """One fused step with the flat gradient ``g``; returns the lr used.

        Returns None when ``nan_policy="skip"`` skipped the step.  ``norm``,
        the norm kernel's ``(s, r)`` of ``g`` when the caller knows it, spares
        the extra pass of clip_norm/skip.
        """
        if self._groups is not None:   # several arrays over one flat array
            lrs = self._step_groups([g[lo:hi].reshape(shape) for lo, hi, shape in
                                     self._splits], norm)
            return None if lrs is None else lrs[0]
        t = self.t
        self._check_train()
        lr = _lr_at(self, t)
        clip = self._clip_norm
        if norm is None and (clip is not None or self._skip):
            norm = self._norm(g)
        if self._skip and not math.isfinite(norm[1]):
            self.skipped += 1
            return None
        gscale = 1.0 if clip is None else _scalars.clip_scale(clip, *norm)
        scalars, self._host = self._scalar_fn(self._hyper, t + 1, lr, gscale, self._host)
        # low-precision state: the step's key (and the shard's first element)
        extra = self._kernels.extra(t + 1, offset=0 if self._shard is None
                                    else self._shard[0])
        if self._agree is not None:
            count = (self._agree(self._flat, g, *self._arrays, *extra, *scalars)
                     if self._dev is None
                     else self._dev.agree(self._kernels, self._flat, g,
                                          self._arrays + extra, scalars))
            n = g.size
            if self._shards is not None:   # MPI, sharded: the mean over every shard
                count, n = self._shards(count)
            scalars = _scalars.with_caution(scalars, count, n)
        bad1 = 0
        if self._first is not None:   # a two-pass rule: its sums, then the step's scalars
            if self._dev is None:
                bad1, *sums = self._first(self._flat, g, *self._arrays, *extra, *scalars)
            else:
                bad1, sums = self._dev.first(self._kernels, self._flat, g,
                                             self._arrays + extra, scalars,
                                             len(self._spec.rule.sums))
            scalars, self._host = self._spec.rule.between(self._hyper, t + 1, lr,
                                                          tuple(sums), self._host, scalars)
        self.t = t + 1
        if self._array_step is not None:   # a matrix rule: the array in its shape
            bad = self._array_step(self.params, g.reshape(self.params.shape), *self._arrays,
                                   *scalars)
        elif self._dev is None:
            bad = max(bad1, self._kernel(self._flat, g, *self._arrays, *extra, *scalars))
        else:
            bad = max(bad1, self._dev.launch(self._kernels, self._flat, g,
                                             self._arrays + extra, scalars))
        if bad:
            raise _overflow(t, bad, self._flat.size)
        return lr

    def _check_train(self):
        if self.mode == "eval":
            raise RuntimeError(
                f"{self.method}: the optimizer is in eval mode (the parameters hold the "
                "averaged point); call opt.train() before opt.step()")

    def _step_groups(self, grads, norm=None):
        """One step over several arrays: one fused pass per group and dtype.
        Returns the groups' learning rates, or None when skipped.  ``norm``:
        the gradients' norm as ``(s, r)`` when the caller knows it."""
        groups = self._groups.groups
        flat, gps = self._groups.addresses(grads)   # (flat: kept alive for the kernels)
        t = self.t
        self._check_train()
        lrs = [_lr_at(g, t) for g in groups]
        clip = self._clip_norm
        if norm is None and (clip is not None or self._skip):
            cpu = _kernels.load_cpu()
            norm = _combined_norm([cpu.MULTI_NORM.pick(p.size)(gp, p.blocks, p.proto)
                                   for g, gpg in zip(groups, gps)
                                   for p, gp in zip(g.packs, gpg)])
        if self._skip and not math.isfinite(norm[1]):
            self.skipped += 1
            return None
        gscale = 1.0 if clip is None else _scalars.clip_scale(clip, *norm)
        steps = []
        for g, lr in zip(groups, lrs):
            scalars, g._host = g._scalar_fn(g._hyper, t + 1 - g.start, lr, gscale,
                                            g._host)
            steps.append(scalars)
        bad = self._groups.first_passes(gps, t, lrs, steps)   # two-pass rules
        for g, scalars, gpg in zip(groups, steps, gps):
            if g._array_step is not None:   # a matrix rule: array by array
                for p in g.packs:
                    for j, i in enumerate(p.index):
                        shape = p.arrays[j].shape
                        bad = max(bad, g._array_step(
                            p.arrays[j], flat[i].reshape(shape), *p.views(j).values(),
                            *scalars))
                continue
            for p, gp in zip(g.packs, gpg):
                cs = p.last
                extra = p.extra(t + 1, multi=True)   # low-precision state's key
                if p.agree is not None:   # the cautious step: each array's own mean
                    parts = p.agree(p.xp, gp, p.blocks, p.proto, cs, *p.kernel_arrays,
                                    *extra, *scalars)
                    counts = np.bincount(p.blocks[:, 0], parts, len(p.arrays))
                    cs = np.array([_scalars.with_caution((0.0,), c, n)[0]
                                   for c, n in zip(counts, np.diff(p.offsets))])
                bad = max(bad, p.kernel(p.xp, gp, p.blocks, p.proto, cs, *p.kernel_arrays,
                                        *extra, *scalars))
        self.t = t + 1
        if bad:
            raise _overflow(t, bad, self._groups.size)
        return lrs

    # -- train and eval points (Schedule-Free) ------------------------------
    def eval(self):
        """Move the parameters to the point to evaluate (Schedule-Free's x).

        For a method whose parameters hold another point while training than
        the one to evaluate or return (``schedule_free_adamw``: y while
        training, the average x to evaluate): call before computing a
        validation loss, saving or using the parameters, and :meth:`train`
        before the next :meth:`step`.  Idempotent.  Other methods raise
        ``TypeError``.
        """
        self._switch("eval")

    def train(self):
        """Move the parameters back to the training point (see :meth:`eval`);
        idempotent, harmless before the first step."""
        self._switch("train")

    def _switch(self, mode):
        modes = self._spec.modes
        if modes is None:
            raise TypeError(f"method {self.method!r} has one point only: eval() and "
                            "train() belong to methods whose parameters hold another "
                            "point while training (schedule_free_adamw)")
        if self.mode == mode:
            return
        move = modes.to_eval if mode == "eval" else modes.to_train
        if self._groups is not None:   # array by array, each with its group's options
            for g in self._groups.groups:
                for pack in g.packs:
                    for j in range(len(pack.arrays)):
                        move(pack.flat(j), pack.views(j), g._opts)
        elif self._dev is None:
            move(self._flat, self.state, self._opts)
        else:   # on the host (a rare call): the parameters and the state round trip
            flat = self._flat.copy_to_host()
            move(flat, {k: v.copy_to_host() for k, v in self.state.items()}, self._opts)
            self._flat.copy_to_device(flat)
        self.mode = mode

    # -- checkpoints -------------------------------------------------------
    def state_values(self):
        """The state as values: a dict name -> float array in the parameters'
        dtype (torch's names), low-precision moments decoded (``opt.state``
        holds them as stored: bfloat16 bits, int8 codes and block absmax); with
        several arrays, a dict array name -> such a dict.  Copies.

        Examples
        --------
        >>> import numpy as np, numadam
        >>> x = np.ones(3, np.float32)
        >>> opt = numadam.Adam(x, state_dtype="bfloat16", stochastic_rounding=False)
        >>> opt.step(np.array([1.0, 2.0, 3.0], np.float32))
        True
        >>> opt.state["exp_avg"].dtype, opt.state_values()["exp_avg"]   # 0.1 g, nearest
        (dtype('uint16'), array([0.10009766, 0.20019531, 0.30078125], dtype=float32))
        """
        if self._groups is None:
            state = (self.state if self._dev is None
                     else {k: v.copy_to_host() for k, v in self.state.items()})
            return {k: np.array(v, copy=True) for k, v in self._spec.state_values(
                self._opts, state, self._flat.dtype, self._storage_size()).items()}
        return {n: {k: np.array(v, copy=True) for k, v in g._spec.state_values(
                    g._opts, self.state[n], a.dtype, a.size).items()}
                for g in self._groups.groups for n, a in zip(g.names, g.arrays)}

    def state_dict(self):
        """Everything needed to resume exactly: a dict of copies.

        Returns
        -------
        dict
            ``method``, ``t``, ``options`` (the hyperparameters), ``dtype``,
            ``size``, ``state`` (name -> flat array copy) and ``host`` (scalar
            state such as NAdam's ``mu_product``); for a method with train
            and eval points, ``mode`` (which one the parameters hold).  Over
            several arrays, in place of ``dtype`` and ``size``: ``structure``,
            ``groups`` (each group's array ``names``, ``options``, its
            ``method`` when not the optimizer's, and ``start``, the step at
            which :meth:`add_param_group` added it, when not 0), ``arrays``
            (each array's dtype and shape by name), ``state`` by array name
            and ``host`` a list, one dict per group.
            Arrays are copies: later steps do not change a saved dict.
        """
        extra = {} if self.mode is None else {"mode": self.mode}
        if self._groups is not None:
            G = self._groups
            return {**extra, "method": self.method, "t": self.t,
                    "options": self._user_options(), "structure": G.kind,
                    "groups": [{"names": list(g.names), "options": g.user_options(),
                                **({"method": g.method} if g.method != self.method
                                   else {}),
                                **({"start": g.start} if g.start else {})}
                               for g in G.groups],
                    "arrays": {n: {"dtype": a.dtype.name, "shape": a.shape}
                               for n, a in zip(G.names, G.arrays)},
                    "state": {n: {k: v.copy() for k, v in self.state[n].items()}
                              for n in G.names},
                    "host": [dict(zip(g._spec.host_names, g._host)) for g in G.groups]}
        return {**extra,
            "method": self.method,
            "t": self.t,
            "options": self._user_options(),
            "dtype": self._flat.dtype.name,
            "size": self._flat.size,
            "state": {k: (v.copy() if self._dev is None else v.copy_to_host())
                      for k, v in self.state.items()},
            "host": dict(zip(self._spec.host_names, self._host)),
        }

    def load_state_dict(self, state_dict):
        """Restore a :meth:`state_dict`; validated whole before anything loads.

        The hyperparameters of the saved optimizer replace this one's
        (``state_dtype`` too: the state loads in its saved, stored form).  The
        parameters themselves are not part of the state: restore them into
        :attr:`params` yourself (e.g. ``x[...] = saved_x``).

        Parameters
        ----------
        state_dict : dict
            As returned by :meth:`state_dict`.

        Raises
        ------
        ValueError
            If the checkpoint belongs to another method, size or dtype, or
            lacks or has extra state.
        """
        if not isinstance(state_dict, dict):
            raise TypeError("state_dict must be a dict from state_dict(); got "
                            f"{type(state_dict).__name__}")
        several = "groups" in state_dict
        if several != (self._groups is not None):
            raise ValueError("state_dict is of an optimizer over "
                             + ("several arrays" if several else "one array")
                             + ", this one is over "
                             + ("one array" if several else "several arrays"))
        missing = ({"method", "t", "options", "state", "host"}
                   | ({"groups", "arrays"} if several else {"dtype", "size"})
                   ) - set(state_dict)
        if missing:
            raise ValueError(f"state_dict lacks {', '.join(sorted(missing))}")
        if state_dict["method"] != self.method:
            raise ValueError(f"state_dict is for method {state_dict['method']!r},"
                             f" this optimizer runs {self.method!r}")
        if several:
            self._load_groups(state_dict)
            return
        if state_dict["dtype"] != self._flat.dtype.name:
            raise ValueError(f"state_dict has dtype {state_dict['dtype']}, the "
                             f"parameters have {self._flat.dtype.name}")
        if state_dict["size"] != self._flat.size:
            raise ValueError(f"state_dict is for {state_dict['size']!r} parameters,"
                             f" this optimizer has {self._flat.size}")
        t = self._saved_t(state_dict)
        opts = self._spec.resolve(dict(state_dict["options"]))
        n = self._storage_size()
        names = self._spec.state_names(opts, n)
        saved = self._saved_state(state_dict["state"], names,
                                  self._spec.state_dtypes(opts, self._flat.dtype, n),
                                  self._spec.state_sizes(opts, self._view_shape(), n),
                                  "state_dict['state']")
        host = self._saved_host(state_dict["host"], opts, saved, t, "state_dict['host']")
        mode = self._saved_mode(state_dict)
        # everything checked: load
        self._opts = opts
        self.mode = mode
        if self._dev is None:
            self.state = StateView({name: np.array(saved[name], copy=True)
                                    for name in names})
        else:
            self.state = StateView({
                name: self._dev.cuda.to_device(np.ascontiguousarray(saved[name]))
                for name in names})
        self._host = host
        self.t = int(t)
        self._bind()

    # -- the checks of a saved state, shared by one and several arrays --------
    @staticmethod
    def _saved_t(state_dict):
        t = state_dict["t"]
        if (isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer))
                or not 0 <= t < 2 ** 62):
            raise ValueError(f"state_dict['t'] must be an int >= 0; got {t!r}")
        return int(t)

    def _view_shape(self):
        return self.params.shape if self._dev is None else self._view.shape

    @staticmethod
    def _saved_state(saved, names, dtypes, sizes, where):
        """The state arrays of ``names`` in ``saved``, each flat, of its dtype
        in ``dtypes`` and its size in ``sizes``."""
        if not isinstance(saved, Mapping) or set(saved) != set(names):
            have = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
            raise ValueError(f"{where} has {have}; the options need {sorted(names)}")
        for name in names:
            arr = np.asarray(saved[name])
            dtype = dtypes[name]
            if arr.shape != (sizes[name],) or arr.dtype != dtype:
                raise ValueError(
                    f"{where}[{name!r}] must be a flat {dtype.name} array of {sizes[name]}; "
                    f"got {arr.dtype} of shape {arr.shape}")
        return {n: saved[n] for n in names}

    def _saved_host(self, host, opts, state, t, where, spec=None):
        """The host scalars, checked with the state they go with (of ``spec``'s
        method, the optimizer's by default)."""
        spec = self._spec if spec is None else spec
        host = dict(host)
        for h in spec.rule.host:   # a count added since the dict was saved: every step
            if h.kind == "count" and h.name not in host:
                host[h.name] = t
        host_names = spec.host_names
        if set(host) != set(host_names):
            raise ValueError(f"{where} has {sorted(host)}, expected {sorted(host_names)}")
        try:
            host = tuple(_real_number(host[k]) for k in host_names)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must hold numbers; got {host!r}") from None
        try:
            spec.check_state_values(opts, state, host, t)
        except ValueError as exc:
            raise ValueError(f"state_dict is not a reachable {spec.name} state: "
                             f"{exc}") from None
        return host

    def _saved_mode(self, state_dict):
        mode = state_dict.get("mode")
        if self._spec.modes is None:
            if mode is not None:
                raise ValueError(f"state_dict has a mode ({mode!r}); method "
                                 f"{self.method!r} has none")
        elif mode not in ("train", "eval"):
            raise ValueError("state_dict['mode'] must be 'train' or 'eval' (which point "
                             f"the parameters hold); got {mode!r}")
        return mode

    def _load_groups(self, sd):
        """:meth:`load_state_dict` of an optimizer over several arrays: the
        saved structure must be this one's (names, groups, shapes, dtypes);
        state is matched by name."""
        from ._groups import structure_difference
        G = self._groups
        diff = structure_difference(G, sd["groups"], sd["arrays"])
        if diff:
            raise ValueError(f"state_dict is of other arrays: {diff}")
        t = self._saved_t(sd)
        top = self._spec.resolve(dict(sd["options"]))
        hosts = sd["host"]
        if not isinstance(hosts, (list, tuple)) or len(hosts) != len(G.groups):
            raise ValueError(f"state_dict['host'] must be a list of {len(G.groups)} "
                             "dicts, one per group")
        loaded = []
        for k, (g, saved) in enumerate(zip(G.groups, sd["groups"])):
            start = saved.get("start", 0)
            if (isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer))
                    or not 0 <= start <= t):
                raise ValueError(f"state_dict['groups'][{k}]['start'] (the step at which "
                                 f"the group was added) must be an int in [0, {t}]; got "
                                 f"{start!r}")
            method = saved.get("method", self.method)
            if method != g.method:
                raise ValueError(f"state_dict's group {k} runs {method!r}, this optimizer's "
                                 f"{g.method!r}")
            try:
                opts = g._spec.resolve(dict(saved["options"]))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"state_dict['groups'][{k}]['options']: {exc}") from None
            state = {n: self._saved_state(sd["state"].get(n, {}),
                                          g._spec.state_names(opts, a.size),
                                          g._spec.state_dtypes(opts, a.dtype, a.size),
                                          g._spec.state_sizes(opts, a.shape),
                                          f"state_dict['state'][{n!r}]")
                     for n, a in zip(g.names, g.arrays)}
            host = [self._saved_host(hosts[k], opts, state[n], t - start,
                                     f"state_dict['host'][{k}]", g._spec)
                    for n in g.names][0]
            loaded.append((opts, state, host, int(start)))
        mode = self._saved_mode(sd)
        # everything checked: load
        self._opts = top
        for g, (opts, state, host, start) in zip(G.groups, loaded):
            g.load(opts, state, host, start)
        G._index()   # (the packs may be new: another state_dtype)
        self.mode = mode
        self.t = t
        self._bind_groups()

    def save(self, path):
        """Write :meth:`state_dict` to the checkpoint file ``path`` (``.npz``).

        The file holds the state arrays, the step count, the hyperparameters
        (schedules from :mod:`numadam.schedules` by name and parameters) and a
        checksum; it is written atomically (a temporary file renamed into
        place).  Save the parameters yourself (``np.save``) or use
        :func:`numadam.minimize`'s ``checkpoint`` option, which saves them too.

        Parameters
        ----------
        path : str or path-like
            The file to write (replaced if it exists).

        Raises
        ------
        ValueError
            If ``lr`` is a plain callable: only numadam schedules can be saved.
        """
        from . import _checkpoint
        _checkpoint.write(path, *self._checkpoint_parts())

    def _checkpoint_parts(self, prefix=""):
        from . import _checkpoint
        sd = self.state_dict()
        meta = {"kind": "optimizer", "method": sd["method"], "t": sd["t"],
                "skipped": self.skipped, **({"mode": sd["mode"]} if "mode" in sd else {}),
                "options": _checkpoint.encode_options(sd["options"]), "host": sd["host"]}
        if self._groups is None:
            meta.update(dtype=sd["dtype"], size=sd["size"])
            return meta, {prefix + k: v for k, v in sd["state"].items()}
        # several arrays: the names in the metadata (a JSON list keeps integer
        # names), the arrays' state under their positions
        names = self._groups.names
        meta.update(structure=sd["structure"], groups=[
            {"names": g["names"], "options": _checkpoint.encode_options(g["options"]),
             **{k: g[k] for k in ("method", "start") if k in g}}
            for g in sd["groups"]], arrays=[
            {"name": n, "dtype": sd["arrays"][n]["dtype"],
             "shape": list(sd["arrays"][n]["shape"])} for n in names])
        return meta, {f"{prefix}{i}.{k}": v for i, n in enumerate(names)
                      for k, v in sd["state"][n].items()}

    def load(self, path):
        """Restore a checkpoint written by :meth:`save`.

        The file is verified (checksum) and matched against this optimizer
        (method, size, dtype) before anything is loaded: a corrupted,
        truncated or mismatched file raises ``ValueError`` and leaves the
        optimizer as it was.

        Parameters
        ----------
        path : str or path-like
        """
        from . import _checkpoint
        meta, arrays = _checkpoint.read(path, "optimizer")
        self._load_checkpoint_parts(meta, arrays, path)

    def _load_checkpoint_parts(self, meta, arrays, path, prefix=""):
        from . import _checkpoint
        try:
            sd = {"method": meta["method"], "t": meta["t"], "host": meta["host"],
                  "options": _checkpoint.decode_options(meta["options"]),
                  **({"mode": meta["mode"]} if "mode" in meta else {})}
            state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            if "groups" in meta:
                names = [a["name"] for a in meta["arrays"]]
                sd.update(structure=meta["structure"], groups=[
                    {"names": g["names"],
                     "options": _checkpoint.decode_options(g["options"]),
                     **{k: g[k] for k in ("method", "start") if k in g}}
                    for g in meta["groups"]],
                    arrays={a["name"]: a for a in meta["arrays"]},
                    state={n: {k.split(".", 1)[1]: v for k, v in state.items()
                               if k.split(".", 1)[0] == str(i)}
                           for i, n in enumerate(names)})
            else:
                sd.update(dtype=meta["dtype"], size=meta["size"], state=state)
            skipped = int(meta.get("skipped", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"checkpoint {str(path)!r} is not a valid optimizer "
                             f"state: {exc}") from None
        try:
            self.load_state_dict(sd)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"checkpoint {str(path)!r} does not fit this optimizer: "
                             f"{exc}") from None
        self.skipped = skipped

    # -- copies ------------------------------------------------------------
    def __reduce__(self):
        """Pickle, ``copy.copy`` and ``copy.deepcopy``: the optimizer is rebuilt
        from its parameters, options and :meth:`state_dict` (plus the count of
        skipped steps), so a copy continues bit for bit as the original would.

        A deep copy (and an unpickled optimizer) steps a copy of the
        parameters -- ``copy.deepcopy((x, opt))`` copies ``x`` once and the
        copied optimizer steps the copied ``x``, as with torch.optim; a
        shallow copy steps the same parameters with its own state.  A plain
        callable ``lr`` pickles only if Python can pickle it (not a lambda);
        an optimizer over device arrays is refused: save its
        :meth:`state_dict` (host copies) instead.
        """
        if self._dev is not None:
            raise TypeError(f"an optimizer over device arrays cannot be pickled or copied: "
                            f"its state lives on the GPU; save {type(self).__name__}."
                            "state_dict() (host copies) and load it into a new optimizer")
        sd = self.state_dict()
        params, added = (self.params, []) if self._groups is None else self._groups.given()
        return (_rebuild, (type(self), self.method, params, sd["options"], sd,
                           self.skipped, self._shard, added))

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self._user_options().items())
        if self._groups is not None:
            G = self._groups
            what = (f"<{len(G.names)} arrays of {G.size} elements in "
                    f"{len(G.groups)} group{'s' if len(G.groups) > 1 else ''}>")
            own = [(k, self._own_options(g)) for k, g in enumerate(G.groups)]
            own = "; ".join(f"{k}: {o}" for k, o in own if o)
            if own:
                opts += f", groups: [{own}]"
        else:
            what = f"<{self._flat.dtype.name} array of shape {self.params.shape}>"
        return f"{type(self).__name__}({what}, {opts}) at step {self.t}"

    def _own_options(self, g):
        """What group ``g`` sets otherwise than the optimizer's options (a group
        of another method: its method and what differs from its defaults)."""
        if g._spec is self._spec:
            base, head = self._user_options(), []
        else:
            base, head = g._spec.resolve({}), [f"method={g.method!r}"]
        return ", ".join(head + [f"{k}={v!r}" for k, v in g.user_options().items()
                                 if k not in base or base[k] != v])


def _rebuild(cls, method, params, options, state_dict, skipped, shard, added=()):
    """An optimizer from :meth:`Optimizer.__reduce__`'s parts."""
    opt = (cls(params, **options) if cls.method is not None
           else cls(params, method=method, **options))
    for group in added:
        opt.add_param_group(group)
    if shard is not None:
        opt._use_shard(*shard)
    opt.load_state_dict(state_dict)
    opt.skipped = skipped
    return opt


def _method_class(name, method, doc):
    def __init__(self, params, *lr, **options):
        # lr second, as torch.optim's Adam(params, 1e-3); the rest by name
        if len(lr) > 1:
            raise TypeError(f"{name}() takes params and lr positionally; give the other "
                            f"options by name, e.g. {name}(params, {lr[0]!r}, "
                            "betas=(0.9, 0.999))")
        if lr:
            if "lr" in options:
                raise TypeError(f"{name}() got lr twice: positionally and by name")
            options["lr"] = lr[0]
        Optimizer.__init__(self, params, **options)

    spec = get_method(method)
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
              inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("lr", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=spec.defaults["lr"])]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
               for k, v in spec.defaults.items() if k != "lr"]
    __init__.__signature__ = inspect.Signature(params)
    __init__.__doc__ = f"Create a {name} optimizer for ``params``."
    return type(name, (Optimizer,), {"method": method, "__init__": __init__,
                                     "__doc__": doc, "__module__": "numadam"})


_COMMON = """
    Parameters
    ----------
    params : numpy.ndarray
        Writable, C-contiguous float32 or float64 array, updated in place.
    lr : float or callable, default {lr}
        Learning rate, >= 0 (0 freezes the parameters, as in torch.optim), or
        a schedule ``lr(k)`` of the step count ``k`` (0 for the first step;
        see :mod:`numadam.schedules`).
"""
_BETAS_DOC = """    betas : tuple of float, default (0.9, 0.999)
        Decay rates ``(beta1, beta2)`` of the moment estimates, in [0, 1).
"""
_EPS_DOC = """    eps : float, default {eps}
        Added to the denominator, > 0.
"""
_WD_DOC = """    weight_decay : float, default {wd}
        {kind} weight decay, >= 0.
"""
_MAX_DOC = """    maximize : bool, default False
        Maximize the objective (the gradient's sign is flipped).
"""
_CLIP_DOC = """    clip_norm : float, optional
        Clip the gradient by its global norm first: if ``||g|| > clip_norm``,
        ``g *= clip_norm / ||g||`` (optax's rule; torch adds 1e-6 to the norm).
    clip_value : float, optional
        Then clip every component into ``[-clip_value, clip_value]``.
"""
_NAN_DOC = """    nan_policy : {"raise", "skip"}, default "raise"
        What a non-finite gradient does: raise ``FloatingPointError`` (the
        non-finite elements keep their values), or skip the whole step,
        leaving parameters, state and step count bitwise unchanged.
"""
_DWD_DOC = """    decoupled_weight_decay : bool, default False
        Decay the parameters directly (``x *= 1 - lr*weight_decay``, as
        AdamW) instead of adding ``weight_decay * x`` to the gradient.
"""
_CAUTIOUS_DOC = """    cautious : bool, default False
        The Cautious Optimizers' mask (Liang et al., 2024; timm's
        ``caution=True``): the update is zeroed where its sign differs from
        the gradient's and the rest scaled by ``1 / max(fraction kept,
        1e-3)``; weight decay is not masked.  A read of two or three words
        per element before the step counts the fraction.
"""
_AMS_DOC = """    amsgrad : bool, default False
        Use the running maximum of the raw second moment (AMSGrad, torch's
        form: the maximum is divided by the current bias correction).
"""


def _doc(summary, *parts, notes="", lr=1e-3, eps=1e-8, wd=0, kind="Coupled (L2)",
         example="Adam", example_lr=0.1, example_x="[1.0, -2.0]"):
    body = _COMMON.format(lr=lr)
    for part in parts:
        body += part.format(eps=eps, wd=wd, kind=kind)
    body += _MAX_DOC + _CLIP_DOC + _NAN_DOC
    example_text = f"""
    Examples
    --------
    >>> import numpy as np, numadam
    >>> x = np.array({example_x})
    >>> opt = numadam.{example}(x, lr={example_lr})
    >>> for _ in range(200):
    ...     _ = opt.step(2 * x)      # gradient of sum(x**2); True: step taken
    >>> bool(np.abs(x).max() < 0.1)
    True
"""
    notes = f"\n    Notes\n    -----\n    {notes}\n" if notes else ""
    return f"{summary}\n{body}{notes}{example_text}"


Adam = _method_class("Adam", "adam", _doc(
    "Adam (Kingma & Ba, 2014), with torch.optim.Adam's defaults and semantics.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, _AMS_DOC, _DWD_DOC, _CAUTIOUS_DOC,
    notes="Step ``t``: ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g*g``,\n"
          "    ``x -= lr/(1-b1**t) * m / (sqrt(v)/sqrt(1-b2**t) + eps)``."))
AdamW = _method_class("AdamW", "adamw", _doc(
    "AdamW (Loshchilov & Hutter): Adam with decoupled weight decay.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, _AMS_DOC, _CAUTIOUS_DOC, wd=0.01, kind="Decoupled",
    example="AdamW",
    notes="``x *= 1 - lr*weight_decay`` first (the full scheduled lr, as torch\n"
          "    and optax; the paper scales by the schedule multiplier only)."))
AMSGrad = _method_class("AMSGrad", "amsgrad", _doc(
    "AMSGrad (Reddi et al., 2018): Adam with the running maximum of ``v``.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, _DWD_DOC, _CAUTIOUS_DOC, example="AMSGrad",
    notes="Same as ``Adam(amsgrad=True)``; torch semantics (maximum of the raw\n"
          "    ``v``; optax maxes the bias-corrected ``v`` instead)."))
Adamax = _method_class("Adamax", "adamax", _doc(
    "Adamax (Kingma & Ba, Algorithm 2): Adam with the infinity norm.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, lr=2e-3, example="Adamax",
    notes="``u = max(b2*u, |g| + eps)``; ``x -= lr/(1-b1**t) * m / u``."))
NAdam = _method_class("NAdam", "nadam", _doc(
    "NAdam (Dozat, 2016) in torch.optim.NAdam's form.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC,
    """    momentum_decay : float, default 0.004
        The momentum schedule's psi, >= 0.
""", _DWD_DOC, _CAUTIOUS_DOC, lr=2e-3, example="NAdam",
    notes="``mu_t = b1*(1 - 0.5*0.96**(t*psi))``; optax's nadam is a different\n"
          "    algorithm."))
RAdam = _method_class("RAdam", "radam", _doc(
    "RAdam (Liu et al., 2020) in torch.optim.RAdam's form.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, _DWD_DOC, example="RAdam",
    notes="Steps whose rho_t <= 5 (the first five with beta2 = 0.999) move by\n"
          "    the bias-corrected momentum alone."))
SGD = _method_class("SGD", "sgd", _doc(
    "Stochastic gradient descent with optional (Nesterov) momentum.",
    """    momentum : float, default 0
        Momentum factor, in [0, 1).
    dampening : float, default 0
        Dampening of the momentum, in [0, 1].
""", _WD_DOC, """    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0).
""", example="SGD",
    notes="torch's definition: the buffer is the gradient itself on step 1."))
RMSprop = _method_class("RMSprop", "rmsprop", _doc(
    "RMSprop (Tieleman & Hinton), optionally centered, with torch's defaults.",
    """    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average, in [0, 1).
""", _EPS_DOC, _WD_DOC, """    momentum : float, default 0
        Momentum factor, in [0, 1).
    centered : bool, default False
        Normalise by the estimated variance of the gradient.
""", lr=1e-2, example="RMSprop",
    notes="``v = alpha*v + (1-alpha)*g*g``; ``x -= lr*g/(sqrt(v) + eps)``."))
Adagrad = _method_class("Adagrad", "adagrad", _doc(
    "Adagrad (Duchi et al., 2011) with torch.optim.Adagrad's defaults.",
    """    lr_decay : float, default 0
        The learning rate of step t is ``lr / (1 + (t-1)*lr_decay)``.
""", _WD_DOC, """    initial_accumulator_value : float, default 0
        Starting value of the sum of squared gradients, >= 0.
""", _EPS_DOC, lr=1e-2, eps=1e-10, example="Adagrad", example_lr=0.5,
    notes="``S += g*g``; ``x -= clr * g / (sqrt(S) + eps)``."))
Lion = _method_class("Lion", "lion", _doc(
    "Lion (Chen et al., 2023): the sign of an interpolated momentum "
    "(lion-pytorch's semantics).",
    """    betas : tuple of float, default (0.9, 0.99)
        ``(beta1, beta2)``: the interpolation of the step's sign and the
        momentum's decay, in [0, 1).
""", _WD_DOC, """    decoupled_weight_decay : bool, default False
        lion-pytorch's option: decay by ``weight_decay * lr / lr0`` (``lr0`` the
        first step's learning rate), independent of the learning rate's scale.
""", _CAUTIOUS_DOC, lr=1e-4, kind="Decoupled", example="Lion", example_lr=0.01,
    notes="``x *= 1 - lr*wd``; ``c = b1*m + (1-b1)*g``; ``x -= lr*sign(c)``;\n"
          "    ``m = b2*m + (1-b2)*g`` (``sign(0) = 0``).  Use a learning rate 3-10x\n"
          "    smaller than AdamW's and a weight decay 3-10x larger.  optax's lion\n"
          "    defaults to weight_decay 1e-3; lion-pytorch (followed here) to 0."))
AdaBelief = _method_class("AdaBelief", "adabelief", _doc(
    "AdaBelief (Zhuang et al., 2020), optax.adabelief's definition.",
    _BETAS_DOC, _EPS_DOC, """    eps_root : float, default 1e-16
        Added to the second moment of the prediction error every step, >= 0.
""", _WD_DOC, eps=1e-16, example="AdaBelief",
    notes="``m = b1*m + (1-b1)*g``; ``s = b2*s + (1-b2)*(g - m)**2 + eps_root``;\n"
          "    ``x -= lr*(m/bc1) / (sqrt(s/bc2) + eps)``."))
Yogi = _method_class("Yogi", "yogi", _doc(
    "Yogi (Zaheer et al., 2018), optax.scale_by_yogi's definition.",
    _BETAS_DOC, _EPS_DOC, """    eps_root : float, default 0
        Added to the bias-corrected second moment under the square root, >= 0.
    initial_accumulator_value : float, default 1e-6
        Starting value of both moment estimates, >= 0 (optax).
""", _WD_DOC, lr=1e-2, eps=1e-3, example="Yogi",
    notes="``v -= (1-b2)*sign(v - g*g)*g*g`` (an additive change, not Adam's\n"
          "    multiplicative one); ``x -= lr*(m/bc1) / (sqrt(v/bc2 + eps_root) + eps)``."))
Adan = _method_class("Adan", "adan", _doc(
    "Adan (Xie et al., 2022): adaptive Nesterov momentum, optax.adan's definition.",
    """    betas : tuple of float, default (0.98, 0.92, 0.99)
        ``(beta1, beta2, beta3)``: decay rates of the averages of the gradient,
        of the gradient's difference and of the squared term, in [0, 1).
""", _EPS_DOC, """    eps_root : float, default 1e-8
        Added to the bias-corrected squared term under the square root, >= 0.
""", _WD_DOC, kind="optax.adan's", example="Adan", example_lr=0.05,
    notes="``d = g - g_prev`` (0 on step 1); ``m``, ``v``, ``n`` average ``g``,\n"
          "    ``d`` and ``(g + (1-b2)*d)**2``; ``x -= lr*((m/bc1 + (1-b2)*v/bc2)\n"
          "    / (sqrt(n/bc3 + eps_root) + eps) + weight_decay*x)``.  Note optax's\n"
          "    betas are the decay rates of the averages (as here), the paper's their\n"
          "    complements."))
ADOPT = _method_class("ADOPT", "adopt", _doc(
    "ADOPT (Taniguchi et al., 2024): Adam normalised by the second moment of "
    "earlier steps, torch-adopt's semantics.",
    """    betas : tuple of float, default (0.9, 0.9999)
        Decay rates ``(beta1, beta2)`` of the moment estimates, in [0, 1).
""", _EPS_DOC, _WD_DOC, _DWD_DOC, """    use_clipping : bool, default True
        Clip the normalised gradient to ``[-(t-1)**0.25, (t-1)**0.25]`` (the
        reference's default ``clip_lambda``); False: the paper's first,
        unclipped version.  Other clip schedules are not supported.
""", _CAUTIOUS_DOC, eps=1e-6, example="ADOPT", example_lr=0.05,
    notes="Step 1 only sets ``v = g*g`` (no parameter step; ``nit`` counts it).  Then\n"
          "    ``gh = clip(g / max(sqrt(v), eps))``, ``m += (1-b1)*(gh - m)``,\n"
          "    ``x -= lr*m``, ``v = b2*v + (1-b2)*g*g``.  The decoupled decay starts\n"
          "    with step 2, as the reference's."))
AdEMAMix = _method_class("AdEMAMix", "ademamix", _doc(
    "AdEMAMix (Pagliardini et al., 2024): Adam with a slow momentum mixed in, "
    "apple/ml-ademamix's semantics.",
    """    betas : tuple of float, default (0.9, 0.999, 0.9999)
        ``(beta1, beta2, beta3)``: decay rates of the fast momentum, the second
        moment and the slow momentum, in [0, 1).
    alpha : float, default 2.0
        Weight of the slow momentum, >= 0 (optax's default is 5).
    alpha_warmup : int, optional
        Steps over which alpha grows linearly from 0.
    beta3_warmup : int, optional
        Steps over which beta3 grows from beta1 (its half-life linearly).
""", _EPS_DOC, _WD_DOC, _CAUTIOUS_DOC,
    kind="The reference's (``wd*x`` added to the update)",
    example="AdEMAMix", example_lr=0.05,
    notes="``x -= lr*((m1/bc1 + alpha*m2) / (sqrt(v)/sqrt(bc2) + eps) + wd*x)``;\n"
          "    the slow momentum ``m2`` (rate beta3) has no bias correction.  Use the\n"
          "    warmups when beta3 is close to 1 (the paper: both about the run's\n"
          "    length)."))
Adadelta = _method_class("Adadelta", "adadelta", _doc(
    "Adadelta (Zeiler, 2012) with torch.optim.Adadelta's defaults.",
    """    rho : float, default 0.9
        Decay rate of the running averages of ``g**2`` and of the squared
        steps, in [0, 1).
""", _EPS_DOC, _WD_DOC, lr=1.0, eps=1e-6, example="Adadelta", example_lr=10.0,
    notes="``E[g2] = rho*E[g2] + (1-rho)*g*g``; ``d = sqrt(E[dx2] + eps) /\n"
          "    sqrt(E[g2] + eps) * g``; ``E[dx2] = rho*E[dx2] + (1-rho)*d*d``;\n"
          "    ``x -= lr*d``.  The first steps are about ``sqrt(eps)`` in size."))
Rprop = _method_class("Rprop", "rprop", _doc(
    "Rprop (Riedmiller & Braun, 1993) with torch.optim.Rprop's defaults.",
    """    etas : tuple of float, default (0.5, 1.2)
        ``(etaminus, etaplus)``: the step size's factors where the gradient's
        sign flipped and where it held, ``0 < etaminus < 1 < etaplus``.
    step_sizes : tuple of float, default (1e-06, 50.0)
        ``(min, max)`` bounds of every element's step size.
""", _WD_DOC, lr=1e-2, example="Rprop", example_lr=0.1,
    notes="``lr`` is the initial step size of every element (a number, not a\n"
          "    schedule).  A full-batch method: ``minimize`` warns when it gets\n"
          "    minibatches.  Where the gradient's sign flipped the element does not\n"
          "    move that step (torch's Rprop, not iRprop+'s backtracking)."))
ASGD = _method_class("ASGD", "asgd", _doc(
    "Averaged SGD (Polyak & Juditsky, 1992) with torch.optim.ASGD's defaults.",
    """    lambd : float, default 0.0001
        Decay term of the step size, >= 0.
    alpha : float, default 0.75
        Power of the step size's decay, >= 0.
    t0 : float, default 1000000.0
        The step from which the average starts.
""", _WD_DOC, lr=1e-2, example="ASGD", example_lr=0.1,
    notes="``eta = lr/(1 + lambd*lr*(t-1))**alpha``; ``x = x*(1 - lambd*eta) -\n"
          "    eta*g``; the average ``ax`` (``state['ax']``) follows ``x`` until step\n"
          "    ``t0`` and averages it from then on.  eta and mu are computed in\n"
          "    float64 (torch: in its default dtype)."))
ScheduleFreeAdamW = _method_class("ScheduleFreeAdamW", "schedule_free_adamw", _doc(
    "Schedule-Free AdamW (Defazio et al., 2024): an average of the iterates in "
    "place of a learning-rate schedule; schedulefree.AdamWScheduleFree's semantics.",
    _BETAS_DOC, _EPS_DOC, _WD_DOC, """    warmup_steps : int, default 0
        Steps of the linear learning-rate warmup.
    r : float, default 0
        Power of the step count in the average's weights.
    weight_lr_power : float, default 2
        Power of the largest learning rate so far in the average's weights.
""", lr=0.0025, kind="The reference's (``wd*y`` added to the normalised gradient)",
    example="ScheduleFreeAdamW", example_lr=0.1,
    notes="The parameters hold y while training (the point to take gradients at)\n"
          "    and x, the average to evaluate and keep, after :meth:`eval`; call\n"
          "    :meth:`train` before the next step.  The optimizer starts in train mode\n"
          "    (the reference starts in eval mode).  ``state['z']`` starts as a copy of\n"
          "    the parameters.  No schedule is needed: ``warmup_steps`` is the warmup."))
LAMB = _method_class("LAMB", "lamb", _doc(
    "LAMB (You et al., 2019): Adam's update scaled per array by a trust ratio, "
    "optax.lamb's definition.",
    _BETAS_DOC, _EPS_DOC, """    eps_root : float, default 0
        Added to the bias-corrected second moment under the square root, >= 0.
""", _WD_DOC, eps=1e-6, kind="Decoupled (``wd*x`` added to the update before the "
    "trust ratio, optax's)", example="LAMB", example_lr=0.1,
    notes="``u = (m/bc1) / (sqrt(v/bc2 + eps_root) + eps) + weight_decay*x``;\n"
          "    ``x -= lr * (||x|| / ||u||) * u`` with the norms of each array (the ratio\n"
          "    is 1 when either is 0).  Over several arrays the ratio is per array, as\n"
          "    optax's per leaf.  Two passes per step (the norms between them): one\n"
          "    more read of x, m and v than Adam.  No compiled loop, minimize_many or\n"
          "    GPU path yet."))
Prodigy = _method_class("Prodigy", "prodigy", _doc(
    "Prodigy (Mishchenko & Defazio, 2023): Adam with a step size d learnt from the "
    "run, prodigyopt.Prodigy's definition.",
    _BETAS_DOC, """    beta3 : float, optional
        Decay rate of ``s``, in [0, 1); None (default): ``sqrt(beta2)``.
""", _EPS_DOC, _WD_DOC, """    decouple : bool, default True
        Decoupled weight decay (AdamW's, scaled by ``d*lr``); False adds
        ``weight_decay * x`` to the gradient.
    use_bias_correction : bool, default False
        Adam's bias correction in the step size.
    safeguard_warmup : bool, default False
        Leave ``lr`` out of ``s``'s update (for warmup schedules).
    d0 : float, default 1e-06
        The initial estimate of ``d``, > 0.
    d_coef : float, default 1
        Multiplier of the estimate of ``d``.
    growth_rate : float, default inf
        The most ``d`` may grow by per step, >= 1.
""", lr=1.0, kind="Decoupled (``decouple=True``)", example="Prodigy", example_lr=1.0,
    notes="``lr`` multiplies the learnt step size ``d``: leave it at 1 (use a schedule's\n"
          "    shape, not its scale).  ``d`` grows from ``d0`` by the ratio of ``<g, x0 -\n"
          "    x>`` to ``sum |s|`` over every array (one ``d`` for all arrays and\n"
          "    groups, as prodigyopt: groups may differ in weight_decay and eps only).\n"
          "    Two passes per step (the sums between them); no compiled loop,\n"
          "    minimize_many or GPU path yet.  prodigyopt's ``slice_p`` is not offered."))
Muon = _method_class("Muon", "muon", _doc(
    "Muon (Jordan et al., 2024): momentum orthogonalised by a Newton-Schulz "
    "iteration, torch.optim.Muon's definition, for 2-D arrays.",
    """    weight_decay : float, default 0.1
        Decoupled weight decay, ``x *= 1 - lr*weight_decay``, >= 0.
    momentum : float, default 0.95
        Momentum factor, in [0, 1).
    nesterov : bool, default True
        Orthogonalise ``g`` moved toward the momentum (Nesterov) rather than
        the momentum itself.
    ns_coefficients : tuple of float, default (3.4445, -4.775, 2.0315)
        The quintic Newton-Schulz iteration's ``(a, b, c)``.
    eps : float, default 1e-07
        The smallest Frobenius norm the update is divided by.
    ns_steps : int, default 5
        Newton-Schulz iterations per step.
    adjust_lr_fn : str, optional
        The lr's scaling by the shape ``(A, B)``: None or ``"original"``,
        ``sqrt(max(1, A/B))``; ``"match_rms_adamw"``, ``0.2*sqrt(max(A, B))``;
        ``"spectral_unclamped"``, ``sqrt(A/B)``.
""", lr=1e-3, example="Muon", example_lr=0.02, example_x="[[1.0, -2.0], [0.5, 3.0]]",
    notes="Every parameter array must be 2-D.  For a model's other arrays use a\n"
          "    parameter group with its own method, e.g. ``Muon([{'params': [W1, W2]},\n"
          "    {'params': [b1, b2], 'method': 'adamw', 'lr': 3e-4}])`` (torch's docs pair\n"
          "    Muon with AdamW the same way).  The iteration runs in the parameters' dtype\n"
          "    (torch.optim.Muon casts it to bfloat16 even on the CPU); its matrix\n"
          "    products are BLAS calls through numba.  A non-finite element anywhere in an\n"
          "    array's momentum leaves that whole array and its momentum unchanged (the\n"
          "    products would spread it).  CPU only; minimize runs its ordinary loop."))
Adafactor = _method_class("Adafactor", "adafactor", _doc(
    "Adafactor (Shazeer & Stern, 2018): a factored second moment, "
    "torch.optim.Adafactor's definition.",
    """    beta2_decay : float, default -0.8
        The second moment's decay: ``beta2_t = 1 - t**beta2_decay``, <= 0.
    eps : tuple, default (None, 0.001)
        ``(eps1, eps2)``: the smallest second moment's square root (None: the
        dtype's machine epsilon) and the smallest parameter RMS the step
        scales by.
    d : float, default 1
        Clipping threshold of the update's RMS, >= 1.
""", _WD_DOC, lr=1e-2, kind="Decoupled (``x *= 1 - lr*weight_decay``)",
    example="Adafactor", example_lr=0.1,
    notes="An array of two or more dimensions keeps its second moment as the row\n"
          "    and column means over its last two dimensions (``state['row_var']``,\n"
          "    ``state['col_var']``: R + C numbers for an R x C matrix); a 1-D array\n"
          "    keeps it in full (``state['variance']``); the states an array's shape\n"
          "    does not use are empty.  The step is ``rho_t * max(eps2, RMS(x)) *\n"
          "    g/sqrt(v_hat)``, the update's RMS clipped to ``d``, ``rho_t = min(lr,\n"
          "    1/sqrt(t))``.  A non-finite value anywhere in an array's step leaves the\n"
          "    whole array and its state unchanged.  CPU only; minimize runs its\n"
          "    ordinary loop."))
