"""The CUDA kernels in CI: the simulator suite in a subprocess; GPU tests when present."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import numadam

HERE = pathlib.Path(__file__).resolve().parent


#: the simulator suite in four independent parts (pytest -k), so that the
#: test run's workers take them in parallel (the last two about 150 s each on
#: CI's machine, where they were one part of 313 s, the suite's longest test;
#: 35-45 s each since the file sets a short thread switch interval on the
#: simulator); disjoint, and together every test
SIMULATOR_PARTS = ("matches_cpu_kernel and float64", "matches_cpu_kernel and not float64",
                   "not matches_cpu_kernel and low_precision",
                   "not matches_cpu_kernel and not low_precision")


@pytest.mark.parametrize("part", SIMULATOR_PARTS)
def test_cuda_kernels_on_the_simulator(part):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "-k", part, str(HERE / "gpu" / "test_cuda_kernels.py")],
        env=env, capture_output=True, text=True, cwd=HERE.parent)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    last = proc.stdout.splitlines()[-1]
    assert " passed" in last and "skipped" not in last, tail


def test_is_available_answers_without_a_gpu():
    assert numadam.cuda.is_available() in (True, False)


@pytest.mark.cuda
def test_cupy_and_torch_arrays_are_updated_in_place():
    if not numadam.cuda.is_available():
        pytest.skip("no GPU")
    cupy = pytest.importorskip("cupy")
    x = cupy.linspace(-1, 1, 1000)
    before = x.copy()
    opt = numadam.Adam(x, lr=0.1)
    opt.step(cupy.ones(1000))
    assert bool(cupy.all(x == before - 0.1 * 1.0 / (1.0 + 1e-8)))
    torch = pytest.importorskip("torch")
    t = torch.zeros(1000, device="cuda")
    numadam.SGD(t, lr=0.5).step(torch.ones(1000, device="cuda"))
    assert torch.all(t == -0.5)
    np.testing.assert_allclose(t.cpu().numpy(), -0.5)
