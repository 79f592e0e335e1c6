"""Every schedule against its formula; schedules inside the optimizers."""
import math

import numpy as np
import pytest

import numadam
from numadam import schedules as S

KS = [0, 1, 2, 5, 9, 10, 11, 99, 100, 101, 500, 999, 1000, 5000]


def test_constant():
    s = S.constant(0.1)
    assert all(s(k) == 0.1 for k in KS)


def test_step_decay():
    s = S.step_decay(0.1, step_size=10, gamma=0.5)
    for k in KS:
        assert s(k) == pytest.approx(0.1 * 0.5 ** (k // 10), rel=1e-15)
    assert s(9) == 0.1 and s(10) == 0.05


def test_exponential():
    s = S.exponential(0.2, gamma=0.99)
    for k in KS:
        assert s(k) == pytest.approx(0.2 * 0.99 ** k, rel=1e-15)


def test_inverse_sqrt_is_alpha_over_sqrt_t():
    s = S.inverse_sqrt(0.01)
    for k in KS:
        assert s(k) == pytest.approx(0.01 / math.sqrt(k + 1), rel=1e-15)
    assert s(0) == 0.01 and s(3) == 0.005


def test_cosine():
    s = S.cosine(1.0, decay_steps=100, end_lr=0.1)
    for k in KS:
        frac = min(k, 100) / 100
        assert s(k) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)), rel=1e-14)
    assert s(0) == 1.0 and s(50) == pytest.approx(0.55) and s(100) == pytest.approx(0.1)
    assert s(10**6) == pytest.approx(0.1)


def test_warmup_then_cosine_by_hand():
    s = S.warmup(S.cosine(1e-3, decay_steps=1000, end_lr=1e-5), warmup_steps=100, init_lr=1e-4)
    # warmup: linear from 1e-4 to the cosine's peak 1e-3 over 100 steps
    assert s(0) == pytest.approx(1e-4)
    assert s(25) == pytest.approx(1e-4 + 0.9e-3 * 0.25)
    assert s(99) == pytest.approx(1e-4 + 0.9e-3 * 0.99)
    # then the cosine, which sees k - 100
    assert s(100) == pytest.approx(1e-3)
    assert s(600) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)      # cos(pi/2) = 0
    assert s(350) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi / 4)))
    assert s(1100) == pytest.approx(1e-5) and s(5000) == pytest.approx(1e-5)
    # a float in front of the warmup means a constant
    assert S.warmup(0.5, 10)(5) == pytest.approx(0.25) and S.warmup(0.5, 10)(50) == 0.5


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_formula(anneal):
    s = S.one_cycle(1.0, total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4,
                    anneal=anneal)
    initial, final = 1.0 / 25, 1.0 / 25 / 1e4
    up_end = 0.3 * 100 - 1

    def interp(a, b, p):
        if anneal == "cos":
            return b + (a - b) / 2 * (math.cos(math.pi * p) + 1)
        return (b - a) * p + a

    for k in range(100):
        if k <= up_end:
            want = interp(initial, 1.0, k / up_end)
        else:
            want = interp(1.0, final, (k - up_end) / (99 - up_end))
        assert s(k) == pytest.approx(want, rel=1e-12, abs=1e-15), k
    assert s(0) == pytest.approx(initial) and s(29) == pytest.approx(1.0)
    assert s(99) == pytest.approx(final) and s(500) == final


def test_one_cycle_matches_torch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=50,
                                                cycle_momentum=False)
    s = S.one_cycle(0.5, total_steps=50)
    for k in range(50):
        assert s(k) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        if k < 49:
            sched.step()


@pytest.mark.parametrize("make, match", [
    (lambda: S.constant(-0.1), "lr must be >= 0"),
    (lambda: S.step_decay(0.1, 0), "step_size must be >= 1"),
    (lambda: S.step_decay(0.1, 10, gamma=1.5), "gamma must be <= 1"),
    (lambda: S.exponential(0.1, gamma=0.0), "gamma must be > 0"),
    (lambda: S.cosine(0.1, decay_steps=10, end_lr=-1), "end_lr must be >= 0"),
    (lambda: S.one_cycle(0.1, 100, pct_start=1.0), "pct_start must be < 1"),
    (lambda: S.one_cycle(0.1, 3, pct_start=0.1), "leave at least one step"),
    (lambda: S.one_cycle(0.1, 100, anneal="exp"), "anneal must be 'cos' or 'linear'"),
    (lambda: S.warmup(S.constant(0.1), 0), "warmup_steps must be >= 1"),
])
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_argument_types():
    with pytest.raises(TypeError, match="step_size must be an int"):
        S.step_decay(0.1, 2.5)
    with pytest.raises(TypeError, match="lr must be a real number"):
        S.constant("0.1")


