"""`watchdog demo`: embedded servers and the scripted story."""
