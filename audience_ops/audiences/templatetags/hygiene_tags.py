"""``{% near_duplicate_warnings audience %}``: the "nearly identical to a live audience" warning on a page."""

from __future__ import annotations

from typing import Any

from django import template

from audience_ops.audiences.hygiene import audience_near_duplicate_warnings
from audience_ops.audiences.models import Audience

register = template.Library()


@register.inclusion_tag("audiences/hygiene/_near_duplicate_warnings.html")
def near_duplicate_warnings(audience: Audience) -> dict[str, Any]:
    """A warning (never a block) when the audience's name or definition nearly repeats another live audience."""
    return {"warnings": audience_near_duplicate_warnings(audience=audience)}
