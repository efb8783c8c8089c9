"""Sign-in: passwords from the keyring and OAuth2 tokens."""
