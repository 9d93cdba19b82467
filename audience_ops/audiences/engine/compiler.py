"""Definition + ``now`` -> one set-based SQL query selecting the ids of the members.

Pure: the compiler reads no rows and holds no ORM instances. It gets the definition, the evaluation time, a
*resolver* that returns the definition of a referenced audience (for ``in_audience``, ``exclude`` and the
paired suppression, compiled inline so the whole membership is one statement) and a SQL dialect.

Shape of the query (see ``docs/engine.md``)::

    SELECT j2.profile_id AS profile_id
    FROM (SELECT e.profile_id FROM customers_event AS e
          WHERE e.name = %s AND e.occurred_at > %s AND e.occurred_at <= %s
          GROUP BY e.profile_id) AS j2
    INNER JOIN customers_profile AS p1 ON p1.id = j2.profile_id      -- only when an attribute needs the row
    LEFT JOIN (...membership of an excluded audience...) AS j3 ON j3.profile_id = j2.profile_id
    WHERE (j2.profile_id IS NOT NULL) AND ... AND (j3.profile_id IS NULL)

Every event condition and every referenced audience is a derived table of profile ids (grouped, so one row
per profile) joined once; conditions are boolean expressions on the join columns and the profile's own
columns. At the top level of the WHERE, PostgreSQL turns ``IS NOT NULL`` joins into semi/inner joins and
``IS NULL`` joins into anti-joins; under ``any``/``not`` they stay hash joins instead of per-row subplans.
Identical derived tables are joined once.

The statement starts from the profile table only when it must. When the top-level AND has a *positive event
set* (a derived table tested with ``IS NOT NULL``), that set is the FROM: every member is in it, and every id
in it is an existing profile (``customers_event.profile_id`` is a NOT NULL foreign key), so the profile table
is joined only for attribute conditions. The positive event children of an ``any`` share one derived table,
the UNION of their sets, which PostgreSQL estimates as the sum of its branches (an OR of several left-joined
``IS NOT NULL`` tests is estimated as "every profile", which wrecked the plans around it). ``last``/``first``
are one aggregated set each (``HAVING MAX``/``MIN``), so they are positive sets too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
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
# Count comparisons that mean "at least one matching event".
PRESENT = (("gte", 1), ("gt", 0))


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
    """One membership SELECT: the profile table's alias and the derived tables joined to it.

    ``uses_profile`` records whether a condition reads the profile row (an attribute), so the statement joins
    the profile table only then, or when no event set can drive it.
    """

    alias: str
    joins: list[tuple[str, Sql]] = field(default_factory=list)
    by_key: dict[Any, str] = field(default_factory=dict)
    uses_profile: bool = False


@dataclass(frozen=True)
class _Condition:
    """A compiled condition; ``positive_set`` names the derived table when the condition is exactly
    ``<alias>.profile_id IS NOT NULL`` (its members are that set), which lets it drive the statement or share an
    ``any``'s UNION."""

    sql: Sql
    positive_set: str | None = None
    #: the conditions whose AND this is (nested ``all`` flattened); empty means just this one
    conjuncts: tuple[_Condition, ...] = ()


