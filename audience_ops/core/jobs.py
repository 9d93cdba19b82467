"""Small helpers for enqueueing RQ jobs after the surrounding transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_rq
from django.db import transaction


def enqueue_on_commit(func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any) -> None:
    """Enqueue ``func`` once the current transaction commits; a rolled-back transaction enqueues nothing."""
    transaction.on_commit(lambda: django_rq.get_queue(queue).enqueue(func, *args, **kwargs))
