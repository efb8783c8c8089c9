"""``python -m watchdog``: the same as the ``watchdog`` command."""

import sys

from watchdog.cli import main

sys.exit(main())
