"""``python -m kmemsim``: the same as the ``kmemsim`` command."""

import sys

from kmemsim.cli import main

sys.exit(main())
