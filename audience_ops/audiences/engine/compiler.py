"""Definition + ``now`` -> one set-based SQL query selecting the ids of the members.

Pure: the compiler reads no rows and holds no ORM instances. It gets the definition, the evaluation time, a
*resolver* that returns the definition of a referenced audience (for ``in_audience``, ``exclude`` and the
paired suppression, compiled inline so the whole membership is one statement) and a SQL dialect.

Shape of the query (see ``docs/engine.md``)::

    SELECT p1.id AS profile_id FROM customers_profile AS p1
    LEFT JOIN (SELECT e.profile_id FROM customers_event AS e
               WHERE e.name = %s AND e.occurred_at > %s AND e.occurred_at <= %s
               GROUP BY e.profile_id) AS j2 ON j2.profile_id = p1.id
    LEFT JOIN (...membership of an excluded audience...) AS j3 ON j3.profile_id = p1.id
    WHERE (j2.profile_id IS NOT NULL) AND ... AND (j3.profile_id IS NULL)

Every event condition and every referenced audience is a derived table of profile ids (grouped, so one row
per profile) joined once; conditions are boolean expressions on the join columns and the profile's own
columns. At the top level of the WHERE, PostgreSQL turns ``IS NOT NULL`` joins into semi/inner joins and
``IS NULL`` joins into anti-joins; under ``any``/``not`` they stay hash joins instead of per-row subplans.
Identical derived tables are joined once.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audience_ops.customers.models import Event, Profile

from ..definitions import Definition
from .dialects import COMPARISON_SQL, FALSE, IDENTIFIER_COLUMNS, TRUE, Dialect, Sql, join_sql

PROFILE_TABLE = Profile._meta.db_table
EVENT_TABLE = Event._meta.db_table

Resolver = Callable[[str], Definition]

WINDOW_UNITS = {"minutes": "minutes", "hours": "hours", "days": "days"}


class CompileError(Exception):
    """The definition cannot be compiled (an unknown or cyclic reference that validation should have caught)."""


@dataclass(frozen=True)
class Window:
    """``lower < t <= upper``; ``lower`` None means since the beginning of time."""

    lower: dt.datetime | None
    upper: dt.datetime

    def contains(self, moment: dt.datetime) -> bool:
        return (self.lower is None or moment > self.lower) and moment <= self.upper


def window_bounds(window: Mapping[str, Any] | None, now: dt.datetime) -> Window:
    """The time range of a window relative to ``now`` (no window: all time up to ``now``)."""
    if not window:
        return Window(None, now)
    if "days_ago" in window:
        newest, oldest = window["days_ago"]
        return Window(now - dt.timedelta(days=oldest), now - dt.timedelta(days=newest))
    (unit, amount), *_rest = window.items()
    return Window(now - dt.timedelta(**{WINDOW_UNITS[unit]: amount}), now)


def count_satisfies(count: int, op: str, number: int) -> bool:
    """Whether an event count satisfies ``{op: number}``."""
    return {
        "eq": count == number,
        "gte": count >= number,
        "gt": count > number,
        "lte": count <= number,
        "lt": count < number,
    }[op]


def event_count_comparison(node: Mapping[str, Any]) -> tuple[str, int]:
    """The count comparison of an event condition (``{"gte": 1}`` when absent)."""
    count = node.get("count") or {"gte": 1}
    ((op, number),) = count.items()
    return op, number


@dataclass
class _Scope:
    """One SELECT over the profile table: its alias and the derived tables joined to it."""

    alias: str
    joins: list[tuple[str, Sql]] = field(default_factory=list)
    by_key: dict[Any, str] = field(default_factory=dict)


class Compiler:
    """Compiles definitions at one ``now``; one instance per query (aliases are numbered per instance)."""

    def __init__(self, *, now: dt.datetime, resolver: Resolver, dialect: Dialect) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now
        self.resolver = resolver
        self.dialect = dialect
        self._numbers = itertools.count(1)
        self._resolving: list[str] = []
        self._definitions: dict[str, Definition] = {}

    # --- public -------------------------------------------------------------------------------------------

    def compile(self, definition: Definition, *, include_exclusions: bool = True, profile_id: int | None = None) -> Sql:
        """The members of a root definition; its own slug counts as being resolved (self-reference is a cycle)."""
        if definition.slug:
            self._resolving.append(definition.slug)
        try:
            return self.members(definition, include_exclusions=include_exclusions, profile_id=profile_id)
        finally:
            if definition.slug:
                self._resolving.pop()

    def members(self, definition: Definition, *, include_exclusions: bool = True, profile_id: int | None = None) -> Sql:
        """``SELECT <alias>.id AS profile_id FROM profiles WHERE <membership>`` as one statement."""
        scope = _Scope(alias=self._alias("p"))
        conditions = [self.node(definition.rule, scope)]
        if include_exclusions:
            for slug in definition.removed_slugs:
                alias = self._join_audience(slug, scope)
                conditions.append(Sql(f"({alias}.profile_id IS NULL)"))
        if profile_id is not None:
            conditions.insert(0, Sql(f"({scope.alias}.id = %s)", [profile_id]))
        where = join_sql(" AND ", conditions)
        joins = join_sql(
            " ",
            [
                Sql(f"LEFT JOIN ({derived.text}) AS {alias} ON {alias}.profile_id = {scope.alias}.id", derived.params)
                for alias, derived in scope.joins
            ],
        )
        text = f"SELECT {scope.alias}.id AS profile_id FROM {PROFILE_TABLE} AS {scope.alias}"
        if joins.text:
            text += f" {joins.text}"
        return Sql(f"{text} WHERE {where.text}", [*joins.params, *where.params])

    def node(self, node: Mapping[str, Any], scope: _Scope) -> Sql:
        """A two-valued boolean expression over ``scope``'s profile row for one condition node."""
        if "all" in node:
            children = [self.node(child, scope) for child in node["all"]]
            return Sql(TRUE) if not children else _wrap(join_sql(" AND ", children))
        if "any" in node:
            children = [self.node(child, scope) for child in node["any"]]
            return Sql(FALSE) if not children else _wrap(join_sql(" OR ", children))
        if "not" in node:
            child = self.node(node["not"], scope)
            return Sql(f"(NOT {child.text})", child.params)
        if "attribute" in node:
            return self.attribute(node, scope)
        if "event" in node:
            return self.event(node, scope)
        if "in_audience" in node:
            alias = self._join_audience(node["in_audience"], scope)
            return Sql(f"({alias}.profile_id IS NOT NULL)")
        raise CompileError(f"not a condition node: {sorted(node)}")

    def attribute(self, node: Mapping[str, Any], scope: _Scope) -> Sql:
        """An attribute condition on the profile: an identifier column or a key of ``traits``."""
        name = node["attribute"]
        if name in IDENTIFIER_COLUMNS:
            return self.comparison(node, column=f"{scope.alias}.{name}", json_key=None)
        return self.comparison(node, column=f"{scope.alias}.traits", json_key=name)

    def comparison(self, node: Mapping[str, Any], *, column: str, json_key: str | None) -> Sql:
        """``op``/``value`` applied to a JSON key of ``column`` (or to a text column when ``json_key`` is None)."""
        op = node["op"]
        value = node.get("value")
        dialect = self.dialect
        if op in ("ne", "not_in", "not_exists"):
            positive = {"ne": "eq", "not_in": "in", "not_exists": "exists"}[op]
            inner = self.comparison({**node, "op": positive}, column=column, json_key=json_key)
            return Sql(f"(NOT {inner.text})", inner.params)
        if op == "eq":
            if json_key is None:
                return dialect.text_eq(column, value)
            return dialect.json_eq(column, json_key, value)
        if op == "in":
            parts = [self.comparison({"op": "eq", "value": item}, column=column, json_key=json_key) for item in value]
            return _wrap(join_sql(" OR ", parts))
        if op == "exists":
            if json_key is None:
                return dialect.text_is_not_null(column)
            return dialect.json_is_not_null(column, json_key)
        if op in ("gt", "gte", "lt", "lte"):
            if json_key is None:
                return Sql(FALSE)  # identifier columns hold strings, never numbers
            return dialect.json_compare(column, json_key, op, value)
        if op == "contains":
            if json_key is None:
                return dialect.text_contains(column, value)
            return dialect.json_contains(column, json_key, value)
        raise CompileError(f"unknown op {op!r}")

    def event(self, node: Mapping[str, Any], scope: _Scope) -> Sql:
        """An event condition: a count in a window, or the last/first matching event in a window."""
        if "last" in node or "first" in node:
            mode = "last" if "last" in node else "first"
            window = window_bounds(node[mode], self.now)
            inside = self._join_event_set(node, scope, lower=window.lower, upper=window.upper)
            if mode == "last":
                # The most recent event is in the window iff one is in it and none came after it (up to now).
                after = (
                    self._join_event_set(node, scope, lower=window.upper, upper=self.now)
                    if window.upper < self.now
                    else None
                )
                if after is None:
                    return Sql(f"({inside}.profile_id IS NOT NULL)")
                return Sql(f"({inside}.profile_id IS NOT NULL AND {after}.profile_id IS NULL)")
            # The earliest event is in the window iff one is in it and none came before it.
            before = self._join_event_set(node, scope, lower=None, upper=window.lower)
            return Sql(f"({inside}.profile_id IS NOT NULL AND {before}.profile_id IS NULL)")

        window = window_bounds(node.get("within"), self.now)
        op, number = event_count_comparison(node)
        if not count_satisfies(0, op, number):
            having = None if (op, number) in (("gte", 1), ("gt", 0)) else (op, number)
            alias = self._join_event_set(node, scope, lower=window.lower, upper=window.upper, having=having)
            return Sql(f"({alias}.profile_id IS NOT NULL)")
        # Zero events satisfy the comparison, so profiles without any event match: select the complement.
        complement = {"eq": ("gt", number), "lte": ("gt", number), "lt": ("gte", number), "gte": None}[op]
        if complement is None:
            return Sql(TRUE)  # count >= 0
        having = None if complement in (("gte", 1), ("gt", 0)) else complement
        alias = self._join_event_set(node, scope, lower=window.lower, upper=window.upper, having=having)
        return Sql(f"({alias}.profile_id IS NULL)")

    def event_filter(
        self, node: Mapping[str, Any], *, alias: str, lower: dt.datetime | None, upper: dt.datetime
    ) -> Sql:
        """The WHERE of the events matching ``node`` (name, property filters) with ``lower < t <= upper``."""
        parts = [Sql(f"{alias}.name = %s", [node["event"]])]
        if lower is not None:
            parts.append(Sql(f"{alias}.occurred_at > %s", [self.dialect.datetime_param(lower)]))
        # Events after now do not exist for this evaluation; windows never reach past now.
        parts.append(Sql(f"{alias}.occurred_at <= %s", [self.dialect.datetime_param(min(upper, self.now))]))
        for item in node.get("where") or ():
            parts.append(self.comparison(item, column=f"{alias}.properties", json_key=item["property"]))
        return join_sql(" AND ", parts)

    # --- joins --------------------------------------------------------------------------------------------

    def _join_event_set(
        self,
        node: Mapping[str, Any],
        scope: _Scope,
        *,
        lower: dt.datetime | None,
        upper: dt.datetime,
        having: tuple[str, int] | None = None,
    ) -> str:
        """Join the set of profiles with matching events in ``(lower, upper]`` (optionally counted)."""
        where = self.event_filter(node, alias="e", lower=lower, upper=upper)
        text = f"SELECT e.profile_id FROM {EVENT_TABLE} AS e WHERE {where.text} GROUP BY e.profile_id"
        params = list(where.params)
        if having is not None:
            text += f" HAVING COUNT(*) {COMPARISON_SQL[having[0]]} %s"
            params.append(having[1])
        return self._join(scope, ("events", text, _typed(params)), lambda: Sql(text, params))

    def _join_audience(self, slug: str, scope: _Scope) -> str:
        """Join the members of another audience (its own exclusions and paired suppression included)."""
        return self._join(scope, ("audience", slug), lambda: self._audience_members(slug))

    def _audience_members(self, slug: str) -> Sql:
        if slug in self._resolving:
            chain = " -> ".join([*self._resolving, slug])
            raise CompileError(f"audience references form a cycle: {chain}")
        definition = self._definitions.get(slug)
        if definition is None:
            definition = self.resolver(slug)
            self._definitions[slug] = definition
        self._resolving.append(slug)
        try:
            return self.members(definition)
        finally:
            self._resolving.pop()

    def _join(self, scope: _Scope, key: Any, build: Callable[[], Sql]) -> str:
        if key in scope.by_key:
            return scope.by_key[key]
        derived = build()
        alias = self._alias("j")
        scope.joins.append((alias, derived))
        scope.by_key[key] = alias
        return alias

    def _alias(self, prefix: str) -> str:
        return f"{prefix}{next(self._numbers)}"


def compile_members(
    definition: Definition,
    *,
    now: dt.datetime,
    resolver: Resolver,
    dialect: Dialect,
    include_exclusions: bool = True,
    profile_id: int | None = None,
) -> tuple[str, list[Any]]:
    """The SQL (``%s`` placeholders) and parameters selecting the member ids of ``definition`` at ``now``.

    The single column is ``profile_id``. ``include_exclusions=False`` gives the rule alone (condition sizes);
    ``profile_id`` restricts the query to one profile (explanations).
    """
    compiler = Compiler(now=now, resolver=resolver, dialect=dialect)
    sql = compiler.compile(definition, include_exclusions=include_exclusions, profile_id=profile_id)
    return sql.text, sql.params


def _wrap(sql: Sql) -> Sql:
    return Sql(f"({sql.text})", sql.params)


def _typed(params: list[Any]) -> tuple[tuple[str, Any], ...]:
    """Params as a hashable key that keeps ``True``, ``1`` and ``1.0`` apart."""
    return tuple((type(param).__name__, param) for param in params)
