"""State precision: Adam's step with float32, bfloat16 and int8 optimizer state.

The same float32 parameters and gradient for three optimizers
(``state_dtype`` None, ``"bfloat16"``, ``"int8"``) and the in-process
streaming ceiling of the float32-state step (7 words per parameter), at
1e5..3e7 parameters; interleaved rounds, each the median of several steps, a
case's speed-up its float32-state time over its own in the same round, the
median over rounds.  The step of float32 state moves 28 bytes per parameter,
bfloat16 20, int8 16 + 8/256: their ceilings are 1.40x and 1.75x.

Then the choice of the 8-bit code, measured: the encode throughput and the
accuracy of the float8-style codes numadam uses (e4m3 / unsigned e5m3, bit
operations) and of bitsandbytes' dynamic-tree maps (``create_dynamic_map``,
encoded by a branchless binary search over the 256 values, the fastest
vectorisable search), on the moments of a real Adam run.
"""
import statistics

import numpy as np

import numadam

SIZES = (100_000, 1_000_000, 10_000_000, 30_000_000)
FORMATS = (None, "bfloat16", "int8")
#: bytes moved per parameter by a step of Adam (x, g, m, v) with each state format
BYTES = {None: 28.0, "bfloat16": 20.0, "int8": 16.0 + 8 / 256}


def _label(fmt):
    return "float32" if fmt is None else fmt


_CEILINGS = []


def format_ceilings():
    """``(words, codes)``: streaming loops with the memory traffic of the
    bfloat16 step (read x, g and one uint32 word of moments, write x and the
    word: 20 bytes per parameter) and of the int8 step (x, g and two uint8
    codes: 16), trivial arithmetic; compiled on first use."""
    if not _CEILINGS:
        from numba import njit, prange

        @njit(parallel=True, nogil=True)
        def words(x, g, w, a):
            for i in prange(x.size):
                w[i] = w[i] + np.uint32(1)
                x[i] = x[i] + a * g[i]

        @njit(parallel=True, nogil=True)
        def codes(x, g, m, v, a):
            for i in prange(x.size):
                m[i] = m[i] + np.uint8(1)
                v[i] = v[i] + np.uint8(1)
                x[i] = x[i] + a * g[i]
        _CEILINGS.extend((words, codes))
    return tuple(_CEILINGS)


#: the two-pass methods' options in the bench (Prodigy with ``growth_rate=1``:
#: many steps on one gradient stay finite, the same arithmetic)
TWO_PASS = {"lamb": {}, "prodigy": {"growth_rate": 1.0}}


