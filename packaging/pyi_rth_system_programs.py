"""PyInstaller runtime hook: programs we start get the system's libraries, not ours.

On Linux the bootloader puts the bundle's library folder (``_internal``, with its own
``libstdc++``, ``libssl``, ``libz``...) first on ``LD_LIBRARY_PATH`` before Python starts, and
every program started from the frozen watchdog inherits it: the web browser that shows a guide or
the report (``xdg-open``), ``notify-send``, an editor for the settings. A system program
loading our older ``libstdc++`` fails with "GLIBCXX_... not found", so the guide would silently
not open. The dynamic loader read ``LD_LIBRARY_PATH`` when this process started, so restoring
the user's own value here changes nothing for the watchdog itself, only for its children
(PyInstaller's manual, "Launching External Programs from the Frozen Application").

Windows and macOS need nothing here: there the bundle's libraries are found through the
executable's own folder (DLL search path) and ``@rpath``, not through the environment.
"""

import os
import sys

if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        os.environ["LD_LIBRARY_PATH"] = original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)
