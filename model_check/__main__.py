"""``python -m model_check``: see :mod:`model_check.cli`."""

import sys

from .cli import main

sys.exit(main())