def test_repr_and_equality():
    s = S.warmup(S.cosine(1e-3, 100), 10)
    assert "numadam.schedules.warmup(schedule=numadam.schedules.cosine(lr=0.001" in repr(s)
    assert s == S.warmup(S.cosine(1e-3, 100), 10) and s != S.warmup(S.cosine(1e-3, 101), 10)


def test_optimizer_uses_schedule_of_the_step_count():
    """SGD moves by exactly lr(k) * g at step k+1."""
    s = S.step_decay(1.0, step_size=2, gamma=0.5)
    x = np.zeros(1)
    opt = numadam.SGD(x, lr=s)
    moves = []
    for k in range(6):
        assert opt.lr == s(k)
        before = x[0]
        opt.step(np.ones(1))
        moves.append(before - x[0])
    np.testing.assert_allclose(moves, [1, 1, 0.5, 0.5, 0.25, 0.25])
    assert opt.options["lr"] is s


def test_adamw_decay_uses_the_scheduled_lr():
    x = np.full(1, 2.0)
    opt = numadam.AdamW(x, lr=S.constant(0.1), weight_decay=0.5)
    opt.step(np.zeros(1))
    assert x[0] == pytest.approx(2.0 * (1 - 0.1 * 0.5))


def test_any_callable_works_and_bad_values_are_refused():
    x = np.zeros(2)
    numadam.Adam(x, lr=lambda k: 1e-3 * (k + 1)).step(np.ones(2))
    np.testing.assert_allclose(x, -1e-3, rtol=1e-6)
    opt = numadam.Adam(np.zeros(2), lr=lambda k: -1.0)
    with pytest.raises(ValueError, match="returned -1.0 at step 0; expected a finite"):
        opt.step(np.ones(2))
    assert opt.t == 0
    opt = numadam.Adam(np.zeros(2), lr=lambda k: "fast")
    with pytest.raises(TypeError, match="returned 'fast' at step 0"):
        opt.step(np.ones(2))


def test_minimize_with_schedule_matches_manual_loop():
    s = S.warmup(S.cosine(0.05, 200), 20)
    a = np.linspace(1, 3, 4)
    res = numadam.minimize(lambda x: 0.5 * float(a @ (x * x)), lambda x: a * x, np.ones(4),
                           options={"lr": s, "maxiter": 220, "gtol": 0})
    x = np.ones(4)
    opt = numadam.Adam(x, lr=s)
    for _ in range(220):
        opt.step(a * x)
    np.testing.assert_array_equal(res.x, x)


def test_state_dict_resumes_the_schedule_position():
    s = S.exponential(0.1, 0.9)
    g = np.random.default_rng(0).standard_normal((20, 3))
    x = np.zeros(3)
    opt = numadam.RMSprop(x, lr=s)
    for gi in g[:7]:
        opt.step(gi)
    saved, sx = opt.state_dict(), x.copy()
    for gi in g[7:]:
        opt.step(gi)
    y = sx.copy()
    opt2 = numadam.RMSprop(y)
    opt2.load_state_dict(saved)
    assert opt2.lr == s(7)
    for gi in g[7:]:
        opt2.step(gi)
    np.testing.assert_array_equal(x, y)


# --- item 27: every schedule checks its step count, in Schedule.__call__ -----------------

ALL_SCHEDULES = [
    S.constant(0.1), S.step_decay(0.1, 10, 0.5), S.exponential(0.2, 0.99),
    S.inverse_sqrt(0.01), S.cosine(1.0, 100, 0.1), S.one_cycle(1.0, 100),
    S.one_cycle(0.5, 50, anneal="linear"), S.warmup(S.cosine(1e-3, 1000, 1e-5), 100, 1e-4),
]
# float.hex of s(k) for k in (0, 1, 7, 33, 99, 150), recorded before the check was added
KNOWN_HEX = [
    ["0x1.999999999999ap-4"] * 6,
    ["0x1.999999999999ap-4", "0x1.999999999999ap-4", "0x1.999999999999ap-4",
     "0x1.999999999999ap-7", "0x1.999999999999ap-13", "0x1.999999999999ap-19"],
    ["0x1.999999999999ap-3", "0x1.95810624dd2f2p-3", "0x1.7dc622ab314f3p-3",
     "0x1.25fb8047c2a9ep-3", "0x1.2ee1ecc69db35p-4", "0x1.6ad39c9885c9cp-5"],
    ["0x1.47ae147ae147bp-7", "0x1.cf68d4fff04dcp-8", "0x1.cf68d4fff04dcp-9",
     "0x1.c192c09473ecdp-10", "0x1.0624dd2f1a9fcp-10", "0x1.aaa8d687c01a2p-11"],
    ["0x1.0000000000000p+0", "0x1.ffe2e54f9e109p-1", "0x1.fa73834821709p-1",
     "0x1.8ee2159b42fb3p-1", "0x1.9a826f1ca9151p-4", "0x1.999999999999ap-4"],
    ["0x1.47ae147ae1480p-5", "0x1.5ebb016b287e0p-5", "0x1.5f4703231f97cp-3",
     "0x1.fbe2d050af775p-1", "0x1.0c6f7a0b5ed8dp-18", "0x1.0c6f7a0b5ed8dp-18"],
    ["0x1.47ae147ae147bp-6", "0x1.bcb564efe8982p-5", "0x1.0a3d70a3d70a4p-2",
     "0x1.d41dd38cf91c2p-3", "0x1.0c6f7a0b5ed8dp-19", "0x1.0c6f7a0b5ed8dp-19"],
    ["0x1.a36e2eb1c432dp-14", "0x1.c92ddbdb5d895p-14", "0x1.55d5f56a7ac82p-13",
     "0x1.a048e043a2164p-12", "0x1.03c8e25c810a5p-10", "0x1.048be2660300cp-10"],
]


