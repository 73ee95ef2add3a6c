"""``python -m model_check``: see :mod:`model_check.cli`."""

import os
import sys

# The checker does no linear algebra, but numpy loads OpenBLAS, which by default starts one
# busy-waiting thread per core when imported: about 50 ms of a short run's CPU time on two
# cores.  One thread is enough here; a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .cli import main  # noqa: E402  (after the environment is set)

sys.exit(main())
