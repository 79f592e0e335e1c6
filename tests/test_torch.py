"""Agreement with torch.optim itself, when torch is installed (skipped otherwise)."""
import numpy as np
import pytest

import numadam
from cases import CASES, case_id

torch = pytest.importorskip("torch")

TORCH = {"adam": "Adam", "adamw": "AdamW", "amsgrad": "Adam", "adamax": "Adamax",
         "nadam": "NAdam", "radam": "RAdam", "sgd": "SGD", "rmsprop": "RMSprop",
         "adagrad": "Adagrad", "adadelta": "Adadelta", "rprop": "Rprop", "asgd": "ASGD"}


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in TORCH and
                                  not c[1].get("cautious")], ids=case_id)
def test_matches_torch_optim(case):
    method, opts = case
    topts = dict(opts)
    if method == "amsgrad":
        topts["amsgrad"] = True
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(64)
    grads = rng.standard_normal((200, 64)) * 10.0 ** rng.uniform(-3, 3, 64)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    # ASGD keeps its eta and mu in torch's default dtype (float32 unless set;
    # numadam computes them in float64: ALGORITHMS.md)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        topt = getattr(torch.optim, TORCH[method])([p], **topts)
        x = x0.copy()
        opt = numadam.Optimizer(x, method=method, **opts)
        for g in grads:
            p.grad = torch.from_numpy(g.copy())
            topt.step()
            opt.step(g)
    finally:
        torch.set_default_dtype(default)
    xt = p.detach().numpy()
    assert np.max(np.abs(x - xt)) / np.max(np.abs(xt)) < 1e-10
