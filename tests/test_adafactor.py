"""Adafactor: against a NumPy float64 implementation of ALGORITHMS.md and
against torch.optim.Adafactor (its reference)."""
import numpy as np
import pytest

import numadam
from reference import array_run, assert_matches_torch


def adafactor_reference(x, grads, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                        weight_decay=0.0):
    """torch.optim.Adafactor's rule in NumPy float64 (eps1 None: float64's)."""
    x = x.astype(np.float64).copy()
    wd = weight_decay
    e1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    e2 = eps[1]
    fact = x.ndim >= 2
    row = np.zeros(x.shape[:-1] + (1,)) if fact else None
    col = np.zeros(x.shape[:-2] + (1, x.shape[-1])) if fact else None
    var = np.zeros_like(x)
    for t, g in enumerate(grads, 1):
        w = t ** beta2_decay
        alpha = max(e2, np.linalg.norm(x) / np.sqrt(x.size)) * min(lr, 1 / np.sqrt(t))
        x = x * (1 - lr * wd)
        if fact:
            row = row + w * (np.mean(g * g, axis=-1, keepdims=True) - row)
            col = col + w * (np.mean(g * g, axis=-2, keepdims=True) - col)
            v = row * col / np.maximum(np.mean(row, axis=-2, keepdims=True), e1)
        else:
            var = var + w * (g * g - var)
            v = var
        u = g / np.sqrt(np.maximum(v, e1 * e1))
        u = u / max(1.0, np.linalg.norm(u) / (np.sqrt(u.size) * d))
        x = x - alpha * u
    return x


@pytest.mark.parametrize("shape", [(6, 4), (9,), (2, 3, 5)])
@pytest.mark.parametrize("opts", [{}, {"weight_decay": 0.1, "lr": 0.05},
                                  {"beta2_decay": -0.5, "eps": (1e-20, 1e-2), "d": 2.0}])
def test_matches_the_numpy_reference(shape, opts):
    x0, x, opt, ref = array_run("adafactor", adafactor_reference, shape, opts, 50)
    assert np.max(np.abs(x - ref)) / np.max(np.abs(ref)) < 1e-12
    assert np.max(np.abs(x - x0)) > 1e-2
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 0
    assert opt.state["row_var"].shape == (rows,)
    assert opt.state["variance"].shape == ((shape[0],) if len(shape) == 1 else (0,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_groups_match_torch_adafactor(dtype):
    """Issue 17's acceptance: a 2-group, 4-array model (two 2-D arrays, a 3-D
    one, a 1-D one), different lr and weight decay per group, 200 steps."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    shapes = {"W": (8, 5), "b": (5,), "V": (2, 3, 4), "c": (4,)}
    x0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    mine = {k: v.copy() for k, v in x0.items()}
    opt = numadam.Adafactor([{"params": {"W": mine["W"], "b": mine["b"]}, "weight_decay": 0.1},
                             {"params": {"V": mine["V"], "c": mine["c"]}, "lr": 0.05}])
    ts = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in x0.items()}
    ref = torch.optim.Adafactor([{"params": [ts["W"], ts["b"]], "weight_decay": 0.1},
                                 {"params": [ts["V"], ts["c"]], "lr": 0.05}])
    for step in range(200):
        if step == 100:
            opt.param_groups[0]["lr"] = 5e-3
            ref.param_groups[0]["lr"] = 5e-3
        g = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        opt.step(g)
        for k, t in ts.items():
            t.grad = torch.from_numpy(g[k].copy())
        ref.step()
    assert_matches_torch(mine, ts, dtype)
    assert opt.state["W"]["row_var"].size == 8 and opt.state["V"]["col_var"].size == 8


def test_torch_defaults_are_adafactors():
    torch = pytest.importorskip("torch")
    import inspect
    ref = inspect.signature(torch.optim.Adafactor).parameters
    d = numadam.METHODS["adafactor"].defaults
    for k in ("lr", "beta2_decay", "eps", "d", "weight_decay", "maximize"):
        assert d[k] == ref[k].default, k


def test_state_dict_checks_the_factored_sizes(tmp_path):
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, 3))
    opt = numadam.Adafactor({"W": W, "b": np.zeros(3)})
    opt.step({"W": np.ones((4, 3)), "b": np.ones(3)})
    sd = opt.state_dict()
    assert sd["state"]["W"]["row_var"].shape == (4,) and sd["state"]["W"]["variance"].size == 0
    opt.save(tmp_path / "a.npz")
    again = numadam.Adafactor({"W": W.copy(), "b": np.zeros(3)})
    again.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(again.state["W"]["col_var"], opt.state["W"]["col_var"])
    sd["state"]["W"]["row_var"] = np.zeros(12)
    with pytest.raises(ValueError, match=r"\['row_var'\] must be a flat float64 array of 4"):
        again.load_state_dict(sd)
    one = numadam.Adafactor(np.ones((4, 3)))
    one.step(np.ones((4, 3)))
    one.load_state_dict(one.state_dict())
    assert one.state["row_var"].shape == (4,)


# (its non-finite step: tests/test_muon.py, with Muon's)


def test_options_are_checked():
    with pytest.raises(ValueError, match="'d' must be >= 1"):
        numadam.Adafactor(np.ones(3), d=0.5)
    with pytest.raises(ValueError, match="beta2_decay' must be <= 0"):
        numadam.Adafactor(np.ones(3), beta2_decay=0.5)
    with pytest.raises(TypeError, match="must be a pair"):
        numadam.Adafactor(np.ones(3), eps=1e-3)


def test_minimize_runs_adafactor():
    T = np.linspace(-1, 1, 12).reshape(3, 4)

    def fg(W):
        d = W - T
        return 0.5 * float((d * d).sum()), d
    res = numadam.minimize(fg, True, np.zeros((3, 4)), method="adafactor",
                           options={"lr": 0.05, "maxiter": 500, "gtol": 0})
    assert not res.compiled and np.max(np.abs(res.x - T)) < 0.1
