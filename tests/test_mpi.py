"""numadam.mpi under ``mpiexec -n 2`` and ``-n 3`` (uneven shards).

Each test starts a real MPI job running tests/mpi_check.py and reads what its
rank 0 measured.  Skipped when mpi4py or mpiexec is missing (pip install
'numadam[mpi]' provides both: mpi4py and the mpich wheel).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "mpi_check.py"


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    local = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpi4py/mpiexec not installed")


def mpirun(nprocs, out, mode):
    proc = subprocess.run([MPIEXEC, "-n", str(nprocs), sys.executable, str(SCRIPT),
                           str(out), mode], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads((out / f"{mode}-{nprocs}.json").read_text())


@pytest.mark.parametrize("nprocs", [2, 3])
def test_data_parallel_equals_single_process_run(nprocs, tmp_path):
    r = mpirun(nprocs, tmp_path, "compare")
    assert r["nprocs"] == nprocs
    assert r["nit"][0] == r["nit"][1] == r["nit"][2] == 48      # 3 epochs of 16 batches
    assert r["replicas_bitwise_equal"]
    # the same global minibatches and updates: equal to rounding
    assert r["err_replicated"] < 1e-12
    assert r["err_sharded"] < 1e-12
    assert r["sharded_vs_replicated"] < 1e-12
    assert abs(r["fun"][0] - r["fun"][2]) < 1e-12
    assert r["status"] == [2, 2]


def test_checkpoint_of_two_processes_resumes_on_three(tmp_path):
    w = mpirun(2, tmp_path, "write")
    assert w["nit"] == 30 and w["status"] == 1
    assert (tmp_path / "run.ckpt").exists()
    r = mpirun(3, tmp_path, "resume")
    assert r["nit"] == [48, 48] and r["status"] == 2
    assert r["err"] < 1e-12


def test_single_process_errors_are_clear():
    import numpy as np

    import numadam.mpi
    from numadam.problems import logistic_loss
    X, y = np.ones((4, 2)), np.ones(4)
    with pytest.raises(TypeError, match="batch_size"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y))
    with pytest.raises(TypeError, match="Generator cannot be shared"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             rng=np.random.default_rng(0), options={"batch_size": 2})
    with pytest.raises(TypeError, match="'history' is not supported"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "history": 1})
    with pytest.raises(ValueError, match="nan_policy"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "nan_policy": "skip"})
    with pytest.raises(ValueError, match=r"data\[1\] must have a sample axis of 4"):
        numadam.mpi.minimize(logistic_loss, True, np.zeros(2), (X, y[:3]),
                             options={"batch_size": 2})
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        numadam.mpi.minimize(lambda x, a, b: (np.nan, x), True, np.zeros(2), (X, y),
                             options={"batch_size": 2, "nan_policy": "raise"})


@pytest.mark.parametrize("flags", [[], ["--sharded"]])
def test_mpi_example_runs_on_two_processes(flags):
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable,
                           str(ROOT / "examples" / "mpi_logistic_regression.py"), *flags],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es), sharded=" + str(bool(flags)) in proc.stdout
