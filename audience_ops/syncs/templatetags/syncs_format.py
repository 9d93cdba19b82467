"""Formatting for the sync pages: match rates as percentages and run durations in words a person reads."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.7342 -> "73.4%"; empty for None (no rate yet)."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def seconds(value: float | None) -> str:
    """A duration in seconds as "0.42 s", "12.3 s" or "4 min 05 s"; empty for None (not finished)."""
    if value is None or value == "":
        return ""
    value = float(value)
    if value < 1:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"
