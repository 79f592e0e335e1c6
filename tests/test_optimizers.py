"""The stateful optimizers: signatures, state_dict round trips, in-place updates."""
import inspect

import numpy as np
import pytest

import numadam
from cases import CASES, case_id

CLASSES = {"adam": numadam.Adam, "adamw": numadam.AdamW, "amsgrad": numadam.AMSGrad,
           "adamax": numadam.Adamax, "nadam": numadam.NAdam, "radam": numadam.RAdam,
           "sgd": numadam.SGD, "rmsprop": numadam.RMSprop, "adagrad": numadam.Adagrad,
           "schedule_free_adamw": numadam.ScheduleFreeAdamW, "adadelta": numadam.Adadelta, "rprop": numadam.Rprop, "asgd": numadam.ASGD,
           "lion": numadam.Lion, "adopt": numadam.ADOPT, "ademamix": numadam.AdEMAMix,
           "adabelief": numadam.AdaBelief, "yogi": numadam.Yogi,
           "adan": numadam.Adan}


@pytest.mark.parametrize("method", sorted(CLASSES))
def test_class_signature_lists_torch_defaults(method):
    sig = inspect.signature(CLASSES[method])
    defaults = {k: p.default for k, p in sig.parameters.items() if k != "params"}
    assert defaults == numadam.METHODS[method].defaults
    assert CLASSES[method].__doc__ and "Parameters" in CLASSES[method].__doc__


def test_torch_default_values():
    m = numadam.METHODS
    assert m["adam"].defaults["lr"] == 1e-3 and m["adam"].defaults["eps"] == 1e-8
    assert m["adamw"].defaults["weight_decay"] == 1e-2
    assert m["adamax"].defaults["lr"] == 2e-3 and m["nadam"].defaults["lr"] == 2e-3
    assert m["nadam"].defaults["momentum_decay"] == 4e-3
    assert m["rmsprop"].defaults["lr"] == 1e-2 and m["rmsprop"].defaults["alpha"] == 0.99
    assert m["adagrad"].defaults["eps"] == 1e-10 and m["sgd"].defaults["lr"] == 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_dict_resumes_bitwise(case, dtype):
    method, opts = case
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((60, 33)).astype(dtype)
    x = np.linspace(-1, 1, 33).astype(dtype)
    opt = numadam.Optimizer(x, method=method, **opts)
    for g in grads[:25]:
        opt.step(g)
    saved_x, saved = x.copy(), opt.state_dict()
    for g in grads[25:]:
        opt.step(g)
    # a fresh optimizer, resumed from the checkpoint
    y = saved_x.copy()
    opt2 = numadam.Optimizer(y, method=method, **{**opts, "lr": 0.5})
    opt2.load_state_dict(saved)
    assert opt2.t == 25 and opt2.lr == opt.lr
    for g in grads[25:]:
        opt2.step(g)
    assert np.array_equal(x, y)
    for name in opt.state:
        assert np.array_equal(opt.state[name], opt2.state[name])


def test_state_dict_is_a_copy():
    x = np.ones(4)
    opt = numadam.Adam(x)
    opt.step(np.ones(4))
    sd = opt.state_dict()
    before = sd["state"]["exp_avg"].copy()
    opt.step(np.ones(4))
    assert np.array_equal(sd["state"]["exp_avg"], before)


def test_load_state_dict_refuses_mismatch_and_loads_nothing():
    x = np.ones(4)
    opt = numadam.Adam(x)
    opt.step(np.ones(4))
    good = opt.state_dict()
    other = numadam.Adam(np.ones(4))
    with pytest.raises(ValueError, match="for method 'adam', this optimizer runs 'sgd'"):
        numadam.SGD(np.ones(4)).load_state_dict(good)
    with pytest.raises(ValueError, match="for 4 parameters, this optimizer has 5"):
        numadam.Adam(np.ones(5)).load_state_dict(good)
    with pytest.raises(ValueError, match="has dtype float64, the parameters have float32"):
        numadam.Adam(np.ones(4, np.float32)).load_state_dict(good)
    bad = dict(good, state={"exp_avg": good["state"]["exp_avg"]})
    with pytest.raises(ValueError, match="state_dict\\['state'\\] has"):
        other.load_state_dict(bad)
    bad = dict(good, state={**good["state"], "exp_avg_sq": np.ones(3)})
    with pytest.raises(ValueError, match="must be a flat float64 array of 4"):
        other.load_state_dict(bad)
    bad = dict(good, options={**good["options"], "lr": -1})
    with pytest.raises(ValueError, match="'lr' must be >= 0"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="state_dict lacks t"):
        other.load_state_dict({k: v for k, v in good.items() if k != "t"})
    assert other.t == 0 and not other.state["exp_avg"].any()


