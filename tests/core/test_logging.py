"""No raw identifiers or tokens in logs: the loggers that would print SQL parameters or request URLs stay quiet."""

from __future__ import annotations

import logging
import logging.config

from django.conf import settings


def test_sql_and_http_client_loggers_stay_at_warning_even_when_the_root_logs_debug():
    config = {**settings.LOGGING, "root": {**settings.LOGGING["root"], "level": "DEBUG"}}
    logging.config.dictConfig(config)
    try:
        for name in ("django.db.backends", "urllib3.connectionpool", "requests"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        logging.config.dictConfig(settings.LOGGING)
