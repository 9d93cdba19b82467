"""Plain-English rendering of definitions, for lists, review screens, QA explanations and the CLI.

"Did Product Added at least once in the last 3 days, and did not do Order Completed in the last 3 days, and
unsubscribed is not true; minus members of Purchased in last 24 hours".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..definitions import Definition

COUNT_PHRASES = {"gte": "at least", "gt": "more than", "lte": "at most", "lt": "fewer than", "eq": "exactly"}
COMPARE_PHRASES = {"gt": "more than", "gte": "at least", "lt": "less than", "lte": "at most"}


def definition_text(definition: Definition, *, names: Mapping[str, str] | None = None) -> str:
    """The whole definition: the rule, then "; minus members of X" per exclusion and the paired suppression."""
    names = names or {}
    text = node_text(definition.rule, names=names, top=True)
    text = text[:1].upper() + text[1:]
    for slug in definition.removed_slugs:
        text += f"; minus members of {names.get(slug, slug)}"
    return text


def node_text(node: Mapping[str, Any], *, names: Mapping[str, str] | None = None, top: bool = False) -> str:
    """One condition node in plain English; nested groups are parenthesised."""
    names = names or {}
    if "all" in node:
        if not node["all"]:
            return "every profile"
        parts = [node_text(child, names=names) for child in node["all"]]
        return ", and ".join(parts) if top else f"({' and '.join(parts)})"
    if "any" in node:
        parts = [node_text(child, names=names) for child in node["any"]]
        return ", or ".join(parts) if top else f"({' or '.join(parts)})"
    if "not" in node:
        return f"not ({node_text(node['not'], names=names, top=True)})"
    if "attribute" in node:
        return comparison_text(node["attribute"], node)
    if "event" in node:
        return event_text(node)
    if "in_audience" in node:
        return f"is a member of {names.get(node['in_audience'], node['in_audience'])}"
    return json.dumps(node)


def comparison_text(name: str, node: Mapping[str, Any]) -> str:
    """``unsubscribed is not true``, ``age is at least 30``, ``tier is one of "gold", "silver"``."""
    op = node["op"]
    value = node.get("value")
    if op == "eq":
        return f"{name} is {value_text(value)}"
    if op == "ne":
        return f"{name} is not {value_text(value)}"
    if op in COMPARE_PHRASES:
        return f"{name} is {COMPARE_PHRASES[op]} {value_text(value)}"
    if op == "in":
        return f"{name} is one of {', '.join(value_text(item) for item in value)}"
    if op == "not_in":
        return f"{name} is none of {', '.join(value_text(item) for item in value)}"
    if op == "contains":
        return f"{name} contains {value_text(value)}"
    if op == "exists":
        return f"{name} is set"
    if op == "not_exists":
        return f"{name} is not set"
    return f"{name} {op} {value_text(value)}"


def event_text(node: Mapping[str, Any]) -> str:
    """``did Product Added at least once in the last 3 days``, ``last did Order Completed between 25 and 45
    days ago``, ``never did Order Completed``."""
    name = node["event"]
    where = node.get("where") or []
    if where:
        name += " (where " + " and ".join(comparison_text(item["property"], item) for item in where) + ")"
    if "last" in node:
        return f"last did {name} {window_text(node['last'])}"
    if "first" in node:
        return f"first did {name} {window_text(node['first'])}"
    within = node.get("within")
    window = f" {window_text(within)}" if within else ""
    count = node.get("count") or {"gte": 1}
    ((op, number),) = count.items()
    if (op == "eq" and number == 0) or (op == "lte" and number == 0) or (op == "lt" and number == 1):
        return f"did not do {name}{window}" if within else f"never did {name}"
    if op == "gte" and number == 0:
        return f"did {name} any number of times{window}"
    if op == "lt" and number == 0:
        return f"did {name} fewer than 0 times{window} (never true)"
    times = "once" if number == 1 else "twice" if number == 2 else f"{number} times"
    if op == "gte" and number == 1:
        return f"did {name} at least once{window}"
    if op == "eq":
        return f"did {name} exactly {times}{window}"
    return f"did {name} {COUNT_PHRASES[op]} {times}{window}"


def window_text(window: Mapping[str, Any]) -> str:
    """``in the last 3 days``, ``in the last hour``, ``between 25 and 45 days ago``."""
    if "days_ago" in window:
        newest, oldest = window["days_ago"]
        if newest == 0:
            return f"in the last {oldest} days" if oldest != 1 else "in the last day"
        return f"between {newest} and {oldest} days ago"
    ((unit, amount),) = window.items()
    singular = unit[:-1]
    return f"in the last {singular}" if amount == 1 else f"in the last {amount} {unit}"


def value_text(value: Any) -> str:
    """A JSON value as written in the definition: ``"coffee"``, ``true``, ``null``, ``2.5``."""
    return json.dumps(value, ensure_ascii=False)