def test_step_updates_the_callers_array_in_place():
    x = np.zeros((3, 2), np.float32)
    opt = numadam.SGD(x, lr=0.5)
    opt.step(np.ones((3, 2)))  # float64 gradient converted to float32
    np.testing.assert_array_equal(x, -0.5)
    assert opt.params is x and x.dtype == np.float32
    assert all(s.dtype == np.float32 for s in opt.state.values())


def test_show_options_lists_every_method():
    text = numadam.show_options(disp=False)
    for name in numadam.METHODS:
        assert f"{name}:" in text
    assert "momentum_decay = 0.004" in numadam.show_options("nadam", disp=False)


def test_import_compiles_nothing_and_skips_numba():
    import subprocess
    import sys
    code = ("import sys, numadam; "
            "print('numba' in sys.modules, 'scipy.optimize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def _steps(opt, grads):
    for g in grads:
        opt.step(g)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pickle_and_deepcopy_resume_bitwise(case):
    """An optimizer pickles (and deep-copies) with its parameters, its state,
    its step count and skipped count: the copy continues bit for bit as the
    original does, and steps neither of the other's arrays."""
    import copy
    import pickle
    method, opts = case
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((12, 33))
    x = np.linspace(-1, 1, 33)
    opt = numadam.Optimizer(x, method=method, **opts)
    _steps(opt, grads[:5])
    opt.skipped = 2
    clone = pickle.loads(pickle.dumps(opt))
    deep = copy.deepcopy(opt)
    for c in (clone, deep):
        assert type(c) is type(opt) and c.method == opt.method
        assert c.params is not x and np.array_equal(c.params, x)
        assert (c.t, c.skipped, c.options) == (opt.t, opt.skipped, opt.options)
    before = x.copy()
    _steps(clone, grads[5:])
    _steps(deep, grads[5:])
    assert np.array_equal(x, before)           # the copies step their own arrays
    _steps(opt, grads[5:])
    for c in (clone, deep):
        assert np.array_equal(c.params, x)
        for name in opt.state:
            assert np.array_equal(c.state[name], opt.state[name])


def test_deepcopy_keeps_the_parameters_shared_with_the_caller():
    """``copy.deepcopy((x, opt))`` copies ``x`` once: the copied optimizer
    steps the copied ``x`` (as torch's deepcopy of a model and its
    optimizer); ``copy.copy`` steps the same parameters with its own state."""
    import copy
    x = np.ones(5, np.float32)
    opt = numadam.Adam(x, lr=0.1)
    opt.step(np.ones(5, np.float32))
    y, opt2 = copy.deepcopy((x, opt))
    assert opt2.params is y and y is not x and y.dtype == np.float32
    opt2.step(np.ones(5, np.float32))
    assert np.all(y < x)
    shallow = copy.copy(opt)
    assert shallow.params is x
    assert shallow.state["exp_avg"] is not opt.state["exp_avg"]
    shallow.step(np.ones(5, np.float32))
    assert np.array_equal(x, y) and shallow.t == 2 and opt.t == 1


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_pickle_of_low_precision_state_and_groups(state_dtype):
    import pickle
    rng = np.random.default_rng(2)
    a = rng.standard_normal(5000).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    opt = numadam.AdamW([{"params": {"a": a}, "lr": 0.01},
                         {"params": {"b": b}, "weight_decay": 0.0}],
                        state_dtype=state_dtype, lr=0.02)
    grads = [(rng.standard_normal(5000).astype(np.float32),
              rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(6)]
    for g in grads[:3]:
        opt.step(list(g))
    opt.param_groups[1]["lr"] = 0.05          # changed after construction: kept
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.param_groups[1]["lr"] == 0.05 and clone.state_nbytes == opt.state_nbytes
    for g in grads[3:]:
        opt.step(list(g))
        clone.step(list(g))
    a2, b2 = clone.param_groups[0]["params"][0], clone.param_groups[1]["params"][0]
    assert np.array_equal(a2, a) and np.array_equal(b2, b) and a2 is not a
    for name in ("a", "b"):
        for k, v in opt.state[name].items():
            assert np.array_equal(clone.state[name][k], v)


def test_pickle_keeps_schedules_and_the_schedule_free_mode():
    import pickle
    x = np.linspace(0, 1, 7)
    opt = numadam.ScheduleFreeAdamW(x, lr=numadam.schedules.cosine(0.1, 50))
    for _ in range(3):
        opt.step(x - 0.5)
    opt.eval()
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.mode == "eval" and np.array_equal(clone.params, x)
    assert repr(clone.options["lr"]) == repr(opt.options["lr"])
    opt.train()
    clone.train()
    opt.step(x - 0.5)
    clone.step(clone.params - 0.5)
    assert np.array_equal(clone.params, x)


def test_pickle_of_a_plain_callable_lr_names_it():
    import pickle
    opt = numadam.Adam(np.ones(3), lr=lambda t: 0.1)
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(opt)


def test_pickle_rebuilds_the_optimizers_own_structure_not_the_callers_list():
    """The caller's list may change after the optimizer is built: a copy is
    rebuilt from the arrays and groups the optimizer holds."""
    import pickle
    a, b = np.ones(3), np.ones(2)
    given = [{"params": [a], "lr": 0.1}, {"params": {"b": b}, "method": "sgd",
                                          "momentum": 0.9}]
    opt = numadam.Adam(given, lr=0.01, clip_norm=1.0)
    given.append({"params": [np.ones(4)]})
    given[0]["lr"] = 5.0
    opt.step([np.ones(3), np.ones(2)])
    clone = pickle.loads(pickle.dumps(opt))
    assert [g["lr"] for g in clone.param_groups] == [0.1, 0.001]   # sgd's default
    assert all(
        {k: v for k, v in dict(g).items() if k != "params"}
        == {k: v for k, v in dict(h).items() if k != "params"}
        for g, h in zip(opt.param_groups, clone.param_groups))
    assert clone.param_groups[1]["method"] == "sgd" and clone.options["clip_norm"] == 1.0
    for o in (opt, clone):
        o.step([np.ones(3), np.full(2, 3.0)])
    assert all(np.array_equal(p, q) for g, h in zip(opt.param_groups, clone.param_groups)
               for p, q in zip(g["params"], h["params"]))


#: method name -> its class
_BY_METHOD = {getattr(numadam, n).method: getattr(numadam, n) for n in numadam.__all__
              if isinstance(getattr(numadam, n), type) and n != "Optimizer"}


@pytest.mark.parametrize("method", sorted(set(numadam.METHODS) - {"rprop"}))
def test_lr_zero_freezes_the_parameters(method):
    """lr = 0 is a learning rate as torch.optim takes it (``0.0 <= lr``): the
    parameters stay bit for bit where they are (weight decay included, as it
    is scaled by lr or enters the step) and the state stays finite; a group at
    lr = 0 is frozen while the others move.  (Rprop's lr is only its initial
    step size, which its first step clamps to ``step_sizes[0]``, as torch's;
    Prodigy takes one lr for all its groups.)"""
    rng = np.random.default_rng(3)
    shape = (6, 5)
    extra = {"weight_decay": 0.1} if "weight_decay" in numadam.METHODS[method].defaults else {}
    x = rng.standard_normal(shape)
    x0 = x.copy()
    opt = _BY_METHOD[method](x, lr=0.0, **extra)
    for _ in range(6):
        opt.step(rng.standard_normal(shape))
    if method == "schedule_free_adamw":   # its evaluation point too
        opt.eval()
    np.testing.assert_array_equal(x, x0)
    for name, value in opt.state_dict()["state"].items():
        assert np.all(np.isfinite(np.asarray(value, float))), name
    if method == "prodigy":
        return
    # a frozen group among others (torch.optim's fine-tuning idiom)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    a0, b0 = a.copy(), b.copy()
    opt = _BY_METHOD[method]([{"params": [a], "lr": 0.0}, {"params": [b]}], **extra)
    for _ in range(3):
        opt.step([rng.standard_normal(shape), rng.standard_normal(shape)])
    np.testing.assert_array_equal(a, a0)
    assert not np.array_equal(b, b0)


def test_torch_optim_idioms_get_clear_answers():
    """A loop ported from torch.optim: zero_grad() is a no-op (numadam holds no
    gradients); step(closure) and step(None) say what step takes."""
    x = np.ones(3)
    opt = numadam.Adam(x, lr=0.1)
    assert opt.zero_grad() is None and opt.zero_grad(set_to_none=False) is None
    assert opt.t == 0 and np.array_equal(x, np.ones(3))
    with pytest.raises(TypeError, match=r"grad is a callable: step takes the gradient itself, "
                                        r"not torch.optim's closure"):
        opt.step(lambda: (1.0, 2 * x))
    with pytest.raises(TypeError, match=r"^grad is None: it must be an array of the "
                                        r"parameters' shape$"):
        opt.step(None)
    assert opt.t == 0


def test_lr_may_be_given_second_positionally_as_in_torch():
    x, y = np.ones(3), np.ones(3)
    a, b = numadam.Adam(x, 0.1), numadam.Adam(y, lr=0.1)
    a.step(np.ones(3))
    b.step(np.ones(3))
    np.testing.assert_array_equal(x, y)
    assert a.lr == 0.1
    with pytest.raises(TypeError, match=r"Adam\(\) takes params and lr positionally; give "
                                        r"the other options by name"):
        numadam.Adam(np.ones(3), 0.1, (0.9, 0.99))
    with pytest.raises(TypeError, match=r"Adam\(\) got lr twice"):
        numadam.Adam(np.ones(3), 0.1, lr=0.2)
    assert list(inspect.signature(numadam.Adam).parameters)[:2] == ["params", "lr"]
