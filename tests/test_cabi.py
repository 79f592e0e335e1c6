"""Objectives through the C ABI: C function pointers in minimize's compiled loop,
njit objectives wrapped into cached C functions (numadam._cabi)."""
import ctypes
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from numba import carray, cfunc, njit, types

import numadam
from numadam._cabi import C_SIGNATURES, error_flag, wrap_njit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench.cabi import ROSEN_C  # noqa: E402 - the bench's C Rosenbrock
from bench.first_call import USER_OBJECTIVES  # noqa: E402 - its cache=True module
from bench.loops import quad_fg_out as quad_many_njit  # noqa: E402 - the C one's twin

SIG64 = types.float64(types.intp, types.CPointer(types.float64),
                      types.CPointer(types.float64), types.voidptr)
SIG32 = types.float32(types.intp, types.CPointer(types.float32),
                      types.CPointer(types.float32), types.voidptr)
OPTS = {"lr": 1e-2, "maxiter": 3000, "gtol": 0}
X0 = np.array([-1.2, 1.0])


def _rosen(x, g):
    a, b = x[0], x[1]
    g[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1] = 200.0 * (b - a * a)
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2


_rosen_inl = njit(inline="always")(_rosen)


@cfunc(SIG64)
def rosen_c(n, xp, gp, ud):
    return _rosen_inl(carray(xp, (n,)), carray(gp, (n,)))


@cfunc(SIG32)
def rosen_c32(n, xp, gp, ud):
    return _rosen_inl(carray(xp, (n,)), carray(gp, (n,)))


@njit
def rosen_out(x, out):
    return _rosen_inl(x, out), out


@njit
def rosen_alloc(x):
    g = np.empty_like(x)
    return _rosen_inl(x, g), g


def test_a_cfunc_runs_in_the_compiled_loop_bitwise_as_the_ordinary_loop():
    res = numadam.minimize(rosen_c, True, X0, options=OPTS)
    ref = numadam.minimize(rosen_c, True, X0, options=dict(OPTS, compiled=False))
    assert res.compiled and not ref.compiled
    assert np.array_equal(res.x, ref.x) and res.fun == ref.fun and res.nit == 3000
    # and as the njit objective it is made of
    nj = numadam.minimize(rosen_out, True, X0, options=OPTS)
    assert np.array_equal(res.x, nj.x)
    assert np.linalg.norm(res.x - 1.0) < 0.1


def test_a_float32_cfunc_keeps_float32():
    x0 = X0.astype(np.float32)
    res = numadam.minimize(rosen_c32, True, x0, options=OPTS)
    ref = numadam.minimize(rosen_c32, True, x0, options=dict(OPTS, compiled=False))
    assert res.compiled and res.x.dtype == np.float32 and res.jac.dtype == np.float32
    assert np.array_equal(res.x, ref.x)


@cfunc(SIG64)
def _sphere_c(n, xp, gp, ud):
    x, g = carray(xp, (n,)), carray(gp, (n,))
    f = 0.0
    for i in range(n):
        g[i] = 2.0 * (x[i] - 1.0)
        f += (x[i] - 1.0) ** 2
    return f


def test_a_0d_x0_stays_0d_with_a_c_objective():
    """As with any objective (found by review: the ordinary loop's ctypes call
    made x 1-D and refused the gradient's shape)."""
    one = numadam.minimize(_sphere_c, True, np.zeros(1), options={"maxiter": 10})
    for compiled in (True, False):
        r = numadam.minimize(_sphere_c, True, np.array(0.0),
                             options={"maxiter": 10, "compiled": compiled})
        assert r.x.shape == () and r.jac.shape == () and r.compiled == compiled
        assert float(r.x) == one.x[0]


def test_a_cfunc_of_the_wrong_signature_is_refused_naming_the_expected_one():
    with pytest.raises(TypeError, match=r"fun: .*double \(intptr_t, const double \*"):
        numadam.minimize(rosen_c32, True, X0, options=OPTS)
    with pytest.raises(TypeError, match=r"fun: .*float \(intptr_t"):
        numadam.minimize(rosen_c, True, X0.astype(np.float32), options=OPTS)


