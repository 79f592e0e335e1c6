"""``minimize(..., device="cuda")``: the run loop with device gradients and state.

The loop is :class:`numadam._driver.Run`, as on the CPU; :class:`DeviceSource`
says where the gradient comes from (the user's functions on device arrays)
and where the state lives (the device optimizer, :mod:`numadam._device`).
"""
import math

import numpy as np

from ._driver import OneProcess
from ._inputs import (_as_x0, _bounds, _callback_style, _loop_options, _out_position,
                      _scalar)

#: options minimize takes on the CPU but not with device="cuda"
_HOST_ONLY = ("epochs", "batch_size", "shuffle", "drop_last", "patience", "disp",
              "checkpoint", "checkpoint_every", "resume", "compiled")


class DeviceSource(OneProcess):
    """The gradient from the user's functions on device arrays; the state on the
    device (see :mod:`numadam._driver` for the interface)."""

    callback_fun_before_step = False   # (as HostSource's)

    def __init__(self, fun, jac, args, x, opt, box):
        from ._kernels import cuda as K
        self.K = K
        self.fun, self.fused, self.args = fun, jac is True, args
        self.jac = jac
        self.x, self.opt, self.box = x, opt, box
        self.dev, self.flat = opt._dev, opt._flat
        self.gsign = -1.0 if opt.options["maximize"] else 1.0
        self.counts = {"nfev": 0, "njev": 0}
        self.exact = True
        self.name = "fun's gradient" if self.fused else "jac"
        # numpy's out=: a gradient function with a parameter named out gets a
        # preallocated device array there
        self.okw = {}
        if _out_position(fun if self.fused else jac) is not None:
            from numba import cuda
            self.okw = {"out": cuda.device_array(opt._view.shape, opt._view.dtype)}
        self.fkw = self.okw if self.fused else {}
        self.project = None
        if box is not None:
            project_k = K.project[self.dev.config]
            project_k(self.flat, *box)
            self.project = lambda: project_k(self.flat, *box)

    def evaluate(self, batch=()):
        self.counts["njev"] += 1
        if self.fused:
            self.counts["nfev"] += 1
            out = self.fun(self.x, *self.args, **self.okw)
            try:
                f, g = out
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g)") from None
            return _scalar(f), self.dev.check_grad(g, self.opt._view, self.name)
        return None, self.dev.check_grad(self.jac(self.x, *self.args, **self.okw),
                                         self.opt._view, self.name)

    def evaluate_both(self, batch=()):
        return self.evaluate(batch)

    def value(self, batch=()):
        self.counts["nfev"] += 1
        out = self.fun(self.x, *self.args, **self.fkw)
        return _scalar(out[0] if self.fused else out)

    def reduce(self, g):
        """The norm on the device, in a fixed order; with bounds, the projected
        norm for ``gtol`` (clipping then takes the full norm itself)."""
        from ._kernels._scalars import norm_value
        if self.box is None:
            s, r = self.dev.norm(g)
            return norm_value(s, r), (s, r)
        return norm_value(*self.dev.norm(g, self.box, self.flat, self.gsign)), None

    def step(self, g, norm):
        self.opt._step_flat(g, norm)

    def finite_gradient(self, g):
        return math.isfinite(self.dev.norm(g)[1])

    def intermediate_x(self):
        return self.x

    def jac_of(self, g):
        return g.copy_to_host().reshape(self.opt._view.shape)


def minimize_device(fun, jac, x0, spec, args, options, callback, bounds, data):
    """minimize's device path: the inputs checked, then the run loop."""
    if spec.rule.array_step is not None:
        spec.refuse_two_pass('minimize(..., device="cuda")')
    from numba import cuda

    import numadam

    from ._device import as_device, is_device_array
    from ._driver import Run
    from ._optimizers import Optimizer

    host_only = {k: options.pop(k) for k in list(options) if k in _HOST_ONLY}
    loop = _loop_options(options, data is not None)
    numadam.cuda._require("device='cuda'")
    if data is not None:
        raise TypeError("data (minibatches) is not available with device='cuda'")
    given = [k for k in _HOST_ONLY if k in host_only]
    if given:
        raise TypeError(f"option {given[0]!r} is not available with device='cuda'")
    if is_device_array(x0):
        src = as_device(x0, "x0")
        x = cuda.device_array(src.shape, src.dtype)
        x.copy_to_device(src)
    else:
        x = cuda.to_device(_as_x0(x0))
    opt = Optimizer(x, method=spec.name, **options)
    box = None
    if bounds is not None:
        lb, ub = _bounds(bounds, np.zeros(opt._flat.size, opt._flat.dtype))
        box = (cuda.to_device(lb), cuda.to_device(ub))
    style = _callback_style(callback)
    run = Run(DeviceSource(fun, jac, args, x, opt, box), loop, spec.name, callback, style)
    result = run.run()
    result.device = "cuda"
    return result
