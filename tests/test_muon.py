"""Muon: against a NumPy float64 implementation of ALGORITHMS.md and against
torch.optim.Muon (its bfloat16 cast of the Newton-Schulz iteration removed)."""
import math

import numpy as np
import pytest

import numadam
from reference import array_run, assert_matches_torch

A, B, C = 3.4445, -4.775, 2.0315


def ns_reference(u, steps=5, eps=1e-7, coef=(A, B, C)):
    """The Newton-Schulz iteration in NumPy float64."""
    a, b, c = coef
    tall = u.shape[0] > u.shape[1]
    X = u.T.copy() if tall else u.copy()
    X = X / max(np.linalg.norm(X), eps)
    for _ in range(steps):
        G = X @ X.T
        X = a * X + (b * G + c * G @ G) @ X
    return X.T if tall else X


def muon_reference(x, grads, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                   adjust_lr_fn=None):
    wd, mom, adjust = weight_decay, momentum, adjust_lr_fn
    x = x.astype(np.float64).copy()
    buf = np.zeros_like(x)
    rows, cols = x.shape
    ratio = {None: math.sqrt(max(1, rows / cols)),
             "match_rms_adamw": 0.2 * math.sqrt(max(rows, cols)),
             "spectral_unclamped": math.sqrt(rows / cols)}[adjust]
    for g in grads:
        buf = buf + (1 - mom) * (g - buf)
        u = g + mom * (buf - g) if nesterov else buf
        x = x * (1 - lr * wd) - lr * ratio * ns_reference(u)
    return x


@pytest.mark.parametrize("shape", [(6, 4), (3, 7), (5, 5)])
@pytest.mark.parametrize("opts", [{}, {"nesterov": False, "momentum": 0.9, "weight_decay": 0.0},
                                  {"adjust_lr_fn": "match_rms_adamw", "lr": 0.01}])
def test_matches_the_numpy_reference(shape, opts):
    x0, x, opt, ref = array_run("muon", muon_reference, shape, opts, 30)
    assert np.max(np.abs(x - ref)) / np.max(np.abs(ref)) < 1e-12
    assert np.max(np.abs(x - x0)) > 1e-3
    assert opt.state["momentum_buffer"].shape == (x.size,)


def _torch_muon_float(monkeypatch):
    """torch.optim.Muon with its Newton-Schulz iteration in the parameters'
    dtype (torch casts it to bfloat16 even on the CPU)."""
    torch = pytest.importorskip("torch")
    muon = pytest.importorskip("torch.optim._muon")
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from bench.matrix import float_newton_schulz
    monkeypatch.setattr(muon, "_zeropower_via_newtonschulz", float_newton_schulz(torch))
    return torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_groups_match_torch_muon_and_adamw(dtype, monkeypatch):
    """Issue 17's acceptance: 200 steps of a model whose 2-D arrays use Muon
    and whose others use AdamW (one numadam optimizer with a group of method
    'adamw'; torch's two optimizers, as its docs pair them)."""
    torch = _torch_muon_float(monkeypatch)
    rng = np.random.default_rng(2)
    shapes = {"W1": (8, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
    x0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    mine = {k: v.copy() for k, v in x0.items()}
    opt = numadam.Muon([{"params": {"W1": mine["W1"], "W2": mine["W2"]}},
                        {"params": {"b1": mine["b1"], "b2": mine["b2"]}, "method": "adamw",
                         "lr": 3e-3}], lr=0.02, weight_decay=0.05)
    ts = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in x0.items()}
    t_muon = torch.optim.Muon([ts["W1"], ts["W2"]], lr=0.02, weight_decay=0.05)
    t_adamw = torch.optim.AdamW([ts["b1"], ts["b2"]], lr=3e-3)
    for _ in range(200):
        g = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        opt.step(g)
        for k, t in ts.items():
            t.grad = torch.from_numpy(g[k].copy())
        t_muon.step()
        t_adamw.step()
    assert_matches_torch(mine, ts, dtype)
    groups = opt.param_groups
    assert [g["method"] for g in groups] == ["muon", "adamw"]
    assert groups[1]["weight_decay"] == 0.01 and groups[0]["weight_decay"] == 0.05
    assert groups[1]["lr"] == 3e-3 and "momentum" not in groups[1]


def test_torch_defaults_are_muons():
    torch = pytest.importorskip("torch")
    import inspect
    ref = inspect.signature(torch.optim.Muon).parameters
    d = numadam.METHODS["muon"].defaults
    for k in ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps",
              "ns_steps", "adjust_lr_fn"):
        assert d[k] == ref[k].default, k


