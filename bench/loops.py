"""Small-problem overhead: per-iteration cost of every loop on 2-D Rosenbrock.

* Rosenbrock from (-1.2, 1), 20,000 Adam steps (lr 1e-2), time per iteration of:
  numadam's compiled loop (njit fun), its ordinary loop (the same njit fun, forced
  with ``compiled=False``; and a plain NumPy fun), the many-problems solver
  (``minimize_many`` on 1,000 copies: time per problem-iteration), a
  hand-written single ``@njit`` Adam loop, and the peers' loops when installed:
  ``torch.optim.Adam`` with a hand-written gradient, optax with a ``jax.jit``
  step called from Python, and optax with the whole loop under ``jax.jit``
  (``lax.fori_loop``).  Interleaved rounds, medians; ratios per round.
* Many problems: 20,000 random convex quadratics (4 parameters) solved by
  ``minimize_many`` against a loop of ``minimize`` calls (compiled loop per call)
  on a sample, in problems per second; and 500 Adam steps on all of them
  (``gtol=0``) side by side in one process: ``minimize_many`` with an allocating
  and with an ``out=`` objective, a hand-written ``prange`` Adam loop (the
  floor), and ``jax.jit(jax.vmap(...))`` of optax Adam in ``lax.fori_loop``
  when jax and optax are installed.
"""
import math
import statistics
import time

import numpy as np
from numba import njit, prange

import numadam
from numadam.problems import rosenbrock_2d

STEPS = 20000


rosen_fg = njit(rosenbrock_2d)


@njit
def rosen_fg_out(x, out):
    """Rosenbrock writing its gradient into ``out`` (numpy's out= convention)."""
    a, b = x[0], x[1]
    out[0] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    out[1] = 200.0 * (b - a * a)
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, out


def rosen_fg_numpy(x):
    a, b = x[0], x[1]
    return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2,
            np.array([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)]))


@njit
def handwritten_adam(x, steps, lr, b1, b2, eps):
    """Adam on Rosenbrock, everything inlined: the floor for a compiled loop."""
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, steps + 1):
        a, b = x[0], x[1]
        g0 = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
        g1 = 200.0 * (b - a * a)
        bc1 = 1.0 - b1 ** t
        bc2 = 1.0 - b2 ** t
        for i, gi in ((0, g0), (1, g1)):
            m[i] = b1 * m[i] + (1.0 - b1) * gi
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi
            x[i] -= lr / bc1 * m[i] / (math.sqrt(v[i]) / math.sqrt(bc2) + eps)
    return x


def torch_loop(steps):
    import torch
    p = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-2)
    for _ in range(steps):
        with torch.no_grad():
            a, b = p[0].item(), p[1].item()
        p.grad = torch.tensor([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a),
                               200.0 * (b - a * a)], dtype=torch.float64)
        opt.step()
    return p


def optax_loops(steps):
    """``(python_loop, compiled_loop)`` for optax Adam on Rosenbrock, both compiled."""
    import jax
    import jax.numpy as jnp
    import optax

    from .peers import enable_jax_x64
    enable_jax_x64()
    tx = optax.adam(1e-2)

    def grad(p):
        a, b = p[0], p[1]
        return jnp.stack([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)])

    @jax.jit
    def step(p, s):
        u, s = tx.update(grad(p), s, p)
        return optax.apply_updates(p, u), s

    @jax.jit
    def whole(p):
        def body(_, carry):
            return step(*carry)
        return jax.lax.fori_loop(0, steps, body, (p, tx.init(p)))[0]

    p0 = jnp.asarray([-1.2, 1.0], dtype=jnp.float64)

    def python_loop():
        p, s = p0, tx.init(p0)
        for _ in range(steps):
            p, s = step(p, s)
        return p.block_until_ready()

    return python_loop, lambda: whole(p0).block_until_ready()


def emit_table(emit, title, header, rows, ratios=None):
    """A results section: ``## title``, a table of ``rows`` (tuples of cells,
    numbers right-aligned), then each paired ratio as a bullet."""
    emit(f"\n## {title}\n")
    emit("| " + " | ".join(header) + " |")
    emit("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        emit("| " + " | ".join(row) + " |")
    if ratios:
        emit("")
        for k, v in ratios.items():
            emit(f"- {k}: {v:.2f} (paired per round)")


def interleaved(cases, rounds, per=1.0):
    """Each case called once (warm-up), then ``rounds`` rounds calling every
    case in turn; ``{label: [seconds of each round / per]}``."""
    for fn in cases.values():
        fn()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) / per)
    return times


