"""The daily hygiene job: flag the retirement queue and email each owner the list of their audiences.

Registered in ``audience_ops/cron.py`` once a day. Flagging is idempotent per day (see
:func:`~.hygiene.retirement_notify_owners`), so a scheduler restart that runs it again the same day sends
nothing twice.
"""

from __future__ import annotations

import logging

from .hygiene import retirement_notify_owners

logger = logging.getLogger(__name__)

DAILY_SECONDS = 24 * 60 * 60


def flag_retirement_candidates() -> dict[str, list[str]]:
    """Flag today's retirement candidates and notify their owners; returns what was flagged and emailed."""
    result = retirement_notify_owners()
    logger.info(
        "retirement queue: %d newly flagged, %d already flagged today, %d owner(s) emailed",
        len(result.flagged),
        len(result.already_flagged),
        len(result.emailed),
    )
    return result.as_dict()
