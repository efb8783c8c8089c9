"""Security checks: no secret in any output, no injection through the config, private files."""
