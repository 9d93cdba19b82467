"""The one validator of the v1 definition format, used by import, the builder and the services.

It never stops at the first problem: every problem is returned as a :class:`Problem` naming the JSON path
of the offending value (``audiences[2].rule.all[1].within``) and what is wrong with it, so a marketer can fix
a whole file in one pass. References to other audiences are checked against the audiences in the same
payload and those already in the database (:func:`existing_audiences`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .choices import AudienceKind, AudienceObjective, AudienceOffer, QaExpectation
from .definitions import AUDIENCE_KEY_ORDER

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
INTENT_MAX_LENGTH = 64
MAX_GROUP_DEPTH = 5
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Integers in definitions must fit the 64-bit integers both databases compare exactly.
MAX_ABS_INTEGER = 2**63 - 1
# Windows longer than this are almost certainly a typo, and would overflow date arithmetic much further out.
MAX_WINDOW = {"minutes": 100 * 366 * 24 * 60, "hours": 100 * 366 * 24, "days": 100 * 366}

# The allowed keys are the keys the exporter writes, in the same order.
AUDIENCE_KEYS = AUDIENCE_KEY_ORDER
REQUIRED_AUDIENCE_KEYS = ("slug", "name", "kind", "objective", "owner", "purpose", "retire_on", "rule")
NODE_KINDS = ("all", "any", "not", "attribute", "event", "in_audience")
GROUP_KINDS = ("all", "any", "not")
EVENT_KEYS = ("event", "where", "count", "within", "last", "first")
COUNT_OPS = ("eq", "gte", "gt", "lte", "lt")
WINDOW_UNITS = ("minutes", "hours", "days", "days_ago")
SCALAR_OPS = ("eq", "ne")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
LIST_OPS = ("in", "not_in")
STRING_OPS = ("contains",)
VALUELESS_OPS = ("exists", "not_exists")
OPS = SCALAR_OPS + NUMBER_OPS + LIST_OPS + STRING_OPS + VALUELESS_OPS
QA_KEYS = ("profile", "expect", "note")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a payload: where (a JSON path, empty for the payload itself) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class ExistingAudience:
    """What validation needs to know about an audience already in the database.

    ``refs`` holds the audiences referenced by its live version and by its latest version: either may be the
    one evaluated, so both count when looking for cycles. ``live_refs`` are those of the live version alone,
    which stays in force when an import adds a new latest version.
    """

    slug: str
    kind: str
    refs: frozenset[str] = frozenset()
    live_refs: frozenset[str] = frozenset()


@dataclass
class _Reference:
    path: str
    source: str | None
    target: str
    how: str  # "in_audience", "exclude" or "paired_suppression"


@dataclass
class _Context:
    problems: list[Problem] = field(default_factory=list)
    references: list[_Reference] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))


def validate_audience_payload(
    data: Any,
    *,
    existing: Mapping[str, ExistingAudience] | None = None,
    usernames: Collection[str] | Callable[[Iterable[str]], Collection[str]] | None = None,
) -> list[Problem]:
    """Every problem of a payload: one audience object, ``{"audiences": [...]}`` or a list of audience objects.

    ``existing`` maps slug to the audiences already stored (default: read from the database); an audience in
    the payload replaces the stored one of the same slug. ``usernames`` is the set of known usernames or a
    function returning which of the given names exist (default: the user table). An empty list means valid.
    """
    ctx = _Context()
    entries: list[tuple[str, Any]] = []
    if isinstance(data, list):
        entries = [(f"audiences[{index}]", item) for index, item in enumerate(data)]
    elif isinstance(data, Mapping):
        if "audiences" in data:
            for key in data:
                if key != "audiences":
                    ctx.add(_join("", key), 'unknown key; a file holds one audience object or {"audiences": [...]}')
            items = data["audiences"]
            if isinstance(items, list):
                entries = [(f"audiences[{index}]", item) for index, item in enumerate(items)]
            else:
                ctx.add("audiences", f"must be a list of audience objects, got {_describe(items)}")
        else:
            entries = [("", data)]
    else:
        ctx.add("", f'expected an audience object or {{"audiences": [...]}}, got {_describe(data)}')
        return ctx.problems

    audiences: dict[str, tuple[str, Mapping[str, Any]]] = {}
    owners: list[tuple[str, str]] = []
    for path, item in entries:
        slug = _check_audience(item, path, ctx)
        if not isinstance(item, Mapping):
            continue
        if slug is not None:
            if slug in audiences:
                ctx.add(
                    _join(path, "slug"), f'"{slug}" appears more than once (first at {audiences[slug][0] or "top"})'
                )
            else:
                audiences[slug] = (path, item)
        owner = item.get("owner")
        if isinstance(owner, str) and owner:
            owners.append((_join(path, "owner"), owner))

    if existing is None:
        existing = existing_audiences()
    _check_references(audiences, existing, ctx)
    _check_owners(owners, usernames, ctx)
    return ctx.problems


def validate_rule(rule: Any, *, path: str = "rule") -> list[Problem]:
    """Structural problems of a condition tree alone (no reference checks): for the builder's live preview."""
    ctx = _Context()
    _check_node(rule, path, 0, ctx, None, depth_reported=False)
    return ctx.problems


