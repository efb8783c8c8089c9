"""``python -m watchdog``: the same as the ``watchdog`` command."""

import sys

from .cli import main

sys.exit(main())
