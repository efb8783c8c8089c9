"""The pure domain core: models, rules and words. No network, no disk, no clock of its own."""
