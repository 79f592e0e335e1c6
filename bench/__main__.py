"""``python -m bench``: run the step-throughput and overhead suite."""
import sys

from .step import main

sys.exit(main())
