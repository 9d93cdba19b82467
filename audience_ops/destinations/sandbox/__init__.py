"""Local emulators of the destination platforms' APIs, for the demo and the tests (``manage.py run_sandbox``)."""