def measure(n, rounds, ceilings=False, method="adam", options=None):
    """``{label: [seconds per step of each round]}`` and each optimizer's
    ``state_nbytes`` (``method`` with ``options``; Adam: beside the float32
    streaming ceiling, ``"ceiling"``); ``ceilings``: also the streaming
    ceilings of the bfloat16 and the int8 step's traffic (``"ceiling 20"``,
    ``"ceiling 16"``, :func:`format_ceilings`)."""
    from numadam._kernels import load_cpu

    from .loops import interleaved
    rng = np.random.default_rng(0)
    g = (rng.standard_normal(n) * 1e-2).astype(np.float32)
    cases, nbytes = {}, {}
    for fmt in FORMATS:
        x = rng.standard_normal(n).astype(np.float32)
        opt = numadam.Optimizer(x, method=method, lr=1e-3, state_dtype=fmt,
                                **(options or {}))
        opt.step(g)
        cases[_label(fmt)] = opt.step
        nbytes[_label(fmt)] = opt.state_nbytes
    if method == "adam":
        cx, cg, cm, cv = (np.full(n, 0.5, np.float32) for _ in range(4))   # touched pages
        ceil = load_cpu().STREAM_CEILING.pick(n)
        cases["ceiling"] = lambda _g: ceil(cx, cg, cm, cv, 1e-30)
    if ceilings:
        words, codes = format_ceilings()
        wx, wg = np.full(n, 0.5, np.float32), np.full(n, 0.5, np.float32)
        ww = np.zeros(n, np.uint32)
        qx, qg = np.full(n, 0.5, np.float32), np.full(n, 0.5, np.float32)
        qm, qv = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
        tiny = np.float32(1e-30)
        cases["ceiling 20"] = lambda _g: words(wx, wg, ww, tiny)
        cases["ceiling 16"] = lambda _g: codes(qx, qg, qm, qv, tiny)
    reps = max(3, int(3e7 // n // 4))
    calls = {k: (lambda fn=fn: [fn(g) for _ in range(reps)]) for k, fn in cases.items()}
    return interleaved(calls, rounds, per=reps), nbytes


def report(emit, checks, peers=(), rounds=7, smoke=False):
    """The "state precision" section; returns ``{n: {label: seconds}}``."""
    sizes = (100_000,) if smoke else SIZES
    rounds = 1 if smoke else rounds
    emit("\n## State precision: Adam with float32, bfloat16 and int8 state\n")
    emit("float32 parameters, one fused step; ms per step, bytes of state per parameter "
         "(``opt.state_nbytes / n``), each format's speed-up over float32 state (paired per "
         "round) and the fraction of the streaming ceiling it reaches per byte moved (28, 20 "
         "and 16.03 bytes per parameter).\n")
    emit("| parameters | float32 ms | bfloat16 ms | int8 ms | bfloat16 speed-up | "
         "int8 speed-up | state B/param f32 / bf16 / int8 | of ceiling f32 / bf16 / int8 |")
    emit("|---:|---:|---:|---:|---:|---:|---|---|")
    out = {}
    for n in sizes:
        times, nbytes = measure(n, rounds)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = times["float32"]
        speed = {k: statistics.median(b / t for b, t in zip(base, times[k]))
                 for k in ("bfloat16", "int8")}
        ceil = {fmt: statistics.median(c / t for c, t in zip(times["ceiling"],
                                                              times[_label(fmt)]))
                * BYTES[fmt] / 28.0 for fmt in FORMATS}
        out[n] = dict(med, speedup=speed, nbytes=nbytes)
        emit(f"| {n:.0e} | {med['float32'] * 1e3:.3f} | {med['bfloat16'] * 1e3:.3f} | "
             f"{med['int8'] * 1e3:.3f} | {speed['bfloat16']:.2f} | {speed['int8']:.2f} | "
             + " / ".join(f"{nbytes[_label(f)] / n:.2f}" for f in FORMATS) + " | "
             + " / ".join(f"{ceil[f]:.2f}" for f in FORMATS) + " |")
        if n == 30_000_000:
            checks.append(("3e7 float32: bfloat16 state >= 1.3x the float32-state step",
                           speed["bfloat16"] >= 1.3, speed["bfloat16"]))
            checks.append(("3e7 float32: int8 state >= 1.0x the float32-state step",
                           speed["int8"] >= 1.0, speed["int8"]))
            for fmt, most in ((None, 240_000_000), ("bfloat16", 120_000_000),
                              ("int8", 61_000_000)):
                got = nbytes[_label(fmt)]
                checks.append((f"3e7 float32: {_label(fmt)} state_nbytes <= {most:,}",
                               got <= most, got))
    two_pass(emit, smoke, rounds)
    code_choice(emit, smoke)
    accuracy(emit, smoke)
    return out


def two_pass(emit, smoke=False, rounds=7):
    """LAMB's and Prodigy's step with each state format (their first pass
    reads the decoded state, the second stores it: see the precision guide)."""
    emit("\n### LAMB and Prodigy (two passes)\n")
    emit("float32 parameters; ms per step (both passes), each format's speed-up over float32 "
         "state (paired per round), bytes of state per parameter.  Their first pass reads the "
         "state and stores nothing; the second computes the new moments again and stores "
         "them.\n")
    emit("| method | parameters | float32 ms | bfloat16 ms | int8 ms | bfloat16 speed-up | "
         "int8 speed-up | state B/param f32 / bf16 / int8 |")
    emit("|---|---:|---:|---:|---:|---:|---:|---|")
    # smoke: LAMB alone (the same code for both; Prodigy's three formats are
    # half a minute of compiling)
    for method, options in list(TWO_PASS.items())[:1 if smoke else None]:
        for n in ((100_000,) if smoke else (1_000_000, 30_000_000)):
            times, nbytes = measure(n, rounds, method=method, options=options)
            med = {k: statistics.median(v) for k, v in times.items()}
            speed = {k: statistics.median(b / t for b, t in zip(times["float32"], times[k]))
                     for k in ("bfloat16", "int8")}
            emit(f"| {method} | {n:.0e} | {med['float32'] * 1e3:.3f} | "
                 f"{med['bfloat16'] * 1e3:.3f} | {med['int8'] * 1e3:.3f} | "
                 f"{speed['bfloat16']:.2f} | {speed['int8']:.2f} | "
                 + " / ".join(f"{nbytes[_label(f)] / n:.2f}" for f in FORMATS) + " |")


# ---------------------------------------------------------------------------
# the 8-bit code: float8-style bit formats against bitsandbytes' dynamic maps
# ---------------------------------------------------------------------------
def dynamic_map(signed):
    """bitsandbytes' ``create_dynamic_map(signed, max_exponent_bits=7,
    total_bits=8)`` (>= 0.44), from its formula: per exponent ``i`` a linear
    fraction of ``10**(i - 6)`` between 0.1 and 1, with 0 and 1, sorted."""
    data = []
    for i in range(7):
        items = 2 ** i + 1 if signed else 2 ** (i + 1) + 1
        b = np.linspace(0.1, 1, items)
        means = (b[:-1] + b[1:]) / 2.0
        data += list(10.0 ** (i - 6) * means)
        if signed:
            data += list(-(10.0 ** (i - 6)) * means)
    data += [0.0, 1.0]
    data += [0.0] * (256 - len(data))
    return np.sort(np.array(data, np.float32))


def _encoders():
    from numba import njit
    from numadam._methods import get_method
    mod = get_method("adam").rule.cpu_module()
    # the encoders of the step's common case (the block's factors folded)
    q8s, q8u = mod.q8_signed_pre, mod.q8_unsigned_pre
    pre_s, pre_u = mod.q8_signed_prescale, mod.q8_unsigned_prescale

    @njit(error_model="numpy", cache=True)
    def fp8(a, out, signed):
        inv = np.float32(1.875)     # (the block's absmax 1)
        if signed:
            ip = pre_s(inv, np.float32(1.0))
            for i in range(a.size):
                out[i] = q8s(a[i], ip)
        else:
            ip = pre_u(inv, np.float32(1.0))
            for i in range(a.size):
                out[i] = q8u(a[i], ip)

    @njit(error_model="numpy", cache=True)
    def search(a, out, table):
        # branchless binary search (lower bound) in the 256 sorted values, then
        # the nearer of the two neighbours: eight dependent table loads per code
        for i in range(a.size):
            y = a[i]
            k = 0
            k += 128 * np.int64(table[k + 127] < y)
            k += 64 * np.int64(table[k + 63] < y)
            k += 32 * np.int64(table[k + 31] < y)
            k += 16 * np.int64(table[k + 15] < y)
            k += 8 * np.int64(table[k + 7] < y)
            k += 4 * np.int64(table[k + 3] < y)
            k += 2 * np.int64(table[k + 1] < y)
            k += np.int64(table[k] < y)
            lo = max(k - 1, 0)
            out[i] = np.uint8(k - np.int64(abs(y - table[lo]) <= abs(table[k] - y)) * (k - lo))

    return fp8, search


def code_choice(emit, smoke=False):
    """Encode speed and accuracy of both 8-bit codes on an Adam run's moments."""
    import time
    n = 204_800 if smoke else 4_096_000   # whole blocks of 256
    rng = np.random.default_rng(3)
    # an Adam run's moments: m and v after 50 steps of noisy gradients whose
    # scale varies over orders of magnitude between elements
    scale = 10.0 ** rng.uniform(-4, 0, n)
    m = np.zeros(n)
    v = np.zeros(n)
    for _ in range(50):
        g = scale * (0.3 + rng.standard_normal(n))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
    fp8, search = _encoders()
    out = np.empty(n, np.uint8)
    rows = []
    for name, signed, state in (("m (signed)", True, m), ("v (unsigned)", False, v)):
        blocks = state.reshape(-1, 256)
        absmax = np.abs(blocks).max(axis=1, keepdims=True)
        y = (blocks / absmax).astype(np.float32).reshape(-1)   # in [-1, 1]
        table = dynamic_map(signed)
        timings = {}
        for label, fn in (("float8-style", lambda: fp8(y, out, signed)),
                          ("dynamic map", lambda: search(y, out, table))):
            fn()
            ts = []
            for _ in range(1 if smoke else 5):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            timings[label] = min(ts)
        # accuracy: relative error of the decoded values
        from numadam import _lowp
        fp_back = _lowp.decode_table(signed)[_lowp.encode(y * 1.875, signed)] / 1.875
        search(y, out, table)
        dm_back = table[out]
        err = {k: np.median(np.abs(b - y)[y != 0] / np.abs(y[y != 0]))
               for k, b in (("float8-style", fp_back), ("dynamic map", dm_back))}
        worst = {k: np.quantile(np.abs(b - y)[y != 0] / np.abs(y[y != 0]), 0.99)
                 for k, b in (("float8-style", fp_back), ("dynamic map", dm_back))}
        zero = {k: float(np.mean((b == 0) & (y != 0)))
                for k, b in (("float8-style", fp_back), ("dynamic map", dm_back))}
        for k in timings:
            rows.append(f"| {name} | {k} | {n / timings[k] / 1e9:.2f} | {err[k]:.4f} | "
                        f"{worst[k]:.4f} | {zero[k]:.2e} |")
    emit("\n### The 8-bit code: encode speed and accuracy\n")
    emit(f"Blockwise (256) moments of a 50-step Adam run on {n:.0e} elements whose gradient "
         "scales span 4 decades; one thread encoding already-scaled values (Gcodes/s), and "
         "the decoded values' relative error (median, 99th percentile) and the fraction "
         "of nonzero values that became 0.\n")
    emit("| state | code | encode Gcodes/s | median rel. error | p99 rel. error | "
         "nonzero -> 0 |")
    emit("|---|---|---:|---:|---:|---:|")
    for r in rows:
        emit(r)


# ---------------------------------------------------------------------------
# accuracy: the final loss with low-precision state against float32 state
# ---------------------------------------------------------------------------
def adam_paper_logistic(fmt, epochs=10, dtype=np.float32):
    """The Adam paper's experiment (Section 6.1) on MNIST-shaped synthetic data:
    L2-regularised 10-class logistic regression over 784 features (7,840
    parameters: int8 state applies), minibatches of 128, ``lr = 0.1/sqrt(t)``.
    Returns ``(final full-data loss, final parameters)``."""
    from numadam.problems import make_multinomial, softmax_loss
    X, y, _ = make_multinomial(n_samples=20000, n_features=784, n_classes=10, seed=0,
                               scale=3.0, dtype=dtype)
    l2 = 1e-4
    r = numadam.minimize(softmax_loss, True, np.zeros((784, 10), dtype), args=(l2,),
                         data=(X, y), method="adam", rng=0,
                         options=dict(lr=numadam.schedules.inverse_sqrt(0.1), batch_size=128,
                                      epochs=epochs, gtol=0, state_dtype=fmt))
    return softmax_loss(r.x, X, y, l2)[0], r.x


def rosenbrock_nd(fmt, n=8192, steps=5000, lr=1e-2, dtype=np.float32):
    """Adam on the n-D (chained) Rosenbrock function from (-1.2, 1, -1.2, 1,
    ...): ``(final loss, final parameters)``."""
    from numadam.problems import rosenbrock
    x0 = np.tile(np.array([-1.2, 1.0], dtype), n // 2)
    r = numadam.minimize(rosenbrock, True, x0, method="adam",
                         options=dict(lr=lr, maxiter=steps, gtol=0, state_dtype=fmt))
    return rosenbrock(r.x)[0], r.x


def mlp_digits(fmt, epochs=30):
    """The MLP of ``examples/mlp_digits.py`` (64-64-10 on scikit-learn's digits,
    4,810 parameters in four arrays; int8 state applies to W1's 4,096) trained
    with AdamW over its arrays: ``(final training loss, parameters)``."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples", "mlp_digits.py")
    spec = importlib.util.spec_from_file_location("numadam_example_mlp_digits", path)
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    params, _, _ = ex.train(epochs, state_dtype=fmt)
    loss = ex.loss_and_grads(params, ex.X_train, ex.y_train)[0]
    return loss, np.concatenate([p.reshape(-1) for p in params.values()])


EXPERIMENTS = {"Adam paper logistic regression (7,840 parameters)": adam_paper_logistic,
               "Rosenbrock, 8,192-D": rosenbrock_nd,
               "MLP on digits (4,810 parameters, 4 arrays)": mlp_digits}


def accuracy(emit, smoke=False):
    """The final loss with bfloat16 and int8 state against float32 state."""
    emit("\n### Accuracy: the final loss with low-precision state\n")
    emit("float32 parameters; the final loss with each state format, its gap to float32 "
         "state's (relative), and the distance of the final parameters from float32 "
         "state's (relative to their norm).\n")
    emit("| problem | state | final loss | loss gap | parameter distance |")
    emit("|---|---|---:|---:|---:|")
    out = {}
    for name, fn in EXPERIMENTS.items():
        kw = {"epochs": 1} if smoke and fn is not rosenbrock_nd else (
            {"steps": 100} if smoke else {})
        base, xb = fn(None, **kw)
        for fmt in FORMATS:
            loss, x = (base, xb) if fmt is None else fn(fmt, **kw)
            gap = (loss - base) / base
            dist = np.linalg.norm(x.astype(float) - xb) / np.linalg.norm(xb)
            out[(name, fmt)] = (loss, gap, dist)
            emit(f"| {name} | {_label(fmt)} | {loss:.6g} | {gap:+.2%} | {dist:.2e} |")
    return out


# ---------------------------------------------------------------------------
# the 3e7 step in several fresh processes (this VM's memory bandwidth has modes)
# ---------------------------------------------------------------------------
#: a float32-state step faster than this (ms at 3e7) ran in the VM's fast-memory mode
FAST_MS = 12.0


def _one_process(rounds):
    """The paired 3e7 measurement of this process: float32 ms, bfloat16 and int8
    speed-ups, and the same ratios of the streaming ceilings of their traffic
    (28 bytes per parameter over 20 and 16: what the memory allows this
    process), medians over rounds, each ratio paired per round."""
    times, _ = measure(30_000_000, rounds, ceilings=True)
    base, ceil = times["float32"], times["ceiling"]

    def ratio(a, b):
        return statistics.median(p / q for p, q in zip(a, b))
    return (statistics.median(base) * 1e3, ratio(base, times["bfloat16"]),
            ratio(base, times["int8"]), ratio(ceil, times["ceiling 20"]),
            ratio(ceil, times["ceiling 16"]))


def processes(count=8, rounds=7, emit=print):
    """Run the 3e7 paired step measurement (the state precision table's last
    row) in ``count`` fresh processes, one after another, and emit a markdown
    table: each process's float32-state ms and the two speed-ups, marked by the
    memory mode the float32 step ran in (under :data:`FAST_MS`: fast), and
    the ratios of the streaming ceilings of the formats' traffic in the same
    process (the speed-ups its memory allows)."""
    import json
    import subprocess
    import sys
    code = ("import json; from bench.precision import _one_process; "
            f"print(json.dumps(_one_process({int(rounds)})))")
    emit("| process | float32 ms | memory mode | bfloat16 speed-up | int8 speed-up | "
         "ceilings 28 B / 20 B | ceilings 28 B / 16 B |")
    emit("|---:|---:|---|---:|---:|---:|---:|")
    rows = []
    for k in range(count):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
        f32, bf16, int8, c20, c16 = json.loads(out)
        rows.append((f32, bf16, int8, c20, c16))
        emit(f"| {k + 1} | {f32:.2f} | {'fast' if f32 < FAST_MS else 'slow'} | "
             f"{bf16:.2f} | {int8:.2f} | {c20:.2f} | {c16:.2f} |")
    for mode, keep in (("fast", lambda r: r[0] < FAST_MS), ("slow", lambda r: r[0] >= FAST_MS)):
        sel = [r for r in rows if keep(r)]
        if sel:
            emit(f"\n{mode} mode, {len(sel)} process(es): bfloat16 "
                 f"{min(r[1] for r in sel):.2f}-{max(r[1] for r in sel):.2f}x, int8 "
                 f"{min(r[2] for r in sel):.2f}-{max(r[2] for r in sel):.2f}x; the ceilings "
                 f"allow {min(r[3] for r in sel):.2f}-{max(r[3] for r in sel):.2f}x and "
                 f"{min(r[4] for r in sel):.2f}-{max(r[4] for r in sel):.2f}x")
    return rows


def layout(n=30_000_000, rounds=7, emit=print):
    """The bfloat16 step's kernel on Adam's two moments as one array of uint32
    words (the host's layout) against the same step on two uint16 arrays (the
    layout of ``minimize_many``'s loop and of the device), side by side in one
    process: a markdown table of ms per step (medians of interleaved rounds)
    and the paired ratio."""
    import numadam
    from numadam._lowp import step_key
    from numadam._methods import get_method

    from .loops import interleaved
    rng = np.random.default_rng(0)
    g = (rng.standard_normal(n) * 1e-2).astype(np.float32)
    opt = numadam.Adam(rng.standard_normal(n).astype(np.float32), lr=1e-3,
                       state_dtype="bfloat16")
    opt.step(g)
    words = opt._arrays[0]
    m, v = opt.state["exp_avg"].copy(), opt.state["exp_avg_sq"].copy()
    x2 = opt.params.copy()
    rule = get_method("adam").rule
    split = rule.lowp_module("bfloat16", True, paired=False).adam_parallel
    # Adam's scalars of a plain step (gmul, clip, wd, decay, b1, c1, b2, c2, ...)
    sc = (1.0, np.inf, 0.0, 1.0, 0.9, 0.1, 0.999, 0.001, 1e-3, 1.0, 1e-8, 1.0)
    key = step_key(2)
    calls = {"two to a word (uint32)": lambda: opt._kernel(opt.params.reshape(-1), g, words,
                                                           key, np.int64(0), *sc),
             "separate (2 x uint16)": lambda: split(x2, g, m, v, key, np.int64(0), *sc)}
    times = interleaved(calls, rounds)
    a, b = times["two to a word (uint32)"], times["separate (2 x uint16)"]
    emit("| bfloat16 moments | ms per step | separate / two to a word |")
    emit("|---|---:|---:|")
    emit(f"| two to a word (uint32) | {statistics.median(a) * 1e3:.2f} | "
         f"{statistics.median(q / p for p, q in zip(a, b)):.2f} |")
    emit(f"| separate (2 x uint16) | {statistics.median(b) * 1e3:.2f} | |")
    return times


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m bench.precision",
        description="Adam's step at 3e7 float32 parameters with float32, bfloat16 and int8 "
                    "state, paired in one process, in several fresh processes")
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--layout", action="store_true",
                    help="instead: bfloat16's kernel on moments two to a word against "
                         "separate arrays, in this process")
    ap.add_argument("--two-pass", action="store_true",
                    help="instead: LAMB's and Prodigy's step with each state format at 1e6 "
                         "and 3e7 parameters, in this process")
    a = ap.parse_args()
    if a.layout:
        layout(rounds=a.rounds)
    elif a.two_pass:
        two_pass(print, rounds=a.rounds)
    else:
        processes(a.processes, a.rounds)
