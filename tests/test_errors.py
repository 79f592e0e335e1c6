"""Bad input gets a clear error that names the argument."""
import numpy as np
import pytest
from scipy.optimize import Bounds, rosen, rosen_der

import numadam


def run(**kw):
    args = dict(fun=rosen, jac=rosen_der, x0=[0.0, 0.0], options={"maxiter": 3})
    args.update(kw)
    return numadam.minimize(**args)


def test_wrong_jac_shape():
    with pytest.raises(ValueError, match=r"jac must have the parameters' shape \(2,\); got shape \(3,\)"):
        run(jac=lambda x: np.ones(3))


def test_wrong_gradient_shape_with_jac_true():
    with pytest.raises(ValueError, match="fun's gradient must have"):
        run(fun=lambda x: (0.0, np.ones(5)), jac=True)


def test_jac_true_but_fun_returns_scalar():
    with pytest.raises(TypeError, match=r"jac=True, fun must return \(f, g\)"):
        run(fun=lambda x: 1.0, jac=True)


def test_complex_gradient_refused():
    with pytest.raises(TypeError, match="jac must hold real numbers"):
        run(jac=lambda x: x + 1j)


@pytest.mark.parametrize("x0", [[np.nan, 1.0], [0.0, np.inf]])
def test_nonfinite_x0(x0):
    with pytest.raises(ValueError, match="x0 contains NaN or infinity"):
        run(x0=x0)


@pytest.mark.parametrize("x0, exc, msg", [
    ([], ValueError, "x0 must not be empty"),
    ([1 + 2j], TypeError, "x0 must be real"),
    (["a"], TypeError, "x0 must be real"),
    (np.ones(2, np.float16), TypeError, "x0 must be real"),
    ([[1.0, 2.0], [3.0]], TypeError, "a list of lists is one array, and these have different "
                                     "lengths: give several arrays as a list of numpy arrays"),
])
def test_bad_x0(x0, exc, msg):
    with pytest.raises(exc, match=msg):
        run(x0=x0)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'adamx'; choose one of adam, "):
        run(method="adamx")
    with pytest.raises(TypeError, match="method must be a string"):
        run(method=None)


def test_unknown_option_is_named_with_a_suggestion():
    with pytest.raises(TypeError, match="unknown option 'maxiters' for method 'adam'; "
                                        "did you mean 'maxiter'\\? Valid options: .*gtol"):
        run(options={"maxiters": 10})
    with pytest.raises(TypeError, match="unknown option 'learning_rate' .* did you mean "
                                        "'lr'\\? \\(numadam's name for 'learning_rate'\\)"):
        run(options={"learning_rate": 0.1})
    # SciPy's spelling of the gradient tolerance
    with pytest.raises(TypeError, match="unknown option 'tol' .* did you mean 'gtol'"):
        run(options={"tol": 1e-3})
    with pytest.raises(TypeError, match="unknown option 'zzz' for method 'adam'. Valid "
                                        "options: amsgrad, batch_size"):
        run(options={"zzz": 1})
    # the stateful optimizers take no loop options, and say whose they are
    with pytest.raises(TypeError, match="option 'maxiter' belongs to numadam.minimize's loop"):
        numadam.Adam(np.zeros(2), maxiter=5)
    with pytest.raises(TypeError, match="did you mean 'maxiter'"):
        numadam.minimize_many(numadam_njit_quadratic(), True, np.zeros((2, 2)),
                              options={"maxiters": 3})


def numadam_njit_quadratic():
    from numba import njit
    return njit(lambda x: ((x * x).sum(), 2 * x))


def test_option_of_another_method_is_named():
    with pytest.raises(TypeError, match="'momentum' is not an option of method 'adam' "
                                        "\\(it is one of muon, rmsprop, sgd\\)"):
        run(options={"momentum": 0.9})
    with pytest.raises(TypeError, match="'amsgrad' is not an option of method 'nadam'"):
        numadam.NAdam(np.zeros(2), amsgrad=True)


