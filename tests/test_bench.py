"""The benchmark suite: its NumPy peer computes the same steps, and
``python -m bench`` runs and writes results and plots, with and without the
optional peers."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import numadam

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import peers  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label,method,opts", peers.RUNS, ids=[r[0] for r in peers.RUNS])
def test_numpy_peer_takes_the_same_steps_as_numadam(label, method, opts, dtype):
    # the comparison is only fair if the peer does the same work
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(257).astype(dtype)
    grads = [(rng.standard_normal(257) * 0.1).astype(dtype) for _ in range(12)]
    ours = x0.copy()
    opt = numadam.Optimizer(ours, method=method, **opts)
    g = np.empty_like(x0)
    step, params = peers.numpy_step(label, x0.copy(), g)
    for gk in grads:
        g[:] = gk
        opt.step(gk)
        step()
    theirs = params()
    assert theirs.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-5
    scale = np.max(np.abs(ours - x0))
    assert scale > 0
    assert np.max(np.abs(theirs - ours)) <= tol * max(scale, 1.0)


def run_bench(tmp_path, *args):
    out = tmp_path / "results.md"
    plots = tmp_path / "plots"
    proc = subprocess.run([sys.executable, "-m", "bench", "--out", str(out), "--plots",
                           str(plots), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: some target FAILed
    return out.read_text(), plots


#: the suite's sections in three parts of about a minute each on one core
#: (run side by side by the test workers; the precision section apart: the
#: second part took 212 s of a contended cold suite, its tail); each part's
#: headings, PNGs and lines that must appear in its results
SMOKE_PARTS = {
    "step,overhead,latency,convergence,distributed": (
        ("## Step throughput", "### float32, n = 1e+03", "## Loop overhead",
         "## Compile latency", "## Convergence per unit time: logistic regression",
         "## Convergence per unit time: Rosenbrock 2-D", "## Beyond one machine",
         "## Targets"),
        ("step_throughput.png", "step_speedups.png", "convergence.png"),
        ["PASS: minimize overhead", "FAIL: minimize overhead"]),
    "loops,arrays,matrix": (
        ("## Rosenbrock, 2,000 Adam steps", "## Many problems: 500 convex",
         "## Many arrays: one Adam step", "## Matrix methods", "## Targets"),
        ("overhead.png",),
        ["| numadam compiled loop (njit fun) | "]),
    "precision": (
        ("## State precision", "### The 8-bit code", "## Targets"),
        (),
        ["| Adam paper logistic regression (7,840 parameters) | float32 | "]),
}


@pytest.mark.parametrize("sections", SMOKE_PARTS)
def test_suite_runs_without_peers_and_writes_results_and_plots(tmp_path, sections):
    # every section, in its smallest form (--smoke: seconds)
    text, plots = run_bench(tmp_path, "--smoke", "--dtypes", "float32", "--peers", "none",
                            "--sections", sections)
    headings, pngs, any_of = SMOKE_PARTS[sections]
    for peer in peers.PEERS:
        assert f"peer skipped: {peer}" in text
    for heading in headings:
        assert heading in text, heading
    assert any(line in text for line in any_of), any_of
    if "arrays" in sections:
        assert "| 1e+05 | 1000 | " in text and "100 arrays of 1e3 elements / one" in text
        assert "| muon | 64 | " in text and "| adafactor | 64 | " in text
    if "precision" in sections:
        assert "| 1e+05 | " in text and "| m (signed) | dynamic map | " in text
        assert "| Rosenbrock, 8,192-D | int8 | " in text
    if "step" in sections:
        for label, _, _ in peers.RUNS:
            assert f"\n| {label} | " in text
        assert "| `import numadam` | " in text and "| adam | " in text   # latency, convergence
    for png in pngs:
        assert (plots / png).read_bytes()[:4] == b"\x89PNG", png
    assert sorted(p.name for p in plots.iterdir()) == sorted(pngs)


def test_the_smoke_parts_cover_every_section():
    from bench import suite
    parts = [s for p in SMOKE_PARTS for s in p.split(",")]
    assert sorted(parts) == sorted(suite.SECTIONS)


def test_suite_measures_installed_peers(tmp_path):
    have, _ = peers.available()
    if len(have) < 2:
        pytest.skip("no optional peer (torch, jax/optax) installed")
    text, plots = run_bench(tmp_path, "--sections", "step", "--sizes", "1000",
                            "--dtypes", "float64", "--rounds", "1")
    for peer in have:
        assert f"{peer} us (x)" in text
    assert (plots / "step_speedups.png").exists()


def test_unknown_peer_and_section_are_clear_errors(tmp_path):
    for args, needle in ((["--peers", "tensorflow"], "unknown peer 'tensorflow'"),
                         (["--sections", "gpu"], "unknown section 'gpu'")):
        proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and needle in proc.stderr


def test_figures_go_next_to_the_results_unless_asked(tmp_path):
    from bench import suite
    args = suite.parse(["--out", str(tmp_path / "r.md"), "--peers", "none"])
    assert args.plots == str(tmp_path / "r-figures")
    default = suite.parse(["--peers", "none"])
    assert os.path.dirname(default.out) == os.path.join(str(ROOT / "bench"), "results")
    assert default.plots == default.out[:-3] + "-figures"
    assert os.path.abspath(default.plots) != str(ROOT / "docs" / "images" / "bench")
    asked = suite.parse(["--plots", str(tmp_path / "p"), "--peers", "none"])
    assert asked.plots == str(tmp_path / "p")
