"""``{% sync_rows audience=... %}`` / ``{% sync_rows destination=... %}``: the syncs shown on an audience or a
destination page, through the same one-query-per-kind selector as the sync list (no query per sync)."""

from __future__ import annotations

from typing import Any

from django import template

from audience_ops.syncs.ui_selectors import sync_list_rows

register = template.Library()


@register.simple_tag
def sync_rows(*, audience: Any = None, destination: Any = None) -> list[dict[str, Any]]:
    return sync_list_rows(
        audience_id=audience.pk if audience is not None else None,
        destination_id=destination.pk if destination is not None else None,
    )