def test_what_a_c_objective_cannot_take_is_refused():
    with pytest.raises(TypeError, match="jac: a C objective"):
        numadam.minimize(rosen_c, rosen_alloc, X0)
    with pytest.raises(TypeError, match="args: a C objective"):
        numadam.minimize(rosen_c, True, X0, args=(1.0,))
    with pytest.raises(ValueError, match="data: minibatches"):
        numadam.minimize(rosen_c, True, X0, data=(np.zeros((4, 2)),))
    with pytest.raises(ValueError, match="device: a C objective"):
        numadam.minimize(rosen_c, True, X0, device="cuda")


def test_a_ctypes_pointer_without_argtypes_is_refused():
    proto = ctypes.CFUNCTYPE(ctypes.c_double)
    fn = proto(rosen_c.address)
    fn.argtypes = None
    with pytest.raises(TypeError, match="fun: the ctypes function"):
        numadam.minimize(fn, True, X0)


C_SOURCE = ROSEN_C + r"""
/* minimize_many: problem i's quadratic, its weights and centres at
   user_data[0] and user_data[1] (n each per problem) */
double quad_many(intptr_t n, const double *x, double *g, intptr_t i, void *user_data) {
    const double *const *d = (const double *const *)user_data;
    const double *a = d[0] + i * n, *b = d[1] + i * n;
    double f = 0.0;
    for (intptr_t k = 0; k < n; k++) {
        double r = x[k] - b[k];
        g[k] = a[k] * r;
        f += 0.5 * a[k] * r * r;
    }
    return f;
}
/* a scaled quadratic: user_data points to the scale */
double scaled(intptr_t n, const double *x, double *g, void *user_data) {
    double c = *(const double *)user_data, f = 0.0;
    for (intptr_t i = 0; i < n; i++) {
        g[i] = c * (x[i] - 1.0);
        f += 0.5 * c * (x[i] - 1.0) * (x[i] - 1.0);
    }
    return f;
}
"""


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("clib")
    (d / "obj.c").write_text(C_SOURCE)
    lib = d / "libobj.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(d / "obj.c")],
                   check=True)
    return ctypes.CDLL(str(lib))


def _typed(fn):
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_double),
                   ctypes.POINTER(ctypes.c_double), ctypes.c_void_p]
    return fn


def test_a_c_function_compiled_with_cc_solves_rosenbrock_in_the_compiled_loop(clib):
    fn = _typed(clib.rosen)
    res = numadam.minimize(fn, True, X0, options=OPTS)
    nj = numadam.minimize(rosen_out, True, X0, options=OPTS)
    assert res.compiled
    np.testing.assert_allclose(res.x, nj.x, rtol=1e-12)
    assert res.fun == pytest.approx(nj.fun, rel=1e-9)


def test_a_low_level_callable_passes_its_user_data(clib):
    from scipy import LowLevelCallable
    scale = ctypes.c_double(4.0)
    llc = LowLevelCallable(_typed(clib.scaled),
                           ctypes.cast(ctypes.pointer(scale), ctypes.c_void_p))
    res = numadam.minimize(llc, True, np.zeros(5), options={"lr": 0.05, "maxiter": 4000})
    assert res.compiled and res.status == 0
    np.testing.assert_allclose(res.x, 1.0, atol=1e-5)
    # the scale reaches the function: the gradient at 0 is -4
    f, g = _python_fg(llc, np.zeros(3))
    assert f == pytest.approx(6.0) and np.allclose(g, -4.0)


def _python_fg(fun, x):
    from numadam._cabi import from_pointer
    return from_pointer(fun, x.dtype).python()(x)


# ---------------------------------------------------------------------------
# njit objectives, wrapped
# ---------------------------------------------------------------------------
@njit
def quad_args(x, a, b, c):
    r = x - b
    return c * 0.5 * np.sum(a * r * r), c * a * r


