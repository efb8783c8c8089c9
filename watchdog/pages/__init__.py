"""The HTML pages: the provider guide and the history report."""
