"""minimize over several arrays: x0 a dict name -> array or a list of arrays."""
import numpy as np
import pytest
from scipy.optimize import Bounds

import numadam

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 4))
W_TRUE = RNG.standard_normal((4, 2))
Y = X @ W_TRUE + np.array([0.5, -1.0])


def fg_struct(p):
    """Least squares of a 4x2 weight matrix and a bias."""
    r = X @ p["W"] + p["b"] - Y
    return 0.5 * np.mean(r * r) * 2, {"W": X.T @ r / len(Y), "b": r.mean(axis=0)}


def fg_flat(x):
    f, g = fg_struct({"W": x[:8].reshape(4, 2), "b": x[8:]})
    return f, np.concatenate([g["W"].ravel(), g["b"]])


X0 = {"W": np.zeros((4, 2)), "b": np.zeros(2)}


@pytest.mark.parametrize("method, opts", [
    ("adam", {"lr": 0.05}), ("adamw", {"lr": 0.05, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}), ("prodigy", {}),
    ("schedule_free_adamw", {"lr": 0.05})])
def test_a_dict_runs_as_its_concatenation(method, opts):
    """Per-element methods: the same bits as minimize on the concatenated
    array; Prodigy, whose sums are over every array, to rounding (its sums
    are added array by array)."""
    o = dict(opts, maxiter=300, gtol=0, history=50)
    a = numadam.minimize(fg_struct, True, X0, method=method, options=o)
    b = numadam.minimize(fg_flat, True, np.zeros(10), method=method, options=o)
    assert sorted(a.x) == ["W", "b"] and a.x["W"].shape == (4, 2)
    rtol = 1e-12 if method == "prodigy" else 0
    np.testing.assert_allclose(np.concatenate([a.x["W"].ravel(), a.x["b"]]), b.x,
                               rtol=rtol, atol=0)
    np.testing.assert_allclose(np.concatenate([a.jac["W"].ravel(), a.jac["b"]]), b.jac,
                               rtol=rtol * 1e3, atol=1e-15 if rtol else 0)
    assert a.nit == b.nit == 300 and not a.compiled
    np.testing.assert_allclose(a.history.loss, b.history.loss, rtol=rtol,
                               atol=1e-15 if rtol else 0)
    assert np.max(np.abs(a.x["W"])) > 0.1        # it moved


@pytest.mark.parametrize("method, opts", [("lamb", {"lr": 0.02}),
                                          ("adamw", {"lr": 0.02, "cautious": True})])
def test_per_array_methods_are_per_array(method, opts):
    """LAMB's trust ratio and the cautious mask are per array, as the stateful
    optimizer over the same arrays does them (not over their concatenation)."""
    a = numadam.minimize(fg_struct, True, X0, method=method,
                         options=dict(opts, maxiter=100, gtol=0))
    p = {k: v.copy() for k, v in X0.items()}
    opt = numadam.Optimizer(p, method=method, **opts)
    for _ in range(100):
        opt.step(fg_struct(p)[1])
    for k in p:
        np.testing.assert_array_equal(a.x[k], p[k])
    flat = numadam.minimize(fg_flat, True, np.zeros(10), method=method,
                            options=dict(opts, maxiter=100, gtol=0))
    assert not np.array_equal(np.concatenate([a.x["W"].ravel(), a.x["b"]]), flat.x)


def test_a_list_and_split_jac_and_float32():
    x0 = [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]

    def f(p):
        return fg_struct({"W": p[0], "b": p[1]})[0]

    def g(p):
        d = fg_struct({"W": p[0], "b": p[1]})[1]
        return [d["W"], d["b"]]
    res = numadam.minimize(f, g, x0, options={"lr": 0.05, "maxiter": 2000, "gtol": 1e-4})
    assert isinstance(res.x, list) and res.x[0].dtype == np.float32
    assert res.jac[1].dtype == np.float32
    np.testing.assert_allclose(res.x[0], W_TRUE, atol=1e-2)
    np.testing.assert_allclose(res.x[1], [0.5, -1.0], atol=1e-2)
    # the result holds copies, not views of the run's arrays
    assert res.x[0].base is None or not np.shares_memory(res.x[0], res.x[1])


