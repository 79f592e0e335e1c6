"""GPU step benchmark: ``python -m bench.gpu`` on a machine with an NVIDIA GPU.

For 1e6..2e8 float32 parameters, in one process and interleaved round by round:

* the device's copy bandwidth, measured in the same run (a device-to-device
  copy of the same number of bytes as an Adam step moves: 7 words per
  parameter, as a read of 4 arrays and a write of 3 by a streaming kernel);
* numadam's Adam step on the device through the public API;
* numadam's Adam step with bfloat16 and int8 state (``state_dtype``), which
  move 20 and 16.03 bytes per parameter instead of 28;
* ``torch.optim.Adam(fused=True)`` and ``foreach=True`` on the same device and
  sizes, when torch with CUDA is installed, and the 8-bit optimizers of
  bitsandbytes (``Adam8bit``) and torchao (``AdamW8bit``) when installed.

Reports us/step, GB/s, the fraction of the copy bandwidth and the ratios to
torch, and writes ``bench/results/gpu-DEVICE-DATE.md``.  Usage::

    python -m bench.gpu [--sizes 1e6,1e7,1e8,2e8] [--rounds 7] [--out FILE]
"""
import argparse
import datetime
import os
import statistics
import sys
import time

import numpy as np


#: bytes a step moves per parameter (the GB/s column); 28 (7 float32 words) otherwise
BYTES = {"numadam Adam bfloat16 state": 20.0, "numadam Adam int8 state": 16.0 + 8 / 256,
         "bitsandbytes Adam8bit": 16.0 + 8 / 256, "torchao AdamW8bit": 16.0 + 8 / 256}


def _eight_bit_peers(torch, n, g_host):
    """bitsandbytes' Adam8bit and torchao's AdamW8bit steps on the device, for
    those installed (their float32 parameters and gradient as numadam's)."""
    peers = {}
    try:
        import bitsandbytes as bnb
        p = torch.zeros(n, device="cuda", requires_grad=True)
        p.grad = torch.as_tensor(g_host, device="cuda")
        peers["bitsandbytes Adam8bit"] = bnb.optim.Adam8bit([p], lr=1e-3).step
    except ImportError:
        pass
    try:
        from torchao.optim import AdamW8bit
        p = torch.zeros(n, device="cuda", requires_grad=True)
        p.grad = torch.as_tensor(g_host, device="cuda")
        peers["torchao AdamW8bit"] = AdamW8bit([p], lr=1e-3, weight_decay=0.0).step
    except ImportError:
        pass
    return peers


def _one_size(n, rounds, numadam, cuda, kernels, torch):
    """The table rows and the checks of ``n`` parameters (the device arrays
    are freed when it returns)."""
    has_torch = torch is not None
    stream = kernels.stream_ceiling
    rows, checks = [], []
    rng = np.random.default_rng(0)
    g_host = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    x = cuda.to_device(np.zeros(n, np.float32))
    g = cuda.to_device(g_host)
    sx, sm, sv = (cuda.to_device(np.zeros(n, np.float32)) for _ in range(3))
    blocks, threads = kernels.launch_config(n)
    opt = numadam.Adam(x, lr=1e-3)
    cases = {
        "stream ceiling": lambda: stream[blocks, threads](sx, g, sm, sv, np.float32(1e-30)),
        "numadam Adam": lambda: opt.step(g),
    }
    low = {fmt: numadam.Adam(cuda.to_device(np.zeros(n, np.float32)), lr=1e-3,
                             state_dtype=fmt) for fmt in ("bfloat16", "int8")}
    for fmt, o in low.items():
        cases[f"numadam Adam {fmt} state"] = (lambda o=o: o.step(g))
    if has_torch:
        p1 = torch.zeros(n, device="cuda", requires_grad=True)
        p1.grad = torch.as_tensor(g_host, device="cuda")
        t1 = torch.optim.Adam([p1], lr=1e-3, fused=True)
        p2 = torch.zeros(n, device="cuda", requires_grad=True)
        p2.grad = torch.as_tensor(g_host, device="cuda")
        t2 = torch.optim.Adam([p2], lr=1e-3, foreach=True)
        cases["torch fused"] = t1.step
        cases["torch foreach"] = t2.step
        cases.update(_eight_bit_peers(torch, n, g_host))
    for fn in cases.values():
        fn()
    cuda.synchronize()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            reps = 20 if n <= 10**7 else 5
            cuda.synchronize()
            if has_torch:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            cuda.synchronize()
            if has_torch:
                torch.cuda.synchronize()
            times[k].append((time.perf_counter() - t0) / reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, t in med.items():
        gbs = BYTES.get(k, 28.0) * n / t / 1e9
        frac = statistics.median(c / s for c, s in zip(times["stream ceiling"], times[k]))
        vs = [statistics.median(o / s for o, s in zip(times[r], times[k]))
              if r in times else None for r in ("torch fused", "torch foreach")]
        row = (f"| {n:.0e} | {k} | {t * 1e6:.1f} | {gbs:.0f} | {frac:.2f} | "
               + " | ".join("-" if v is None else f"{v:.2f}" for v in vs) + " |")
        print(row)
        rows.append(row)
    if n >= 10**8:
        frac = statistics.median(c / s for c, s in zip(times["stream ceiling"],
                                                         times["numadam Adam"]))
        checks.append((f"n={n:.0e}: >= 0.85 of the stream ceiling", frac >= 0.85, frac))
    if "torch fused" in times:
        r = statistics.median(o / s for o, s in zip(times["torch fused"],
                                                     times["numadam Adam"]))
        checks.append((f"n={n:.0e}: no slower than torch fused", r >= 1.0, r))
    if n >= 10**7:   # low-precision state against float32 state, paired per round
        for fmt, least in (("bfloat16", 1.3), ("int8", 1.0)):
            r = statistics.median(f / s for f, s in zip(
                times["numadam Adam"], times[f"numadam Adam {fmt} state"]))
            checks.append((f"n={n:.0e}: {fmt} state >= {least}x float32 state",
                           r >= least, r))
    return rows, checks


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8,2e8")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from numba import cuda

    import numadam
    if not numadam.cuda.is_available():
        print("no usable GPU (numadam.cuda.is_available() is False): nothing to measure")
        return 2
    try:
        name = cuda.get_current_device().name
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - the simulator
        name = "cuda-simulator"
    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False

    from numadam._kernels import cuda as kernels

    lines = [f"# numadam GPU step benchmark: {name}", "",
             f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
             f"- numadam {numadam.__version__}, torch: "
             f"{torch.__version__ if has_torch else 'not available'}", "",
             "| n | step | us/step | GB/s | of stream ceiling | vs torch fused | vs torch foreach |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    print("\n".join(lines))
    checks = []
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        rows, more = _one_size(n, args.rounds, numadam, cuda, kernels,
                               torch if has_torch else None)
        lines += rows
        checks += more
    lines.append("")
    for label, ok, v in checks:
        lines.append(f"- {'PASS' if ok else 'FAIL'}: {label} ({v:.2f})")
        print(lines[-1])
    out = args.out or os.path.join(
        os.path.dirname(__file__), "results",
        f"gpu-{name.replace(' ', '_')}-{datetime.datetime.now():%Y%m%d-%H%M%S}.md")
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("wrote", out)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