def rosenbrock_table(rounds=5, peers=("torch foreach", "optax"), steps=STEPS, many=True):
    STEPS = steps  # noqa: N806 - the module's default, or fewer (--smoke)
    x0 = np.array([-1.2, 1.0])
    opts = {"lr": 1e-2, "maxiter": STEPS, "gtol": 0}
    cases = {
        "numadam compiled loop (njit fun)":
            (lambda: numadam.minimize(rosen_fg, True, x0, options=opts), STEPS),
        "numadam compiled loop (njit fun, out=)":
            (lambda: numadam.minimize(rosen_fg_out, True, x0, options=opts), STEPS),
        "numadam ordinary loop (njit fun, compiled=False)":
            (lambda: numadam.minimize(rosen_fg, True, x0, options=dict(opts, compiled=False)),
             STEPS),
        "numadam ordinary loop (NumPy fun)":
            (lambda: numadam.minimize(rosen_fg_numpy, True, x0, options=opts), STEPS),
        "hand-written @njit Adam loop":
            (lambda: handwritten_adam(x0.copy(), STEPS, 1e-2, 0.9, 0.999, 1e-8), STEPS),
    }
    if many:   # (another compile of minimize_many, for seconds: not in --smoke)
        cases["numadam minimize_many, 1000 problems (per problem-iteration)"] = (
            lambda: numadam.minimize_many(rosen_fg, True, np.tile(x0, (1000, 1)),
                                          options=dict(opts, maxiter=STEPS // 10)),
            1000 * STEPS // 10)
    if any(p.startswith("torch") for p in peers):
        cases["torch.optim.Adam loop, hand-written gradient"] = (lambda: torch_loop(2000), 2000)
    if "optax" in peers:
        py, whole = optax_loops(STEPS)
        cases["optax.adam, jax.jit step in a Python loop"] = (py, STEPS)
        cases["optax.adam, whole loop in jax.jit (fori_loop)"] = (whole, STEPS)
    for fn, _ in cases.values():
        fn()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, (fn, n) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) / n)
    comp = times["numadam compiled loop (njit fun)"]
    hand = times["hand-written @njit Adam loop"]
    ratios = {"compiled / hand-written": statistics.median(c / h for c, h in zip(comp, hand)),
              "compiled with out= / hand-written": statistics.median(
                  c / h for c, h in zip(times["numadam compiled loop (njit fun, out=)"],
                                        hand))}
    tk = "torch.optim.Adam loop, hand-written gradient"
    if tk in times:
        ratios["torch / compiled"] = statistics.median(t / c for t, c in zip(times[tk], comp))
    for k in ("optax.adam, jax.jit step in a Python loop",
              "optax.adam, whole loop in jax.jit (fori_loop)"):
        if k in times:
            ratios[k.split(",")[1].strip() + " / compiled"] = statistics.median(
                t / c for t, c in zip(times[k], comp))
    ratios["ordinary / compiled"] = statistics.median(
        o / c for o, c in zip(times["numadam ordinary loop (njit fun, compiled=False)"], comp))
    return {k: statistics.median(v) for k, v in times.items()}, ratios


@njit
def quad_fg(x, a, b):
    r = x - b
    return 0.5 * np.sum(a * r * r), a * r


def many_table(n_problems=20000, sample=200):
    rng = np.random.default_rng(0)
    A = 10.0 ** rng.uniform(0, 2, (n_problems, 4))
    B = rng.standard_normal((n_problems, 4))
    X0 = rng.standard_normal((n_problems, 4))
    opts = {"lr": 0.02, "maxiter": 2000, "gtol": 1e-6}
    numadam.minimize_many(quad_fg, True, X0[:2], data=(A[:2], B[:2]), options=opts)
    numadam.minimize(quad_fg, True, X0[0], args=(A[0], B[0]), options=opts)
    t0 = time.perf_counter()
    res = numadam.minimize_many(quad_fg, True, X0, data=(A, B), options=opts)
    t_many = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(sample):
        numadam.minimize(quad_fg, True, X0[i], args=(A[i], B[i]), options=opts)
    t_loop = (time.perf_counter() - t0) / sample
    return {"problems": n_problems, "mean steps": float(res.nit.mean()),
            "minimize_many problems/s": n_problems / t_many,
            "minimize loop problems/s": 1.0 / t_loop,
            "speed-up": t_loop * n_problems / t_many}


def quad_into(x, a, b, out):
    """The quadratic's value, its gradient written into ``out``: plain Python,
    compiled here with ``njit`` and by the GPU tests with ``cuda.jit``."""
    f = 0.0
    for k in range(x.size):
        r = x[k] - b[k]
        out[k] = a[k] * r
        f += 0.5 * a[k] * r * r
    return f


_quad_into = njit(inline="always")(quad_into)   # as the hand-written body


@njit
def quad_fg_out(x, a, b, out):
    """``quad_fg`` writing its gradient into ``out``."""
    return _quad_into(x, a, b, out), out


@njit(inline="always")
def _problem(X, A, B, i):
    """Problem ``i``'s rows and fresh Adam moments (the hand loops' setup)."""
    x = X[i]
    return x, A[i], B[i], np.zeros(x.size), np.zeros(x.size)


@njit(parallel=True)
def handwritten_many(X, A, B, steps, lr, b1, b2, eps):
    """Adam on every quadratic, a prange over problems, everything inlined."""
    for i in prange(X.shape[0]):
        x, a, b, m, v = _problem(X, A, B, i)
        p1 = p2 = 1.0
        for _ in range(steps):
            p1 *= b1
            p2 *= b2
            for k in range(x.size):
                g = a[k] * (x[k] - b[k])
                m[k] = b1 * m[k] + (1.0 - b1) * g
                v[k] = b2 * v[k] + (1.0 - b2) * g * g
                x[k] -= lr / (1.0 - p1) * m[k] / (math.sqrt(v[k]) / math.sqrt(1.0 - p2) + eps)
    return X


@njit(inline="always")
def _adam_row(x, g, m, v, lr, b1, b2, eps, p1, p2):
    """One problem's Adam update, written out (``p1, p2``: the betas' powers)."""
    for k in range(x.size):
        m[k] = b1 * m[k] + (1.0 - b1) * g[k]
        v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k]
        x[k] -= lr / (1.0 - p1) * m[k] / (math.sqrt(v[k]) / math.sqrt(1.0 - p2) + eps)