def test_out_writes_into_views_of_one_buffer():
    seen = []

    def fg(p, out):
        seen.append(out)
        f, g = fg_struct(p)
        out["W"][...] = g["W"]
        out["b"][...] = g["b"]
        return f, out
    res = numadam.minimize(fg, True, X0, options={"lr": 0.05, "maxiter": 50, "gtol": 0})
    ref = numadam.minimize(fg_struct, True, X0, options={"lr": 0.05, "maxiter": 50,
                                                         "gtol": 0})
    np.testing.assert_array_equal(res.x["W"], ref.x["W"])
    assert all(np.shares_memory(o["W"], seen[0]["W"]) for o in seen)   # one buffer
    assert np.shares_memory(seen[0]["W"], seen[0]["b"].base)


def test_bounds_per_array():
    res = numadam.minimize(fg_struct, True, X0,
                           bounds={"b": (-0.2, 0.2)},               # W unbounded
                           options={"lr": 0.05, "maxiter": 1500, "gtol": 0})
    assert np.all(np.abs(res.x["b"]) <= 0.2) and res.x["b"][1] == -0.2
    assert np.max(np.abs(res.x["W"])) > 0.5
    res2 = numadam.minimize(fg_struct, True, X0,
                            bounds={"W": [(-0.1, 0.1)] * 8, "b": None},
                            options={"lr": 0.05, "maxiter": 300, "gtol": 0})
    assert np.all(np.abs(res2.x["W"]) <= 0.1) and np.max(np.abs(res2.x["b"])) > 0.2
    res3 = numadam.minimize(fg_struct, True, X0, bounds=Bounds(-0.1, 0.1),
                            options={"lr": 0.05, "maxiter": 300, "gtol": 0})
    assert max(np.max(np.abs(v)) for v in res3.x.values()) <= 0.1
    with pytest.raises(ValueError, match="bounds has arrays that x0 lacks: \\['c'\\]"):
        numadam.minimize(fg_struct, True, X0, bounds={"c": (0, 1)})
    with pytest.raises(ValueError, match="bounds\\['W'\\]: bounds must have one"):
        numadam.minimize(fg_struct, True, X0, bounds={"W": [(0, 1)] * 3})
    with pytest.raises(TypeError, match="give bounds as a dict"):
        numadam.minimize(fg_struct, True, X0, bounds=[(0, 1)] * 10)


def test_callbacks_see_the_structure():
    got = []
    numadam.minimize(fg_struct, True, X0, options={"maxiter": 3, "gtol": 0},
                     callback=lambda intermediate_result: got.append(intermediate_result))
    assert sorted(got[0].x) == ["W", "b"] and got[0].x["W"].shape == (4, 2)
    legacy = []
    numadam.minimize(fg_struct, True, X0, options={"maxiter": 3, "gtol": 0},
                     callback=lambda xk: legacy.append(xk))
    assert sorted(legacy[0]) == ["W", "b"]


def test_minibatches_and_checkpoints_resume_bit_for_bit(tmp_path):
    def fg(p, Xb, Yb):
        r = Xb @ p["W"] + p["b"] - Yb
        return float(np.mean(r * r)), {"W": 2 * Xb.T @ r / len(Yb), "b": 2 * r.mean(0)}
    opts = {"lr": 0.02, "epochs": 4, "batch_size": 32, "gtol": 0}
    full = numadam.minimize(fg, True, X0, data=(X, Y), rng=3, options=opts)
    ck = tmp_path / "run.npz"
    numadam.minimize(fg, True, X0, data=(X, Y), rng=3,
                     options=dict(opts, epochs=2, checkpoint=ck, checkpoint_every=5))
    res = numadam.minimize(fg, True, X0, data=(X, Y), rng=3,
                           options=dict(opts, resume=ck))
    for k in X0:
        np.testing.assert_array_equal(res.x[k], full.x[k])
    with pytest.raises(ValueError, match=r"this call gives x0's arrays in the order "
                                         r"\['W' \(4, 2\), 'c' \(2,\)\]"):
        numadam.minimize(fg, True, {"W": np.zeros((4, 2)), "c": np.zeros(2)}, data=(X, Y),
                         rng=3, options=dict(opts, resume=ck))
    # the same arrays in another order: the flat iterate would be another's
    # (the run's x is saved flat): refused, naming the saved order
    with pytest.raises(ValueError, match=r"x0's arrays in the order \['W' \(4, 2\), 'b' "
                                         r"\(2,\)\]"):
        numadam.minimize(fg, True, {"b": np.zeros(2), "W": np.zeros((4, 2))}, data=(X, Y),
                         rng=3, options=dict(opts, resume=ck))


