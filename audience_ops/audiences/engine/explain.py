"""Why is this profile in or out: a condition-by-condition trace for one profile at one ``now``.

Explanations are per profile, so they may run a few small queries per condition. Each leaf's verdict comes
from the engine itself (the leaf compiled on its own and restricted to the profile), so a trace can never
disagree with the membership query; the deciding values shown beside it (count in the window, first/last
event time, the attribute's value or "missing") come from small lookups with the same filters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audience_ops.customers.models import Profile

from ..definitions import Definition
from .compiler import (
    EVENT_TABLE,
    Compiler,
    Resolver,
    compile_members,
    count_satisfies,
    event_count_comparison,
    window_bounds,
)
from .dialects import IDENTIFIER_COLUMNS, dialect_for
from .text import COUNT_PHRASES, comparison_text, node_text

MISSING = "missing"


@dataclass
class TraceNode:
    """One condition (or exclusion) with its verdict for the profile and the values that decided it."""

    kind: str
    label: str
    matched: bool
    values: dict[str, Any] = field(default_factory=dict)
    children: list[TraceNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "matched": self.matched,
            "values": self.values,
            "children": [child.as_dict() for child in self.children],
        }

    def lines(self, depth: int = 0) -> list[str]:
        mark = "yes" if self.matched else "no "
        details = ", ".join(f"{key}: {_show(value)}" for key, value in self.values.items())
        line = f"{'  ' * depth}[{mark}] {self.label}" + (f"  ({details})" if details else "")
        result = [line]
        for child in self.children:
            result.extend(child.lines(depth + 1))
        return result


@dataclass
class Trace:
    """The explanation of one profile's membership: the rule's tree, then each audience that removes members.

    ``member`` is true when the rule matched and no exclusion or paired suppression did.
    """

    profile_id: int
    profile_label: str
    now: dt.datetime
    audience: str | None
    member: bool
    rule: TraceNode
    exclusions: list[TraceNode] = field(default_factory=list)

    @property
    def suppression(self) -> TraceNode | None:
        """The paired suppression's node, when the definition has one."""
        return next((node for node in self.exclusions if node.kind == "suppression"), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "profile": self.profile_label,
            "now": self.now.isoformat(),
            "audience": self.audience,
            "member": self.member,
            "rule": self.rule.as_dict(),
            "exclusions": [node.as_dict() for node in self.exclusions],
        }

    def as_text(self) -> str:
        verdict = "IN" if self.member else "OUT"
        head = f"{self.profile_label} is {verdict} {self.audience or 'the audience'} at {self.now.isoformat()}"
        lines = [head, *self.rule.lines(1)]
        for node in self.exclusions:
            lines.extend(node.lines(1))
        return "\n".join(lines) + "\n"


