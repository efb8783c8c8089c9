"""The frozen program (PyInstaller) under test; run by scripts/smoke_frozen.sh, else skipped."""