@njit(parallel=True)
def handwritten_many_calling(fg, X, A, B, steps, lr, b1, b2, eps):
    """The hand-written prange Adam loop calling the objective ``fg(x, a, b)``
    for each problem (the allocating form: it returns ``(f, g)``)."""
    for i in prange(X.shape[0]):
        x, a, b, m, v = _problem(X, A, B, i)
        p1 = p2 = 1.0
        for _ in range(steps):
            g = fg(x, a, b)[1]
            p1 *= b1
            p2 *= b2
            _adam_row(x, g, m, v, lr, b1, b2, eps, p1, p2)
    return X


@njit(parallel=True)
def handwritten_many_out(fg, X, A, B, steps, lr, b1, b2, eps):
    """The hand-written prange Adam loop calling the out= objective
    ``fg(x, a, b, out)`` for each problem, one gradient buffer per problem."""
    for i in prange(X.shape[0]):
        x, a, b, m, v = _problem(X, A, B, i)
        g = np.empty(x.size)
        p1 = p2 = 1.0
        for _ in range(steps):
            fg(x, a, b, g)
            p1 *= b1
            p2 *= b2
            _adam_row(x, g, m, v, lr, b1, b2, eps, p1, p2)
    return X


def jax_many(A, B, X0, steps, lr):
    """optax Adam on every quadratic: jax.jit(jax.vmap(fori_loop)), a callable."""
    import jax
    import jax.numpy as jnp
    import optax

    from .peers import enable_jax_x64
    enable_jax_x64()
    tx = optax.adam(lr)

    def solve(x, a, b):
        def body(_, carry):
            x, s = carry
            u, s = tx.update(a * (x - b), s, x)
            return optax.apply_updates(x, u), s
        return jax.lax.fori_loop(0, steps, body, (x, tx.init(x)))[0]

    run = jax.jit(jax.vmap(solve))
    args = tuple(jnp.asarray(v) for v in (X0, A, B))
    return lambda: run(*args).block_until_ready()