def test_a_checkpoint_over_a_tuple_of_njit_functions_refuses_other_shapes(tmp_path):
    """The compiled path over a tuple steps one flat optimizer: its checkpoint
    holds the arrays' shapes all the same (before, (3,), (2, 2) resumed as
    (2, 2), (3,) was accepted and mixed the values)."""
    from numba import njit

    @njit
    def fg(p):
        a, b = p
        return np.sum((a - 1.0) ** 2) + np.sum((b + 1.0) ** 2), (2.0 * (a - 1.0),
                                                                 2.0 * (b + 1.0))
    ck = tmp_path / "run.npz"
    opts = {"lr": 0.05, "maxiter": 5, "gtol": 0}
    numadam.minimize(fg, True, (np.zeros(3), np.zeros((2, 2))),
                     options=dict(opts, checkpoint=ck, checkpoint_every=5))
    with pytest.raises(ValueError, match="does not fit this run: .*x0's arrays"):
        numadam.minimize(fg, True, (np.zeros((2, 2)), np.zeros(3)),
                         options=dict(opts, resume=ck, maxiter=10))
    again = numadam.minimize(fg, True, (np.zeros(3), np.zeros((2, 2))),
                             options=dict(opts, resume=ck, maxiter=10))
    full = numadam.minimize(fg, True, (np.zeros(3), np.zeros((2, 2))),
                            options=dict(opts, maxiter=10))
    for a, b in zip(again.x, full.x):
        np.testing.assert_array_equal(a, b)
    # compiled or not, either way round: the compiled path steps one flat
    # optimizer, the ordinary one an optimizer over the arrays (the same steps);
    # a resume takes the checkpoint's (it was refused: "state_dict is of an
    # optimizer over one array, this one is over several arrays")
    for first, then in ((False, "auto"), ("auto", False)):
        ck2 = tmp_path / f"run-{first}.npz"
        numadam.minimize(fg, True, (np.zeros(3), np.zeros((2, 2))),
                         options=dict(opts, compiled=first, checkpoint=ck2,
                                      checkpoint_every=5))
        res = numadam.minimize(fg, True, (np.zeros(3), np.zeros((2, 2))),
                               options=dict(opts, compiled=then, resume=ck2, maxiter=10))
        for a, b in zip(res.x, full.x):
            np.testing.assert_array_equal(a, b)