def test_bfloat16_in_torch_is_about_1e2_from_float64(monkeypatch):
    """What ALGORITHMS.md says of torch's cast: after 200 steps torch's own Muon
    (bfloat16 iteration) is about 1e-2 from the float64 run numadam makes."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((16, 8))
    x = x0.copy()
    opt = numadam.Muon(x, lr=0.01)
    p = torch.tensor(x0.copy(), requires_grad=True)
    t = torch.optim.Muon([p], lr=0.01)
    for _ in range(200):
        g = rng.standard_normal((16, 8))
        opt.step(g)
        p.grad = torch.from_numpy(g.copy())
        t.step()
    err = np.max(np.abs(x - p.detach().numpy())) / np.max(np.abs(x))
    assert 1e-4 < err < 1e-1, err


@pytest.mark.parametrize("method, state, bad", [("muon", "momentum_buffer", np.nan),
                                                ("adafactor", "row_var", np.inf)])
def test_a_non_finite_gradient_leaves_the_whole_matrix(method, state, bad):
    """The matrix methods (Muon, Adafactor): one non-finite element leaves the
    whole array and its state; skip leaves the step count too."""
    x = np.arange(1.0, 13.0).reshape(4, 3)
    before = x.copy()
    opt = numadam.Optimizer(x, method=method, lr=0.1)
    g = np.ones((4, 3))
    g[2, 1] = bad
    with pytest.raises(FloatingPointError, match="12 of 12 elements"):
        opt.step(g)
    np.testing.assert_array_equal(x, before)
    assert not opt.state[state].any()
    skip = numadam.Optimizer(x, method=method, lr=0.1, nan_policy="skip")
    assert skip.step(g) is False and skip.t == 0


def test_shapes_and_methods_are_checked():
    with pytest.raises(ValueError, match="updates 2-D arrays.*got shape \\(3,\\).*'method'"):
        numadam.Muon(np.ones(3))
    with pytest.raises(ValueError, match="params\\['b'\\]: method 'muon' updates 2-D"):
        numadam.Muon({"W": np.ones((2, 2)), "b": np.ones(2)})
    with pytest.raises(ValueError, match="'nope'"):
        numadam.Muon([{"params": [np.ones(2)], "method": "nope"}])
    with pytest.raises(TypeError, match="'momentum' is not an option of method 'adamw'"):
        numadam.Muon([{"params": [np.ones((2, 2))]},
                      {"params": [np.ones(2)], "method": "adamw", "momentum": 0.9}])
    with pytest.raises(ValueError, match="ns_steps"):
        numadam.Muon(np.ones((2, 2)), ns_steps=0)
    with pytest.raises(ValueError, match="adjust_lr_fn"):
        numadam.Muon(np.ones((2, 2)), adjust_lr_fn="nope")
    opt = numadam.Muon([{"params": [np.ones((2, 2))]},
                        {"params": [np.ones(2)], "method": "adamw"}])
    with pytest.raises(TypeError, match="cannot be replaced"):
        opt.param_groups[1]["method"] = "sgd"


def test_state_dict_round_trip_with_methods_per_group(tmp_path):
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    build = lambda W, b: numadam.Muon(   # noqa: E731
        [{"params": {"W": W}}, {"params": {"b": b}, "method": "adamw"}], lr=0.02)
    opt = build(W, b)
    for _ in range(3):
        opt.step({"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)})
    opt.save(tmp_path / "o.npz")
    W2, b2 = W.copy(), b.copy()
    opt2 = build(W2, b2)
    opt2.load(tmp_path / "o.npz")
    g = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    opt.step(g)
    opt2.step(g)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(b, b2)
    other = numadam.Muon([{"params": {"W": W.copy()}},
                          {"params": {"b": b.copy()}, "method": "adam"}])
    with pytest.raises(ValueError, match="runs 'adamw', this optimizer's 'adam'"):
        other.load_state_dict(opt.state_dict())


def test_minimize_runs_muon_on_a_matrix():
    rng = np.random.default_rng(5)
    T = rng.standard_normal((6, 4))

    def fg(W):
        d = W - T
        return 0.5 * float((d * d).sum()), d
    res = numadam.minimize(fg, True, np.zeros((6, 4)), method="muon",
                           options={"lr": 0.05, "weight_decay": 0.0, "maxiter": 300,
                                    "gtol": 0})
    assert not res.compiled and res.x.shape == (6, 4)
    assert np.max(np.abs(res.x - T)) < 0.2
    from numba import njit
    with pytest.raises(ValueError, match="matrix products"):
        numadam.minimize_many(njit(fg), True, np.zeros((3, 4)), method="muon")
