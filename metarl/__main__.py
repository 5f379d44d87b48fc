"""``python -m metarl``: the ``metarl`` command line."""

import sys

from .cli import main

sys.exit(main())
