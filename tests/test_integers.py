"""Integer arguments: one rule everywhere (numadam._numbers.as_int).

An integral float (``maxiter=1e3``, ``batch_size=32.0``) is the integer it is,
as SciPy takes it; a bool, a fraction, NaN, infinity or a string is refused
with an error that names the argument.
"""
import numba
import numpy as np
import pytest

import numadam
import numadam.dask
import numadam.mpi
from numadam import schedules
from numadam.problems import logistic_loss

X = np.random.default_rng(0).standard_normal((16, 3))
Y = (X[:, 0] > 0).astype(float)


def quad(x):
    return float(x @ x), 2 * x


def _minimize(key, value):
    data = None if key == "maxiter" else (X, Y)
    opts = {key: value, "maxiter": 4} if key != "maxiter" else {key: value}
    if key == "epochs":
        opts.pop("maxiter")
    if data is None:
        return numadam.minimize(quad, True, np.ones(3), options=opts)
    return numadam.minimize(logistic_loss, True, np.zeros(3), data=data, rng=0, options=opts)


def _mpi(key, value):
    opts = {"batch_size": 4, "maxiter": 3, key: value}
    return numadam.mpi.minimize(logistic_loss, True, np.zeros(3), (X, Y), rng=0,
                                options=opts)


def _method(method, key):
    def call(_, value):
        x0 = np.ones((3, 2)) if method == "muon" else np.ones(3)   # muon: matrices
        return numadam.minimize(lambda x: (float((x * x).sum()), 2 * x), True, x0,
                                method=method, options={key: value, "maxiter": 3})
    return call


@numba.njit
def _fg(x, a):
    d = x - a
    return (d * d).sum(), 2.0 * d


def _dask(_, value):
    fg = _fg
    return numadam.dask.minimize_many(fg, True, np.zeros((4, 2)), data=(np.ones((4, 2)),),
                                      chunk_size=value, scheduler="threads",
                                      options={"maxiter": 2})


CASES = {   # name -> (call(name, value), the error's name of the argument, a valid int)
    "maxiter": (_minimize, "option 'maxiter'", 5),
    "batch_size": (_minimize, "option 'batch_size'", 4),
    "epochs": (_minimize, "option 'epochs'", 2),
    "mpi batch_size": (lambda _, v: _mpi("batch_size", v), "option 'batch_size'", 4),
    "mpi maxiter": (lambda _, v: _mpi("maxiter", v), "option 'maxiter'", 3),
    "step_size": (lambda _, v: schedules.step_decay(0.1, v), "step_size", 10),
    "ns_steps": (_method("muon", "ns_steps"), "option 'ns_steps'", 5),
    "warmup_steps": (_method("schedule_free_adamw", "warmup_steps"),
                     "option 'warmup_steps'", 2),
    "alpha_warmup": (_method("ademamix", "alpha_warmup"), "option 'alpha_warmup'", 10),
    "chunk_size": (_dask, "chunk_size", 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_integral_floats_are_the_integers_they_are(case):
    call, _, n = CASES[case]
    assert call(case, n) is not None
    assert call(case, float(n)) is not None
    assert call(case, np.float32(n)) is not None
    assert call(case, np.int64(n)) is not None
    if case in ("maxiter", "mpi maxiter"):
        assert call(case, float(n)).nit == n


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("bad", [2.5, float("nan"), float("inf"), True, "3", np.bool_(True)],
                         ids=repr)
def test_other_values_are_refused_naming_the_argument(case, bad):
    call, name, _ = CASES[case]
    with pytest.raises(TypeError, match=rf"^{name} must be (an int|None or a whole)"):
        call(case, bad)
