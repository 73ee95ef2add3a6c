"""``python -m impl.upstream``: see :mod:`impl.upstream.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