def test_bad_structures_are_refused_naming_the_array():
    with pytest.raises(TypeError, match="one dtype.*'b' float32"):
        numadam.minimize(fg_struct, True, {"W": np.zeros((4, 2)),
                                           "b": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        numadam.minimize(lambda p: (0.0, {"W": np.zeros((4, 2))}), True, X0)
    with pytest.raises(ValueError, match=r"fun's gradient\['b'\] must have the parameters' "
                                         r"shape \(2,\)"):
        numadam.minimize(lambda p: (0.0, {"W": np.zeros((4, 2)), "b": np.zeros(3)}), True, X0)
    with pytest.raises(TypeError, match="jac must be a dict"):
        numadam.minimize(lambda p: 0.0, lambda p: np.zeros(10), X0)
    with pytest.raises(ValueError, match="x0 of several arrays"):
        numadam.minimize(fg_struct, True, X0, options={"compiled": True})
    with pytest.raises(ValueError, match="runs on the CPU"):
        numadam.minimize(fg_struct, True, X0, device="cuda")
    with pytest.raises(ValueError, match=r"x0\['b'\] is empty"):
        numadam.minimize(fg_struct, True, {"W": np.zeros(2), "b": np.zeros(0)})
    with pytest.raises(TypeError, match="names must be strings"):
        numadam.minimize(fg_struct, True, {1: np.zeros(2)})


def test_one_array_spellings_stay_one_array():
    """A list of numbers, or of lists, is one array as before."""
    res = numadam.minimize(lambda x: (float(x @ x), 2 * x), True, [1.0, 2.0],
                           options={"maxiter": 5})
    assert isinstance(res.x, np.ndarray) and res.x.shape == (2,)
    res = numadam.minimize(lambda x: (float((x * x).sum()), 2 * x), True, [[1.0], [2.0]],
                           options={"maxiter": 5})
    assert isinstance(res.x, np.ndarray) and res.x.shape == (2, 1)


def test_mpi_refuses_sharded_several_arrays_of_a_per_array_method():
    mpi = pytest.importorskip("numadam.mpi")
    pytest.importorskip("mpi4py")
    with pytest.raises(ValueError, match="sharded=True: x0 of several arrays with a method "
                                         "that works per array \\('lamb'\\)"):
        mpi.minimize(fg_struct, True, X0, (X, Y), method="lamb", sharded=True)
    # int8 state's blocks and its full-precision fallback are per array; a shard
    # is a piece of the concatenation (bfloat16's random bits are the
    # concatenation's in both runs: it shards)
    for fmt in ("int8", "INT8"):
        with pytest.raises(ValueError, match="sharded=True: x0 of several arrays with "
                                             "state_dtype='int8'"):
            mpi.minimize(fg_struct, True, X0, (X, Y), sharded=True,
                         options={"state_dtype": fmt})


def _njit_objectives():
    from numba import njit

    @njit
    def fg(p):
        W, b = p
        r = X @ W + b - Y
        return np.mean(r * r), (2 * X.T @ r / len(Y), 2 * np.sum(r, axis=0) / len(Y))

    @njit
    def fg_out(p, out):
        W, b = p
        r = X @ W + b - Y
        out[0][:, :] = 2 * X.T @ r / len(Y)
        out[1][:] = 2 * np.sum(r, axis=0) / len(Y)
        return np.mean(r * r), out

    @njit
    def f(p, scale):
        W, b = p
        r = X @ W + b - Y
        return scale * np.mean(r * r)

    @njit
    def g(p, scale):
        W, b = p
        r = X @ W + b - Y
        return (scale * 2 * X.T @ r / len(Y), scale * 2 * np.sum(r, axis=0) / len(Y))
    return fg, fg_out, f, g


@pytest.mark.parametrize("form", ["fused", "out", "split"])
def test_njit_objectives_over_a_tuple_run_the_compiled_loop(form):
    """x0 a tuple and njit functions taking a tuple of arrays: the compiled
    loop (the functions inlined over the flat iterate), the same bits as the
    ordinary loop."""
    fg, fg_out, f, g = _njit_objectives()
    fun, jac, args = {"fused": (fg, True, ()), "out": (fg_out, True, ()),
                      "split": (f, g, (1.0,))}[form]
    x0 = (np.zeros((4, 2)), np.zeros(2))
    opts = {"lr": 0.05, "maxiter": 800, "gtol": 0}
    a = numadam.minimize(fun, jac, x0, args=args, options=opts)
    b = numadam.minimize(fun, jac, x0, args=args, options=dict(opts, compiled=False))
    assert a.compiled and not b.compiled and isinstance(a.x, tuple)
    for u, v in zip(a.x, b.x):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_allclose(a.x[0], W_TRUE, atol=1e-6)


def test_what_keeps_several_arrays_out_of_the_compiled_loop():
    fg, *_ = _njit_objectives()
    x0 = (np.zeros((4, 2)), np.zeros(2))
    cautious = numadam.minimize(fg, True, x0, method="adamw",
                                options={"maxiter": 20, "cautious": True})
    assert not cautious.compiled       # the mask's mean is per array
    with pytest.raises(ValueError, match="x0 of several arrays"):
        numadam.minimize(fg_struct, True, X0, options={"compiled": True})