@pytest.mark.parametrize("s, known", list(zip(ALL_SCHEDULES, KNOWN_HEX)), ids=repr)
def test_schedule_values_are_bitwise_unchanged_by_the_step_check(s, known):
    for k, h in zip((0, 1, 7, 33, 99, 150), known):
        assert s(k) == float.fromhex(h), (s, k)
        # integral NumPy integers and integral floats are accepted, as that int
        for same in (np.int64(k), np.int32(k), np.uint16(k), float(k), np.float64(k)):
            assert s(same) == float.fromhex(h), (s, same)


@pytest.mark.parametrize("s", ALL_SCHEDULES, ids=repr)
@pytest.mark.parametrize("k", [-1, -100, np.int64(-3)])
def test_every_schedule_refuses_a_negative_step_count(s, k):
    with pytest.raises(ValueError, match=rf"the step count k must be an integer >= 0; "
                                         rf"got {int(k)}$"):
        s(k)


@pytest.mark.parametrize("s", ALL_SCHEDULES, ids=repr)
@pytest.mark.parametrize("k, exc, match", [
    (2.5, ValueError, r"step count k must be an integer >= 0; got 2.5, which is not integral"),
    (-0.5, ValueError, r"step count k must be an integer >= 0; got -0.5, which is not integral"),
    (float("nan"), ValueError, r"step count k must be an integer >= 0; got nan, which is not"),
    (float("inf"), ValueError, r"step count k must be an integer >= 0; got inf, which is not"),
    (True, TypeError, r"step count k must be an integer >= 0; got True of type bool"),
    (np.bool_(False), TypeError, r"step count k must be an integer >= 0; got np.False_ of type"),
    ("3", TypeError, r"step count k must be an integer >= 0; got '3' of type str"),
    (None, TypeError, r"step count k must be an integer >= 0; got None of type NoneType"),
])
def test_every_schedule_refuses_a_step_count_that_is_not_an_integer(s, k, exc, match):
    with pytest.raises(exc, match=match):
        s(k)


def test_the_examples_of_the_issue():
    with pytest.raises(ValueError, match="step count k must be an integer >= 0; got -1"):
        S.exponential(0.1, 0.5)(-1)          # returned 0.2 before
    with pytest.raises(ValueError, match="step count k must be an integer >= 0; got -1"):
        S.inverse_sqrt(0.1)(-1)              # ZeroDivisionError before


def test_a_user_subclass_gets_the_check_and_an_int():
    seen = []

    class halving(S.Schedule):
        def __init__(self, lr):
            self._params = {"lr": lr}

        def lr(self, k):
            seen.append(k)
            return self._params["lr"] / 2 ** k

    s = halving(1.0)
    assert s(np.int64(3)) == 0.125 and s(2.0) == 0.25
    assert seen == [3, 2] and all(type(k) is int for k in seen)
    with pytest.raises(ValueError, match="got -2$"):
        s(-2)
    assert len(seen) == 2                    # lr never saw the bad step count


def test_a_schedule_at_lr_0_is_taken_as_lr_0_is():
    """lr = 0 freezes the parameters, as a float lr (torch.optim takes 0 <= lr)."""
    import numpy as np
    for s in (S.constant(0.0), S.cosine(0.0, 10), S.step_decay(0.0, 5),
              S.exponential(0.0, 0.9), S.inverse_sqrt(0.0), S.one_cycle(0.0, 10)):
        assert [s(k) for k in range(4)] == [0.0] * 4
        x = np.ones(3)
        opt = numadam.Adam(x, lr=s)
        opt.step(np.ones(3))
        assert np.array_equal(x, np.ones(3)) and opt.t == 1
