"""pytest configuration at the repository root.

The docstring examples of the optional MPI and Dask front ends need their
extras (``pip install -e ".[mpi,dask]"``); without them those two modules'
doctests are not collected (tests/test_mpi.py and tests/test_dask.py skip
with a reason instead).
"""
import importlib.util

collect_ignore = []
if importlib.util.find_spec("mpi4py") is None:
    collect_ignore.append("numadam/mpi.py")
if importlib.util.find_spec("distributed") is None:
    collect_ignore.append("numadam/dask.py")