def existing_audiences() -> dict[str, ExistingAudience]:
    """Every stored audience with its kind and the audiences its live and latest versions reference."""
    from .definitions import definition_from_version
    from .models import Audience, AudienceVersion

    latest: dict[int, AudienceVersion] = {}
    for version in AudienceVersion.objects.select_related("audience").order_by("audience_id", "number"):
        latest[version.audience_id] = version
    result: dict[str, ExistingAudience] = {}
    for audience in Audience.objects.select_related("live_version", "live_version__audience"):
        refs: set[str] = set()
        live_refs: set[str] = set()
        if audience.live_version is not None:
            live_refs = definition_from_version(audience.live_version).referenced_slugs()
            refs |= live_refs
        if audience.pk in latest:
            refs |= definition_from_version(latest[audience.pk]).referenced_slugs()
        result[audience.slug] = ExistingAudience(
            slug=audience.slug, kind=audience.kind, refs=frozenset(refs), live_refs=frozenset(live_refs)
        )
    return result


# --- one audience ------------------------------------------------------------------------------------------


def _check_audience(item: Any, path: str, ctx: _Context) -> str | None:
    """Check one audience object; return its slug when the slug itself is valid."""
    if not isinstance(item, Mapping):
        ctx.add(path, f"must be an audience object, got {_describe(item)}")
        return None
    for key in item:
        if key not in AUDIENCE_KEYS:
            ctx.add(_join(path, key), f"unknown key (allowed: {', '.join(AUDIENCE_KEYS)})")
    for key in REQUIRED_AUDIENCE_KEYS:
        if key not in item:
            ctx.add(_join(path, key), "is required")

    slug = None
    if "slug" in item and _check_slug(item["slug"], _join(path, "slug"), ctx):
        slug = item["slug"]
    if "name" in item:
        _check_text(item["name"], _join(path, "name"), ctx, max_length=NAME_MAX_LENGTH)
    if "kind" in item:
        _check_choice(item["kind"], _join(path, "kind"), ctx, AudienceKind.values)
    if "objective" in item:
        _check_choice(item["objective"], _join(path, "objective"), ctx, AudienceObjective.values)
    if "owner" in item:
        _check_text(item["owner"], _join(path, "owner"), ctx, max_length=150)
    if "purpose" in item:
        _check_text(item["purpose"], _join(path, "purpose"), ctx)
    if "retire_on" in item:
        _check_date(item["retire_on"], _join(path, "retire_on"), ctx)
    if "offer" in item:
        _check_choice(item["offer"], _join(path, "offer"), ctx, AudienceOffer.values)
    if "intent" in item:
        intent = item["intent"]
        if not isinstance(intent, str):
            ctx.add(_join(path, "intent"), f"must be a string, got {_describe(intent)}")
        elif len(intent) > INTENT_MAX_LENGTH:
            ctx.add(_join(path, "intent"), f"must be at most {INTENT_MAX_LENGTH} characters, got {len(intent)}")

    if "exclude" in item:
        exclude = item["exclude"]
        exclude_path = _join(path, "exclude")
        if not isinstance(exclude, list):
            ctx.add(exclude_path, f"must be a list of audience slugs, got {_describe(exclude)}")
        else:
            seen: set[str] = set()
            for index, value in enumerate(exclude):
                value_path = f"{exclude_path}[{index}]"
                if _check_slug(value, value_path, ctx):
                    if value in seen:
                        ctx.add(value_path, f'"{value}" is listed more than once')
                    seen.add(value)
                    ctx.references.append(_Reference(value_path, slug, value, "exclude"))

    paired = item.get("paired_suppression")
    if paired is not None and _check_slug(paired, _join(path, "paired_suppression"), ctx):
        ctx.references.append(_Reference(_join(path, "paired_suppression"), slug, paired, "paired_suppression"))
    if item.get("kind") == AudienceKind.TARGETING and item.get("objective") == AudienceObjective.ADS and paired is None:
        ctx.add(
            _join(path, "paired_suppression"),
            'is required for a targeting audience with objective "ads" (the slug of a suppression audience)',
        )

    if "rule" in item:
        start = len(ctx.references)
        _check_node(item["rule"], _join(path, "rule"), 0, ctx, slug, depth_reported=False)
        for reference in ctx.references[start:]:
            reference.source = slug
    if "qa" in item:
        _check_qa(item["qa"], _join(path, "qa"), ctx)
    return slug


