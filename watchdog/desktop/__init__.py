"""The desktop shell: the tray icon, its actions window, start at login, one instance."""
