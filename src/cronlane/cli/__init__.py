"""cronlane's operator side: the ``cronlane`` command and the local runtime (the embedded default)."""