def _check_qa(cases: Any, path: str, ctx: _Context) -> None:
    if not isinstance(cases, list):
        ctx.add(path, f"must be a list of QA cases, got {_describe(cases)}")
        return
    for index, case in enumerate(cases):
        case_path = f"{path}[{index}]"
        if not isinstance(case, Mapping):
            ctx.add(case_path, f'must be an object {{"profile": ..., "expect": "in" or "out"}}, got {_describe(case)}')
            continue
        for key in case:
            if key not in QA_KEYS:
                ctx.add(_join(case_path, key), f"unknown key (allowed: {', '.join(QA_KEYS)})")
        if "profile" not in case:
            ctx.add(_join(case_path, "profile"), "is required (the external id of a profile)")
        elif not isinstance(case["profile"], str) or not case["profile"]:
            ctx.add(_join(case_path, "profile"), f"must be a non-empty external id, got {_describe(case['profile'])}")
        if "expect" not in case:
            ctx.add(_join(case_path, "expect"), 'is required ("in" or "out")')
        elif case["expect"] not in QaExpectation.values or not isinstance(case["expect"], str):
            ctx.add(_join(case_path, "expect"), f'must be "in" or "out", got {_describe(case["expect"])}')
        if "note" in case and not isinstance(case["note"], str):
            ctx.add(_join(case_path, "note"), f"must be a string, got {_describe(case['note'])}")


# --- condition tree ----------------------------------------------------------------------------------------


