"""The example application: the nightly jobs of the user's analysis, declared in ``catalog.py``."""