class Explainer:
    """Builds traces for one profile at one ``now``; referenced audiences are explained recursively."""

    def __init__(
        self,
        *,
        profile: Profile,
        now: dt.datetime,
        resolver: Resolver,
        connection: Any,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.now = now
        self.resolver = resolver
        self.connection = connection
        self.dialect = dialect_for(connection)
        self.names = dict(names or {})
        self._members: dict[str, tuple[bool, TraceNode, list[TraceNode]]] = {}

    def trace(self, definition: Definition) -> Trace:
        rule, exclusions, member = self._audience(definition)
        return Trace(
            profile_id=self.profile.pk,
            profile_label=self.profile.label,
            now=self.now,
            audience=definition.name or definition.slug,
            member=member,
            rule=rule,
            exclusions=exclusions,
        )

    def _audience(self, definition: Definition) -> tuple[TraceNode, list[TraceNode], bool]:
        rule = self.node(definition.rule)
        exclusions = []
        for slug in definition.removed_slugs:
            nested_rule, nested_exclusions, nested_member = self._referenced(slug)
            is_pair = slug == definition.paired_suppression and slug not in definition.exclude
            kind = "suppression" if is_pair else "exclusion"
            label = f"minus members of {self.names.get(slug, slug)}" + (" (paired suppression)" if is_pair else "")
            exclusions.append(
                TraceNode(
                    kind=kind,
                    label=label,
                    matched=nested_member,
                    values={"audience": slug, "member": nested_member},
                    children=[nested_rule, *nested_exclusions],
                )
            )
        member = rule.matched and not any(node.matched for node in exclusions)
        return rule, exclusions, member

    def _referenced(self, slug: str) -> tuple[TraceNode, list[TraceNode], bool]:
        if slug not in self._members:
            self._members[slug] = self._audience(self.resolver(slug))
        return self._members[slug]

    def node(self, node: Mapping[str, Any]) -> TraceNode:
        label = node_text(node, names=self.names, top=True)
        if "all" in node or "any" in node:
            kind = "all" if "all" in node else "any"
            children = [self.node(child) for child in node[kind]]
            matched = all(c.matched for c in children) if kind == "all" else any(c.matched for c in children)
            label = "all of" if kind == "all" else "any of"
            if kind == "all" and not children:
                label = "every profile (empty all)"
            return TraceNode(kind=kind, label=label, matched=matched, children=children)
        if "not" in node:
            child = self.node(node["not"])
            return TraceNode(kind="not", label="not", matched=not child.matched, children=[child])
        if "in_audience" in node:
            slug = node["in_audience"]
            nested_rule, nested_exclusions, member = self._referenced(slug)
            return TraceNode(
                kind="in_audience",
                label=label,
                matched=member,
                values={"audience": slug, "member": member},
                children=[nested_rule, *nested_exclusions],
            )
        matched = self._leaf_matches(node)
        if "attribute" in node:
            return TraceNode(kind="attribute", label=label, matched=matched, values=self._attribute_values(node))
        return TraceNode(kind="event", label=label, matched=matched, values=self._event_values(node))

    # --- leaves -------------------------------------------------------------------------------------------

    def _leaf_matches(self, node: Mapping[str, Any]) -> bool:
        sql, params = compile_members(
            Definition(rule=dict(node)),
            now=self.now,
            resolver=self.resolver,
            dialect=self.dialect,
            include_exclusions=False,
            profile_id=self.profile.pk,
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() is not None

    def _attribute_values(self, node: Mapping[str, Any]) -> dict[str, Any]:
        name = node["attribute"]
        if name in IDENTIFIER_COLUMNS:
            value = getattr(self.profile, name)
            return {name: MISSING if value is None else value}
        traits = self.profile.traits if isinstance(self.profile.traits, Mapping) else {}
        return {name: traits.get(name, MISSING)}

    def _event_values(self, node: Mapping[str, Any]) -> dict[str, Any]:
        compiler = Compiler(now=self.now, resolver=self.resolver, dialect=self.dialect)
        values: dict[str, Any] = {}
        everything = compiler.event_filter(node, alias="e", lower=None, upper=self.now)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), MIN(e.occurred_at), MAX(e.occurred_at) FROM {EVENT_TABLE} AS e "
                f"WHERE e.profile_id = %s AND {everything.text}",
                [self.profile.pk, *everything.params],
            )
            total, first_at, last_at = cursor.fetchone()
            if "last" in node or "first" in node:
                mode = "last" if "last" in node else "first"
                window = window_bounds(node[mode], self.now)
                values["window"] = _window_label(window)
                moment = last_at if mode == "last" else first_at
                values[f"{mode} event"] = _as_datetime(moment, self.connection) if moment is not None else "none"
                return values
            window = window_bounds(node.get("within"), self.now)
            inside = compiler.event_filter(node, alias="e", lower=window.lower, upper=window.upper)
            cursor.execute(
                f"SELECT COUNT(*) FROM {EVENT_TABLE} AS e WHERE e.profile_id = %s AND {inside.text}",
                [self.profile.pk, *inside.params],
            )
            (count,) = cursor.fetchone()
        op, number = event_count_comparison(node)
        values["count in window"] = count
        values["needs"] = f"{COUNT_PHRASES[op]} {number}"
        values["window"] = _window_label(window)
        values["count satisfied"] = count_satisfies(count, op, number)
        if total:
            values["last event"] = _as_datetime(last_at, self.connection)
        return values


def explain_profile(
    definition: Definition,
    *,
    profile: Profile,
    now: dt.datetime,
    resolver: Resolver,
    connection: Any,
    names: Mapping[str, str] | None = None,
) -> Trace:
    """The trace of ``profile`` against ``definition`` at ``now``."""
    return Explainer(profile=profile, now=now, resolver=resolver, connection=connection, names=names).trace(definition)


def _window_label(window: Any) -> str:
    start = window.lower.isoformat() if window.lower is not None else "the beginning"
    return f"after {start}, up to {window.upper.isoformat()}"


def _as_datetime(value: Any, connection: Any) -> str:
    """A timestamp from a raw cursor (SQLite gives text) as ISO 8601 UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


__all__ = ["MISSING", "Explainer", "Trace", "TraceNode", "comparison_text", "explain_profile"]
