"""The tests. Imported before any conftest, so this runs before numpy loads OpenBLAS: test workers share the
cores with each other and with local stacks, and BLAS threads spinning beside them took 5x the wall time of
one thread (local/__main__.py sets the same for the stack)."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