@pytest.mark.parametrize("method, options, match", [
    ("adam", {"lr": -1e-3}, "'lr' must be >= 0"),
    ("adam", {"lr": np.nan}, "'lr' must be finite"),
    ("adam", {"betas": (1.0, 0.999)}, r"'betas\[0\]' must be in \[0, 1\)"),
    ("adam", {"betas": (0.9, -0.1)}, r"'betas\[1\]' must be in \[0, 1\)"),
    ("adam", {"eps": 0.0}, "'eps' must be > 0"),
    ("adamw", {"weight_decay": -0.1}, "'weight_decay' must be >= 0"),
    ("sgd", {"momentum": 1.5}, r"'momentum' must be in \[0, 1\)"),
    ("sgd", {"dampening": 2.0}, r"'dampening' must be in \[0, 1\]"),
    ("sgd", {"nesterov": True}, "'nesterov' requires momentum > 0"),
    ("rmsprop", {"alpha": 1.0}, r"'alpha' must be in \[0, 1\)"),
    ("adagrad", {"lr_decay": -1.0}, "'lr_decay' must be >= 0"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "'initial_accumulator_value' must be >= 0"),
    ("nadam", {"momentum_decay": -1.0}, "'momentum_decay' must be >= 0"),
    ("adam", {"maxiter": -1}, "'maxiter' must be >= 0"),
    ("adam", {"gtol": -1.0}, "'gtol' must be finite and >= 0"),
])
def test_out_of_range_hyperparameters(method, options, match):
    with pytest.raises(ValueError, match=match):
        run(method=method, options=options)


@pytest.mark.parametrize("options, match", [
    ({"amsgrad": "yes"}, "'amsgrad' must be True or False"),
    ({"lr": "0.1"}, "'lr' must be a real number"),
    ({"betas": 0.9}, r"'betas' must be a pair"),
    ({"maxiter": 1.5}, "'maxiter' must be an int"),
])
def test_wrong_types_of_options(options, match):
    with pytest.raises(TypeError, match=match):
        run(options=options)


def test_bounds_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"bounds must have one \(low, high\) pair per parameter: 2; got 3"):
        run(bounds=[(0, 1)] * 3)
    with pytest.raises(ValueError, match="bounds must have one"):
        run(bounds=Bounds([0, 0, 0], [1, 1, 1]))


def test_bad_bounds_values():
    with pytest.raises(ValueError, match=r"bounds\[1\] has low 2.0 > high 1.0"):
        run(bounds=[(0, 1), (2, 1)])
    with pytest.raises(TypeError, match=r"bounds\[0\] must be a \(low, high\) pair"):
        run(bounds=[(0, 1, 2), (0, 1)])
    with pytest.raises(TypeError, match="bounds must be a scipy.optimize.Bounds"):
        run(bounds=3)


def test_bad_fun_jac_callback_options():
    with pytest.raises(TypeError, match="fun must be callable"):
        run(fun=None)
    with pytest.raises(TypeError, match="jac must be a callable"):
        run(jac=None)
    with pytest.raises(TypeError, match="callback must be callable"):
        run(callback=1)
    with pytest.raises(TypeError, match="options must be a dict"):
        run(options=[("lr", 1)])
    with pytest.raises(TypeError, match="fun must return a real scalar"):
        run(fun=lambda x: np.ones(2), jac=rosen_der, callback=lambda intermediate_result: None)


class TestStatefulOptimizer:
    def test_params_must_be_an_array(self):
        with pytest.raises(TypeError, match="params must be a numpy.ndarray"):
            numadam.Adam([1.0, 2.0])

    def test_params_dtype(self):
        with pytest.raises(TypeError, match="params must have dtype float32 or float64; got int64"):
            numadam.Adam(np.zeros(3, np.int64))

    def test_params_non_contiguous(self):
        with pytest.raises(ValueError, match="params must be C-contiguous"):
            numadam.Adam(np.zeros((4, 4))[:, 1])

    def test_params_read_only(self):
        x = np.zeros(3)
        x.flags.writeable = False
        with pytest.raises(ValueError, match="params is read-only"):
            numadam.Adam(x)

    def test_params_nonfinite_or_empty(self):
        with pytest.raises(ValueError, match="params contains NaN"):
            numadam.Adam(np.array([np.nan]))
        with pytest.raises(ValueError, match="params must not be empty"):
            numadam.Adam(np.zeros(0))

    def test_grad_shape_and_type(self):
        opt = numadam.Adam(np.zeros((2, 2)))
        with pytest.raises(ValueError, match=r"grad must have the parameters' shape \(2, 2\); got shape \(4,\)"):
            opt.step(np.zeros(4))
        with pytest.raises(TypeError, match="grad must hold real numbers"):
            opt.step(np.zeros((2, 2), complex))
        assert opt.t == 0  # nothing was stepped

    def test_method_argument(self):
        with pytest.raises(TypeError, match="Optimizer needs a method name"):
            numadam.Optimizer(np.zeros(2))
        with pytest.raises(TypeError, match="Adam takes no 'method'"):
            numadam.Adam(np.zeros(2), method="sgd")

    def test_lr_setter_validates(self):
        opt = numadam.Adam(np.zeros(2))
        with pytest.raises(ValueError, match="'lr' must be >= 0"):
            opt.lr = -1.0
        opt.lr = 0.5
        assert opt.lr == 0.5 and opt.options["lr"] == 0.5


