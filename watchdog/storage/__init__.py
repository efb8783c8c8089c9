"""What is kept on disk: the history database, exports and the log."""
