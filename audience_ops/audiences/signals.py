"""Signals other apps listen to, so the audience lifecycle does not need to know who reacts to it.

``audience_status_changed`` is sent once the transaction that changed an audience's status has committed
(never for a change that rolled back). The sync engine listens to it to pause or remove an audience's syncs
when it is paused or retired.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with sender=Audience and keyword arguments: audience, before (old status), after (new status) and
# actor (the user who made the change, or None for the system and the command line without a user).
audience_status_changed = Signal()
