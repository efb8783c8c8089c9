"""The frozen program's entry point: the same as the ``watchdog`` command.

PyInstaller needs a script, not ``watchdog/__main__.py`` (its relative import only works as
``python -m watchdog``). The absolute import below is resolved by the spec from this source
tree's own ``watchdog`` package, never from an installed one of the same name.
"""

import sys

from watchdog.cli import main

if __name__ == "__main__":
    sys.exit(main())