def _check_node(node: Any, path: str, depth: int, ctx: _Context, slug: str | None, *, depth_reported: bool) -> None:
    """Check one condition node. ``depth`` counts the group nodes (all/any/not) above this node."""
    if not isinstance(node, Mapping):
        ctx.add(path, f"must be a condition object, got {_describe(node)}")
        return
    kinds = [key for key in NODE_KINDS if key in node]
    if not kinds:
        ctx.add(path, f"is not a condition: expected exactly one of {', '.join(NODE_KINDS)}")
        return
    if len(kinds) > 1:
        ctx.add(path, f"mixes {' and '.join(kinds)}: a condition is exactly one of {', '.join(NODE_KINDS)}")
        return
    kind = kinds[0]
    if kind in GROUP_KINDS:
        level = depth + 1
        if level > MAX_GROUP_DEPTH and not depth_reported:
            ctx.add(
                path,
                f"nesting is deeper than {MAX_GROUP_DEPTH} levels: this is group level {level} "
                f"(all/any/not nodes counted from the rule down)",
            )
            depth_reported = True
        for key in node:
            if key != kind:
                ctx.add(_join(path, key), f'unknown key in an "{kind}" group')
        value = node[kind]
        if kind == "not":
            _check_node(value, _join(path, "not"), level, ctx, slug, depth_reported=depth_reported)
            return
        if not isinstance(value, list):
            ctx.add(_join(path, kind), f"must be a list of conditions, got {_describe(value)}")
            return
        if kind == "any" and not value:
            ctx.add(_join(path, kind), 'must not be empty (an empty "any" would match nobody)')
        for index, child in enumerate(value):
            _check_node(child, f"{_join(path, kind)}[{index}]", level, ctx, slug, depth_reported=depth_reported)
        return
    if kind == "attribute":
        for key in node:
            if key not in ("attribute", "op", "value"):
                ctx.add(_join(path, key), "unknown key (allowed: attribute, op, value)")
        name = node["attribute"]
        if not isinstance(name, str) or not name:
            ctx.add(_join(path, "attribute"), f"must be a non-empty trait name, got {_describe(name)}")
        _check_comparison(node, path, ctx)
        return
    if kind == "event":
        _check_event(node, path, ctx)
        return
    # in_audience
    for key in node:
        if key != "in_audience":
            ctx.add(_join(path, key), 'unknown key in an "in_audience" condition')
    target = node["in_audience"]
    if _check_slug(target, _join(path, "in_audience"), ctx):
        ctx.references.append(_Reference(_join(path, "in_audience"), slug, target, "in_audience"))


def _check_event(node: Mapping[str, Any], path: str, ctx: _Context) -> None:
    for key in node:
        if key not in EVENT_KEYS:
            ctx.add(_join(path, key), f"unknown key (allowed: {', '.join(EVENT_KEYS)})")
    name = node["event"]
    if not isinstance(name, str) or not name:
        ctx.add(_join(path, "event"), f"must be a non-empty event name, got {_describe(name)}")
    if "where" in node:
        where = node["where"]
        where_path = _join(path, "where")
        if not isinstance(where, list):
            ctx.add(where_path, f"must be a list of property filters, got {_describe(where)}")
        else:
            for index, item in enumerate(where):
                item_path = f"{where_path}[{index}]"
                if not isinstance(item, Mapping):
                    ctx.add(item_path, f"must be a property filter object, got {_describe(item)}")
                    continue
                for key in item:
                    if key not in ("property", "op", "value"):
                        ctx.add(_join(item_path, key), "unknown key (allowed: property, op, value)")
                if "property" not in item:
                    ctx.add(_join(item_path, "property"), "is required")
                elif not isinstance(item["property"], str) or not item["property"]:
                    ctx.add(
                        _join(item_path, "property"),
                        f"must be a non-empty property name, got {_describe(item['property'])}",
                    )
                _check_comparison(item, item_path, ctx)

    modes = [key for key in ("count", "last", "first") if key in node]
    if len(modes) > 1:
        ctx.add(path, f"has both {' and '.join(modes)}: an event condition takes exactly one of count, last, first")
    if "within" in node and ("last" in node or "first" in node):
        which = "last" if "last" in node else "first"
        ctx.add(_join(path, "within"), f'cannot be combined with "{which}": the window of "{which}" is its value')
    if "count" in node:
        _check_count(node["count"], _join(path, "count"), ctx)
    for key in ("within", "last", "first"):
        if key in node:
            _check_window(node[key], _join(path, key), ctx)


def _check_count(count: Any, path: str, ctx: _Context) -> None:
    if not isinstance(count, Mapping):
        ctx.add(path, f'must be one comparison such as {{"gte": 2}}, got {_describe(count)}')
        return
    for key in count:
        if key not in COUNT_OPS:
            ctx.add(_join(path, key), f"unknown comparison (allowed: {', '.join(COUNT_OPS)})")
    ops = [key for key in count if key in COUNT_OPS]
    if len(ops) != 1:
        ctx.add(path, f"needs exactly one comparison ({', '.join(COUNT_OPS)}), got {len(ops)}")
    for op in ops:
        value = count[op]
        if not _is_int(value) or value < 0:
            ctx.add(_join(path, op), f"N must be a non-negative integer, got {_describe(value)}")
        elif value > MAX_ABS_INTEGER:
            ctx.add(_join(path, op), "N is too large")


