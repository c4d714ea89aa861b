"""What cronlane shows in a browser: the Gantt and the grid (``render``, pure), the web
application of ``cronlane ui`` (``web``), pictures of a run (``picture``)."""