@dataclass(frozen=True)
class _EventSet:
    """The SQL of one derived table of profile ids with matching events (one row per profile)."""

    text: str
    params: list[Any]
    grouped: bool  # has a GROUP BY/HAVING that a UNION branch must keep

    def key(self) -> tuple[Any, ...]:
        return ("events", self.text, _typed(self.params))


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
        """``SELECT <id> AS profile_id FROM <driver> ... WHERE <membership>`` as one statement.

        The driver is the first positive event set among the top-level AND's conditions when there is one,
        else the profile table (rules of attributes only, pure negations, counts that zero satisfies).
        """
        scope = _Scope(alias=self._alias("p"))
        rule = self._condition(definition.rule, scope, negated=False)
        driver = next(
            (condition.positive_set for condition in rule.conjuncts or (rule,) if condition.positive_set is not None),
            None,
        )
        id_column = f"{driver}.profile_id" if driver else f"{scope.alias}.id"
        conditions = [rule.sql]
        if include_exclusions:
            for slug in definition.removed_slugs:
                alias = self._join_audience(slug, scope)
                conditions.append(Sql(f"({alias}.profile_id IS NULL)"))
        if profile_id is not None:
            conditions.insert(0, Sql(f"({id_column} = %s)", [profile_id]))
        where = join_sql(" AND ", conditions)

        parts: list[Sql] = []
        if driver:
            derived = dict(scope.joins)[driver]
            parts.append(Sql(f"FROM ({derived.text}) AS {driver}", derived.params))
            if scope.uses_profile:
                parts.append(Sql(f"INNER JOIN {PROFILE_TABLE} AS {scope.alias} ON {scope.alias}.id = {id_column}"))
        else:
            parts.append(Sql(f"FROM {PROFILE_TABLE} AS {scope.alias}"))
        parts.extend(
            Sql(f"LEFT JOIN ({derived.text}) AS {alias} ON {alias}.profile_id = {id_column}", derived.params)
            for alias, derived in scope.joins
            if alias != driver
        )
        source = join_sql(" ", parts)
        return Sql(
            f"SELECT {id_column} AS profile_id {source.text} WHERE {where.text}", [*source.params, *where.params]
        )

    def node(self, node: Mapping[str, Any], scope: _Scope) -> Sql:
        """A boolean expression over ``scope``'s joins and profile row for one condition node (in a WHERE)."""
        return self._condition(node, scope, negated=False).sql

    def _condition(self, node: Mapping[str, Any], scope: _Scope, *, negated: bool) -> _Condition:
        """One condition node. ``negated``: a ``not`` is above it, so NULL must read as FALSE (two-valued)."""
        if "all" in node:
            children = [self._condition(child, scope, negated=negated) for child in node["all"]]
            if not children:
                return _Condition(Sql(TRUE))
            conjuncts = tuple(item for child in children for item in (child.conjuncts or (child,)))
            return _Condition(_wrap(join_sql(" AND ", [child.sql for child in children])), conjuncts=conjuncts)
        if "any" in node:
            return self._any(node["any"], scope, negated=negated)
        if "not" in node:
            child = self._condition(node["not"], scope, negated=True).sql
            return _Condition(Sql(f"(NOT {child.text})", child.params))
        if "attribute" in node:
            return _Condition(self.attribute(node, scope, negated=negated))
        if "event" in node:
            return self._event(node, scope)
        if "in_audience" in node:
            alias = self._join_audience(node["in_audience"], scope)
            return _Condition(Sql(f"({alias}.profile_id IS NOT NULL)"))
        raise CompileError(f"not a condition node: {sorted(node)}")

    def _any(self, nodes: list[Mapping[str, Any]], scope: _Scope, *, negated: bool) -> _Condition:
        """OR of the children; the children that are positive event sets share one derived table (a UNION)."""
        if not nodes:
            return _Condition(Sql(FALSE))
        sets = [self._positive_event_set(child) for child in nodes]
        unioned = self._merged_by_name([child for child, event_set in zip(nodes, sets, strict=True) if event_set])
        parts: list[Sql] = []
        union_alias: str | None = None
        for child, event_set in zip(nodes, sets, strict=True):
            if event_set is None:
                parts.append(self._condition(child, scope, negated=negated).sql)
            elif union_alias is None:
                union_alias = self._join_event_sets(unioned, scope)
                parts.append(Sql(f"({union_alias}.profile_id IS NOT NULL)"))
        if len(parts) == 1:
            return _Condition(parts[0], union_alias)
        return _Condition(_wrap(join_sql(" OR ", parts)))

    def _merged_by_name(self, nodes: list[Mapping[str, Any]]) -> list[_EventSet]:
        """The event sets of an ``any``'s positive event children, one per child, except that plain "did it in
        the window" children with the same window and property filters become one set over ``name IN (...)``.

        Same members, but PostgreSQL estimates the distinct profiles of one scan from its statistics, where a
        UNION of scans is estimated as the sum of its branches (three times too many for "viewed, added to
        cart or ordered this week"), which then inflates the cost of every plan around it.
        """
        groups: dict[Any, list[str]] = {}
        first_node: dict[Any, Mapping[str, Any]] = {}
        keys: list[Any] = []
        for node in nodes:
            plain = "last" not in node and "first" not in node and event_count_comparison(node) in PRESENT
            if plain:
                window = window_bounds(node.get("within"), self.now)
                key: Any = ("plain", window, json.dumps(node.get("where") or [], sort_keys=True))
            else:
                key = ("single", len(keys))
            if key not in groups:
                groups[key] = []
                first_node[key] = node
                keys.append(key)
            if node["event"] not in groups[key]:
                groups[key].append(node["event"])
        sets = []
        for key in keys:
            node = first_node[key]
            if key[0] == "plain":
                window = key[1]
                sets.append(self._event_set(node, lower=window.lower, upper=window.upper, names=groups[key]))
            else:
                event_set = self._positive_event_set(node)
                assert event_set is not None
                sets.append(event_set)
        return sets

    def attribute(self, node: Mapping[str, Any], scope: _Scope, *, negated: bool = True) -> Sql:
        """An attribute condition on the profile: an identifier column or a key of ``traits``."""
        scope.uses_profile = True
        name = node["attribute"]
        if name in IDENTIFIER_COLUMNS:
            return self.comparison(node, column=f"{scope.alias}.{name}", json_key=None, negated=negated)
        return self.comparison(node, column=f"{scope.alias}.traits", json_key=name, negated=negated)

    def comparison(self, node: Mapping[str, Any], *, column: str, json_key: str | None, negated: bool = True) -> Sql:
        """``op``/``value`` applied to a JSON key of ``column`` (or to a text column when ``json_key`` is None).

        With ``negated`` False (no negation above it, in a WHERE) a JSON test may be NULL for a missing key,
        which drops the row just as FALSE would; under a negation it is two-valued. The default is the safe one.
        """
        op = node["op"]
        value = node.get("value")
        dialect = self.dialect
        if op in ("ne", "not_in", "not_exists"):
            positive = {"ne": "eq", "not_in": "in", "not_exists": "exists"}[op]
            inner = self.comparison({**node, "op": positive}, column=column, json_key=json_key, negated=True)
            return Sql(f"(NOT {inner.text})", inner.params)
        two_valued = negated
        if op == "eq":
            if json_key is None:
                return dialect.text_eq(column, value)
            return dialect.json_eq(column, json_key, value, two_valued=two_valued)
        if op == "in":
            parts = [
                self.comparison({"op": "eq", "value": item}, column=column, json_key=json_key, negated=negated)
                for item in value
            ]
            return _wrap(join_sql(" OR ", parts))
        if op == "exists":
            if json_key is None:
                return dialect.text_is_not_null(column)
            return dialect.json_is_not_null(column, json_key, two_valued=two_valued)
        if op in ("gt", "gte", "lt", "lte"):
            if json_key is None:
                return Sql(FALSE)  # identifier columns hold strings, never numbers
            return dialect.json_compare(column, json_key, op, value, two_valued=two_valued)
        if op == "contains":
            if json_key is None:
                return dialect.text_contains(column, value)
            return dialect.json_contains(column, json_key, value, two_valued=two_valued)
        raise CompileError(f"unknown op {op!r}")

    def event(self, node: Mapping[str, Any], scope: _Scope) -> Sql:
        """An event condition: a count in a window, or the last/first matching event in a window."""
        return self._event(node, scope).sql

    def _event(self, node: Mapping[str, Any], scope: _Scope) -> _Condition:
        event_set = self._positive_event_set(node)
        if event_set is not None:
            alias = self._join_event_sets([event_set], scope)
            return _Condition(Sql(f"({alias}.profile_id IS NOT NULL)"), alias)
        window = window_bounds(node.get("within"), self.now)
        op, number = event_count_comparison(node)
        # Zero events satisfy the comparison, so profiles without any event match: select the complement.
        complement = {"eq": ("gt", number), "lte": ("gt", number), "lt": ("gte", number), "gte": None}[op]
        if complement is None:
            return _Condition(Sql(TRUE))  # count >= 0
        having = None if complement in PRESENT else complement
        event_set = self._event_set(node, lower=window.lower, upper=window.upper, having=having)
        alias = self._join_event_sets([event_set], scope)
        return _Condition(Sql(f"({alias}.profile_id IS NULL)"))

    def _positive_event_set(self, node: Mapping[str, Any]) -> _EventSet | None:
        """The derived table whose members are exactly the profiles matching an event ``node``, if there is one.

        ``last`` in ``(lo, hi]``: the events in ``(lo, now]``, kept when their latest is ``<= hi`` (the most
        recent event is in the window iff one is in it and none came after it). ``first`` in ``(lo, hi]``: the
        events up to ``hi``, kept when their earliest is ``> lo``. A count that zero events fail is a set; a
        count that zero satisfies is not (it is the complement of one, see :meth:`_event`).
        """
        if "event" not in node:
            return None
        if "last" in node:
            window = window_bounds(node["last"], self.now)
            bound = ("MAX", "<=", window.upper) if window.upper < self.now else None
            return self._event_set(node, lower=window.lower, upper=self.now, bound=bound)
        if "first" in node:
            window = window_bounds(node["first"], self.now)
            bound = ("MIN", ">", window.lower) if window.lower is not None else None
            return self._event_set(node, lower=None, upper=window.upper, bound=bound)
        window = window_bounds(node.get("within"), self.now)
        op, number = event_count_comparison(node)
        if count_satisfies(0, op, number):
            return None
        having = None if (op, number) in PRESENT else (op, number)
        return self._event_set(node, lower=window.lower, upper=window.upper, having=having)

    def event_filter(
        self,
        node: Mapping[str, Any],
        *,
        alias: str,
        lower: dt.datetime | None,
        upper: dt.datetime,
        names: list[str] | None = None,
    ) -> Sql:
        """The WHERE of the events matching ``node`` (name, property filters) with ``lower < t <= upper``.

        ``names``: match any of these names instead of ``node["event"]`` (same window and filters).
        """
        if names is not None and len(names) > 1:
            parts = [Sql(f"{alias}.name IN ({', '.join(['%s'] * len(names))})", list(names))]
        else:
            parts = [Sql(f"{alias}.name = %s", [names[0] if names else node["event"]])]
        if lower is not None:
            parts.append(Sql(f"{alias}.occurred_at > %s", [self.dialect.datetime_param(lower)]))
        # Events after now do not exist for this evaluation; windows never reach past now.
        parts.append(Sql(f"{alias}.occurred_at <= %s", [self.dialect.datetime_param(min(upper, self.now))]))
        for item in node.get("where") or ():
            parts.append(self.comparison(item, column=f"{alias}.properties", json_key=item["property"], negated=False))
        return join_sql(" AND ", parts)

    # --- joins --------------------------------------------------------------------------------------------

    def _event_set(
        self,
        node: Mapping[str, Any],
        *,
        lower: dt.datetime | None,
        upper: dt.datetime,
        having: tuple[str, int] | None = None,
        bound: tuple[str, str, dt.datetime] | None = None,
        names: list[str] | None = None,
    ) -> _EventSet:
        """The profiles with events matching ``node`` in ``(lower, upper]``, optionally counted (``having``) or
        with their ``MAX``/``MIN`` time bounded (``bound``: aggregate, comparison, time). ``names``: any of
        these event names instead of ``node``'s."""
        where = self.event_filter(node, alias="e", lower=lower, upper=upper, names=names)
        text = f"SELECT e.profile_id FROM {EVENT_TABLE} AS e WHERE {where.text} GROUP BY e.profile_id"
        params = list(where.params)
        if having is not None:
            text += f" HAVING COUNT(*) {COMPARISON_SQL[having[0]]} %s"
            params.append(having[1])
        elif bound is not None:
            aggregate, comparison, moment = bound
            text += f" HAVING {aggregate}(e.occurred_at) {comparison} %s"
            params.append(self.dialect.datetime_param(moment))
        return _EventSet(text, params, grouped=having is not None or bound is not None)

    def _join_event_sets(self, event_sets: list[_EventSet], scope: _Scope) -> str:
        """Join one derived table: the event set, or the UNION of several (one row per profile either way)."""
        if len(event_sets) == 1:
            (only,) = event_sets
            return self._join(scope, only.key(), lambda: Sql(only.text, only.params))
        # UNION removes duplicates itself, so a branch needs its GROUP BY only for a HAVING.
        branches = [
            Sql(item.text if item.grouped else item.text.removesuffix(" GROUP BY e.profile_id"), item.params)
            for item in event_sets
        ]
        union = join_sql(" UNION ", branches)
        return self._join(scope, ("union", union.text, _typed(union.params)), lambda: union)

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