@pytest.mark.parametrize("x0", [[[1.0, 2.0], [3.0]], {"a": "text"}, None, [None, 1.0]])
def test_x0_of_the_wrong_shape_or_type(x0):
    # (a dict is several arrays: its entries are checked, by name)
    with pytest.raises(TypeError, match=r"x0(\['a'\])? must"):
        run(x0=x0)


@pytest.mark.parametrize("out, exc, match", [
    (None, TypeError, "jac returned None: it must be an array of the parameters. shape"),
    (["a", "b"], TypeError, "jac must hold real numbers; got dtype <U1"),
    (np.ones((2, 1)), ValueError, r"jac must have the parameters' shape \(2,\); got shape \(2, 1\)"),
    (3.0, ValueError, r"jac must have the parameters' shape \(2,\); got shape \(\)"),
])
def test_jac_output_of_the_wrong_type_or_shape(out, exc, match):
    with pytest.raises(exc, match=match):
        run(jac=lambda x: out)


def test_bounds_with_nan():
    with pytest.raises(ValueError, match="bounds contain NaN"):
        run(bounds=[(0, np.nan), (0, 1)])


def test_x0_is_copied_not_updated():
    x0 = np.zeros(2)
    x0.flags.writeable = False  # a read-only x0 is fine: minimize works on a copy
    res = run(x0=x0)
    assert res.x is not x0 and np.all(x0 == 0)


def test_scipys_argument_order_gets_an_error_that_says_so():
    """numadam.minimize(fun, jac, x0) where scipy has (fun, x0, jac=...): a call
    in scipy's order said 'missing x0' or 'jac must be a callable ... got
    array(...)' (found by the new-user review)."""
    import inspect

    from scipy.optimize import rosen, rosen_der
    x0 = np.array([-1.2, 1.0])
    for call in (lambda: numadam.minimize(rosen, x0),
                 lambda: numadam.minimize(rosen, x0, rosen_der),
                 lambda: numadam.minimize(rosen, 1.5)):
        with pytest.raises(TypeError, match=r"minimize takes \(fun, jac, x0\): the gradient "
                                            r"second.*scipy.optimize.minimize takes \(fun, "
                                            r"x0, jac=\.\.\.\)"):
            call()
    assert inspect.signature(numadam.minimize).parameters["x0"].default \
        is inspect.Parameter.empty


def test_x0_that_is_none_or_parameter_groups_and_muon_over_a_vector():
    """Found by the new-user review: 'x0 must be real ... got dtype object', and
    Muon's advice (a parameter group) that minimize then refused."""
    def fg(p):
        return sum(float((v * v).sum()) for v in p.values()), {k: 2 * v for k, v in p.items()}

    with pytest.raises(TypeError, match="x0 must be the starting point, an array of real "
                                        "numbers; got None"):
        numadam.minimize(fg, True, None)
    with pytest.raises(TypeError, match=r"x0 holds dicts: parameter groups .* are the "
                                        r"stateful optimizers' params"):
        numadam.minimize(fg, True, [{"params": {"W": np.ones((2, 2))}},
                                    {"params": {"b": np.ones(2)}, "method": "adamw"}])
    with pytest.raises(ValueError, match=r"x0\['b'\]: method 'muon' updates 2-D arrays "
                                         r"\(matrices\); got shape \(2,\)\. minimize runs one "
                                         r"method over every array of x0"):
        numadam.minimize(fg, True, {"W": np.ones((2, 2)), "b": np.ones(2)}, method="muon")