@njit
def quad_value(x, a, b):
    r = x - b
    return 0.5 * np.sum(a * r * r)


@njit
def quad_grad(x, a, b):
    return a * (x - b)


@pytest.mark.parametrize("case", ["fused args", "split", "2-D x"])
def test_wrapped_njit_objectives_give_the_ordinary_loops_bits(case):
    rng = np.random.default_rng(0)
    a, b = 1.0 + rng.random(6), rng.standard_normal(6)
    x0 = np.zeros(6)
    if case == "fused args":
        fun, jac, args = quad_args, True, (a, b, 2.0)
    elif case == "split":
        fun, jac, args = quad_value, quad_grad, (a, b)
    else:
        x0, a, b = x0.reshape(2, 3), a.reshape(2, 3), b.reshape(2, 3)
        fun, jac, args = quad_args, True, (a, b, 1.5)
    opts = {"lr": 0.05, "maxiter": 400, "gtol": 0, "history": 50}
    assert wrap_njit(fun, jac, jac is True, args, False, x0) is not None
    res = numadam.minimize(fun, jac, x0, args=args, options=opts)
    ref = numadam.minimize(fun, jac, x0, args=args, options=dict(opts, compiled=False))
    assert res.compiled and res.x.shape == x0.shape
    assert np.array_equal(res.x, ref.x) and res.fun == ref.fun
    assert res.nfev == ref.nfev and res.njev == ref.njev
    assert np.array_equal(res.history["loss"], ref.history["loss"])


def test_args_that_cannot_travel_as_words_use_the_specialised_loop():
    x0 = np.zeros(3)
    assert wrap_njit(quad_args, True, True, ((1.0, 2.0), 0.0, 1.0), False, x0) is None
    strided = np.ones(6)[::2]
    assert wrap_njit(quad_args, True, True, (strided, np.zeros(3), 1.0), False,
                     x0) is None
    res = numadam.minimize(quad_args, True, x0, args=(strided, np.ones(3), 1.0),
                           options={"lr": 0.05, "maxiter": 300})
    assert res.compiled and np.allclose(res.x, 1.0, atol=1e-4)


@njit
def raises_far(x, out):
    if x[0] > 0.5:
        raise ValueError("x[0] left the trust region")
    out[0] = x[0] - 1.0
    return 0.5 * (x[0] - 1.0) ** 2, out


def test_an_exception_of_a_wrapped_objective_reaches_the_caller():
    with pytest.raises(ValueError, match="trust region"):
        numadam.minimize(raises_far, True, np.zeros(1),
                         options={"lr": 0.1, "maxiter": 1000})


@njit
def wrong_shape(x):
    return 0.0, np.zeros(x.size + 1)


def test_a_wrong_gradient_shape_is_refused_as_by_the_ordinary_loop():
    with pytest.raises((TypeError, ValueError), match="shape"):
        numadam.minimize(wrong_shape, True, np.zeros(2), options={"maxiter": 10})


@njit
def shape_changes_far(x):
    if x.flat[0] > 0.5:
        return 0.0, np.zeros_like(x)[:-1]     # a row fewer: the same ndim
    return 0.5 * np.sum((x - 1.0) ** 2), x - 1.0


@pytest.mark.parametrize("shape", [(3,), (2, 2)])
def test_a_gradient_that_changes_shape_mid_run_is_refused(shape):
    """The wrapped objective's copy of the gradient checks its shape first:
    a gradient that changes shape far from x0 stops the compiled loop with the
    ordinary loop's error, and minimize_many names the problem."""
    x0 = np.zeros(shape)
    assert wrap_njit(shape_changes_far, True, True, (), False, x0) is not None
    with pytest.raises(ValueError, match="shape"):
        numadam.minimize(shape_changes_far, True, x0, options={"lr": 0.1, "maxiter": 1000})
    opts = {"lr": 0.1, "maxiter": 3}
    res = numadam.minimize(shape_changes_far, True, x0, options=opts)
    ref = numadam.minimize(shape_changes_far, True, x0, options=dict(opts, compiled=False))
    assert res.compiled and res.nit == 3 and np.array_equal(res.x, ref.x)
    assert np.array_equal(res.jac, ref.jac) and res.x.shape == shape
    if len(shape) == 1:
        X0 = np.zeros((3, 3))
        X0[2, 0] = 0.6
        with pytest.raises(ValueError, match="wrong shape for problem 2"):
            numadam.minimize_many(shape_changes_far, True, X0, options={"maxiter": 5})