def _check_window(window: Any, path: str, ctx: _Context) -> None:
    if not isinstance(window, Mapping):
        ctx.add(path, f'must be a window such as {{"days": 7}} or {{"days_ago": [25, 45]}}, got {_describe(window)}')
        return
    for key in window:
        if key not in WINDOW_UNITS:
            ctx.add(_join(path, key), f"unknown window unit (allowed: {', '.join(WINDOW_UNITS)})")
    units = [key for key in window if key in WINDOW_UNITS]
    if len(units) != 1:
        ctx.add(path, f"needs exactly one of {', '.join(WINDOW_UNITS)}, got {len(units)}")
    for unit in units:
        value = window[unit]
        if unit == "days_ago":
            valid = (
                isinstance(value, list)
                and len(value) == 2
                and all(_is_int(bound) for bound in value)
                and 0 <= value[0] < value[1]
            )
            if not valid:
                ctx.add(path, f'"days_ago" needs [A, B] with integers 0 <= A < B, got {_describe(value)}')
            elif value[1] > MAX_WINDOW["days"]:
                ctx.add(path, f'"days_ago" reaches back at most {MAX_WINDOW["days"]} days, got {value[1]}')
        elif not _is_int(value) or value <= 0:
            ctx.add(_join(path, unit), f"N must be a positive integer, got {_describe(value)}")
        elif value > MAX_WINDOW[unit]:
            ctx.add(_join(path, unit), f"must be at most {MAX_WINDOW[unit]} {unit} (100 years), got {value}")


def _check_comparison(node: Mapping[str, Any], path: str, ctx: _Context) -> None:
    """Check ``op`` and ``value`` of an attribute condition or a property filter."""
    if "op" not in node:
        ctx.add(_join(path, "op"), f"is required (one of {', '.join(OPS)})")
        return
    op = node["op"]
    if not isinstance(op, str) or op not in OPS:
        ctx.add(_join(path, "op"), f"must be one of {', '.join(OPS)}, got {_describe(op)}")
        return
    value_path = _join(path, "value")
    if op in VALUELESS_OPS:
        if "value" in node:
            ctx.add(value_path, f'"{op}" takes no value')
        return
    if "value" not in node:
        ctx.add(value_path, f'is required for "{op}"')
        return
    value = node["value"]
    if op in SCALAR_OPS:
        if not _is_scalar(value):
            ctx.add(
                value_path, f'"{op}" needs a JSON scalar (string, number, true, false or null), got {_describe(value)}'
            )
        else:
            _check_number_range(value, value_path, ctx)
    elif op in NUMBER_OPS:
        if not _is_number(value):
            ctx.add(value_path, f'"{op}" needs a number, got {_describe(value)}')
        else:
            _check_number_range(value, value_path, ctx)
    elif op in STRING_OPS:
        if not isinstance(value, str):
            ctx.add(value_path, f'"{op}" needs a string, got {_describe(value)}')
    else:  # in / not_in
        if not isinstance(value, list) or not value:
            ctx.add(value_path, f'"{op}" needs a non-empty list of JSON scalars, got {_describe(value)}')
            return
        for index, item in enumerate(value):
            if not _is_scalar(item):
                ctx.add(f"{value_path}[{index}]", f"must be a JSON scalar, got {_describe(item)}")
            else:
                _check_number_range(item, f"{value_path}[{index}]", ctx)


# --- across audiences --------------------------------------------------------------------------------------


