"""The sdist and the wheel: the license in both, a runnable test suite in the
sdist (every helper the tests import), nothing but the package in the wheel,
and no packaging deprecation warnings."""
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# one build per test run: every test here in one worker of pytest-xdist
pytestmark = pytest.mark.xdist_group("packaging")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    pytest.importorskip("build", reason="python -m pip install -e \".[test]\" brings build")
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not a source tree")
    out = tmp_path_factory.mktemp("dist")
    # built from a copy of the tree (setuptools writes its egg-info and the
    # sdist's staging directory into the tree it builds; the other tests read
    # git status meanwhile); the copy keeps the caches and build outputs that
    # the sdist must leave out
    src = tmp_path_factory.mktemp("src") / "numadam"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info"))
    # the sdist, then the wheel built from the unpacked sdist (python -m build's
    # default), in isolated environments as an installer would
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel, proc.stdout + proc.stderr


def test_no_packaging_deprecation_warnings(dists):
    log = dists[2]
    assert "deprecated" not in log.lower() and "SetuptoolsDeprecationWarning" not in log, \
        [line for line in log.splitlines() if "eprecat" in line]


def test_the_sdist_holds_the_license_and_a_runnable_test_suite(dists, tmp_path):
    sdist = dists[0]
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        tar.extractall(tmp_path, filter="data")
    for needed in ("LICENSE", "README.md", "pyproject.toml", "conftest.py",
                   "tests/conftest.py", "tests/reference.py", "tests/cases.py",
                   "tests/gpu/test_cuda_kernels.py", "examples/rosenbrock.py",
                   "bench/suite.py", "docs/conf.py", "docs/methods/adam.md",
                   "numadam/__init__.py", "numadam/_kernels/cpu.py"):
        assert needed in names, needed
    for test in (ROOT / "tests").glob("*.py"):
        assert f"tests/{test.name}" in names, test.name
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc"))]
    assert not [n for n in names if n.startswith(("docs/_build", "docs/auto_examples"))]
    # every test module imports from the unpacked sdist (its helpers are there)
    (top,) = tmp_path.iterdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0",
                           "-p", "no:cacheprovider", "tests"], cwd=top,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error" not in proc.stdout.lower().split("collected")[-1]


def test_the_wheel_holds_the_package_and_its_license(dists):
    wheel = dists[1]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = z.read(metadata).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert "License-Expression: BSD-3-Clause" in meta
    assert {n.split("/")[0] for n in names} == {"numadam", metadata.split("/")[0]}
    for module in ("numadam/__init__.py", "numadam/_kernels/_math.py",
                   "numadam/_kernels/cuda.py", "numadam/mpi.py", "numadam/dask.py"):
        assert module in names, module
