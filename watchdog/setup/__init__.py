"""The support person's commands: set-up, doctor, the support bundle, the config writer."""