@njit
def reversed_out(x, b, out):
    n = x.size
    for k in range(n):
        out[n - 1 - k] = x[k] - b[k]
    return 0.5 * np.sum((x - b) ** 2), out[::-1]     # a view of out, not out itself


@njit
def transposed_out(x, b, out):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j, i] = x[i, j] - b[i, j]
    return 0.5 * np.sum((x - b) ** 2), out.T     # out's memory, its own start, transposed


def test_a_wrapped_objective_returning_a_transposed_view_of_out():
    """A view of the buffer that starts where it does but is laid out
    otherwise (transposed) is copied too, through a copy, not skipped as the
    buffer itself."""
    b = np.arange(9.0).reshape(3, 3)
    x = np.linspace(-1, 1, 9).reshape(3, 3)
    cobj = wrap_njit(transposed_out, True, True, (b,), True, x)
    assert cobj is not None
    np.testing.assert_array_equal(cobj.python()(x)[1], x - b)


def test_a_wrapped_objective_returning_an_overlapping_view_of_out():
    """The wrapper copies the gradient's values even when they are a view of
    the loop's own buffer (reversed; minimize's first evaluation sees a
    non-contiguous gradient and takes the ordinary loop, but a gradient may
    change form mid-run, and minimize_many calls such functions too)."""
    b = np.array([1.0, 2.0, 3.0, 4.0])
    x = np.array([0.5, -1.0, 2.0, 7.0])
    cobj = wrap_njit(reversed_out, True, True, (b,), True, x)
    assert cobj is not None
    f, g = cobj.python()(x)
    assert f == reversed_out(x, b, np.empty(4))[0]
    np.testing.assert_array_equal(g, x - b)


def test_the_error_flag_is_read_once():
    assert error_flag(None) == 0
    assert set(C_SIGNATURES) == {np.dtype(np.float64), np.dtype(np.float32)}


RUN = '''
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, numadam, user
from numadam._methods import get_method
res = numadam.minimize(user.rosen_out, True, np.array([-1.2, 1.0]),
                       options={"lr": 1e-2, "maxiter": 2000, "gtol": 0})
spec = get_method("adam")
kern = spec.kernel(spec.resolve({}))
((loop, _),) = kern._loop.values()
st = loop.run.stats
print(res.compiled, len(st.cache_hits), len(st.cache_misses))
'''


def test_a_new_process_loads_the_loop_with_its_objective_from_the_cache(tmp_path):
    (tmp_path / "user.py").write_text(USER_OBJECTIVES)
    (tmp_path / "run.py").write_text(RUN)
    env = dict(os.environ, NUMADAM_CACHE_DIR=str(tmp_path / "cache"))
    outs = [subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path)],
                           env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert outs[0].split() == ["True", "0", "1"]      # compiled the first time
    assert outs[1].split() == ["True", "1", "0"]      # loaded the second
    names = os.listdir(tmp_path / "cache" / "kernels")
    # the njit objective compiled into the loop's module (cached with it)
    assert any(n.startswith("numadam_adam_loop_objective_") for n in names)


# ---------------------------------------------------------------------------
# minimize_many: double fg(intptr_t n, const double *x, double *g, intptr_t i,
# void *user_data), i the problem's index
# ---------------------------------------------------------------------------
def _many_problems(p=300):
    rng = np.random.default_rng(1)
    A = 10.0 ** rng.uniform(0, 2, (p, 4))
    B = rng.standard_normal((p, 4))
    X0 = rng.standard_normal((p, 4))
    # the data's addresses, for the C function's user_data
    ud = np.array([A.ctypes.data, B.ctypes.data], np.int64)
    return A, B, X0, ud