def _check_references(
    audiences: Mapping[str, tuple[str, Mapping[str, Any]]],
    existing: Mapping[str, ExistingAudience],
    ctx: _Context,
) -> None:
    def kind_of(slug: str) -> str | None:
        if slug in audiences:
            kind = audiences[slug][1].get("kind")
            return kind if isinstance(kind, str) else None
        return existing[slug].kind if slug in existing else None

    graph: dict[str, set[str]] = {slug: set(info.refs) for slug, info in existing.items()}
    for slug in audiences:
        graph[slug] = set(existing[slug].live_refs) if slug in existing else set()
    for reference in ctx.references:
        if reference.source is not None and reference.source in audiences:
            graph[reference.source].add(reference.target)

    for reference in ctx.references:
        target = reference.target
        if target not in audiences and target not in existing:
            ctx.add(reference.path, f'unknown audience "{target}" (not in this file nor in the database)')
            continue
        if reference.how == "paired_suppression":
            kind = kind_of(target)
            if kind is not None and kind != AudienceKind.SUPPRESSION:
                ctx.add(
                    reference.path, f'"{target}" is a {kind} audience; a paired suppression must be kind suppression'
                )
        if reference.source is None:
            continue
        chain = _path_between(graph, target, reference.source)
        if chain is not None:
            ctx.add(
                reference.path,
                f'"{target}" leads back to "{reference.source}" '
                f"({' -> '.join([reference.source, *chain])}): references must not form a cycle",
            )


def _path_between(graph: Mapping[str, Collection[str]], start: str, goal: str) -> list[str] | None:
    """The slugs from ``start`` to ``goal`` following references (breadth first), or None."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if current == goal:
            chain = [current]
            while previous[chain[-1]] is not None:
                chain.append(previous[chain[-1]])  # type: ignore[arg-type]
            return list(reversed(chain))
        for following in sorted(graph.get(current, ())):
            if following not in previous:
                previous[following] = current
                queue.append(following)
    return None


def _check_owners(
    owners: list[tuple[str, str]],
    usernames: Collection[str] | Callable[[Iterable[str]], Collection[str]] | None,
    ctx: _Context,
) -> None:
    if not owners:
        return
    names = {name for _path, name in owners}
    if usernames is None:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        known = set(
            user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": names}).values_list(
                user_model.USERNAME_FIELD, flat=True
            )
        )
    elif callable(usernames):
        known = set(usernames(names))
    else:
        known = set(usernames)
    for path, name in owners:
        if name not in known:
            ctx.add(path, f'unknown user "{name}"')


# --- small checks ------------------------------------------------------------------------------------------


def _check_slug(value: Any, path: str, ctx: _Context) -> bool:
    if not isinstance(value, str):
        ctx.add(path, f"must be an audience slug (a string), got {_describe(value)}")
        return False
    if not SLUG_MIN_LENGTH <= len(value) <= SLUG_MAX_LENGTH:
        ctx.add(path, f'"{value}" must be {SLUG_MIN_LENGTH} to {SLUG_MAX_LENGTH} characters long, not {len(value)}')
        return False
    if not SLUG_PATTERN.match(value):
        ctx.add(
            path, f'"{value}" is not a valid slug: use lowercase letters and digits in words joined by single hyphens'
        )
        return False
    return True


def _check_text(value: Any, path: str, ctx: _Context, *, max_length: int | None = None) -> None:
    if not isinstance(value, str):
        ctx.add(path, f"must be a string, got {_describe(value)}")
    elif not value.strip():
        ctx.add(path, "must not be empty")
    elif max_length is not None and len(value) > max_length:
        ctx.add(path, f"must be at most {max_length} characters, got {len(value)}")


def _check_choice(value: Any, path: str, ctx: _Context, choices: list[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        ctx.add(path, f"must be one of {', '.join(choices)}, got {_describe(value)}")


def _check_date(value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        ctx.add(path, f"must be an ISO date YYYY-MM-DD, got {_describe(value)}")
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        ctx.add(path, f'"{value}" is not a real date')


def _check_number_range(value: Any, path: str, ctx: _Context) -> None:
    if _is_number(value) and abs(value) > MAX_ABS_INTEGER:
        ctx.add(path, f"numbers must lie between -{MAX_ABS_INTEGER} and {MAX_ABS_INTEGER}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def _describe(value: Any) -> str:
    """A short, typed rendering of a JSON value for messages: ``string "5"``, ``number 5``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
