"""Hypothesis strategies for the differential tests: random customer data and random valid definitions.

The data is built to sit on the edges the spec cares about: event times exactly at ``now - N`` and ``now``
(and a microsecond or a second either side), events after ``now``, traits that are missing, null, numbers,
numeric strings and booleans, keys with dots, spaces, quotes, backslashes and non-ASCII letters, anonymous
profiles and known profiles carrying merged anonymous ids.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from audience_ops.audiences.models import Audience, AudienceVersion

from .helpers import NOW, make_profile, track

settings.register_profile(
    "audience-engine",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "audience-engine-thorough",
    parent=settings.get_profile("audience-engine"),
    max_examples=1000,
)
# AUDIENCE_ENGINE_PROFILE=audience-engine-thorough runs a long search locally; CI uses the default.
ENGINE_SETTINGS = settings.get_profile(os.environ.get("AUDIENCE_ENGINE_PROFILE", "audience-engine"))

TRAIT_KEYS = ["plan", "a.b", "sp ace", 'q"uote', "café", "back\\slash"]
IDENTIFIERS = ["email", "phone", "external_id"]
PROPERTY_KEYS = ["category", "a.b"]
SCALARS = [None, True, False, 0, 1, 1.0, 2.5, "1", "true", "gold", "Gold", "", "ann@example.com", "user-1"]
TRAIT_VALUES = [*SCALARS, [1, 2], {"k": 1}]
NUMBERS = [0, 1, 1.0, 2.5, 10]
PROPERTY_VALUES = [None, True, 1, 1.0, 2.5, "1", "gold", "Gold", ""]
CONTAINS = ["", "go", "G", "ann", "Example", "user"]
EVENT_NAMES = ["Order Completed", "Order Completed", "Order Completed", "Product Added", "order completed"]
EMAILS = [None, "ann@example.com", "Ann@Example.com", "", "bob@test.io"]
PHONES = [None, "+15550001", "555 0001"]

SECOND = dt.timedelta(seconds=1)
MICRO = dt.timedelta(microseconds=1)
# How long before now an event happened (negative: after now), then a small jitter around that boundary.
AGES = [
    dt.timedelta(0),
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=2),
    dt.timedelta(hours=1),
    dt.timedelta(hours=2),
    dt.timedelta(days=1),
    dt.timedelta(days=2),
    dt.timedelta(days=3),
    dt.timedelta(days=5),
    dt.timedelta(days=10),
    dt.timedelta(days=-1),
]
JITTERS = [dt.timedelta(0), dt.timedelta(0), -SECOND, SECOND, -MICRO, MICRO]
WINDOWS = [
    {"minutes": 1},
    {"minutes": 2},
    {"hours": 1},
    {"hours": 2},
    {"days": 1},
    {"days": 2},
    {"days": 3},
    {"days_ago": [0, 1]},
    {"days_ago": [1, 2]},
    {"days_ago": [1, 3]},
    {"days_ago": [2, 5]},
    {"days_ago": [0, 3]},
]


@dataclass
class ProfileSpec:
    external_id: str | None
    email: str | None
    phone: str | None
    traits: dict[str, Any]
    anonymous_ids: list[str]


@dataclass
class EventSpec:
    profile: int
    name: str
    at: dt.datetime
    properties: dict[str, Any]


@dataclass
class AudienceSpec:
    slug: str
    kind: str
    rule: dict[str, Any]
    exclude: list[str] = field(default_factory=list)
    paired_suppression: str | None = None
    live_rule: dict[str, Any] | None = None  # when set: version 1 (live) has this rule, version 2 (latest) `rule`

    @property
    def definition(self) -> dict[str, Any]:
        """The definition evaluations use: the live version when there is one."""
        return {
            "rule": self.live_rule if self.live_rule is not None else self.rule,
            "exclude": self.exclude,
            "paired_suppression": self.paired_suppression,
        }


@dataclass
class Scenario:
    profiles: list[ProfileSpec]
    events: list[EventSpec]
    helpers: list[AudienceSpec]
    main: AudienceSpec
    probes: list[dict[str, Any]]  # single conditions, each compared on its own (dense checks of every leaf form)


# --- conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pools:
    """The values conditions compare with. Scenarios derive them from their own data (plus values a sloppy
    engine would confuse with them: ``1`` for ``true``, ``"1"`` for ``1``, ``"Gold"`` for ``"gold"``), so
    equality and type confusions are hit often instead of by luck."""

    scalars: tuple[Any, ...] = tuple(SCALARS)
    numbers: tuple[Any, ...] = tuple(NUMBERS)
    contains: tuple[str, ...] = tuple(CONTAINS)


DEFAULT_POOLS = Pools()


def comparisons(pools: Pools = DEFAULT_POOLS) -> st.SearchStrategy[dict[str, Any]]:
    """``{"op": ..., "value": ...}`` with a value of the right type for the op."""
    return st.one_of(
        st.builds(
            lambda op, value: {"op": op, "value": value}, st.sampled_from(["eq", "ne"]), st.sampled_from(pools.scalars)
        ),
        st.builds(
            lambda op, value: {"op": op, "value": value},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from(pools.numbers),
        ),
        st.builds(
            lambda op, value: {"op": op, "value": value},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(pools.scalars), min_size=1, max_size=3),
        ),
        st.builds(lambda value: {"op": "contains", "value": value}, st.sampled_from(pools.contains)),
        st.builds(lambda op: {"op": op}, st.sampled_from(["exists", "not_exists"])),
    )


def attribute_nodes(pools: Pools = DEFAULT_POOLS) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda name, comparison: {"attribute": name, **comparison},
        st.sampled_from(TRAIT_KEYS + IDENTIFIERS),
        comparisons(pools),
    )


def event_nodes(pools: Pools = DEFAULT_POOLS) -> st.SearchStrategy[dict[str, Any]]:
    # Mostly no filter: a random filter rarely matches, and conditions that never match prove little.
    where = st.one_of(
        st.just([]),
        st.just([]),
        st.lists(
            st.builds(
                lambda key, comparison: {"property": key, **comparison},
                st.sampled_from(PROPERTY_KEYS),
                comparisons(pools),
            ),
            min_size=1,
            max_size=2,
        ),
    )
    count = st.builds(lambda op, n: {op: n}, st.sampled_from(["eq", "gte", "gt", "lte", "lt"]), st.integers(0, 3))
    mode = st.one_of(
        st.builds(
            lambda c, w: {**({"count": c} if c else {}), **({"within": w} if w else {})},
            st.none() | count,
            st.none() | st.sampled_from(WINDOWS),
        ),
        st.builds(lambda w: {"last": w}, st.sampled_from(WINDOWS)),
        st.builds(lambda w: {"first": w}, st.sampled_from(WINDOWS)),
    )
    return st.builds(
        lambda name, filters, extra: {"event": name, **({"where": filters} if filters else {}), **extra},
        st.sampled_from(EVENT_NAMES),
        where,
        mode,
    )


def rules(
    references: list[str], pools: Pools = DEFAULT_POOLS, depth: int = 0, max_depth: int = 5
) -> st.SearchStrategy[dict[str, Any]]:
    """Random valid condition trees: at most ``max_depth`` group levels, references only to ``references``."""
    leaves = [attribute_nodes(pools), event_nodes(pools)]
    if references:
        leaves.append(st.builds(lambda slug: {"in_audience": slug}, st.sampled_from(references)))
    leaf = st.one_of(*leaves)
    if depth >= max_depth:
        return leaf
    child = st.deferred(lambda: rules(references, pools, depth + 1, max_depth))
    return st.one_of(
        leaf,
        st.builds(lambda children: {"all": children}, st.lists(child, max_size=3)),
        st.builds(lambda children: {"any": children}, st.lists(child, min_size=1, max_size=3)),
        st.builds(lambda inner: {"not": inner}, child),
    )


def confusables(value: Any) -> list[Any]:
    """``value`` and the JSON values an engine with loose equality or typing would take for it."""
    if value is True:
        return [True, 1, 1.0, "1", "true"]
    if value is False:
        return [False, 0, 0.0, "", "false", None]
    if value is None:
        return [None, False, 0, "", "null"]
    if isinstance(value, int | float):
        return [value, float(value), str(value), *([int(value)] if float(value).is_integer() else [])]
    if isinstance(value, str):
        variants = [value, value.upper(), value.lower(), value[1:], value[:-1]]
        if value.lstrip("-").isdigit():
            variants.append(int(value))
        return variants
    return []


def targeted_attribute_nodes(profiles: list[ProfileSpec]) -> st.SearchStrategy[dict[str, Any]]:
    """Attribute conditions aimed at a value some profile really has, compared with it or a confusable."""
    targets = [(key, value) for spec in profiles for key, value in spec.traits.items()]
    targets += [(name, getattr(spec, name)) for spec in profiles for name in IDENTIFIERS if getattr(spec, name)]
    if not targets:
        return attribute_nodes()

    def aimed(target: tuple[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        key, value = target
        candidates = confusables(value) or list(SCALARS)
        numbers = [c for c in candidates if isinstance(c, int | float) and not isinstance(c, bool)] or list(NUMBERS)
        strings = [c for c in candidates if isinstance(c, str)] or list(CONTAINS)
        return st.builds(
            lambda comparison: {"attribute": key, **comparison},
            comparisons(Pools(scalars=tuple(candidates), numbers=tuple(numbers), contains=tuple(strings))),
        )

    return st.sampled_from(targets).flatmap(aimed)


def world_pools(profiles: list[ProfileSpec], events: list[EventSpec]) -> Pools:
    """Pools built from the values present in a world, their confusables and the defaults."""
    present = [value for spec in profiles for value in spec.traits.values()]
    present += [value for event in events for value in event.properties.values()]
    present += [value for spec in profiles for value in (spec.email, spec.phone, spec.external_id)]
    scalars: dict[str, Any] = {}
    for value in [*present, *SCALARS]:
        for candidate in confusables(value):
            scalars.setdefault(json.dumps(candidate), candidate)
    numbers = {json.dumps(v): v for v in [*NUMBERS, *scalars.values()] if isinstance(v, int | float) and v is not True}
    numbers = {key: value for key, value in numbers.items() if not isinstance(value, bool)}
    strings = {value for value in scalars.values() if isinstance(value, str)}
    contains = sorted({*CONTAINS, *strings, *(text[1:3] for text in strings if len(text) > 2)})
    return Pools(scalars=tuple(scalars.values()), numbers=tuple(numbers.values()), contains=tuple(contains))


# --- data --------------------------------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 7))
    profiles = []
    for index in range(count):
        known = draw(st.booleans())
        anonymous = draw(st.integers(0, 1 if known else 2))
        profiles.append(
            ProfileSpec(
                external_id=f"user-{index}" if known else None,
                email=draw(st.sampled_from(EMAILS)),
                phone=draw(st.sampled_from(PHONES)),
                traits=draw(st.dictionaries(st.sampled_from(TRAIT_KEYS), st.sampled_from(TRAIT_VALUES), min_size=1)),
                anonymous_ids=[f"anon-{index}-{n}" for n in range(anonymous)],
            )
        )
    # Each profile gets its own history (up to 6 events), mostly of one name, so "last"/"first" and counts
    # often see several events of the same name on both sides of a window boundary.
    events: list[EventSpec] = []
    for index in range(count):
        events += draw(
            st.lists(
                st.builds(
                    lambda name, age, jitter, properties, index=index: EventSpec(
                        index, name, NOW - age + jitter, properties
                    ),
                    st.sampled_from(EVENT_NAMES),
                    st.sampled_from(AGES),
                    st.sampled_from(JITTERS),
                    st.dictionaries(st.sampled_from(PROPERTY_KEYS), st.sampled_from(PROPERTY_VALUES), max_size=2),
                ),
                max_size=6,
            )
        )
    pools = world_pools(profiles, events)
    helpers: list[AudienceSpec] = []
    for index in range(draw(st.integers(0, 3))):
        helpers.append(_audience(draw, f"helper-{index}", helpers, pools, max_depth=2))
    main = _audience(draw, "main-audience", helpers, pools, max_depth=5)
    main.live_rule = None
    probes = draw(
        st.lists(
            st.one_of(
                attribute_nodes(pools), targeted_attribute_nodes(profiles), event_nodes(pools), event_nodes(pools)
            ),
            min_size=16,
            max_size=16,
        )
    )
    return Scenario(profiles=profiles, events=events, helpers=helpers, main=main, probes=probes)


def _audience(draw: st.DrawFn, slug: str, earlier: list[AudienceSpec], pools: Pools, *, max_depth: int) -> AudienceSpec:
    slugs = [spec.slug for spec in earlier]
    suppressions = [spec.slug for spec in earlier if spec.kind == "suppression"]
    return AudienceSpec(
        slug=slug,
        kind=draw(st.sampled_from(["targeting", "suppression"])),
        rule=draw(rules(slugs, pools, max_depth=max_depth)),
        exclude=draw(st.lists(st.sampled_from(slugs), unique=True, max_size=2)) if slugs else [],
        paired_suppression=draw(st.none() | st.sampled_from(suppressions)) if suppressions else None,
        live_rule=draw(st.none() | rules(slugs, pools, max_depth=max_depth)),
    )


def materialise(scenario: Scenario, *, owner) -> list:
    """Write the scenario's profiles, events and helper audiences; returns the Profile rows."""
    rows = []
    for spec in scenario.profiles:
        rows.append(
            make_profile(
                external_id=spec.external_id,
                email=spec.email,
                phone=spec.phone,
                traits=spec.traits,
                anonymous_ids=tuple(spec.anonymous_ids),
            )
        )
    for event in scenario.events:
        track(rows[event.profile], event.name, event.at, **event.properties)
    for spec in scenario.helpers:
        audience = Audience.objects.create(
            slug=spec.slug,
            name=spec.slug,
            kind=spec.kind,
            objective="analytics",
            owner=owner,
            purpose="property test",
            retire_on=dt.date(2027, 12, 31),
        )
        common = {"exclude": spec.exclude, "paired_suppression": spec.paired_suppression, "author": owner}
        if spec.live_rule is not None:
            live = AudienceVersion.objects.create(audience=audience, number=1, rule=spec.live_rule, **common)
            AudienceVersion.objects.create(audience=audience, number=2, rule=spec.rule, **common)
            audience.live_version = live
            audience.status = "live"
            audience.save(update_fields=["live_version", "status"])
        else:
            AudienceVersion.objects.create(audience=audience, number=1, rule=spec.rule, **common)
    return rows