def many_side_by_side(n_problems=20000, steps=500, rounds=3, peers=()):
    """Seconds for ``steps`` Adam steps on every quadratic, medians of rounds."""
    rng = np.random.default_rng(0)
    A = 10.0 ** rng.uniform(0, 2, (n_problems, 4))
    B = rng.standard_normal((n_problems, 4))
    X0 = rng.standard_normal((n_problems, 4))
    opts = {"lr": 0.02, "maxiter": steps, "gtol": 0}
    cases = {
        "minimize_many, allocating fun": lambda: numadam.minimize_many(
            quad_fg, True, X0, data=(A, B), options=opts),
        "minimize_many, out= fun": lambda: numadam.minimize_many(
            quad_fg_out, True, X0, data=(A, B), options=opts),
        "hand-written prange Adam loop": lambda: handwritten_many(
            X0.copy(), A, B, steps, 0.02, 0.9, 0.999, 1e-8),
        "hand-written prange loop, same allocating fun": lambda: handwritten_many_calling(
            quad_fg, X0.copy(), A, B, steps, 0.02, 0.9, 0.999, 1e-8),
        "hand-written prange loop, same out= fun": lambda: handwritten_many_out(
            quad_fg_out, X0.copy(), A, B, steps, 0.02, 0.9, 0.999, 1e-8),
    }
    if "optax" in peers:
        cases["jax.jit(jax.vmap(fori_loop)), optax.adam"] = jax_many(A, B, X0, steps, 0.02)
    times = interleaved(cases, rounds)
    # ratios paired per round: a peer's time over numadam's (>= 1: numadam
    # is at least as fast)
    pairs = [("minimize_many, out= fun", "hand-written prange loop, same out= fun"),
             ("minimize_many, allocating fun",
              "hand-written prange loop, same allocating fun"),
             ("minimize_many, out= fun", "jax.jit(jax.vmap(fori_loop)), optax.adam")]
    ratios = {f"{peer} / {ours}": statistics.median(
        p / o for p, o in zip(times[peer], times[ours]))
        for ours, peer in pairs if peer in times}
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def report(emit, checks, peers=(), rounds=5, smoke=False):
    """The Rosenbrock and many-problems sections; returns the Rosenbrock times.

    ``smoke``: 2,000 steps and 500 problems (checks the code, measures little)."""
    steps = 2000 if smoke else STEPS
    times, ratios = rosenbrock_table(rounds, peers=peers, steps=steps, many=not smoke)
    emit(f"\n## Rosenbrock, {steps:,} Adam steps: time per iteration\n")
    emit("| loop | us/iteration |")
    emit("|---|---:|")
    for k, v in times.items():
        emit(f"| {k} | {v * 1e6:.3f} |")
    emit("")
    for k, v in ratios.items():
        emit(f"- {k}: {v:.1f}x" if v >= 1 else f"- {k}: {v:.2f}x")   # 0.15x, not 0.1x
    checks.append(("compiled loop within 3x of a hand-written njit loop",
                   ratios["compiled / hand-written"] <= 3.0, ratios["compiled / hand-written"]))
    if "torch / compiled" in ratios:
        checks.append(("compiled loop >= 300x faster than a torch loop",
                       ratios["torch / compiled"] >= 300, ratios["torch / compiled"]))
    many = many_table(500, 10) if smoke else many_table()
    emit(f"\n## Many problems: {many['problems']:,} convex quadratics (4 parameters, "
         "cond. up to 100)\n")
    for k, v in many.items():
        emit(f"- {k}: {v:,.1f}" if isinstance(v, float) else f"- {k}: {v}")
    n, steps = (500, 50) if smoke else (20000, 500)
    side, side_ratios = many_side_by_side(n, steps, rounds=1 if smoke else 5,
                                          peers=peers)
    out = side["minimize_many, out= fun"]
    emit_table(emit, f"Many problems side by side: {n:,} quadratics, {steps} Adam steps "
               "(gtol=0)", ("solver", "seconds", "/ minimize_many with out="),
               [(k, f"{v:.3f}", f"{v / out:.2f}") for k, v in side.items()], side_ratios)
    if not smoke:
        from . import cabi, first_call
        cabi.report(emit, rounds=rounds, peers=peers)
        cold, warm = first_call.measure()
        emit_table(emit, "First call in a new process (user functions `njit(cache=True)`)",
                   ("first call, new process", "cold cache (s)",
                    "warm cache, median of 5 (s)"),
                   [(k, f"{cold[k]:.2f}", f"{statistics.median(v):.3f}")
                    for k, v in warm.items()])
    return times
