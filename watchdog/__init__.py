"""Delivery Watchdog: proves that a practice's reminder e-mails really arrive."""

__version__ = "0.1.0"
