"""A naive reference evaluator: the definition format applied literally, in Python, row by row.

It loads every profile and event with the ORM and shares no code with the engine (no compiler, no dialect,
no window helper), so the property tests compare two independent readings of the spec. Slow by design.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from audience_ops.audiences.models import Audience
from audience_ops.customers.models import Event, Profile

IDENTIFIERS = ("email", "phone", "external_id")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: same JSON type and value; "1" is not 1, true is not 1, 1 equals 1.0."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) and is_number(right):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return False


def compare(present: bool, value: Any, op: str, expected: Any) -> bool:
    """One attribute/property condition, as the spec's table reads."""
    if op == "eq":
        return present and json_equal(value, expected)
    if op == "ne":
        return not compare(present, value, "eq", expected)
    if op in ("gt", "gte", "lt", "lte"):
        if not present or not is_number(value):
            return False
        return {
            "gt": value > expected,
            "gte": value >= expected,
            "lt": value < expected,
            "lte": value <= expected,
        }[op]
    if op == "in":
        return present and any(json_equal(value, item) for item in expected)
    if op == "not_in":
        return not compare(present, value, "in", expected)
    if op == "contains":
        return present and isinstance(value, str) and expected in value
    if op == "exists":
        return present and value is not None
    if op == "not_exists":
        return not compare(present, value, "exists", expected)
    raise AssertionError(f"unknown op {op}")


def window(spec: dict | None, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
    """(lower exclusive, upper inclusive) of a window; no window = all time up to now."""
    if spec is None:
        return None, now
    if "days_ago" in spec:
        a, b = spec["days_ago"]
        return now - dt.timedelta(days=b), now - dt.timedelta(days=a)
    if "minutes" in spec:
        return now - dt.timedelta(minutes=spec["minutes"]), now
    if "hours" in spec:
        return now - dt.timedelta(hours=spec["hours"]), now
    return now - dt.timedelta(days=spec["days"]), now


def inside(moment: dt.datetime, bounds: tuple[dt.datetime | None, dt.datetime]) -> bool:
    lower, upper = bounds
    return (lower is None or moment > lower) and moment <= upper


class ReferenceEvaluator:
    """Evaluates definitions at ``now`` over everything in the database."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.profiles = list(Profile.objects.order_by("pk"))
        self.events: dict[int, list[Event]] = defaultdict(list)
        for event in Event.objects.all():
            self.events[event.profile_id].append(event)
        self._memo: dict[str, set[int]] = {}

    def definition_of(self, slug: str) -> dict[str, Any]:
        audience = Audience.objects.get(slug=slug)
        version = audience.live_version or audience.versions.order_by("-number").first()
        return {"rule": version.rule, "exclude": version.exclude, "paired_suppression": version.paired_suppression}

    def audience_members(self, slug: str) -> set[int]:
        if slug not in self._memo:
            self._memo[slug] = self.members(self.definition_of(slug))
        return self._memo[slug]

    def members(self, definition: dict[str, Any]) -> set[int]:
        """Profiles matching the rule, minus every excluded audience, minus the paired suppression."""
        removed: set[int] = set()
        for slug in definition.get("exclude") or []:
            removed |= self.audience_members(slug)
        if definition.get("paired_suppression"):
            removed |= self.audience_members(definition["paired_suppression"])
        return {p.pk for p in self.profiles if self.matches(definition["rule"], p)} - removed

    def matches(self, node: dict[str, Any], profile: Profile) -> bool:
        if "all" in node:
            return all(self.matches(child, profile) for child in node["all"])
        if "any" in node:
            return any(self.matches(child, profile) for child in node["any"])
        if "not" in node:
            return not self.matches(node["not"], profile)
        if "in_audience" in node:
            return profile.pk in self.audience_members(node["in_audience"])
        if "attribute" in node:
            name = node["attribute"]
            if name in IDENTIFIERS:
                value = getattr(profile, name)
                present = value is not None
            else:
                present = name in profile.traits
                value = profile.traits.get(name)
            return compare(present, value, node["op"], node.get("value"))
        return self.event_matches(node, profile)

    def event_matches(self, node: dict[str, Any], profile: Profile) -> bool:
        matching = [
            event.occurred_at
            for event in self.events[profile.pk]
            if event.name == node["event"]
            and event.occurred_at <= self.now
            and all(
                compare(
                    item["property"] in event.properties,
                    event.properties.get(item["property"]),
                    item["op"],
                    item.get("value"),
                )
                for item in node.get("where", [])
            )
        ]
        if "last" in node:
            return bool(matching) and inside(max(matching), window(node["last"], self.now))
        if "first" in node:
            return bool(matching) and inside(min(matching), window(node["first"], self.now))
        bounds = window(node.get("within"), self.now)
        count = sum(1 for moment in matching if inside(moment, bounds))
        ((op, number),) = (node.get("count") or {"gte": 1}).items()
        return {
            "eq": count == number,
            "gte": count >= number,
            "gt": count > number,
            "lte": count <= number,
            "lt": count < number,
        }[op]
