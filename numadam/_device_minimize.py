"""``minimize(..., device="cuda")``: the loop on the GPU, with device gradients."""
import math

import numpy as np

from ._minimize import STATUS_MESSAGES, _SUCCESS, _bounds, _callback_style, _scalar

#: options minimize takes on the CPU but not with device="cuda"
_HOST_ONLY = ("epochs", "batch_size", "shuffle", "drop_last", "patience", "disp",
              "checkpoint", "checkpoint_every", "resume", "compiled")


def minimize_device(fun, jac, x0, spec, args, options, loop, callback, bounds, data):
    """The device loop; ``loop`` holds minimize's parsed loop options."""
    from numba import cuda
    from scipy.optimize import OptimizeResult

    import numadam

    from ._device import as_device, is_device_array
    from ._kernels import cuda as K
    from ._optimizers import Optimizer

    numadam.cuda._require("device='cuda'")
    if data is not None:
        raise TypeError("data (minibatches) is not available with device='cuda'")
    given = [k for k in _HOST_ONLY if k in options]
    if given:
        raise TypeError(f"option {given[0]!r} is not available with device='cuda'")
    if is_device_array(x0):
        src = as_device(x0, "x0")
        x = cuda.device_array(src.shape, src.dtype)
        x.copy_to_device(src)
    else:
        from ._minimize import _as_x0
        x = cuda.to_device(_as_x0(x0))
    fused = jac is True
    opt = Optimizer(x, method=spec.name, **options)
    dev, flat = opt._dev, opt._flat
    box = None
    if bounds is not None:
        lb, ub = _bounds(bounds, np.zeros(flat.size, flat.dtype))
        box = (cuda.to_device(lb), cuda.to_device(ub))
        K.project[dev.config](flat, *box)
    style = _callback_style(callback)
    counts = {"nfev": 0, "njev": 0}
    name = "fun's gradient" if fused else "jac"

    def evaluate():
        counts["njev"] += 1
        if fused:
            counts["nfev"] += 1
            out = fun(x, *args)
            try:
                f, g = out
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return (f, g)") from None
            return _scalar(f), dev.check_grad(g, opt._view, name)
        return None, dev.check_grad(jac(x, *args), opt._view, name)

    def value():
        counts["nfev"] += 1
        out = fun(x, *args)
        return _scalar(out[0] if fused else out)

    gtol, maxiter, policy = loop["gtol"], loop["maxiter"], loop["nan_policy"]
    every = loop["history"]
    hist = {k: [] for k in ("step", "loss", "grad_norm", "lr")} if every else None
    nit = nskip = 0
    status = None
    f, g = evaluate()
    while status is None:
        gn = math.sqrt(dev.sumsq(g))
        bad = not math.isfinite(gn) or (f is not None and not math.isfinite(f))
        if bad:
            if policy == "raise":
                raise FloatingPointError(f"iteration {nit}: the gradient or objective is "
                                         "NaN or infinite (x is finite and unchanged)")
            if policy == "stop":
                status = 3
        if status is None:
            if not bad and gtol > 0 and gn <= gtol:
                status = 0
            elif nit >= maxiter:
                status = 1
        if hist is not None and (nit % every == 0 or status is not None):
            if f is None:
                f = value()
            for k, v in (("step", nit), ("loss", f), ("grad_norm", gn),
                         ("lr", math.nan if bad else opt.lr)):
                hist[k].append(v)
        if status is not None:
            break
        if bad:
            nskip += 1
        else:
            try:
                opt._step_flat(g, gn if box is None else None)
            except FloatingPointError as exc:
                if policy == "raise":
                    raise FloatingPointError(f"iteration {nit}: {exc}") from None
                status = 3
                break
            if box is not None:
                K.project[dev.config](flat, *box)
        nit += 1
        f, g = evaluate()
        if style is not None:
            try:
                if style == "new":
                    if f is None:
                        f = value()
                    callback(OptimizeResult(x=x, fun=f, nit=nit))
                else:
                    callback(x)
            except StopIteration:
                status = 99
    if f is None:
        f = value()
    result = OptimizeResult(
        x=x, fun=f, jac=g.copy_to_host().reshape(opt._view.shape), nit=nit,
        nfev=counts["nfev"], njev=counts["njev"], status=status,
        success=status in _SUCCESS, message=STATUS_MESSAGES[status], method=spec.name,
        device="cuda", compiled=False)
    if policy == "skip":
        result.nskip = nskip
    if hist is not None:
        result.history = OptimizeResult(
            step=np.array(hist["step"], np.int64), epoch=np.array(hist["step"], float),
            loss=np.array(hist["loss"]), grad_norm=np.array(hist["grad_norm"]),
            lr=np.array(hist["lr"]))
    return result