MANY_OPTS = {"lr": 0.02, "maxiter": 600, "gtol": 1e-6}


def _quad_many_cfunc():
    from numba import carray, cfunc, types

    from numadam._kernels._pointers import as_pointer
    sig = types.float64(types.intp, types.CPointer(types.float64),
                        types.CPointer(types.float64), types.intp, types.voidptr)

    @cfunc(sig, error_model="numpy")
    def fg(n, xp, gp, i, ud):
        d = carray(as_pointer(ud, np.int64), (2,))
        x, g = carray(xp, (n,)), carray(gp, (n,))
        a = carray(as_pointer(d[0] + i * n * 8, np.float64), (n,))
        b = carray(as_pointer(d[1] + i * n * 8, np.float64), (n,))
        f = 0.0
        for k in range(n):
            r = x[k] - b[k]
            g[k] = a[k] * r
            f += 0.5 * a[k] * r * r
        return f
    return fg


def test_minimize_many_with_a_cfunc_through_a_low_level_callable_gives_njits_bits():
    from scipy import LowLevelCallable
    A, B, X0, ud = _many_problems()
    llc = LowLevelCallable(_quad_many_cfunc().ctypes, ud.ctypes.data_as(ctypes.c_void_p))
    res = numadam.minimize_many(llc, True, X0, options=MANY_OPTS)
    ref = numadam.minimize_many(quad_many_njit, True, X0, data=(A, B), options=MANY_OPTS)
    assert res.summary == ref.summary and 0 in res.summary
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.nit, ref.nit)
    np.testing.assert_array_equal(res.fun, ref.fun)
    np.testing.assert_array_equal(res.jac, ref.jac)


def test_a_c_objective_with_a_schedule_refused_later_raises_its_error():
    """minimize_many's C path reports the schedule's error, as its njit path and
    minimize do (found by review: it gave KeyError: -6)."""
    from scipy import LowLevelCallable
    A, B, X0, ud = _many_problems(3)   # (A and B alive: ud holds their addresses)
    llc = LowLevelCallable(_quad_many_cfunc().ctypes, ud.ctypes.data_as(ctypes.c_void_p))
    with pytest.raises(ValueError, match=r"returned nan at step 50"):
        numadam.minimize_many(llc, True, X0,
                              options={"lr": lambda t: 0.1 if t < 50 else float("nan"),
                                       "maxiter": 100, "gtol": 0})
    assert A.shape == B.shape == X0.shape


def test_minimize_many_with_a_c_function_compiled_with_cc(clib):
    from scipy import LowLevelCallable
    fn = clib.quad_many
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_double),
                   ctypes.POINTER(ctypes.c_double), ctypes.c_ssize_t, ctypes.c_void_p]
    A, B, X0, ud = _many_problems()
    res = numadam.minimize_many(LowLevelCallable(fn, ud.ctypes.data_as(ctypes.c_void_p)),
                                True, X0, options=MANY_OPTS)
    ref = numadam.minimize_many(quad_many_njit, True, X0, data=(A, B), options=MANY_OPTS)
    assert res.summary == ref.summary
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-9, atol=1e-12)
    conv = res.status == 0
    np.testing.assert_allclose(res.x[conv], B[conv], atol=1e-5)


def test_minimize_many_refuses_c_objectives_it_cannot_call():
    A, B, X0, ud = _many_problems(4)
    fg = _quad_many_cfunc()
    with pytest.raises(TypeError, match="jac must be True with a C objective"):
        numadam.minimize_many(fg, quad_grad, X0)
    with pytest.raises(TypeError, match="data and args are not passed to a C objective"):
        numadam.minimize_many(fg, True, X0, data=(A, B))
    with pytest.raises(TypeError, match=r"intptr_t, void \*\) .* problem i"):
        numadam.minimize_many(rosen_c, True, X0)       # minimize's signature
    with pytest.raises(TypeError, match="runs on the CPU only"):
        numadam.minimize_many(fg, True, X0, device="cuda")
