"""The second family against the implementations ALGORITHMS.md names for them.

Each method runs 300 steps next to its reference (lion-pytorch, torch-adopt, optax) on
two problems -- Rosenbrock in 40 dimensions and a logistic regression on
dense features (not separable across coordinates) -- each evaluating the
gradient at its own iterate; the iterates must agree to 1e-9 (float64) and
2e-4 (float32) relative.  The references are optional test dependencies
(``pip install -e ".[refs]"``, installed in CI); a missing one skips its
cases.
"""
import pathlib
import sys

import numpy as np
import pytest

import numadam
from numadam.problems import logistic_loss, make_logistic_regression, rosenbrock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench.peers import timm_class  # noqa: E402

STEPS = 300
TOL = {np.float64: 1e-9, np.float32: 2e-4}

# (method, options); the lr is each problem's (below) unless given
CASES = [
    ("lion", {}),
    ("lion", {"betas": (0.95, 0.98), "weight_decay": 0.3}),
    ("lion", {"weight_decay": 0.3, "decoupled_weight_decay": True}),
    ("adopt", {}),
    ("adopt", {"betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.1}),
    ("adopt", {"weight_decay": 0.1, "decoupled_weight_decay": True, "use_clipping": False}),
    ("ademamix", {}),
    ("ademamix", {"betas": (0.8, 0.99, 0.999), "alpha": 5.0, "alpha_warmup": 100,
                  "beta3_warmup": 150, "weight_decay": 0.1, "eps": 1e-6}),
    ("schedule_free_adamw", {}),
    ("schedule_free_adamw", {"betas": (0.95, 0.99), "weight_decay": 0.1, "warmup_steps": 50,
                             "r": 0.5, "weight_lr_power": 1.0}),
    ("adabelief", {}),
    # cautious=True: timm's optimizers with caution=True
    ("adamw", {"cautious": True}),
    ("adamw", {"cautious": True, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("lion", {"cautious": True}),
    ("lion", {"cautious": True, "weight_decay": 0.3}),
    ("adopt", {"cautious": True}),
    ("adopt", {"cautious": True, "weight_decay": 0.1}),
    ("adabelief", {"betas": (0.8, 0.99), "eps": 1e-8, "eps_root": 0.0,
                   "weight_decay": 0.1}),
    ("yogi", {}),
    ("yogi", {"eps": 1e-4, "eps_root": 1e-6, "initial_accumulator_value": 0.1,
              "weight_decay": 0.1}),
    ("adan", {}),
    ("adan", {"betas": (0.9, 0.8, 0.95), "eps_root": 0.0, "weight_decay": 0.05}),
    ("lamb", {}),
    ("lamb", {"betas": (0.8, 0.99), "eps": 1e-8, "eps_root": 1e-10, "weight_decay": 0.1}),
    ("prodigy", {}),
    ("prodigy", {"weight_decay": 0.1, "use_bias_correction": True, "d_coef": 0.5}),
    ("prodigy", {"weight_decay": 0.1, "decouple": False, "safeguard_warmup": True,
                 "betas": (0.0, 0.99), "beta3": 0.95, "growth_rate": 1.5, "d0": 1e-4,
                 "eps": 1e-6}),
]

#: each method's learning rate on each problem: steps that move the iterate
#: visibly in 300 steps without reaching the optimum, where methods whose
#: step is about lr*sign(g) (Lion; Adan, Yogi with a small root) oscillate
#: chaotically: every implementation, the NumPy reference too, then parts
#: from every other within a few steps
LR = {"rosenbrock40": {"adamw": 1e-2, "schedule_free_adamw": 2.5e-3, "lion": 1e-3, "adopt": 1e-2, "ademamix": 1e-3, "adabelief": 1e-2,
                      "yogi": 1e-2, "adan": 1e-2, "lamb": 1e-2,
                      "prodigy": 1.0},
      "logistic": {"adamw": 1e-3, "schedule_free_adamw": 1e-3, "lion": 3e-4, "adopt": 1e-3, "ademamix": 1e-3, "adabelief": 1e-3,
                   "yogi": 1e-3, "adan": 1e-3, "lamb": 1e-3,
                   "prodigy": 1.0}}


def _rosenbrock_problem(dtype):
    x0 = np.tile(np.array([-1.2, 1.0]), 20).astype(dtype)
    return x0, lambda x: rosenbrock(x)[1]


def _logistic_problem(dtype):
    X, y, _ = make_logistic_regression(400, 12, seed=3)
    X = X + 0.5 * X[:, :1]                      # correlated features
    x0 = np.linspace(-1.0, 1.0, 12).astype(dtype)
    Xd, yd = X.astype(dtype), y.astype(dtype)
    return x0, lambda w: logistic_loss(w, Xd, yd, 0.01)[1].astype(dtype)


PROBLEMS = {"rosenbrock40": _rosenbrock_problem, "logistic": _logistic_problem}


# -- the references, each a function step(grad) -> params of that reference --
def _torch_reference(cls, x0, opts, train=False):
    torch = pytest.importorskip("torch")
    p = torch.tensor(x0.copy(), requires_grad=True)
    opt = cls([p], **opts)
    if train:          # schedulefree's optimizers start in eval mode
        opt.train()

    def step(g):
        p.grad = torch.from_numpy(np.array(g, dtype=x0.dtype))
        opt.step()
        return p.detach().numpy().copy()
    return step


def _lion(x0, o):
    lion_pytorch = pytest.importorskip("lion_pytorch")
    return _torch_reference(lion_pytorch.Lion, x0, dict(
        lr=o["lr"], betas=o.get("betas", (0.9, 0.99)),
        weight_decay=o.get("weight_decay", 0.0),
        decoupled_weight_decay=o.get("decoupled_weight_decay", False)))


def _adopt(x0, o):
    """torch-adopt, the authors' package (iShohei220/adopt)."""
    adopt = pytest.importorskip("adopt")
    return _torch_reference(adopt.ADOPT, x0, dict(
        lr=o["lr"], betas=o.get("betas", (0.9, 0.9999)), eps=o.get("eps", 1e-6),
        weight_decay=o.get("weight_decay", 0.0),
        decouple=o.get("decoupled_weight_decay", False),
        **({} if o.get("use_clipping", True) else {"clip_lambda": None})))


def _ademamix(x0, o):
    """optax.contrib.ademamix, the authors' optax port of apple/ml-ademamix (whose
    PyTorch file is not a package), with alpha 2 and the PyTorch file's warmups
    as schedules of optax's 0-based count."""
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    import math
    b1, b2, b3 = o.get("betas", (0.9, 0.999, 0.9999))
    alpha = o.get("alpha", 2.0)
    ta, tb = o.get("alpha_warmup"), o.get("beta3_warmup")

    def f(b):
        return math.log(0.5) / math.log(b + 1e-8) - 1

    def alpha_at(k):   # (optax's count is int32: in float64 before dividing)
        t = jnp.asarray(k, jnp.float64) + 1
        return jnp.where(t < ta, alpha * t / ta, alpha)

    def b3_at(k):
        t = jnp.asarray(k, jnp.float64) + 1
        a = t / tb
        return jnp.where(t < tb, 0.5 ** (1 / ((1 - a) * f(b1) + a * f(b3) + 1)), b3)
    return _optax(x0, optax.contrib.ademamix(
        o["lr"], b1, b2, b3_at if tb else b3, alpha_at if ta else alpha,
        o.get("eps", 1e-8), 0.0, weight_decay=o.get("weight_decay", 0.0)))


def _schedule_free_adamw(x0, o):
    """schedulefree.AdamWScheduleFree (the memory-efficient form; the per-tensor
    loop, foreach=False: the foreach one is the same arithmetic); the step
    function returns y, the point the gradient is taken at."""
    schedulefree = pytest.importorskip("schedulefree")
    step = _torch_reference(schedulefree.AdamWScheduleFree, x0, dict(
        lr=o["lr"], betas=o.get("betas", (0.9, 0.999)), eps=o.get("eps", 1e-8),
        weight_decay=o.get("weight_decay", 0.0), warmup_steps=o.get("warmup_steps", 0),
        r=o.get("r", 0.0), weight_lr_power=o.get("weight_lr_power", 2.0), foreach=False),
        train=True)
    return step


def _timm(module, cls):
    """timm's optimizer class (bench.peers.timm_class: without timm's package
    init), or skip."""
    found = timm_class(module, cls)
    if found is None:
        pytest.skip("timm is not installed (pip install --no-deps timm)")
    return found


def _cautious(x0, o):
    """timm's caution=True: AdamWLegacy, Lion, Adopt (its clip_exp 0.25 is
    torch-adopt's clipping)."""
    method = o["method"]
    kw = dict(lr=o["lr"], weight_decay=o.get("weight_decay", 0.0), caution=True)
    if method == "adamw":
        cls = _timm("adamw", "AdamWLegacy")
        kw.update(betas=o.get("betas", (0.9, 0.999)), eps=o.get("eps", 1e-8),
                  weight_decay=o.get("weight_decay", 1e-2))
    elif method == "lion":
        cls = _timm("lion", "Lion")
        kw.update(betas=o.get("betas", (0.9, 0.99)))
    else:
        cls = _timm("adopt", "Adopt")
        kw.update(betas=o.get("betas", (0.9, 0.9999)), eps=o.get("eps", 1e-6),
                  clip_exp=0.25, decoupled=o.get("decoupled_weight_decay", False))
    return _torch_reference(cls, x0, kw)


def _optax(x0, tx):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    optax = pytest.importorskip("optax")
    params = jnp.asarray(x0)
    state = [params, tx.init(params)]

    @jax.jit
    def update(g, params, opt_state):
        u, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state

    def step(g):
        state[0], state[1] = update(jnp.asarray(g, dtype=x0.dtype), *state)
        return np.asarray(state[0])
    return step


def _decayed(o, optax, tx):
    """optax's coupled (L2) decay: the decayed weights added to the gradient first."""
    wd = o.get("weight_decay", 0.0)
    return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx


def _adabelief(x0, o):
    optax = pytest.importorskip("optax")
    b1, b2 = o.get("betas", (0.9, 0.999))
    tx = optax.chain(optax.scale_by_belief(b1, b2, o.get("eps", 1e-16),
                                           o.get("eps_root", 1e-16)),
                     optax.scale_by_learning_rate(o["lr"]))
    return _optax(x0, _decayed(o, optax, tx))


def _yogi(x0, o):
    optax = pytest.importorskip("optax")
    b1, b2 = o.get("betas", (0.9, 0.999))
    tx = optax.chain(optax.scale_by_yogi(b1, b2, o.get("eps", 1e-3), o.get("eps_root", 0.0),
                                         o.get("initial_accumulator_value", 1e-6)),
                     optax.scale_by_learning_rate(o["lr"]))
    return _optax(x0, _decayed(o, optax, tx))


def _adan(x0, o):
    optax = pytest.importorskip("optax")
    b1, b2, b3 = o.get("betas", (0.98, 0.92, 0.99))
    return _optax(x0, optax.adan(o["lr"], b1, b2, b3, o.get("eps", 1e-8),
                                 o.get("eps_root", 1e-8), o.get("weight_decay", 0.0)))


def _lamb(x0, o):
    optax = pytest.importorskip("optax")
    b1, b2 = o.get("betas", (0.9, 0.999))
    return _optax(x0, optax.lamb(o["lr"], b1, b2, o.get("eps", 1e-6), o.get("eps_root", 0.0),
                                 o.get("weight_decay", 0.0)))


_PRODIGY = ("lr", "betas", "beta3", "eps", "weight_decay", "decouple", "use_bias_correction",
            "safeguard_warmup", "d0", "d_coef", "growth_rate")


def _prodigy(x0, o):
    """prodigyopt.Prodigy, the authors' package (slice_p 1, its default)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    return _torch_reference(prodigyopt.Prodigy, x0, {k: o[k] for k in _PRODIGY if k in o})


REFERENCES = {"schedule_free_adamw": _schedule_free_adamw, "lion": _lion, "adopt": _adopt, "ademamix": _ademamix,
              "adabelief": _adabelief, "yogi": _yogi, "adan": _adan, "lamb": _lamb,
              "prodigy": _prodigy}


def _case_id(case):
    method, opts = case
    return method + "".join(f"-{k}={v}" for k, v in opts.items())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_its_reference_implementation(case, problem, dtype):
    method, opts = case
    if (method, opts.get("betas", (None,))[0], problem, dtype) == (
            "prodigy", 0.0, "rosenbrock40", np.float32):
        pytest.skip("Rosenbrock amplifies the float32 rounding of prodigyopt's dot product "
                    "(float32 there, float64 here) with beta1 = 0 to 2.5e-3 by step 300; "
                    "float64 and the logistic problem compare this case")
    opts = dict(opts, lr=opts.get("lr", LR[problem][method]))
    x0, grad = PROBLEMS[problem](dtype)
    reference = (_cautious(x0, dict(opts, method=method)) if opts.get("cautious")
                 else REFERENCES[method](x0, opts))
    x = x0.copy()
    opt = numadam.Optimizer(x, method=method, **opts)
    xr = x0.copy()
    for _ in range(STEPS):
        opt.step(grad(x))
        xr = reference(grad(xr))
    assert x.dtype == dtype and xr.dtype == dtype
    assert np.max(np.abs(x - x0)) > 1e-2          # the run moved
    err = np.max(np.abs(x.astype(np.float64) - xr)) / np.max(np.abs(xr))
    assert err <= TOL[dtype], f"{method} {opts} {problem}: relative error {err:.3g}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_schedule_free_eval_point_is_the_reference_s(dtype):
    """After the run, eval() on both: the point to evaluate agrees too; and
    train() brings both back to their training points."""
    torch = pytest.importorskip("torch")
    schedulefree = pytest.importorskip("schedulefree")
    x0, grad = PROBLEMS["rosenbrock40"](dtype)
    p = torch.tensor(x0.copy(), requires_grad=True)
    ref = schedulefree.AdamWScheduleFree([p], lr=2.5e-3, warmup_steps=20, foreach=False)
    ref.train()
    x = x0.copy()
    opt = numadam.ScheduleFreeAdamW(x, lr=2.5e-3, warmup_steps=20)
    for _ in range(STEPS):
        opt.step(grad(x))
        p.grad = torch.from_numpy(grad(p.detach().numpy()))
        ref.step()
    opt.eval()
    ref.eval()
    xr = p.detach().numpy()

    def err(a, b):
        return np.max(np.abs(a.astype(np.float64) - b)) / np.max(np.abs(b))
    assert err(x, xr) <= TOL[dtype]
    opt.train()
    ref.train()
    assert err(x, p.detach().numpy()) <= TOL[dtype]


def test_defaults_are_the_references():
    """Every default that the reference has is the reference's (yogi's lr: the
    paper's, optax.yogi has none)."""
    import inspect
    m = {name: numadam.METHODS[name].defaults for name in REFERENCES}

    def of(fn, *names):
        ps = inspect.signature(fn).parameters
        return tuple(ps[n].default for n in names)
    lion_pytorch = pytest.importorskip("lion_pytorch")
    ref = inspect.signature(lion_pytorch.Lion).parameters
    assert (m["lion"]["lr"], m["lion"]["betas"], m["lion"]["weight_decay"],
            m["lion"]["decoupled_weight_decay"]) == (
        ref["lr"].default, ref["betas"].default, ref["weight_decay"].default,
        ref["decoupled_weight_decay"].default)
    optax = pytest.importorskip("optax")
    adopt = pytest.importorskip("adopt")
    ref = inspect.signature(adopt.ADOPT).parameters
    assert (m["adopt"]["lr"], m["adopt"]["betas"], m["adopt"]["eps"],
            m["adopt"]["weight_decay"], m["adopt"]["decoupled_weight_decay"]) == (
        ref["lr"].default, ref["betas"].default, ref["eps"].default,
        ref["weight_decay"].default, ref["decouple"].default)
    # AdEMAMix: the PyTorch reference's defaults (apple/ml-ademamix, not a package):
    # optax's port agrees but for alpha (5 in optax.contrib.ademamix)
    assert of(optax.contrib.ademamix, "b1", "b2", "b3", "eps") == (
        *m["ademamix"]["betas"], m["ademamix"]["eps"])
    assert m["ademamix"]["alpha"] == 2.0 and m["ademamix"]["lr"] == 1e-3
    schedulefree = pytest.importorskip("schedulefree")
    ref = inspect.signature(schedulefree.AdamWScheduleFree).parameters
    sf = m["schedule_free_adamw"]
    assert {k: sf[k] for k in ("lr", "betas", "eps", "weight_decay", "warmup_steps", "r",
                               "weight_lr_power")} == {
        k: ref[k].default for k in ("lr", "betas", "eps", "weight_decay", "warmup_steps",
                                    "r", "weight_lr_power")}
    assert of(optax.scale_by_belief, "b1", "b2", "eps", "eps_root") == (
        *m["adabelief"]["betas"], m["adabelief"]["eps"], m["adabelief"]["eps_root"])
    assert of(optax.scale_by_yogi, "b1", "b2", "eps", "eps_root",
              "initial_accumulator_value") == (
        *m["yogi"]["betas"], m["yogi"]["eps"], m["yogi"]["eps_root"],
        m["yogi"]["initial_accumulator_value"])
    assert of(optax.adan, "b1", "b2", "b3", "eps", "eps_root", "weight_decay") == (
        *m["adan"]["betas"], m["adan"]["eps"], m["adan"]["eps_root"],
        m["adan"]["weight_decay"])
    assert of(optax.lamb, "b1", "b2", "eps", "eps_root", "weight_decay") == (
        *m["lamb"]["betas"], m["lamb"]["eps"], m["lamb"]["eps_root"],
        m["lamb"]["weight_decay"])
    prodigyopt = pytest.importorskip("prodigyopt")
    assert of(prodigyopt.Prodigy, *_PRODIGY) == tuple(m["prodigy"][k] for k in _PRODIGY)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prodigy_over_groups_is_prodigyopt_s(dtype):
    """One d for every array of every group (prodigyopt's): two groups with
    their own weight decay and eps, four arrays, one 2-D; 200 steps."""
    torch = pytest.importorskip("torch")
    prodigyopt = pytest.importorskip("prodigyopt")
    rng = np.random.default_rng(6)
    shapes = {"W": (6, 4), "b": (4,), "V": (4, 3), "c": (3,)}
    x0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    target = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}

    def grad(k, v):   # a separable quadratic, curvature by array
        return ((1.0 + len(k)) * (v - target[k]) * (1 + np.arange(v.size).reshape(v.shape)
                                                    % 3)).astype(dtype)
    mine = {k: v.copy() for k, v in x0.items()}
    opt = numadam.Prodigy([{"params": {"W": mine["W"], "b": mine["b"]}, "weight_decay": 0.1},
                           {"params": {"V": mine["V"], "c": mine["c"]}, "eps": 1e-6}])
    ts = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in x0.items()}
    ref = prodigyopt.Prodigy([{"params": [ts["W"], ts["b"]], "weight_decay": 0.1},
                              {"params": [ts["V"], ts["c"]], "eps": 1e-6}])
    for _ in range(200):
        opt.step({k: grad(k, v) for k, v in mine.items()})
        for k, t in ts.items():
            t.grad = torch.from_numpy(grad(k, t.detach().numpy()))
        ref.step()
    assert opt.param_groups[0]["lr"] == 1.0
    for k, t in ts.items():
        r = t.detach().numpy()
        assert np.max(np.abs(mine[k] - x0[k])) > 1e-2
        assert np.max(np.abs(mine[k].astype(np.float64) - r)) / np.max(np.abs(r)) <= TOL[dtype], k
    with pytest.raises(ValueError, match="option 'lr' must be the same in every parameter"):
        opt.param_groups[1]["lr"] = 0.5
    assert opt.param_groups[1]["lr"] == 1.0


@pytest.mark.parametrize("opts,lrs,zero_first", [
    ({}, [0.0, 0.5] + [1.0] * 28, False),                          # a warmup from 0
    ({"safeguard_warmup": True}, [0.0, 0.0, 0.3] + [1.0] * 27, False),
    ({"use_bias_correction": True}, [1.0] * 30, True),             # a zero gradient first
    ({"use_bias_correction": True, "safeguard_warmup": True},
     [0.0] + [0.5] * 29, True)])
def test_prodigy_steps_that_prodigyopt_skips(opts, lrs, zero_first):
    """prodigyopt returns early, changing no state and not counting the step in
    its bias correction, where lr is 0 (a warmup from 0: the moments, s and d
    stay) or sum |s| is 0 (nothing but zero gradients yet); numadam's step count
    (its schedules') goes on.  Step by step, float64."""
    torch = pytest.importorskip("torch")
    prodigyopt = pytest.importorskip("prodigyopt")
    rng = np.random.default_rng(12)
    scale, x0 = rng.uniform(0.5, 2.0, 5), rng.standard_normal(5)
    x = x0.copy()
    opt = numadam.Prodigy(x, lr=lambda k: lrs[k], **opts)
    p = torch.tensor(x0.copy(), requires_grad=True)
    ref = prodigyopt.Prodigy([p], lr=1.0, **opts)
    for k in range(len(lrs)):
        g = scale * (x - 3.0) * (0.0 if zero_first and k == 0 else 1.0)   # a quadratic
        ref.param_groups[0]["lr"] = lrs[k]
        p.grad = torch.tensor(g)
        ref.step()
        opt.step(g)
        r = p.detach().numpy()
        np.testing.assert_allclose(x, r, rtol=1e-12, atol=1e-15, err_msg=f"step {k + 1}")
        if ref.state[p]:
            np.testing.assert_allclose(opt.state["exp_avg"], ref.state[p]["exp_avg"].numpy(),
                                       rtol=1e-12, atol=1e-300)
    assert np.max(np.abs(x - x0)) > 1e-5 and opt.t == len(lrs)   # (it moved)
    # the count of steps taken is state: saved, and a dict saved before it
    # existed loads with every step counted
    sd = opt.state_dict()
    assert sd["host"]["k"] == ref.param_groups[0]["k"] < opt.t
    old = {**sd, "host": {k: v for k, v in sd["host"].items() if k != "k"}}
    again = numadam.Prodigy(x.copy(), lr=1.0, **opts)
    again.load_state_dict(old)
    assert again.state_dict()["host"]["k"] == opt.t


@pytest.mark.parametrize("dtype", [np.float64])
def test_lamb_over_several_arrays_is_optax_per_leaf(dtype):
    """Over a dict of arrays (one 2-D) LAMB's trust ratio is per array, as
    optax's per leaf of the pytree; 200 steps of a problem coupling them
    (float64: in float32 this problem amplifies the last bits of the norms,
    optax's in float32 and numadam's in float64, to 1e-2 by step 200; the
    one-array cases above compare float32)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    optax = pytest.importorskip("optax")
    rng = np.random.default_rng(4)
    A = rng.standard_normal((30, 8))
    y = rng.standard_normal(30)
    params = {"W": rng.standard_normal((8, 3)).astype(dtype), "b": np.zeros(3, dtype),
              "c": rng.standard_normal(5).astype(dtype) * 100}

    def grads(p):
        r = A @ p["W"] @ np.ones(3) + p["b"].sum() - y
        return {"W": (np.outer(A.T @ r, np.ones(3)) / 30).astype(dtype),
                "b": np.full(3, r.sum() / 30, dtype), "c": (0.01 * p["c"]).astype(dtype)}
    tx = optax.lamb(1e-2, weight_decay=0.01)
    ref = {k: jnp.asarray(v) for k, v in params.items()}
    state = tx.init(ref)
    mine = {k: v.copy() for k, v in params.items()}
    opt = numadam.LAMB(mine, lr=1e-2, weight_decay=0.01)
    for _ in range(200):
        opt.step(grads(mine))
        u, state = tx.update({k: jnp.asarray(v) for k, v in
                              grads({k: np.asarray(v) for k, v in ref.items()}).items()},
                             state, ref)
        ref = optax.apply_updates(ref, u)
    for k in params:
        r = np.asarray(ref[k])
        assert mine[k].dtype == dtype
        assert np.max(np.abs(mine[k] - r)) / np.max(np.abs(r)) <= TOL[dtype], k
