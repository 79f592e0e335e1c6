"""``python -m bench``: the CPU benchmark suite (see :mod:`bench.suite`)."""
import sys

from .suite import main

sys.exit(main())
