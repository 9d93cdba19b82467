"""Template tags of the governance UI: the lifecycle panel of the audience page and the review count in the nav.

They are tags (not view context) so the audience page and the base template only need one line each, and the
audience views stay unaware of reviews.
"""

from __future__ import annotations

from typing import Any

from django import template

from ..models import Audience

register = template.Library()


@register.inclusion_tag("audiences/governance/_lifecycle_panel.html", takes_context=True)
def lifecycle_panel(context: template.Context, audience: Audience) -> dict[str, Any]:
    """The status, live vs latest version, pending review, checklist and the actions the user's role allows."""
    from ..governance_views import lifecycle_panel_context  # the views import the services, which import models

    request = context["request"]
    return {
        **lifecycle_panel_context(audience=audience, user=request.user),
        "perms": context.get("perms"),
        "request": request,
    }


@register.simple_tag
def pending_review_count() -> int:
    """How many versions wait for review (shown beside "Reviews" for ops)."""
    from ..governance_selectors import pending_review_count as count

    return count()
