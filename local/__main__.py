"""``python -m local`` (what ``make run`` runs): the whole system on http://127.0.0.1:$PORT."""

import os

# Before numpy loads OpenBLAS: the stack answers many handler threads at once, and BLAS threads spinning
# beside them took 5x the wall time of one thread for the classifier's fit on 2 busy cores (measured).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from local.stack import main

if __name__ == "__main__":
    main()
