"""Settings modules: ``base`` (shared, environment-driven), ``dev`` (embedded default), ``test`` and ``production``."""
